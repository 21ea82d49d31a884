"""The PHQ-9 depression self-check: its validated wording in English and Spanish (phq9.toml), and its
scoring (Kroenke, Spitzer, Williams, J Gen Intern Med 2001;16(9):606–613).

Answers travel as one short code, the same in the browser (static/phq9.js), the hidden form field
`phq9` and the database: the nine answers, each 0–3, then the difficulty answer 0–3 if given
("0123012301").
"""

from __future__ import annotations

import re
import tomllib
from dataclasses import dataclass
from pathlib import Path

QUESTIONNAIRE_FILE = Path(__file__).with_name("phq9.toml")
CODE = re.compile(r"[0-3]{9}[0-3]?")
# Kroenke 2001's severity bands, by the lowest total in each.
BANDS = ((20, "severe"), (15, "moderately severe"), (10, "moderate"), (5, "mild"), (0, "minimal"))
BAND_NAMES = tuple(name for _, name in reversed(BANDS))  # mildest first
ITEM_NAMES = tuple(f"q{n}" for n in range(1, 10))  # the radio groups' names; the difficulty is "difficulty"


@dataclass(frozen=True)
class Questionnaire:
    """The form in one language, every line exactly as the validated version has it."""

    stem: str
    items: tuple[str, ...]
    options: tuple[str, ...]  # the answers 0, 1, 2, 3 to each item
    difficulty: str
    difficulty_options: tuple[str, ...]  # the answers 0, 1, 2, 3 to the difficulty question
    attribution: str


def _load(path: Path) -> dict[str, Questionnaire]:
    data = tomllib.loads(path.read_text(encoding="utf-8"))
    forms = {}
    for language, raw in data.items():
        form = Questionnaire(**{k: tuple(v) if isinstance(v, list) else v for k, v in raw.items()})
        if len(form.items) != 9 or len(form.options) != 4 or len(form.difficulty_options) != 4:
            raise ValueError(f"{path}: [{language}] needs 9 items and 4 answers to each question")
        forms[language] = form
    return forms


QUESTIONNAIRES = _load(QUESTIONNAIRE_FILE)


def questionnaire_in(language: str) -> Questionnaire:
    """The questionnaire in `language` ("en" or "es")."""
    return QUESTIONNAIRES[language]


def band_of(total: int) -> str:
    """The severity band of a total from 0 to 27: "minimal" … "severe"."""
    return next(name for lowest, name in BANDS if total >= lowest)


@dataclass(frozen=True)
class Answers:
    """One completed self-check."""

    items: tuple[int, ...]  # nine answers, each 0–3
    difficulty: int | None = None  # 0–3, or None when not answered

    @property
    def total(self) -> int:
        return sum(self.items)

    @property
    def band(self) -> str:
        return band_of(self.total)

    @property
    def crisis(self) -> bool:
        """Any answer above 0 on item 9 (thoughts of being better off dead or of self-harm) calls for a
        crisis response at once, whatever the total."""
        return self.items[8] > 0

    @property
    def code(self) -> str:
        return "".join(map(str, self.items)) + ("" if self.difficulty is None else str(self.difficulty))


def parse(code: str | None) -> Answers | None:
    """The answers a code holds, or None when it is not nine digits 0–3 and an optional tenth."""
    if not code or not CODE.fullmatch(code):
        return None
    digits = tuple(int(c) for c in code)
    return Answers(digits[:9], digits[9] if len(digits) == 10 else None)


def answered_in(values) -> dict[str, int]:
    """The questions answered in a posted self-check (`q1`…`q9`, `difficulty`), each 0–3; anything else
    in a field counts as not answered."""
    answered = {}
    for name in (*ITEM_NAMES, "difficulty"):
        value = values.get(name, "")
        if value in ("0", "1", "2", "3"):
            answered[name] = int(value)
    return answered


def complete(answered: dict[str, int]) -> Answers | None:
    """The answers, once all nine items are answered (the difficulty question is optional); else None."""
    if any(name not in answered for name in ITEM_NAMES):
        return None
    return Answers(tuple(answered[name] for name in ITEM_NAMES), answered.get("difficulty"))
