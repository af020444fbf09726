"""Who was seen lately, in memory: the tracking handler (handlers/basics.py) writes
users.last_seen at most every few minutes per user; a change of language or an erasure
makes the next update read the database again."""

from __future__ import annotations

from datetime import datetime

from core.context import MaoContext

SEEN_KEY = "recently_seen"


def recently_seen(context: MaoContext) -> dict[int, tuple[datetime, str | None]]:
    seen: dict[int, tuple[datetime, str | None]] = context.application.bot_data.setdefault(
        SEEN_KEY, {}
    )
    return seen


def forget_seen(context: MaoContext, user_id: int) -> None:
    """After a change of language or an erasure, the next update reads the database."""
    recently_seen(context).pop(user_id, None)
