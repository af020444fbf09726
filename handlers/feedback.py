"""Feedback after an activity: attendees give 1-5 stars and an optional comment (the
question is an owed message, see jobs/outbox.py), organisers read the results with
/feedback (/reacties).

The comment is a small conversation (private chats only) that ends after half an hour, so
that a question typed much later still goes to the FAQ."""

from __future__ import annotations

import html
import logging
import warnings
from datetime import datetime, timedelta
from enum import IntEnum

from sqlalchemy.orm import Session
from telegram import Update
from telegram.ext import (
    CallbackQueryHandler,
    CommandHandler,
    ConversationHandler,
    MessageHandler,
    filters,
)
from telegram.warnings import PTBUserWarning

from core import callbacks
from core.context import Handlers, MaoContext, state_handlers
from core.i18n import Html
from core.keyboards import keyboard, one_per_row
from core.replies import close_buttons, pressed, reply
from core.roles import organisers_only
from core.text_limits import clean_text, clip
from storage.activities import ActivityInfo, get_activity_by_id
from storage.feedback import (
    STARS,
    FeedbackSummary,
    feedback_summary,
    may_answer,
    past_activity_ids,
    save_comment,
    save_stars,
)

logger = logging.getLogger(__name__)
COMMENT_TIMEOUT = timedelta(minutes=30)
MAX_COMMENT = 1000
# Room for the comments in the organiser's results (Telegram allows 4096 characters).
COMMENTS_BUDGET = 3300
COMMENT_SHOWN = 300
AWAITING = "feedback_activity"
END = ConversationHandler.END


class Step(IntEnum):
    COMMENT = 1


# -- attendees ----------------------------------------------------------------------------------


def _rate(session: Session, activity_id: int, user_id: int, stars: int, now: datetime) -> bool:
    """Only someone who held a seat answers: the button's data is never trusted."""
    allowed = may_answer(session, activity_id, user_id)
    if allowed:
        save_stars(session, activity_id, user_id, stars, now)
    return allowed


async def choose_stars(update: Update, context: MaoContext) -> int:
    query = await pressed(update)
    assert context.user_data is not None
    activity_id = int(context.matched("activity"))
    stars = int(context.matched("stars"))
    services = context.services
    allowed = await services.db.run_session(
        _rate, activity_id, query.from_user.id, stars, services.now()
    )
    if not allowed:
        await close_buttons(update)
        await reply(update, context, context.text("feedback_not_asked"))
        return END
    await close_buttons(update)
    context.user_data[AWAITING] = activity_id
    await reply(
        update,
        context,
        context.text("feedback_ask_comment"),
        keyboard(
            [
                [
                    (
                        context.text("feedback_no_comment"),
                        callbacks.FEEDBACK_NO_COMMENT.data(activity=activity_id),
                    )
                ]
            ]
        ),
    )
    return Step.COMMENT


async def _finish(update: Update, context: MaoContext, comment: str | None) -> int:
    assert context.user_data is not None
    user = update.effective_user
    activity_id = context.user_data.get(AWAITING)
    if user is not None and activity_id is not None:
        services = context.services
        await services.db.run_session(
            save_comment, int(activity_id), user.id, comment, services.now()
        )
    # Only once it is stored: during an outage the comment can be sent again.
    context.user_data.pop(AWAITING, None)
    await reply(update, context, context.text("feedback_thanks"))
    return END


async def receive_comment(update: Update, context: MaoContext) -> int:
    message = update.effective_message
    assert message is not None
    comment = clip(clean_text(message.text or ""), MAX_COMMENT).strip()
    return await _finish(update, context, comment or None)


async def no_comment(update: Update, context: MaoContext) -> int:
    await pressed(update)
    await close_buttons(update)
    return await _finish(update, context, None)


async def comment_lapsed(update: Update, context: MaoContext) -> None:
    if context.user_data is not None:
        context.user_data.pop(AWAITING, None)


# -- organisers ---------------------------------------------------------------------------------


def _past_activities(session: Session, now: datetime) -> list[ActivityInfo]:
    found = (get_activity_by_id(session, i) for i in past_activity_ids(session, now))
    return [activity for activity in found if activity is not None]


def _results(session: Session, activity_id: int) -> tuple[ActivityInfo, FeedbackSummary] | None:
    activity = get_activity_by_id(session, activity_id)
    return None if activity is None else (activity, feedback_summary(session, activity.id))


@organisers_only
async def choose_activity(update: Update, context: MaoContext) -> None:
    services = context.services
    language = context.language
    activities = await services.db.run_reading(_past_activities, services.now())
    buttons = [
        (a.title(language), callbacks.FEEDBACK_RESULTS.data(activity=a.id)) for a in activities
    ]
    if not buttons:
        await reply(update, context, context.text("feedback_no_past"))
        return
    await reply(update, context, context.text("feedback_choose"), one_per_row(buttons))


def average_text(average: float, language: str) -> str:
    text = f"{average:.1f}"
    return text.replace(".", ",") if language == "nl" else text


def results_text(context: MaoContext, title: str, summary: FeedbackSummary) -> str:
    language = context.language
    if summary.average is None:
        return context.text("feedback_results_none", title=title)
    distribution = " · ".join(f"⭐{n}: {summary.distribution[n]}" for n in reversed(STARS))
    text = context.text(
        "feedback_results",
        title=title,
        average=average_text(summary.average, language),
        count=summary.count,
        distribution=distribution,
    )
    if summary.comments:
        lines: list[str] = []
        used = 0
        for comment in summary.comments:
            line = "• " + html.escape(clip(comment, COMMENT_SHOWN))
            if used + len(line) > COMMENTS_BUDGET:
                lines.append("…")
                break
            lines.append(line)
            used += len(line) + 1
        text += "\n\n<b>" + context.text("feedback_comments") + "</b>\n" + "\n".join(lines)
    return Html(text)


@organisers_only
async def show_results(update: Update, context: MaoContext) -> None:
    await pressed(update)
    found = await context.services.db.run_reading(_results, int(context.matched("activity")))
    if found is None:
        await reply(update, context, context.text("signup_not_found"))
        return
    activity, summary = found
    await reply(update, context, results_text(context, activity.title(context.language), summary))


def build_handlers() -> Handlers:
    typed = filters.TEXT & ~filters.COMMAND & filters.ChatType.PRIVATE
    with warnings.catch_warnings():
        # per_message=False is intended: one open comment per person (see signup.py).
        warnings.simplefilter("ignore", PTBUserWarning)
        conversation = ConversationHandler(
            name="feedback",
            persistent=True,
            allow_reentry=True,
            conversation_timeout=COMMENT_TIMEOUT.total_seconds(),
            entry_points=[
                CallbackQueryHandler(choose_stars, pattern=callbacks.FEEDBACK_STARS.pattern)
            ],
            states={
                Step.COMMENT: state_handlers(
                    MessageHandler(typed, receive_comment),
                    CallbackQueryHandler(
                        no_comment, pattern=callbacks.FEEDBACK_NO_COMMENT.pattern
                    ),
                ),
                ConversationHandler.TIMEOUT: state_handlers(
                    MessageHandler(filters.ALL, comment_lapsed)
                ),
            },
            fallbacks=[],
        )
    return [
        conversation,
        CommandHandler(["reacties", "feedback"], choose_activity),
        CallbackQueryHandler(show_results, pattern=callbacks.FEEDBACK_RESULTS.pattern),
    ]
