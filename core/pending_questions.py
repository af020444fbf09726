"""The questions behind recent answers, so that a button under an older message acts on that
message's own question: "Niet wat ik vroeg" under an answer, "Stel je vraag aan het
programmabureau" under a fallback.

Each is kept in the persisted user data under a short number that the button's callback data
carries. Only a few are kept (the newest KEEP), and none longer than KEEP_FOR: a question is
kept no longer than its buttons are useful. A text with an e-mail address or a phone number
keeps no text (the miss filters, faq/misses.py): its hand-over asks to type the question.
The user data is in /mijngegevens and deleted by /vergeetmij.
"""

from __future__ import annotations

from collections.abc import MutableMapping, Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any

from faq.misses import has_contact_details

__all__ = [
    "KEEP",
    "KEEP_FOR",
    "KEEP_HOURS",
    "PENDING_KEY",
    "Pending",
    "drop_stale",
    "forget_question",
    "keep_question",
    "latest_question",
    "mark_rejected",
    "pending_question",
]

PENDING_KEY = "faq_pending"
KEEP = 5
KEEP_FOR = timedelta(days=1)
KEEP_HOURS = int(KEEP_FOR.total_seconds() // 3600)  # as /privacy and /mijngegevens say it


@dataclass(frozen=True)
class Pending:
    ref: int
    question: str | None  # None: not kept (contact details in it)
    guesses: tuple[str, ...]
    language: str
    answered: str | None  # the topic it was answered with, if any
    options: tuple[str, ...]  # the next topics, for "Niet wat ik vroeg"
    score: float
    rejected: bool


def _fresh(data: MutableMapping[Any, Any], now: datetime) -> dict[str, Any]:
    kept = data.get(PENDING_KEY)
    if not isinstance(kept, dict):
        return {}
    fresh: dict[str, Any] = {}
    for ref, item in kept.items():
        try:
            at = datetime.fromisoformat(str(item["at"]))
        except (KeyError, TypeError, ValueError):
            continue
        if now - at <= KEEP_FOR:
            fresh[str(ref)] = item
    return fresh


def keep_question(
    data: MutableMapping[Any, Any],
    question: str,
    *,
    language: str,
    now: datetime,
    guesses: Sequence[str] = (),
    answered: str | None = None,
    options: Sequence[str] = (),
    score: float = 0.0,
) -> int:
    """Keep a question for the buttons under its answer; returns the number they carry."""
    kept = _fresh(data, now)
    # Numbered by the time (in hundredths of a second) rather than a counter: after
    # /vergeetmij or a quiet day nothing is left to count from, and an old button's number
    # must not come to mean a new question.
    ref = max([int(now.timestamp() * 100), *(int(key) + 1 for key in kept)])
    kept[str(ref)] = {
        "question": None if has_contact_details(question) else question,
        "guesses": list(guesses)[:3],
        "language": language,
        "answered": answered,
        "options": list(options),
        "score": round(score, 1),
        "rejected": False,
        "at": now.isoformat(),
    }
    newest = sorted(kept, key=int)[-KEEP:]
    data[PENDING_KEY] = {key: kept[key] for key in newest}
    return ref


def pending_question(data: MutableMapping[Any, Any], ref: int, now: datetime) -> Pending | None:
    """The question kept under `ref`, or None when it is gone (old, or /vergeetmij)."""
    kept = _fresh(data, now)
    if kept != data.get(PENDING_KEY):
        data[PENDING_KEY] = kept
    item = kept.get(str(ref))
    if not isinstance(item, dict):
        return None
    question = item.get("question")
    language = item.get("language")
    answered = item.get("answered")
    return Pending(
        ref=ref,
        question=question if isinstance(question, str) and question else None,
        guesses=tuple(str(g) for g in item.get("guesses") or []),
        language=language if language in ("nl", "en") else "nl",
        answered=answered if isinstance(answered, str) else None,
        options=tuple(str(o) for o in item.get("options") or []),
        score=float(item.get("score") or 0.0),
        rejected=bool(item.get("rejected")),
    )


def mark_rejected(data: MutableMapping[Any, Any], ref: int) -> None:
    kept = data.get(PENDING_KEY)
    if isinstance(kept, dict) and isinstance(kept.get(str(ref)), dict):
        kept[str(ref)]["rejected"] = True


def latest_question(data: MutableMapping[Any, Any], now: datetime) -> Pending | None:
    """The newest question kept (what the last hand-over button offered)."""
    kept = _fresh(data, now)
    return pending_question(data, max(map(int, kept)), now) if kept else None


def forget_question(data: MutableMapping[Any, Any], ref: int) -> None:
    """Handed over: it need not be kept any longer."""
    kept = data.get(PENDING_KEY)
    if isinstance(kept, dict):
        kept.pop(str(ref), None)


def drop_stale(data: MutableMapping[Any, Any], now: datetime) -> int:
    """Retention: the questions older than KEEP_FOR are dropped (also of someone who never
    comes back); returns how many."""
    kept = data.get(PENDING_KEY)
    if not isinstance(kept, dict):
        return 0
    fresh = _fresh(data, now)
    if len(fresh) == len(kept):
        return 0
    if fresh:
        data[PENDING_KEY] = fresh
    else:
        data.pop(PENDING_KEY, None)
    return len(kept) - len(fresh)
