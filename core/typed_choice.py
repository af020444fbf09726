"""A button's answer typed instead of tapped ("ouder", "Professional", "parent", "profesional"):
which option it names, tolerating case, a short phrase around it and a small typo. Plain
functions, no Telegram.
"""

from __future__ import annotations

import re
from collections.abc import Iterable, Mapping
from difflib import SequenceMatcher

from storage.vocabulary import Role

# More words than this is a sentence (a question, a story), not an answer to a button.
MAX_WORDS = 4
# How alike a typed word and an option's word must be: "profesional", "oudr" pass. Below
# four letters one letter off is another word ("pro", "prof"), so short words must match.
SIMILAR = 0.8
SHORTEST_FUZZY = 4
_WORD = re.compile(r"[^\W\d_]+")


def _words(text: str) -> list[str]:
    return _WORD.findall(text.casefold())


def _alike(typed: str, word: str) -> bool:
    if typed == word:
        return True
    if min(len(typed), len(word)) < SHORTEST_FUZZY:
        return False
    return SequenceMatcher(None, typed, word).ratio() >= SIMILAR


def typed_choice(text: str, options: Mapping[str, Iterable[str]]) -> str | None:
    """The key of the one option whose name (any of its names, in any language) the text
    is or contains; None when it names none, or more than one."""
    typed = _words(text)
    if not typed or len(typed) > MAX_WORDS:
        return None
    found = {
        key
        for key, names in options.items()
        for name in names
        if (words := _words(name))
        and any(
            all(_alike(t, w) for t, w in zip(typed[i : i + len(words)], words, strict=True))
            for i in range(len(typed) - len(words) + 1)
        )
    }
    return found.pop() if len(found) == 1 else None


# Words people type for a role besides the buttons' own labels (which callers add from the
# catalogues, in both languages).
ROLE_WORDS: Mapping[str, tuple[str, ...]] = {
    Role.OUDER: ("ouder", "ouders", "parent", "parents", "moeder", "vader", "mother", "father"),
    Role.PROFESSIONAL: ("professional", "professionals", "prof"),
}
