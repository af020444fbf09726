"""Which language a question is written in: "en", "nl", or None when that is not clear.

Counted from the little words only one of the two languages uses ("de", "het", "wanneer" /
"the", "when", "my"). Words both languages share ("is", "in", "was", "we", "of") count for
neither. A short message (fewer than three words) or one without a clear majority stays
None: the bot then answers in the user's own setting.
"""

from __future__ import annotations

import re
import unicodedata

__all__ = ["FUNCTION_WORDS", "detect_language", "words"]

_MIN_WORDS = 3
_MIN_MARKERS = 2
_NOT_WORD = re.compile(r"[^\w']+")


def _word_set(words: str) -> frozenset[str]:
    return frozenset(words.split())


_DUTCH = _word_set(
    """
    de het een ik je jij jou jouw u uw wat wanneer waar hoe wie waarom welke welk van voor
    met en niet zijn er dat die dit deze mijn kan kun kunt wil wilt ook nog bij naar om te
    aan heb hebben heeft ben bent maar als dan zo geen meer moet moeten mag mogen kunnen
    worden wordt hier daar jullie ons onze graag dank bedankt hoi hallo waarvoor daarvoor
    wel even alleen nu ze zij hij gaat komt komen vind vindt hoeveel zit zitten ga kom
    nee ja welkom eigenlijk iets iemand waarom omdat hebt
    """
)
_ENGLISH = _word_set(
    """
    the a an what when where how who why which i you your my can could do does did for with
    and not are there it its this that be have has will would should about from am any please
    they them their our us these those thanks thank hello if than then just get got does
    want need know tell much many time yes no i'm it's what's don't can't
    i'd i've i'll to at like someone
    """
)

# Words both languages use ("is", "in", "was"), which tell nothing about the language.
_SHARED = _word_set("is in was we of op over had men me hem")
# The little words of either language: what is left of a message without them is its content.
FUNCTION_WORDS = _DUTCH | _ENGLISH | _SHARED


def words(text: str) -> list[str]:
    """Lower-case words without accents; apostrophes inside words are kept ("what's")."""
    decomposed = unicodedata.normalize("NFKD", text.casefold().replace("\u2019", "'"))
    plain = "".join(ch for ch in decomposed if not unicodedata.combining(ch))
    return [w.strip("'") for w in _NOT_WORD.split(plain) if w.strip("'")]


def detect_language(text: str) -> str | None:
    found = words(text)
    if len(found) < _MIN_WORDS:
        return None
    dutch = sum(1 for w in found if w in _DUTCH)
    english = sum(1 for w in found if w in _ENGLISH)
    if english >= _MIN_MARKERS and english > 2 * dutch:
        return "en"
    if dutch >= _MIN_MARKERS and dutch > 2 * english:
        return "nl"
    return None
