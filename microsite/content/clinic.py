"""The clinic's facts (offices, phones, hours, consent, privacy, reviewers) from its data file, clinic.toml.

Checked as they are read: a bad phone number, position, promise or time zone stops start-up.
"""

from __future__ import annotations

import re
import tomllib
import unicodedata
from collections.abc import Iterator
from dataclasses import dataclass, field
from datetime import date
from pathlib import Path
from typing import Any
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

import phonenumbers

from ..inputs import readable

DEFAULT_TIMEZONE = "America/New_York"  # both offices are on Florida's west coast
DAY_NAMES = {
    "Mo": "Monday", "Tu": "Tuesday", "We": "Wednesday", "Th": "Thursday",
    "Fr": "Friday", "Sa": "Saturday", "Su": "Sunday",
}  # fmt: skip
# Words that suggest a person in crisis, in a reader's question or a consultation request's message
# (flagged for staff at once, and the visitor shown the crisis lines first). Used when the clinic file
# names none; matched as whole words, in any case, accents folded. What people in crisis write, as a
# clinician would list it: suicide and its verbs, wanting to die or not to live, ending it all, self-harm
# and its means (an overdose, cutting, hanging), in English and Spanish.
DEFAULT_CRISIS_WORDS = (
    "suicide", "suicidal", "kill myself", "killing myself", "end my life", "ending my life",
    "take my own life", "want to die", "better off dead", "self harm", "self harming", "self injury",
    "hurt myself", "no reason to live", "end it all", "ending it all", "overdose", "overdosed",
    "overdosing", "cut myself", "cutting myself", "hang myself", "shoot myself", "wish i was dead",
    "wish i were dead", "don't want to live", "dont want to live", "do not want to live",
    "don't want to be alive", "dont want to be alive", "not worth living", "no point in living",
    "take all my pills",
    "suicidio", "suicida", "suicidarme", "matarme", "me quiero matar", "me voy a matar",
    "quitarme la vida", "acabar con mi vida", "terminar con mi vida", "acabar con todo",
    "terminar con todo", "quiero morir", "quiero morirme", "no quiero vivir", "no quiero seguir viviendo",
    "no quiero estar vivo", "no quiero estar viva", "mejor muerto", "mejor muerta", "sobredosis",
    "hacerme daño", "lastimarme", "autolesion", "autolesiones", "cortarme las venas", "ahorcarme",
    "no vale la pena vivir", "sin razon para vivir",
)  # fmt: skip


@dataclass(frozen=True)
class Hours:
    """One line of an office's hours: days ("Mo"…"Su"), opens and closes ("09:00")."""

    days: tuple[str, ...]
    opens: str
    closes: str


@dataclass(frozen=True)
class Office:
    slug: str
    name: str
    city: str
    street: str
    region: str
    postal_code: str
    phone: str  # E.164, as stored in the data file
    hours: tuple[Hours, ...]
    notify: tuple[str, ...]
    geo: dict | None = None

    @property
    def phone_display(self) -> str:
        return phonenumbers.format_number(
            phonenumbers.parse(self.phone, "US"), phonenumbers.PhoneNumberFormat.NATIONAL
        )

    @property
    def tel_href(self) -> str:
        return f"tel:{self.phone}"

    @property
    def address_line(self) -> str:
        return f"{self.street}, {self.city}, {self.region} {self.postal_code}"


@dataclass(frozen=True)
class Privacy:
    """What only the clinic can say on its privacy notice; each part shows only when given."""

    legal_name: str | None = None
    mailing_address: str | None = None
    contact_email: str | None = None
    contact_phone: str | None = None  # E.164
    notice_url: str | None = None  # the HIPAA Notice of Privacy Practices
    effective: date | None = None

    @property
    def contact_phone_display(self) -> str | None:
        if not self.contact_phone:
            return None
        number = phonenumbers.parse(self.contact_phone, "US")
        return phonenumbers.format_number(number, phonenumbers.PhoneNumberFormat.NATIONAL)


@dataclass(frozen=True)
class Care:
    """The clinic's own facts about treatment (prices, Spravato, clinicians); unset ones are not shown."""

    prices: str | None = None
    offers_spravato: bool | None = None
    clinicians: tuple[str, ...] = ()
    # What the clinic says about insurance, and its own protocol for a visit, step by step: the article
    # describes a visit from the studies only, and adds these when the clinic states them.
    insurance: str | None = None
    visit: tuple[str, ...] = ()
    # The clinic's own Spanish for the Spanish pages ("prices", "insurance", "visit"; else the English).
    spanish: dict = field(default_factory=dict)

    def __bool__(self) -> bool:
        return bool(self.prices or self.offers_spravato is not None or self.clinicians)

    def in_language(self, name: str, language: str):
        """`prices`, `insurance` or `visit` as the page in `language` shows it."""
        return (self.spanish.get(name) if language == "es" else None) or getattr(self, name)


@dataclass(frozen=True)
class Clinic:
    name: str
    sender: str
    callback_promise: str
    retention_days: int
    consent_text: str
    consent_version: str
    offices: tuple[Office, ...]
    reviewer: str | None = None
    reviewed: date | None = None
    reviewer_license: str | None = None
    next_review: date | None = None  # when the article is next medically reviewed
    privacy: Privacy = field(default_factory=Privacy)
    care: Care = field(default_factory=Care)
    # Speed to lead and the weekly summary (leads/reminders.py, reports/weekly.py): who hears of a request
    # still new after ESCALATE_AFTER_MINUTES of office hours, who gets the Monday summary, the days every
    # office is closed, and the clock the offices' hours are read on (None: STAFF_TIMEZONE's).
    manager: tuple[str, ...] = ()
    report_to: tuple[str, ...] = ()
    holidays: frozenset[date] = frozenset()
    timezone: str | None = None
    # The Spanish pages: the promise and consent sentence in Spanish (else the English ones), and who
    # checked the Spanish article's translation ([review] es_reviewer; nothing is claimed without it).
    callback_promise_es: str | None = None
    consent_text_es: str | None = None
    es_reviewer: str | None = None
    # Each a tuple of folded words (`folded_words`): "Quitarme la vida" is ("quitarme", "la", "vida").
    crisis_words: tuple[tuple[str, ...], ...] = ()
    # The offices' medical specialties as schema.org names them, for the JSON-LD; none is assumed.
    specialties: tuple[str, ...] = ()

    def office(self, slug: str) -> Office | None:
        return next((o for o in self.offices if o.slug == slug), None)

    def callback_promise_in(self, language: str) -> str:
        return (self.callback_promise_es if language == "es" else None) or self.callback_promise

    def consent_text_in(self, language: str) -> str:
        """The consent sentence the visitor read: the one stored with their lead."""
        return (self.consent_text_es if language == "es" else None) or self.consent_text

    def suggests_crisis(self, text: str) -> bool:
        """True when one of `crisis_words` occurs in `text` as whole words ("¡Matarme!" finds "matarme",
        "self-harm" finds "self harm"; "suicidal-free" does not find "suicide")."""
        words = folded_words(text)
        for phrase in self.crisis_words:
            size = len(phrase)
            if any(words[i : i + size] == phrase for i in range(len(words) - size + 1)):
                return True
        return False


def _e164(path: str | Path, what: str, raw: str) -> str:
    """A phone number from the data file in E.164; one that does not parse stops start-up."""
    number = phonenumbers.parse(raw, "US")
    if not phonenumbers.is_valid_number(number):
        raise ValueError(f"{path}: {what} has an invalid phone number")
    return phonenumbers.format_number(number, phonenumbers.PhoneNumberFormat.E164)


def _geo(path: str | Path, slug: str, raw: dict | None) -> dict | None:
    """An office's coordinates for the JSON-LD; a typo (swapped or out of range) stops start-up."""
    if raw is None:
        return None
    lat, lon = raw.get("latitude"), raw.get("longitude")
    numbers = all(isinstance(v, int | float) and not isinstance(v, bool) for v in (lat, lon))
    if not numbers or not (-90 <= lat <= 90 and -180 <= lon <= 180):
        raise ValueError(f"{path}: office {slug!r} needs geo = {{ latitude = …, longitude = … }} in degrees")
    return {"latitude": lat, "longitude": lon}


# The promise is the same on every public page and for every visitor, who may have asked for a text or
# an email: a promise of a call would be wrong for them.
_PHONE_ONLY_PROMISE = re.compile(r"\bcall(?:s|ing)?\s+you\b|\bllam\w*(?:le|la|lo)\b", re.IGNORECASE)


def _callback_promise(path: str | Path, text: str) -> str:
    """The promise shown under the form and on /thanks; one that promises a call stops start-up."""
    if _PHONE_ONLY_PROMISE.search(text):
        raise ValueError(
            f"{path}: callback_promise must fit a visitor who chose a text or an email too, "
            "e.g. 'will contact you the way you chose'"
        )
    return text


def _privacy(path: str | Path, raw: dict) -> Privacy:
    """The [privacy] table: the notice's effective date and whom to ask, each optional."""
    phone = raw.get("contact_phone")
    return Privacy(
        legal_name=raw.get("legal_name"),
        mailing_address=raw.get("mailing_address"),
        contact_email=raw.get("contact_email"),
        contact_phone=_e164(path, "[privacy] contact_phone", phone) if phone else None,
        notice_url=raw.get("notice_url"),
        effective=raw.get("effective"),
    )


def _care(raw: dict) -> Care:
    """The [care] table: prices, Spravato, clinicians, insurance, a visit, each optional and never assumed."""
    spravato = raw.get("offers_spravato")
    spanish = {name: raw[f"{name}_es"] for name in ("prices", "insurance", "visit") if raw.get(f"{name}_es")}
    if "visit" in spanish:
        spanish["visit"] = tuple(spanish["visit"])
    return Care(
        prices=raw.get("prices"),
        offers_spravato=bool(spravato) if spravato is not None else None,
        clinicians=tuple(raw.get("clinicians", ())),
        insurance=raw.get("insurance"),
        visit=tuple(raw.get("visit", ())),
        spanish=spanish,
    )


# schema.org's MedicalSpecialty values (https://schema.org/MedicalSpecialty): a name outside them would
# be ignored by search engines, so a typo stops start-up instead.
SCHEMA_SPECIALTIES = frozenset({
    "Anesthesia", "Cardiovascular", "CommunityHealth", "Dentistry", "Dermatology", "DietNutrition",
    "Emergency", "Endocrine", "Gastroenterologic", "Genetic", "Geriatric", "Gynecologic", "Hematologic",
    "Infectious", "LaboratoryScience", "Midwifery", "Musculoskeletal", "Neurologic", "Nursing",
    "Obstetric", "Oncologic", "Optometric", "Otolaryngologic", "Pathology", "Pediatric",
    "PharmacySpecialty", "Physiotherapy", "PlasticSurgery", "Podiatric", "PrimaryCare", "Psychiatric",
    "PublicHealth", "Pulmonary", "Radiography", "Renal", "RespiratoryTherapy", "Rheumatologic",
    "SpeechPathology", "Surgical", "Toxicologic", "Urologic",
})  # fmt: skip


def _specialties(path: str | Path, raw) -> tuple[str, ...]:
    """`specialties = ["Anesthesia"]`: what the clinic practises, in schema.org's words."""
    names = tuple(raw or ())
    if unknown := [n for n in names if n not in SCHEMA_SPECIALTIES]:
        raise ValueError(f"{path}: specialties {unknown} are not schema.org MedicalSpecialty names")
    return names


def _addresses(path: str | Path, key: str, raw) -> tuple[str, ...]:
    """`manager` or `report_to`: one address or a list of them."""
    addresses = [raw] if isinstance(raw, str) else list(raw or ())
    if not all(isinstance(a, str) and "@" in a for a in addresses):
        raise ValueError(f"{path}: {key} must be an email address or a list of them")
    return tuple(a.strip() for a in addresses)


def _holidays(path: str | Path, raw) -> frozenset[date]:
    """`holidays = [2026-12-25, …]`: TOML dates (no quotes), the days every office is closed."""
    days = list(raw or ())
    if not all(isinstance(d, date) for d in days):
        raise ValueError(f"{path}: holidays must be a list of dates such as 2026-12-25 (no quotes)")
    return frozenset(days)


def _timezone(path: str | Path, raw) -> str | None:
    """An IANA time zone name such as "America/New_York"; an unknown one stops start-up."""
    if raw is None:
        return None
    try:
        ZoneInfo(str(raw))
    except (ZoneInfoNotFoundError, ValueError) as exc:
        raise ValueError(
            f"{path}: timezone {raw!r} is not a known time zone (e.g. America/New_York)"
        ) from exc
    return str(raw)


def strings_in(value: Any, where: str = "") -> Iterator[tuple[str, str]]:
    """Every string in the parsed clinic file with where it is: `offices[bradenton].phone`, `manager[0]`."""
    if isinstance(value, str):
        yield where, value
    elif isinstance(value, dict):
        for key, item in value.items():
            yield from strings_in(item, f"{where}.{key}" if where else key)
    elif isinstance(value, list):
        for index, item in enumerate(value):
            label = item.get("slug", index) if isinstance(item, dict) else index
            yield from strings_in(item, f"{where}[{label}]")


def load_clinic(path: str | Path) -> Clinic:
    """Read the clinic's data file; a bad phone number, position or promise stops start-up."""
    data = tomllib.loads(Path(path).read_text(encoding="utf-8"))
    for key, text in strings_in(data):
        if not readable(text, multiline=True):
            raise ValueError(f"{path}: {key} holds a control or invisible character (the rule in inputs.py)")
    offices = []
    for raw in data["offices"]:
        offices.append(
            Office(
                slug=raw["slug"],
                name=raw["name"],
                city=raw["city"],
                street=raw["street"],
                region=raw["region"],
                postal_code=raw["postal_code"],
                phone=_e164(path, f"office {raw['slug']!r}", raw["phone"]),
                hours=tuple(Hours(tuple(h["days"]), h["opens"], h["closes"]) for h in raw["hours"]),
                notify=tuple(raw["notify"]),
                geo=_geo(path, raw["slug"], raw.get("geo")),
            )
        )
    review = data.get("review", {})
    promise_es = data.get("callback_promise_es")
    return Clinic(
        name=data["name"],
        sender=data["sender"],
        callback_promise=_callback_promise(path, data["callback_promise"]),
        retention_days=int(data["retention_days"]),
        consent_text=data["consent"]["text"],
        consent_version=str(data["consent"]["version"]),
        offices=tuple(offices),
        reviewer=review.get("reviewer"),
        reviewed=review.get("reviewed"),
        reviewer_license=review.get("license"),
        next_review=review.get("next_review"),
        privacy=_privacy(path, data.get("privacy", {})),
        care=_care(data.get("care", {})),
        manager=_addresses(path, "manager", data.get("manager")),
        report_to=_addresses(path, "report_to", data.get("report_to")),
        holidays=_holidays(path, data.get("holidays")),
        timezone=_timezone(path, data.get("timezone")),
        callback_promise_es=_callback_promise(path, promise_es) if promise_es else None,
        consent_text_es=data["consent"].get("text_es"),
        es_reviewer=review.get("es_reviewer"),
        crisis_words=_crisis_words(path, data.get("crisis_words")),
        specialties=_specialties(path, data.get("specialties")),
    )


def folded_words(text: str) -> tuple[str, ...]:
    """The words of `text`, lower case, accents folded, punctuation dropped: "¡Matarme!" is ("matarme",)."""
    decomposed = unicodedata.normalize("NFKD", text.casefold())
    plain = "".join(c for c in decomposed if not unicodedata.combining(c))
    return tuple(re.findall(r"\w+", plain))


def _crisis_words(path: str | Path, raw) -> tuple[tuple[str, ...], ...]:
    phrases = DEFAULT_CRISIS_WORDS if raw is None else raw
    if not isinstance(phrases, list | tuple) or not all(isinstance(p, str) for p in phrases):
        raise ValueError(f"{path}: crisis_words must be a list of words or phrases")
    return tuple(words for words in map(folded_words, phrases) if words)
