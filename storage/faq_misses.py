"""Questions the bot could not answer, kept (without who asked) to improve the content."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime, timedelta

from sqlalchemy import delete, select
from sqlalchemy.orm import Session

from storage.models import FaqMiss

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


def purge_misses(session: Session, older_than: timedelta, now: datetime) -> int:
    result = session.execute(delete(FaqMiss).where(FaqMiss.asked_at < now - older_than))
    return int(result.rowcount)  # type: ignore[attr-defined]
