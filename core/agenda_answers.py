"""Answers from the agenda: "wanneer is de masterclass netwerkregie", "is de dialoog online",
"zijn er nog plekken bij de schone lei", "wanneer is er weer een fieldlab".

A question is read in two parts, both from its words alone (`read_question`, no database):

* what it asks about an activity: when, where, online, seats, for whom, signing up
  (`Aspect`); without one of these it is not an agenda question ("wat is een fieldlab" stays
  with the FAQ, which explains what a fieldlab is);
* which activity: title words (typo-tolerant, "netwerkregie", "schone lei") and kind words
  ("dialoog", "masterclass", "fieldlab", "werksessie", "community of practice" / "CoP").

Then `find` picks the published, upcoming activities it means. A single title word is only
enough with a kind word or a word like "activiteit" or "sessie" beside it ("wanneer is een
kind een thuiszitter" is not about the Dialoog thuiszitters). A question naming only a kind
lists the upcoming ones of that kind; one that only asks how to sign up for a kind ("ik wil
me aanmelden voor de masterclass, hoe doe ik dat?") is left to the FAQ, except as a
follow-up, right after that kind was discussed.
"""

from __future__ import annotations

import functools
import itertools
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass
from datetime import datetime
from enum import StrEnum

from rapidfuzz.distance import OSA
from sqlalchemy.orm import Session

from core import callbacks
from core.activity_text import (
    address,
    choice_label,
    describe,
    is_online,
    moment,
    period,
    seats,
    short_place,
    signup_button,
    your_place,
)
from core.context import MaoContext
from core.keyboards import Button
from faq.language import FUNCTION_WORDS
from faq.smalltalk import BACK_WORDS, tokens
from storage.activities import ActivityInfo, get_activity_by_id, upcoming_activities
from storage.registrations import UserRegistration, user_registrations
from storage.vocabulary import Kind, Status

# The upcoming activities as last read: answered from when the database is away or slow
# (read_agenda reads through the database seam).
LAST_READ_KEY = "agenda_answers_last_read"

__all__ = [
    "AgendaQuestion",
    "AgendaRead",
    "AgendaReply",
    "Aspect",
    "Found",
    "answer_found",
    "find",
    "find_follow_up",
    "find_in_agenda",
    "is_about_the_activity",
    "places_held",
    "read_agenda",
    "read_question",
]

# A list answer shows this many activities; /agenda has them all.
LIST_LIMIT = 5


class Aspect(StrEnum):
    WHEN = "when"
    WHERE = "where"
    ONLINE = "online"
    SEATS = "seats"
    AUDIENCE = "audience"
    SIGNUP = "signup"


def _words(text: str) -> frozenset[str]:
    return frozenset(text.split())


# Single words per aspect; two-word phrases (joined) in _ASPECT_PAIRS.
_ASPECT_WORDS: dict[Aspect, frozenset[str]] = {
    Aspect.WHEN: _words(
        """
        wanneer datum data tijdstip begint beginnen begin start starten startdatum
        eindigt binnenkort eerstvolgende volgende komende hoelaat
        when date dates begins begin starts start next upcoming soon
        """
    ),
    Aspect.WHERE: _words(
        """
        waar waarheen locatie adres plaats stad gebouw where location address venue place
        city
        """
    ),
    Aspect.ONLINE: _words(
        """
        online digitaal virtueel zoom teams link videobellen fysiek live afstand remote
        virtual onsite
        """
    ),
    Aspect.SEATS: _words(
        """
        plek plekken plekje plekjes plaatsen ruimte vol volgeboekt uitverkocht beschikbaar
        wachtlijst seats seat spots spot places space full available capacity waitlist
        """
    ),
    Aspect.AUDIENCE: _words("doelgroep audience"),
    Aspect.SIGNUP: _words(
        """
        aanmelden aanmeld aanmelding inschrijven inschrijving schrijf opgeven meedoen
        deelnemen signup register registration join book enrol enroll attend
        """
    ),
}
_ASPECT_PAIRS: dict[Aspect, frozenset[str]] = {
    Aspect.WHEN: _words("hoelaat welkedag whatday whattime howlate"),
    Aspect.WHERE: _words("welkestad"),
    Aspect.SEATS: _words("nogplaats nogruimte"),
    Aspect.AUDIENCE: _words(
        """
        voorwie wiemag wiekan wiekunnen forwhom whocan whomay voorouders voorprofessionals
        forparents forprofessionals
        """
    ),
    Aspect.SIGNUP: _words("meldaan signup doemee schrijfin"),
}
# "meld ik me aan": the separable verb with words in between.
_SEPARABLE = {("meld", "aan"): Aspect.SIGNUP, ("schrijf", "in"): Aspect.SIGNUP}

_KIND_WORDS: dict[str, Kind] = {
    "dialoog": Kind.DIALOOG,
    "dialogen": Kind.DIALOOG,
    "dialoogavond": Kind.DIALOOG,
    "dialogue": Kind.DIALOOG,
    "dialogues": Kind.DIALOOG,
    "dialog": Kind.DIALOOG,
    "masterclass": Kind.MASTERCLASS,
    "masterclasses": Kind.MASTERCLASS,
    "masterklas": Kind.MASTERCLASS,
    "fieldlab": Kind.FIELDLAB,
    "fieldlabs": Kind.FIELDLAB,
    "veldlab": Kind.FIELDLAB,
    "werksessie": Kind.WERKSESSIE,
    "werksessies": Kind.WERKSESSIE,
    "worksession": Kind.WERKSESSIE,
    "communityofpractice": Kind.COMMUNITY_OF_PRACTICE,
    "communitiesofpractice": Kind.COMMUNITY_OF_PRACTICE,
    "community": Kind.COMMUNITY_OF_PRACTICE,
    "cop": Kind.COMMUNITY_OF_PRACTICE,
    "cops": Kind.COMMUNITY_OF_PRACTICE,
    "doendag": Kind.DOEN_DAG,
    "doendagen": Kind.DOEN_DAG,
}
# Kind words written as two or three words ("work session", "community of practice").
_KIND_LONGEST = 3

# "activiteit", "sessie": the question is about an event, so one title word is enough.
_EVENT_WORDS = _words(
    """
    activiteit activiteiten bijeenkomst bijeenkomsten sessie sessies evenement event events
    meeting avond middag ochtend workshop activity activities session sessions gathering
    """
)

# A question about what was ("wat waren die online dialogen van 2020?") is not about the
# agenda, which holds what is still to come.
_PAST = _words("was waren were geweest vorig vorige vorigjaar gisteren yesterday afgelopen")
# What the agenda does not know (prices, parking, access, travel): such a question about an
# activity is the FAQ's, which says honestly that it does not know.
_NOT_IN_AGENDA = (
    "kost",
    "prijs",
    "betal",
    "gratis",
    "parkeer",
    "parkeren",
    "parking",
    "rolstoel",
    "toegankelijk",
    "accessib",
    "wheelchair",
    "trein",
    "train",
    "station",
    "lunch",
    "eten",
    "food",
    "koffie",
    "coffee",
    "certific",
    "accredit",
    "vergoed",
    "cost",
    "price",
    "pay",
    "fee",
    "free",
    "ticket",
    "kaartje",
)
# Words that may stand beside an agenda question without making it another question:
# dates, "precies", "graag", "info".
_AGENDA_TALK = _words(
    """
    januari februari maart april mei juni juli augustus september oktober november december
    january february march may june july august october
    maandag dinsdag woensdag donderdag vrijdag zaterdag zondag monday tuesday wednesday
    thursday friday saturday sunday vandaag morgen week maand month weekend
    precies graag info informatie weten zien vertellen staat gepland plan gaan moet
    hallo hoi hey ja opgeven
    """
)
# A question with more words of its own than this is about something else (a story, the
# bus to the venue): it goes to the FAQ.
MAX_OTHER_WORDS = 2

# Title words that say nothing about which activity is meant.
_GENERIC = _words(
    """
    de het een en van voor met over in op aan bij te om of door naar uit
    the a an and of for with about in on at to by from out
    werksessie sessie session work dialoog dialogue masterclass fieldlab community practice
    cop kinderen kind children child school scholen long term network ouders parents
    professionals voorbeeld example
    """
)


# Besides little words and aspect words, what a follow-up about an activity may say: "hoe
# laat begint het?", "hoe meld ik me daarvoor aan?", "welke dag is dat?".
_FOLLOW_UP_WORDS = _words(
    """
    meld schrijf doe mee kom komen ga gaan laat dag nog er ook weer precies eigenlijk
    allemaal zijn wordt worden kost hoeveel hij zij ze go going held open
    """
)


def _typo_allowance(word: str) -> int:
    if len(word) < 5:
        return 0
    return 1 if len(word) < 9 else 2


def _near(typed: str, word: str) -> bool:
    allowed = _typo_allowance(word)
    return typed == word or (
        allowed > 0 and OSA.distance(typed, word, score_cutoff=allowed) <= allowed
    )


@dataclass(frozen=True)
class AgendaQuestion:
    aspects: frozenset[Aspect]
    kinds: frozenset[str]
    event_word: bool
    words: tuple[str, ...]

    @property
    def only_signup(self) -> bool:
        return self.aspects == {Aspect.SIGNUP}


def _kinds_in(words: Sequence[str]) -> set[str]:
    found: set[str] = set()
    for start in range(len(words)):
        for count in range(1, _KIND_LONGEST + 1):
            if start + count > len(words):
                break
            joined = "".join(words[start : start + count])
            for word, kind in _KIND_WORDS.items():
                if joined == word or (
                    count == 1
                    and (_near(joined, word) or (len(word) >= 6 and joined.startswith(word)))
                ):
                    found.add(kind.value)
    return found


@functools.lru_cache(maxsize=64)  # one message is read several ways (agenda, follow-up)
def read_question(text: str) -> AgendaQuestion:
    """What a question asks about an activity, and which kinds it names (no database)."""
    words = tokens(text)
    aspects: set[Aspect] = set()
    for aspect, known in _ASPECT_WORDS.items():
        if any(word in known for word in words):
            aspects.add(aspect)
    pairs = {a + b for a, b in itertools.pairwise(words)}
    for aspect, known in _ASPECT_PAIRS.items():
        if pairs & known:
            aspects.add(aspect)
    for (first, last), aspect in _SEPARABLE.items():
        if first in words and last in words[words.index(first) + 1 :]:
            aspects.add(aspect)
    if "waar" in words and "over" in words[words.index("waar") + 1 :]:
        aspects.discard(Aspect.WHERE)  # "waar gaat dat over": what it is about
    return AgendaQuestion(
        aspects=frozenset(aspects),
        kinds=frozenset(_kinds_in(words)),
        event_word=any(word in _EVENT_WORDS for word in words),
        words=tuple(words),
    )


def _known_words() -> set[str]:
    known = set(FUNCTION_WORDS) | _FOLLOW_UP_WORDS | BACK_WORDS | _EVENT_WORDS | _AGENDA_TALK
    for words in _ASPECT_WORDS.values():
        known |= words
    return known


_KNOWN = frozenset(_known_words())


def _other_words(question: AgendaQuestion, activities: Sequence[ActivityInfo]) -> list[str]:
    """The words of a question that are not about the agenda: not little words, aspects,
    kinds, dates or the titles of the activities."""
    known = _KNOWN
    titles: set[str] = set()
    for activity in activities:
        titles |= _title_words(activity.title_nl) | _title_words(activity.title_en)
    return [
        word
        for word in question.words
        if len(word) > 2
        and not word.isdigit()
        and word not in known
        and word not in _GENERIC
        and not _kinds_in([word])
        and not any(_near(word, title) for title in titles)
    ]


def _off_the_agenda(question: AgendaQuestion, activities: Sequence[ActivityInfo]) -> bool:
    """About what was, about what the agenda does not know, or about something else."""
    words = question.words
    if any(word in _PAST for word in words):
        return True
    if any(word.startswith(_NOT_IN_AGENDA) for word in words):
        return True
    return len(_other_words(question, activities)) > MAX_OTHER_WORDS


def is_about_the_activity(text: str) -> bool:
    """Whether a follow-up asks only about the activity just discussed ("is dat online?"),
    and not something of its own ("hoe laat is het in Tokio?")."""
    question = read_question(text)
    if not question.aspects:
        return False
    return all(word in _KNOWN or word.isdigit() for word in question.words)


def _title_words(title: str) -> set[str]:
    words = [w for w in tokens(title) if w not in _GENERIC and len(w) >= 3]
    joined = {a + b for a, b in itertools.pairwise(words)}
    return set(words) | joined


def _title_score(question: AgendaQuestion, activity: ActivityInfo) -> int:
    """How many distinctive words of the activity's title (Dutch or English) the question
    uses."""
    best = 0
    for title in (activity.title_nl, activity.title_en):
        title_words = _title_words(title)
        matched = {w for w in title_words if any(_near(typed, w) for typed in question.words)}
        best = max(best, len(matched))
    return best


@dataclass(frozen=True)
class Found:
    """The activities a question is about: one or a few by title, or the upcoming ones of a
    kind (`kind` set, possibly none)."""

    activities: tuple[ActivityInfo, ...]
    kind: str | None = None


def find(
    question: AgendaQuestion, activities: Iterable[ActivityInfo], *, follow_up: bool = False
) -> Found | None:
    """The upcoming activities a question means, or None when it is not an agenda question.

    `activities`: published, upcoming ones, soonest first."""
    if not question.aspects:
        return None
    upcoming = list(activities)
    if not follow_up and _off_the_agenda(question, upcoming):
        return None
    scored = [(a, _title_score(question, a)) for a in upcoming]
    if question.kinds:
        scored = [(a, s) for a, s in scored if a.kind in question.kinds]
    best = max((s for _, s in scored), default=0)
    if best >= 2 or (best == 1 and (question.kinds or question.event_word)):
        return Found(tuple(a for a, s in scored if s == best))
    if not question.kinds or (question.only_signup and not follow_up):
        return None
    kind = sorted(question.kinds)[0]
    return Found(tuple(a for a in upcoming if a.kind in question.kinds), kind)


# --- answers ----------------------------------------------------------------------------------


@dataclass(frozen=True)
class AgendaReply:
    text: str
    rows: list[list[Button]]
    # What the answer was about, for a follow-up: ("activity", "12") or ("kind", "fieldlab").
    topic: tuple[str, str]


def _kind_name(kind: str, context: MaoContext) -> str:
    return context.text(f"kind_{kind.replace('-', '_')}")


def _can_sign_up(activity: ActivityInfo, context: MaoContext) -> bool:
    """As /agenda offers the button, and example activities only in the demo (a real bot
    refuses sign-ups for them: no button that leads nowhere)."""
    services = context.services
    return activity.open_for_registration(services.now()) and (
        not activity.is_sample or services.demo
    )


def _leads(activity: ActivityInfo, aspects: frozenset[Aspect], context: MaoContext) -> list[str]:
    """Direct answers to yes/no questions ("is de dialoog online?"), before the details."""
    lines: list[str] = []
    if activity.is_sample and (
        (Aspect.ONLINE in aspects and not activity.location and not activity.online_url)
        or (Aspect.SEATS in aspects and activity.places_left is None)
    ):
        # What an example's source does not say is not answered either.
        return [context.text("agenda_answer_example_unknown")]
    if Aspect.ONLINE in aspects:
        # The place itself says the link comes after signing up (core.activity_text.place).
        if is_online(activity) and address(activity):
            lines.append(context.text("agenda_answer_online_both"))
        elif is_online(activity):
            lines.append(context.text("agenda_answer_online_yes"))
        else:
            lines.append(context.text("agenda_answer_online_no"))
    if Aspect.SEATS in aspects:
        left = activity.places_left
        if left is None:
            lines.append(context.text("agenda_answer_seats_unlimited"))
        elif left == 0:
            lines.append(context.text("agenda_answer_seats_full"))
        else:
            lines.append(context.text("agenda_answer_seats_left", left=left))
    return lines


def _single(
    activity: ActivityInfo,
    aspects: frozenset[Aspect],
    held: UserRegistration | None,
    context: MaoContext,
) -> AgendaReply:
    services = context.services
    now = services.now()
    leads = _leads(activity, aspects, context) or [context.text("agenda_answer_intro")]
    parts = ["\n".join(leads), describe(activity, context)]
    rows: list[list[Button]] = []
    mine = your_place(held, context)
    if mine:
        parts.append(mine)
    elif activity.is_sample and not services.demo:
        parts.append(context.text("agenda_answer_example_only"))
    elif _can_sign_up(activity, context):
        rows.append([signup_button(activity, context)])
    elif activity.registration_opens_at is not None and now < activity.registration_opens_at:
        parts.append(
            context.text(
                "agenda_answer_opens",
                moment=moment(activity.registration_opens_at, context),
            )
        )
    else:
        parts.append(context.text("agenda_answer_closed"))
    return AgendaReply("\n\n".join(parts), rows, ("activity", str(activity.id)))


def _listing(
    found: Found,
    held: dict[int, UserRegistration],
    context: MaoContext,
) -> AgendaReply:
    shown = found.activities[:LIST_LIMIT]
    if found.kind is not None:
        header = context.text("agenda_answer_kind_header", kind=_kind_name(found.kind, context))
        topic = ("kind", found.kind)
    else:
        header = context.text("agenda_answer_several")
        topic = ("activities", ",".join(str(a.id) for a in shown))
    blocks = [header]
    for activity in shown:
        block = context.text(
            "agenda_answer_line",
            title=activity.title(context.language),
            period=period(activity, context),
            place=short_place(activity, context),
            seats=seats(activity, context),
        )
        mine = your_place(held.get(activity.id), context)
        if mine:
            block += "\n" + mine
        blocks.append(block)
    if any(a.is_sample for a in shown) and not context.services.demo:
        blocks.append(context.text("agenda_answer_examples_only"))
    blocks.append(context.text("agenda_answer_see_agenda"))
    rows = [
        [(choice_label(a, context, held.get(a.id)), callbacks.SIGNUP_PICK.data(activity=a.id))]
        for a in shown
        if a.id not in held and _can_sign_up(a, context)
    ]
    return AgendaReply("\n\n".join(blocks), rows, topic)


@dataclass(frozen=True)
class AgendaRead:
    """What an agenda answer may need, read through the database seam before the message is
    read (reading it is synchronous): the upcoming activities, and those of the topic just
    discussed still on."""

    upcoming: list[ActivityInfo]
    known: list[ActivityInfo]

    def still_on(self, ids: Sequence[int]) -> list[ActivityInfo]:
        return [a for a in self.known if a.id in ids]


NOTHING_READ = AgendaRead([], [])


def _read_agenda(
    session: Session, now: datetime, ids: Sequence[int]
) -> tuple[list[ActivityInfo], list[ActivityInfo | None]]:
    return upcoming_activities(session, now), [get_activity_by_id(session, i) for i in ids]


async def read_agenda(context: MaoContext, text: str, topic: tuple[str, str] | None) -> AgendaRead:
    """Only for a message that asks something of an activity (most need no read); while
    the database is away, or slow, the agenda as last read."""
    if not read_question(text).aspects:
        return NOTHING_READ
    services = context.services
    now = services.now()
    ids = _topic_ids(topic)
    read = await services.db.read_or(None, _read_agenda, now, ids)
    if read is None:
        last: list[ActivityInfo] = context.bot_data.get(LAST_READ_KEY, [])
        known: list[ActivityInfo | None] = [a for a in last if a.id in ids]
    else:
        last, known = read
        context.bot_data[LAST_READ_KEY] = last
    # Started ones are over for a newcomer: the answer is about what is still to come.
    return AgendaRead(
        [a for a in last if a.starts_at > now],
        [a for a in known if a is not None and a.status == Status.PUBLISHED and a.ends_at > now],
    )


def _topic_ids(topic: tuple[str, str] | None) -> list[int]:
    if topic is None or topic[0] in ("kind", "faq"):
        return []
    return [int(part) for part in topic[1].split(",") if part.isascii() and part.isdigit()]


async def places_held(context: MaoContext, user_id: int) -> dict[int, UserRegistration]:
    """The user's own places, for the answer; without them while the database is away."""
    services = context.services
    held: list[UserRegistration] = await services.db.read_or(
        [], user_registrations, user_id, services.now()
    )
    return {item.activity.id: item for item in held}


def answer_found(
    found: Found,
    aspects: frozenset[Aspect],
    context: MaoContext,
    held: dict[int, UserRegistration],
) -> AgendaReply:
    """The answer about the activities found (core/chat_reading.py found them), with the
    places the user holds (places_held)."""
    if not found.activities:
        assert found.kind is not None
        return AgendaReply(
            context.text("agenda_answer_none", kind=_kind_name(found.kind, context)),
            [],
            ("kind", found.kind),
        )
    if len(found.activities) == 1:
        activity = found.activities[0]
        return _single(activity, aspects, held.get(activity.id), context)
    return _listing(found, held, context)


def find_in_agenda(
    text: str, activities: Callable[[], Sequence[ActivityInfo]], *, follow_up: bool = False
) -> tuple[Found, frozenset[Aspect]] | None:
    """What an agenda question is about, or None when it is not one. `activities` is only
    called for a message that asks something of an activity (most messages need no look-up)."""
    question = read_question(text)
    if not question.aspects:
        return None
    found = find(question, activities(), follow_up=follow_up)
    return None if found is None else (found, question.aspects)


def find_follow_up(
    topic: tuple[str, str],
    text: str,
    activities: Callable[[], Sequence[ActivityInfo]],
    known: Callable[[Sequence[int]], Sequence[ActivityInfo]],
) -> tuple[Found, frozenset[Aspect]] | None:
    """A follow-up ("en wanneer is die?") about the activity or kind just discussed."""
    if not is_about_the_activity(text):
        return None
    question = read_question(text)
    kind, value = topic
    if kind == "kind":
        return Found(tuple(a for a in activities() if a.kind == value), value), question.aspects
    still = tuple(known(_topic_ids(topic)))
    return (Found(still), question.aspects) if still else None
