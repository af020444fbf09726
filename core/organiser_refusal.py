"""What organiser views share: how an activity is named in their lists (a cancelled one
marked). The refusal a non-organiser gets is the organisers' gate's (core/roles.py)."""

from __future__ import annotations

from core.context import MaoContext
from storage.activities import ActivityInfo
from storage.vocabulary import Status


def activity_label(context: MaoContext, activity: ActivityInfo) -> str:
    title = activity.title(context.language)
    return f"❌ {title}" if activity.status == Status.CANCELLED else title
