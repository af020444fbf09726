"""The messages /vergeetmij (handlers/privacy.py) owes the organisers' chats: each copy of
the person's words the bot put there is deleted (or, where Telegram no longer allows
that, replaced by "[gewist op verzoek]"), and each such chat is told once."""

from __future__ import annotations

from datetime import timedelta

from core.context import MaoContext
from jobs.owed_kinds import Owed, OwedKind, Rendered
from storage.outbox import OutboxKind, Priority, tried_for


def copy_erased(context: MaoContext, owed: Owed, _data: Owed) -> Rendered | None:
    copy = owed.message.payload.get("copy")
    if not isinstance(copy, int):
        return None
    return Rendered(text=context.text("inbox_copy_erased"), erase=copy)


def erasure_notice(context: MaoContext, owed: Owed, _data: Owed) -> Rendered:
    count = owed.message.payload.get("count")
    return Rendered(text=context.text("inbox_erasure_notice", count=count or 0))


# As the inbox's copies (an organisers' group may be unreachable for a while).
A_WEEK = tried_for(timedelta(days=7))

OWED: tuple[OwedKind[Owed], ...] = (
    # Before the notice that tells about them (one chat's messages go in priority order).
    OwedKind(OutboxKind.COPY_ERASED, Priority.PERSONAL, A_WEEK, render=copy_erased),
    OwedKind(OutboxKind.ERASURE_NOTICE, Priority.NOTICE, A_WEEK, render=erasure_notice),
)
