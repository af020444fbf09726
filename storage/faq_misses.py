"""Questions the bot could not answer, kept (without who asked) to improve the content."""

from __future__ import annotations

import functools
from collections.abc import Collection
from dataclasses import dataclass
from datetime import date, datetime, timedelta
from typing import Any

from sqlalchemy import bindparam, delete, func, select
from sqlalchemy.orm import Session

from storage.db import insert_for
from storage.models import FaqCount, FaqMiss, FaqTopicCount

MAX_QUESTION_LENGTH = 1000


@dataclass(frozen=True)
class Miss:
    question: str
    language: str
    best_id: str | None
    score: float
    asked_at: datetime


def record_miss(
    session: Session,
    question: str,
    language: str,
    best_id: str | None,
    score: float,
    at: datetime,
    rejected_id: str | None = None,
) -> None:
    """`rejected_id`: the topic it was answered with when the person said "Niet wat ik
    vroeg"."""
    session.add(
        FaqMiss(
            question=question[:MAX_QUESTION_LENGTH],
            language=language,
            best_id=best_id,
            score=round(score, 1),
            asked_at=at,
            rejected_id=rejected_id,
        )
    )


def recent_misses(session: Session, limit: int = 100) -> list[Miss]:
    rows = session.scalars(select(FaqMiss).order_by(FaqMiss.asked_at.desc()).limit(limit))
    return [Miss(r.question, r.language, r.best_id, r.score, r.asked_at) for r in rows]


@dataclass(frozen=True)
class StoredMiss:
    """A miss with its row id, for /faqgaps (handled misses are deleted by id)."""

    id: int
    question: str
    language: str
    asked_at: datetime
    rejected_id: str | None = None  # answered with this topic, and it was not what was asked


def misses_since(session: Session, since: datetime, limit: int = 2000) -> list[StoredMiss]:
    """The most recent misses first."""
    rows = session.scalars(
        select(FaqMiss)
        .where(FaqMiss.asked_at >= since)
        .order_by(FaqMiss.asked_at.desc(), FaqMiss.id.desc())
        .limit(limit)
    )
    return [StoredMiss(r.id, r.question, r.language, r.asked_at, r.rejected_id) for r in rows]


def delete_misses(session: Session, ids: Collection[int]) -> int:
    if not ids:
        return 0
    result = session.execute(delete(FaqMiss).where(FaqMiss.id.in_(list(ids))))
    return int(result.rowcount)  # type: ignore[attr-defined]


def delete_questions(session: Session, questions: Collection[str]) -> int:
    """Misses with exactly these words (a person's questions, when they are forgotten)."""
    texts = list({q[:MAX_QUESTION_LENGTH] for q in questions})
    deleted = 0
    for start in range(0, len(texts), 200):
        result = session.execute(
            delete(FaqMiss).where(FaqMiss.question.in_(texts[start : start + 200])),
            execution_options={"synchronize_session": False},
        )
        deleted += int(result.rowcount)  # type: ignore[attr-defined]
    return deleted


def purge_misses(session: Session, older_than: timedelta, now: datetime) -> int:
    result = session.execute(delete(FaqMiss).where(FaqMiss.asked_at < now - older_than))
    return int(result.rowcount)  # type: ignore[attr-defined]


@functools.cache
def _count_band_statement(dialect: str) -> Any:
    statement = insert_for(dialect)(FaqCount).values(
        day=bindparam("v_day"), band=bindparam("v_band"), count=1
    )
    return statement.on_conflict_do_update(
        index_elements=["day", "band"], set_={"count": FaqCount.count + 1}
    )


def count_band(session: Session, band: str, day: date) -> None:
    """One more question in this band today (one upsert; no text, no user). Once per
    question: the statement is built once (see storage/persistence_store.py)."""
    statement = _count_band_statement(session.get_bind().dialect.name)
    session.connection().execute(statement, {"v_day": day, "v_band": band})


def band_counts(session: Session, since: date) -> dict[str, int]:
    rows = session.execute(
        select(FaqCount.band, func.sum(FaqCount.count))
        .where(FaqCount.day >= since)
        .group_by(FaqCount.band)
    ).all()
    return {band: int(total or 0) for band, total in rows}


ANSWERED = "answered"
REJECTED = "rejected"


@functools.cache
def _count_topic_statement(dialect: str) -> Any:
    statement = insert_for(dialect)(FaqTopicCount).values(
        day=bindparam("v_day"),
        entry_id=bindparam("v_entry"),
        outcome=bindparam("v_outcome"),
        count=1,
    )
    return statement.on_conflict_do_update(
        index_elements=["day", "entry_id", "outcome"], set_={"count": FaqTopicCount.count + 1}
    )


def count_topic(session: Session, entry_id: str, outcome: str, day: date) -> None:
    """One more straight answer with this topic today, or one more "Niet wat ik vroeg" under
    it (one upsert; no text, no user; built once, as count_band)."""
    statement = _count_topic_statement(session.get_bind().dialect.name)
    session.connection().execute(
        statement, {"v_day": day, "v_entry": entry_id, "v_outcome": outcome}
    )


@dataclass(frozen=True)
class TopicRejections:
    entry_id: str
    answered: int
    rejected: int

    @property
    def share(self) -> float:
        return self.rejected / self.answered if self.answered else 1.0


def topic_rejections(session: Session, since: date, limit: int = 5) -> list[TopicRejections]:
    """The topics most often rejected since `since`, the highest share first."""
    rows = session.execute(
        select(FaqTopicCount.entry_id, FaqTopicCount.outcome, func.sum(FaqTopicCount.count))
        .where(FaqTopicCount.day >= since)
        .group_by(FaqTopicCount.entry_id, FaqTopicCount.outcome)
    ).all()
    totals: dict[str, dict[str, int]] = {}
    for entry_id, outcome, total in rows:
        totals.setdefault(entry_id, {})[outcome] = int(total or 0)
    found = [
        TopicRejections(entry_id, max(t.get(ANSWERED, 0), t.get(REJECTED, 0)), t[REJECTED])
        for entry_id, t in totals.items()
        if t.get(REJECTED)
    ]
    found.sort(key=lambda r: (-r.share, -r.rejected, r.entry_id))
    return found[:limit]
