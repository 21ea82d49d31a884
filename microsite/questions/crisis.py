"""Words that suggest a reader in crisis, from the clinic file: such a question is flagged at the top of
the staff queue and emailed to the office at once."""

from __future__ import annotations

from ..content.clinic import folded_words


def suggests_crisis(text: str, phrases: tuple[tuple[str, ...], ...]) -> bool:
    """True when one of `phrases` (each a tuple of folded words) occurs in `text` as whole words."""
    words = folded_words(text)
    for phrase in phrases:
        size = len(phrase)
        if any(words[i : i + size] == phrase for i in range(len(words) - size + 1)):
            return True
    return False
