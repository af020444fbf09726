"""A FAQ that learns: organisers' additions in the matcher, on every instance, and /faqgaps.

Additions ("Voeg toe aan FAQ") live in the database (storage/faq_additions.py), shared by
every instance. Before a question is matched, `refresh_now_and_then` looks whether they
changed (count and highest id: one cheap aggregate), at most every CHECK_EVERY, and, if so,
builds a matcher for the content plus the additions in a thread (it takes most of a second)
and swaps `services.matcher`. The instance where an organiser adds one refreshes before
confirming (`refresh_matcher`), so its very next question is answered with the new phrasing;
another instance does so at its first question after CHECK_EVERY at most.

`group_misses` groups the questions the FAQ missed by similarity, for /faqgaps.
"""

from __future__ import annotations

import asyncio
import functools
import logging
from collections.abc import Sequence
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from typing import TYPE_CHECKING, Protocol

import yaml
from rapidfuzz import fuzz, process

from faq import cache
from faq.content import FaqContent
from faq.matching import FaqMatcher, Phrasing, normalise
from storage.db import Database
from storage.faq_additions import (
    NO_ADDITIONS,
    Addition,
    AdditionsVersion,
    additions_version,
    all_additions,
)
from storage.faq_misses import StoredMiss

if TYPE_CHECKING:
    from sqlalchemy.orm import Session

logger = logging.getLogger(__name__)


@dataclass
class AdditionsState:
    """Which additions `Services.matcher` includes, and the content's own matcher."""

    base: FaqMatcher | None = None  # the matcher of faq/content alone (set at first refresh)
    version: AdditionsVersion = NO_ADDITIONS
    ids: frozenset[int] = frozenset()  # the additions in `Services.matcher`
    failed: AdditionsVersion | None = None  # a build that raised is not retried per question
    checked_at: datetime | None = None  # the last look of a question (refresh_now_and_then)
    lock: asyncio.Lock = field(default_factory=asyncio.Lock)


class LiveMatcher(Protocol):
    """What swapping the matcher needs (core.services.Services is one): not the whole
    container, so this module and core/services.py do not import each other."""

    db: Database
    faq: FaqContent
    matcher: FaqMatcher
    faq_additions: AdditionsState


@functools.lru_cache(maxsize=2)
def _build(base: FaqMatcher, content: FaqContent, extra: tuple[Phrasing, ...]) -> FaqMatcher:
    # Cached: several Applications in one process (tests, the console's restarts) share it.
    return base.with_phrasings(content, extra)


def _additions_if_newer(
    session: Session, known: AdditionsVersion
) -> tuple[AdditionsVersion, list[Addition]]:
    version = additions_version(session)
    return version, (all_additions(session) if version != known else [])


# Additions made on another instance reach this one's matcher within this long. A question
# does not look each time: an update reads the database once (its user's state).
CHECK_EVERY = timedelta(seconds=5)


async def refresh_now_and_then(services: LiveMatcher, now: datetime) -> bool:
    """`refresh_matcher` before a question, unless a question looked less than CHECK_EVERY
    before `now` (by the services' clock; one that went back looks again)."""
    state = services.faq_additions
    if state.checked_at is not None and timedelta(0) <= now - state.checked_at < CHECK_EVERY:
        return False
    state.checked_at = now
    return await refresh_matcher(services)


async def refresh_matcher(services: LiveMatcher) -> bool:
    """Bring `services.matcher` up to date with the stored additions; True if it changed.

    Costs one aggregate query when nothing changed; concurrent callers wait for one build."""
    state = services.faq_additions
    # A read on every question: it must not take SQLite's write lock (Database.reading).
    # The database away or slow: the matcher as it is answers.
    version = await services.db.read_or(state.version, additions_version)
    if version == state.version or version == state.failed:
        return False
    async with state.lock:
        nothing_new: tuple[AdditionsVersion, list[Addition]] = (state.version, [])
        version, additions = await services.db.read_or(
            nothing_new, _additions_if_newer, state.version
        )
        if version == state.version:
            return False  # another update built it while this one waited
        base = state.base = state.base or services.matcher
        extra = tuple(Phrasing(a.entry_id, a.language, a.question) for a in additions)
        ids = frozenset(a.id for a in additions)
        if state.ids - ids:
            # An addition was erased (/vergeetmij) or moved: no index built with it may stay,
            # on disk (faq/cache.py, keyed on the content) or in this process.
            _build.cache_clear()
            removed = await asyncio.to_thread(cache.clear)
            logger.info("FAQ additions removed: %d index cache files dropped", removed)
        try:
            matcher = await asyncio.to_thread(_build, base, services.faq, extra) if extra else base
        except Exception:
            logger.exception("FAQ additions not taken into the matcher")
            state.failed = version
            return False
        services.matcher = matcher
        state.version = version
        state.ids = ids
        logger.info("FAQ matcher now includes %d additions", len(extra))
        return True


# -- /faqgaps -------------------------------------------------------------------------------

# Misses this similar (0-100, on their words without the commonest ones) form one group.
GROUP_SIMILARITY = 75.0
_COMMON_WORDS = frozenset(
    str.split(
        """
    de het een en of is ik je jij wat waar hoe wie wanneer dat die dit er van voor in op met te
    aan om mijn mn we wij ze zijn kan kun me mij u uw ook nog eigenlijk
    the a an and or are i you what where how who when that this of for on with to do does can
    my it be
    """
    )
)


@dataclass(frozen=True)
class MissGroup:
    misses: tuple[StoredMiss, ...]  # the most recent first: it is the group's example

    @property
    def example(self) -> StoredMiss:
        return self.misses[0]

    @property
    def miss_ids(self) -> tuple[int, ...]:
        return tuple(m.id for m in self.misses)

    @property
    def count(self) -> int:
        return len(self.misses)


def _words(question: str) -> str:
    words = normalise(question).split()
    return " ".join(w for w in words if w not in _COMMON_WORDS) or " ".join(words)


def _similarity(first: str, second: str) -> float:
    # token_set alone calls "mao" and "mao tafel" the same (one is inside the other);
    # token_sort alone misses a question asked with extra words: half of each. Written
    # without spaces, "whatsappgroep" and "whatsapp groep" are the same word.
    words = (fuzz.token_set_ratio(first, second) + fuzz.token_sort_ratio(first, second)) / 2
    return max(words, fuzz.ratio(first.replace(" ", ""), second.replace(" ", "")))


def _closest(words: str, examples: list[str], compact: list[str]) -> int | None:
    """The most similar group example, if similar enough. rapidfuzz's fast scans find the
    candidates: a half of at most 100 needs the other half at least 2 * GROUP_SIMILARITY -
    100, and the spaceless ratio is scanned as it is."""
    by_words = process.extract(
        words,
        examples,
        scorer=fuzz.token_sort_ratio,
        score_cutoff=2 * GROUP_SIMILARITY - 100,
        limit=None,
    )
    by_letters = process.extract(
        words.replace(" ", ""),
        compact,
        scorer=fuzz.ratio,
        score_cutoff=GROUP_SIMILARITY,
        limit=None,
    )
    best: tuple[float, int] | None = None
    for position in sorted({found[2] for found in (*by_words, *by_letters)}):
        score = _similarity(words, examples[position])
        if score >= GROUP_SIMILARITY and (best is None or score > best[0]):
            best = (score, position)
    return best[1] if best else None


def group_misses(misses: Sequence[StoredMiss]) -> list[MissGroup]:
    """Greedy grouping, most recent first: a miss joins the first group whose example is
    similar enough, or starts one. Largest groups first, then the most recent."""
    examples: list[str] = []
    compact: list[str] = []
    members: list[list[StoredMiss]] = []
    for miss in sorted(misses, key=lambda m: (m.asked_at, m.id), reverse=True):
        words = _words(miss.question)
        found = _closest(words, examples, compact) if examples else None
        if found is None:
            examples.append(words)
            compact.append(words.replace(" ", ""))
            members.append([miss])
        else:
            members[found].append(miss)
    groups = [MissGroup(tuple(group)) for group in members]
    groups.sort(key=lambda g: (-g.count, -g.example.asked_at.timestamp(), -g.example.id))
    return groups


# -- mao-bot faq export ---------------------------------------------------------------------


def additions_yaml(content: FaqContent, additions: Sequence[Addition]) -> tuple[str, list[str]]:
    """The additions shaped like faq/content (entries in its order, each with the `nl`/`en`
    alternatives to add), and the entry ids no longer in the content (left out)."""
    by_entry: dict[str, dict[str, list[str]]] = {}
    for addition in additions:
        languages = by_entry.setdefault(addition.entry_id, {})
        languages.setdefault(addition.language, []).append(addition.question)
    entries: list[dict[str, object]] = []
    for entry_id in content.ids:
        added = by_entry.get(entry_id, {})
        if not added:
            continue
        entry: dict[str, object] = {"id": entry_id}
        for language in ("nl", "en"):
            if added.get(language):
                entry[language] = {"alternatives": added[language]}
        entries.append(entry)
    unknown = sorted(set(by_entry) - set(content.ids))
    header = (
        f"# FAQ additions made by organisers in the chat (Voeg toe aan FAQ): {len(additions)}.\n"
        "# To merge: add each entry's alternatives to the entry with the same id in\n"
        "# faq/content/*.yaml (same language), then run `mao-bot check-config`.\n"
        f"# Exported {datetime.now().astimezone():%Y-%m-%d %H:%M %Z}.\n"
    )
    body = yaml.safe_dump({"entries": entries}, allow_unicode=True, sort_keys=False, width=1000)
    return header + body, unknown
