"""What organiser views share: the refusal a non-organiser gets, and how an activity is
named in their lists (a cancelled one marked)."""

from __future__ import annotations

import logging

from telegram import Update

from core.context import MaoContext
from core.replies import reply
from storage.activities import ActivityInfo
from storage.vocabulary import Status

logger = logging.getLogger(__name__)


async def refuse(update: Update, context: MaoContext) -> None:
    user = update.effective_user
    logger.warning("Organiser command refused for user %s", user.id if user else "-")
    await reply(update, context, context.text("admin_only"))


def activity_label(context: MaoContext, activity: ActivityInfo) -> str:
    title = activity.title(context.language)
    return f"❌ {title}" if activity.status == Status.CANCELLED else title
