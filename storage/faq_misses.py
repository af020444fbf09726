"""Questions the bot could not answer, kept (without who asked) to improve the content."""

from __future__ import annotations

from collections.abc import Collection
from dataclasses import dataclass
from datetime import date, datetime, timedelta

from sqlalchemy import delete, func, select
from sqlalchemy.dialects import postgresql, sqlite
from sqlalchemy.orm import Session

from storage.models import FaqCount, FaqMiss

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
) -> None:
    session.add(
        FaqMiss(
            question=question[:MAX_QUESTION_LENGTH],
            language=language,
            best_id=best_id,
            score=round(score, 1),
            asked_at=at,
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


def misses_since(session: Session, since: datetime, limit: int = 2000) -> list[StoredMiss]:
    """The most recent misses first."""
    rows = session.scalars(
        select(FaqMiss)
        .where(FaqMiss.asked_at >= since)
        .order_by(FaqMiss.asked_at.desc(), FaqMiss.id.desc())
        .limit(limit)
    )
    return [StoredMiss(r.id, r.question, r.language, r.asked_at) for r in rows]


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


def count_band(session: Session, band: str, day: date) -> None:
    """One more question in this band today (one upsert; no text, no user)."""
    insert = (
        postgresql.insert if session.get_bind().dialect.name == "postgresql" else sqlite.insert
    )
    statement = insert(FaqCount).values(day=day, band=band, count=1)
    session.execute(
        statement.on_conflict_do_update(
            index_elements=["day", "band"], set_={"count": FaqCount.count + 1}
        )
    )


def band_counts(session: Session, since: date) -> dict[str, int]:
    rows = session.execute(
        select(FaqCount.band, func.sum(FaqCount.count))
        .where(FaqCount.day >= since)
        .group_by(FaqCount.band)
    ).all()
    return {band: int(total or 0) for band, total in rows}
