"""Known unknowns and stories: what a message is, before (or instead of) what it matches.

A *known unknown* is a question about MAO that the programme's own texts never answer: what
it costs, where to park, a specific school, municipality or person, someone's own case, or a
date the agenda does not have. Matching such a question finds the topic of its other words
("kost een fieldlab geld?" -> the fieldlab), a confident answer to a question not asked. It
gets an honest answer instead: nothing about it in what the bot knows, and who does know.

Two strengths, because a stray word must not turn away a question the FAQ does answer:

- *plain* ones (costs, parking, naming a person, where someone lives) are recognised before
  the matcher: their words alone say what is asked;
- *soft* ones (a specific school, in our municipality, own case, a date) only replace the
  plain "no good answer": "mijn zoon zit al maanden thuis, kunnen jullie helpen?" is about
  thuiszitters, "mijn kind wordt gepest, wat moet ik doen?" is about nothing the bot knows.

A *story* is a long message about a child or a situation: it is heard (acknowledged) before it
is answered.
"""

from __future__ import annotations

import itertools
from enum import StrEnum

from faq.matching import normalise
from faq.questions import STORY_WORDS

__all__ = ["STORY_WORDS", "Unknown", "is_story", "known_unknown", "soft_unknown"]


class Unknown(StrEnum):
    COSTS = "costs"
    PARKING = "parking"
    ARRANGEMENTS = "arrangements"  # childcare, food, wheelchair access at an activity
    PERSON = "person"
    PLACE = "place"
    SCHOOL = "school"
    OWN_CASE = "own-case"
    DATE = "date"


def _word_set(words: str) -> frozenset[str]:
    return frozenset(words.split())


_COST_WORDS = _word_set(
    """
    kost kosten kostte gratis betalen betaal betaald prijs prijzen tarief tarieven
    vergoeding vergoeden vergoed entree toegangsprijs deelnamekosten reiskosten
    cost costs price prices fee fees charge charged reimburse reimbursed
    """
)
_PAY_WORDS = _word_set("betaalt betalen betaald pays pay paid paying funds financiert")
# "Wie betaalt MAO?" asks who funds the programme: the FAQ answers that.
_WHO_WORDS = _word_set("wie who")
_EFFORT_WORDS = _word_set("tijd moeite uur uren time hours effort")
_SEAT_WORDS = _word_set("plekken plek plaatsen plaats")
# "Free" alone is also "I'm free in June" or "free places": only these ask about money.
_FREE = (
    ("is", "it", "free"),
    ("it", "free"),
    ("for", "free"),
    ("free", "of", "charge"),
    ("free", "to", "attend"),
    ("free", "to", "join"),
    ("are", "they", "free"),
    ("is", "this", "free"),
    ("is", "that", "free"),
)
_MONEY_WORDS = _word_set("geld euro euros money")
_AMOUNT_WORDS = _word_set("hoeveel much")
_PARKING_PREFIXES = ("parkeer", "parking")
_ARRANGEMENT_WORDS = _word_set(
    """
    kinderopvang oppas lunch catering eten drinken rolstoel rolstoelen rolstoeltoegankelijk
    toegankelijk invalidentoilet tolk gebarentolk
    childcare babysitter babysitting lunch catering food drinks wheelchair wheelchairs
    accessible interpreter
    """
)
_THERE = _word_set("er there")
_ACCESS_WORDS = _word_set("toegankelijk rolstoeltoegankelijk accessible")
_EVENT_WORDS = _word_set(
    """
    dialoog dialoogavond dialoogsessie bijeenkomst bijeenkomsten sessie sessies masterclass
    fieldlab werksessie activiteit activiteiten doen dag avond locatie
    dialogue event events meeting meetings session sessions activity venue
    """
)
_PERSON_WORDS = _word_set(
    """
    minister premier wethouder burgemeester staatssecretaris kamerlid gedeputeerde
    directeur voorzitter bestuurder netwerkregisseur
    alderman mayor secretary director chairman chairwoman chair ceo
    """
)
_NAME_ASKING = _word_set("wie who welke which heet naam name")
_LIVING = _word_set("woon wonen woont live lives living")
_WHERE_WORDS = _word_set(
    "waar waarheen dichtbij dichtstbijzijnde buurt where near nearby nearest closest close"
)
_NEAR_ME = (
    ("bij", "mij", "in", "de", "buurt"),
    ("in", "mijn", "buurt"),
    ("in", "mijn", "regio"),
    ("in", "mijn", "gemeente"),
    ("in", "mijn", "woonplaats"),
    ("near", "me"),
    ("in", "my", "area"),
    ("in", "my", "town"),
    ("in", "my", "city"),
)
_OUR_PLACE = (
    ("in", "onze", "gemeente"),
    ("in", "onze", "regio"),
    ("in", "ons", "dorp"),
    ("in", "onze", "stad"),
    ("in", "our", "municipality"),
    ("in", "our", "town"),
    ("in", "our", "city"),
    ("in", "our", "region"),
)
_WHICH = _word_set("welke which what goede good")
_SCHOOL_WORDS = _word_set(
    """
    school scholen basisschool middelbare schools primary secondary psycholoog psychologist
    therapeut therapist huisarts
    """
)
_CHILD_WORDS = _word_set(
    """
    zoon dochter kind kinderen kindje zoontje dochtertje pleegkind kleinzoon kleindochter
    son daughter child children kid kids
    """
)
_MINE = _word_set("mijn onze ons my our")
_ADVICE = (
    ("wat", "moet", "ik"),
    ("wat", "kan", "ik"),
    ("wat", "moeten", "we"),
    ("wat", "kunnen", "we"),
    ("wat", "moeten", "wij"),
    ("wat", "kunnen", "wij"),
    ("hoe", "maak", "ik"),
    ("mag", "dat"),
    ("mag", "de", "school"),
    ("recht", "op"),
    ("what", "should", "i"),
    ("what", "should", "we"),
    ("what", "can", "i"),
    ("what", "can", "we"),
    ("what", "are", "my", "rights"),
    ("can", "you", "recommend"),
)
_RIGHTS = _word_set("rechten bezwaar juridisch rights legal")
_WHEN_WORDS = _word_set("wanneer datum when date")
_MONTHS = _word_set(
    """
    januari februari maart april mei juni juli augustus september oktober november december
    january february march may june july august october
    """
)

# A long message (faq.questions.STORY_WORDS): what the matcher calls a story, and what is
# acknowledged before answering.
_FIRST_PERSON = _word_set("ik mijn we wij onze ons i my we our me us")


def _has(words: list[str], phrase: tuple[str, ...]) -> bool:
    size = len(phrase)
    return any(tuple(words[i : i + size]) == phrase for i in range(len(words) - size + 1))


def _costs(words: list[str]) -> bool:
    found = {w for w in words if w in _COST_WORDS}
    if not _WHO_WORDS.isdisjoint(words) and not _PAY_WORDS.isdisjoint(words):
        found -= _PAY_WORDS  # "wie betaalt het programma?": its funders
    if "gratis" in found and any(
        a == "gratis" and b in _SEAT_WORDS for a, b in itertools.pairwise(words)
    ):
        found.discard("gratis")  # "gratis plekken": seats, not money
    if not _EFFORT_WORDS.isdisjoint(words):
        found -= {"kost", "kosten", "kostte", "cost", "costs"}  # "hoeveel tijd kost het"
    if found or any(_has(words, phrase) for phrase in _FREE):
        return True
    # "hoeveel geld": an amount of money is never in the sources.
    return not _MONEY_WORDS.isdisjoint(words) and not _AMOUNT_WORDS.isdisjoint(words)


def _asks_arrangement(words: list[str]) -> bool:
    """Whether there is childcare, food, access at an activity: "is er …", "is there …",
    "is de locatie toegankelijk". Not "kinderopvang" as a sector ("wij in de kinderopvang")."""
    for i, word in enumerate(words):
        if word not in _ARRANGEMENT_WORDS:
            continue
        if not _THERE.isdisjoint(words[max(0, i - 2) : i]):
            return True
        if word in _ACCESS_WORDS and not _EVENT_WORDS.isdisjoint(words):
            return True
    return False


def known_unknown(text: str) -> Unknown | None:
    """The plain known unknown a question asks about, or None."""
    words = normalise(text).split()
    if _costs(words):
        return Unknown.COSTS
    if any(w.startswith(_PARKING_PREFIXES) for w in words):
        return Unknown.PARKING
    if _asks_arrangement(words):
        return Unknown.ARRANGEMENTS  # "is er kinderopvang tijdens de dialoogavond"
    if any(
        word in _PERSON_WORDS and not _NAME_ASKING.isdisjoint(words[max(0, i - 4) : i])
        for i, word in enumerate(words)
    ):
        return Unknown.PERSON  # "wie is de wethouder jeugd", not "ik ben wethouder"
    if _near_me(words) and not _WHERE_WORDS.isdisjoint(words):
        return Unknown.PLACE  # "waar zijn de bijeenkomsten? ik woon in zwolle"
    return None


def _near_me(words: list[str]) -> bool:
    lives = any(a in _LIVING and b == "in" for a, b in itertools.pairwise(words))
    return lives or any(_has(words, phrase) for phrase in _NEAR_ME)


def soft_unknown(text: str) -> Unknown | None:
    """A known unknown that only counts when the FAQ has no answer: it names something
    specific the sources never cover, but also a topic they may."""
    words = normalise(text).split()
    if any(
        words[i] in _WHICH and not _SCHOOL_WORDS.isdisjoint(words[i + 1 : i + 3])
        for i in range(len(words))
    ):
        return Unknown.SCHOOL
    if _near_me(words) or any(_has(words, phrase) for phrase in _OUR_PLACE):
        return Unknown.PLACE
    about_child = any(a in _MINE and b in _CHILD_WORDS for a, b in itertools.pairwise(words))
    if about_child and (
        any(_has(words, phrase) for phrase in _ADVICE) or not _RIGHTS.isdisjoint(words)
    ):
        return Unknown.OWN_CASE
    if not _WHEN_WORDS.isdisjoint(words) or not _MONTHS.isdisjoint(words):
        return Unknown.DATE
    return None


def is_story(text: str) -> bool:
    """A long message telling about a child or one's own situation."""
    words = normalise(text).split()
    if len(words) < STORY_WORDS:
        return False
    about_child = any(a in _MINE and b in _CHILD_WORDS for a, b in itertools.pairwise(words))
    return about_child or sum(w in _FIRST_PERSON for w in words) >= 3
