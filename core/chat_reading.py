"""How the chat reads a free-text message, without Telegram: one function for the handler
(handlers/faq.py) and the benchmark (benchmarks/faq_accuracy.py), so the figures measured
are those of the chat.

In this order:

1. small talk ("hallo", "dankjewel!", "ben je een mens?"), only when the message is just that;
2. a question about an activity in the agenda ("wanneer is de masterclass netwerkregie"),
   only when it asks when/where/online/seats/for whom/sign-up of an activity it names, so
   "wat is een fieldlab" stays with the FAQ;
3. a short follow-up ("en wanneer is die?") on the topic answered in the last ten minutes;
4. a known unknown: costs, parking, a person, where someone lives (faq/unknowns.py);
5. the FAQ matcher: an answer, "Bedoelde je…?", or nothing good; a "nothing good" about a
   specific school, one's own case or a date is a known unknown after all.
"""

from __future__ import annotations

import functools
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from enum import StrEnum

from core.agenda_answers import (
    Aspect,
    Found,
    find_follow_up,
    find_in_agenda,
    is_about_the_activity,
)
from faq.content import FaqContent
from faq.matching import Band, FaqMatcher, MatchResult
from faq.smalltalk import Talk, refers_back, small_talk
from faq.unknowns import Unknown, is_story, known_unknown, soft_unknown
from storage.activities import ActivityInfo

__all__ = ["OPTIONS", "Reading", "Route", "read_message"]

# Topics offered after "Niet wat ik vroeg" (and "Bedoelde je…?" shows at most as many).
OPTIONS = 3


class Route(StrEnum):
    SMALL_TALK = "small-talk"
    AGENDA = "agenda"
    UNKNOWN = "known-unknown"
    ANSWER = "answer"  # a straight FAQ answer (also a follow-up's)
    SUGGEST = "suggest"
    FALLBACK = "fallback"


@dataclass(frozen=True)
class Reading:
    route: Route
    question: str
    story: bool = False
    talk: Talk | None = None
    found: Found | None = None
    aspects: frozenset[Aspect] = frozenset()
    match: MatchResult | None = None
    unknown: Unknown | None = None
    entry_id: str | None = None  # the answer's topic
    follow_up: bool = False

    @property
    def options(self) -> tuple[str, ...]:
        """The topics one tap away: "Bedoelde je…?" choices, or, under a straight answer,
        the next ones "Niet wat ik vroeg" offers."""
        if self.match is None:
            return ()
        if self.route is Route.SUGGEST:
            return tuple(c.entry_id for c in self.match.suggestions)
        if self.route is Route.ANSWER:
            floor = self.match.suggest_threshold
            ranked = [self.match.best, *self.match.runners_up]
            return tuple(
                c.entry_id
                for c in ranked
                if c is not None and c.entry_id != self.entry_id and c.score >= floor
            )[:OPTIONS]
        return ()

    @property
    def guesses(self) -> list[str]:
        """The FAQ's best guesses, for the organisers who get a handed-over question."""
        if self.match is None or self.match.best is None:
            return []
        ranked = [self.match.best, *self.match.runners_up]
        return [c.entry_id for c in ranked if c.score > 0][:OPTIONS]


def read_message(
    question: str,
    matcher: FaqMatcher,
    *,
    activities: Callable[[], Sequence[ActivityInfo]],
    known_activities: Callable[[Sequence[int]], Sequence[ActivityInfo]] = lambda ids: (),
    recent: tuple[str, str] | None = None,
    content: FaqContent | None = None,
    language: str = "nl",
) -> Reading:
    """What the chat does with `question`. `activities`: the upcoming ones (fetched only
    when needed); `recent`: the topic answered just before, as (type, id), for a follow-up;
    `content`: the FAQ, to read a follow-up together with that topic's question."""
    talk = small_talk(question)
    if talk is not None:
        return Reading(Route.SMALL_TALK, question, talk=talk)
    story = is_story(question)
    agenda = find_in_agenda(question, activities)
    if agenda is not None:
        return Reading(Route.AGENDA, question, story, found=agenda[0], aspects=agenda[1])
    # Matched once, when first needed: a follow-up may need it, and then the main path too.
    alone = functools.cache(functools.partial(matcher.match, question))
    if recent is not None and refers_back(question):
        reading = _follow_up(
            question, matcher, alone, recent, activities, known_activities, content, language
        )
        if reading is not None:
            return reading
    result = alone()
    unknown = known_unknown(question)
    if unknown is not None:
        # Matched all the same: the organisers who get it handed over see the FAQ's guesses.
        return Reading(Route.UNKNOWN, question, story, match=result, unknown=unknown)
    if result.band is Band.ANSWER and result.answer_id is not None:
        return Reading(Route.ANSWER, question, story, match=result, entry_id=result.answer_id)
    if result.band is Band.SUGGEST and result.suggestions:
        return Reading(Route.SUGGEST, question, story, match=result)
    unknown = soft_unknown(question)
    if unknown is not None:
        return Reading(Route.UNKNOWN, question, story, match=result, unknown=unknown)
    return Reading(Route.FALLBACK, question, story, match=result)


def _follow_up(
    question: str,
    matcher: FaqMatcher,
    alone: Callable[[], MatchResult],
    recent: tuple[str, str],
    activities: Callable[[], Sequence[ActivityInfo]],
    known_activities: Callable[[Sequence[int]], Sequence[ActivityInfo]],
    content: FaqContent | None,
    language: str,
) -> Reading | None:
    """A short message referring back ("is dat online?") to the topic just answered. None:
    it is not one (or the topic is gone), and the question is read on its own."""
    kind, value = recent
    if kind != "faq":
        found = find_follow_up(recent, question, activities, known_activities)
        if found is None:
            return None
        return Reading(Route.AGENDA, question, found=found[0], aspects=found[1], follow_up=True)
    entry = content.entry(value) if content is not None else None
    if entry is None:
        return None
    # The topic's own question put in front: "Wat is een masterclass? En wanneer is die?"
    combined = f"{entry.localised(language).question} {question}"
    if is_about_the_activity(question):
        agenda = find_in_agenda(combined, activities, follow_up=True)
        if agenda is not None:
            return Reading(
                Route.AGENDA, question, found=agenda[0], aspects=agenda[1], follow_up=True
            )
    # With the topic's question in front, the topic itself always matches well: only another
    # entry ("en hoe meld ik me weer af?" after aanmelden) is news, and only when the
    # message alone finds no answer ("hoeveel kost dat?" is not answered by repeating).
    if alone().answer_id is not None:
        return None
    together = matcher.match(combined)
    if together.answer_id is None or together.answer_id == entry.id:
        return None
    return Reading(
        Route.ANSWER, question, match=together, entry_id=together.answer_id, follow_up=True
    )
