"""A FAQ that learns: "Voeg toe aan FAQ" and /faqgaps, for organisers.

A question from an inbox thread (its copy in the organisers' chat, or /vragen) or a group of
similar misses in /faqgaps gets a "Voeg toe aan FAQ" button. The organiser picks the topic
(the matcher's best guesses first), and the question is stored as a phrasing of that entry
(storage/faq_additions.py); every instance answers it from then on (core/faq_live.py).

The question being added waits in the organiser's persisted user data, with the picker
message it belongs to: a button of an older picker, a second tap, or a press after the
restart of another instance finds nothing waiting for it and changes nothing. The buttons
work in a private chat and in the organisers' group (where the inbox puts its copies).
"""

from __future__ import annotations

import asyncio
import logging
import math
from datetime import datetime, timedelta
from typing import Any, NamedTuple

from sqlalchemy.orm import Session
from telegram import InlineKeyboardMarkup, Update
from telegram.constants import ChatType
from telegram.ext import CallbackQueryHandler, CommandHandler, MessageHandler, filters

from core import callbacks
from core.context import Handlers, MaoContext
from core.faq_live import MissGroup, group_misses, refresh_matcher, refresh_now_and_then
from core.keyboards import Button, keyboard
from core.replies import close_buttons, edit_pressed, pressed, reply
from core.roles import may_be_organiser, organisers_only
from core.services import Services
from core.text_limits import clean_text, clip
from faq.matching import normalise
from storage.faq_additions import add_addition, thread_question, tidy_question
from storage.faq_misses import delete_misses, misses_since
from storage.inbox import get_thread, record_view
from storage.outbox import OutboxKind

logger = logging.getLogger(__name__)

PENDING_KEY = "faq_add"
GAP_DAYS = 90
GAPS_PER_PAGE = 5
TOPICS_PER_PAGE = 8
EXAMPLE_SHOWN = 160
QUESTION_SHOWN = 300
# How long the bot takes an organiser's next private text as the rewritten question.
REWRITE_TIME = timedelta(minutes=30)


# -- keeping the matcher current ----------------------------------------------------------------


async def refresh_before_matching(update: Update, context: MaoContext) -> None:
    """Additions made on any instance are in the matcher before this text is matched (those
    of another instance within a few seconds, core/faq_live.py: CHECK_EVERY)."""
    await refresh_now_and_then(context.services, context.services.now())


def build_refresh_handler() -> MessageHandler[MaoContext, None]:
    return MessageHandler(
        filters.TEXT & ~filters.COMMAND & filters.ChatType.PRIVATE, refresh_before_matching
    )


# -- /faqgaps -----------------------------------------------------------------------------------


async def _gap_groups(services: Services) -> list[MissGroup]:
    since = services.now() - timedelta(days=GAP_DAYS)
    misses = await services.db.run_reading(misses_since, since)
    # Grows with the misses (0.4 s for 2000): off the event loop.
    return await asyncio.to_thread(group_misses, misses)


def _pages(count: int, per_page: int) -> int:
    return max(1, math.ceil(count / per_page))


def _navigation(
    context: MaoContext, page: int, pages: int, builder: callbacks.CallbackFormat
) -> list[Button]:
    row: list[Button] = []
    if page > 0:
        row.append((context.text("faqlearn_previous"), builder.data(page=page - 1)))
    if page < pages - 1:
        row.append((context.text("faqlearn_next"), builder.data(page=page + 1)))
    return row


def gaps_page(
    context: MaoContext, groups: list[MissGroup], page: int
) -> tuple[str, InlineKeyboardMarkup | None]:
    if not groups:
        return context.text("faqgaps_none", days=GAP_DAYS), None
    pages = _pages(len(groups), GAPS_PER_PAGE)
    page = min(page, pages - 1)
    first = page * GAPS_PER_PAGE
    lines = [
        context.text(
            "faqgaps_title",
            days=GAP_DAYS,
            questions=sum(g.count for g in groups),
            groups=len(groups),
        )
    ]
    rows: list[list[Button]] = []
    for number, group in enumerate(groups[first : first + GAPS_PER_PAGE], start=first + 1):
        lines.append(
            context.text(
                "faqgaps_group",
                number=number,
                count=group.count,
                example=clip(" ".join(group.example.question.split()), EXAMPLE_SHOWN),
            )
        )
        rejected = next((m.rejected_id for m in group.misses if m.rejected_id), None)
        if rejected is not None:
            entry = context.services.faq.entry(rejected)
            topic = entry.localised(context.language).question if entry else rejected
            lines[-1] += "\n" + context.text("faqgaps_rejected", topic=topic)
        rows.append(
            [
                (
                    context.text("faqlearn_add_numbered", number=number),
                    callbacks.FAQ_ADD_GAP.data(miss=group.example.id),
                )
            ]
        )
    if pages > 1:
        lines.append(context.text("faqlearn_page", page=page + 1, pages=pages))
    navigation = _navigation(context, page, pages, callbacks.FAQ_GAPS_PAGE)
    if navigation:
        rows.append(navigation)
    return "\n\n".join(lines), keyboard(rows)


@organisers_only
async def show_gaps(update: Update, context: MaoContext) -> None:
    groups = await _gap_groups(context.services)
    text, markup = gaps_page(context, groups, 0)
    await reply(update, context, text, markup)


@organisers_only
async def turn_gaps_page(update: Update, context: MaoContext) -> None:
    await pressed(update)
    groups = await _gap_groups(context.services)
    text, markup = gaps_page(context, groups, int(context.matched("page")))
    await edit_pressed(update, context, text, markup)


# -- "Voeg toe aan FAQ": pick a topic -------------------------------------------------------------


def _waiting(update: Update, context: MaoContext) -> dict[str, Any] | None:
    """The question waiting for a topic, if this button's message is the picker for it."""
    waiting = context.user_data.get(PENDING_KEY) if context.user_data is not None else None
    query = update.callback_query
    message = query.message if query is not None else None
    if not isinstance(waiting, dict) or message is None:
        return None
    if waiting.get("chat") != message.chat.id or waiting.get("message") != message.message_id:
        return None
    return waiting


async def _stale(update: Update, context: MaoContext) -> None:
    """An old picker, a second tap, a question already added: nothing happens."""
    await pressed(update, alert=context.text("faqlearn_stale"))
    chat = update.effective_chat
    # In the organisers' group the picker may be another organiser's, still waiting.
    if chat is not None and chat.type == ChatType.PRIVATE:
        await close_buttons(update)


def topics_page(
    context: MaoContext, waiting: dict[str, Any], page: int
) -> tuple[str, InlineKeyboardMarkup | None]:
    services = context.services
    order = [i for i in waiting["order"] if services.faq.entry(i) is not None]
    pages = _pages(len(order), TOPICS_PER_PAGE)
    page = min(max(page, 0), pages - 1)
    first = page * TOPICS_PER_PAGE
    rows: list[list[Button]] = []
    for entry_id in order[first : first + TOPICS_PER_PAGE]:
        entry = services.faq.entry(entry_id)
        assert entry is not None
        label = entry.localised(context.language).question
        rows.append([(label, callbacks.FAQ_ADD_TOPIC.data(entry=entry_id))])
    navigation = _navigation(context, page, pages, callbacks.FAQ_ADD_PAGE)
    if navigation:
        rows.append(navigation)
    if "source_user" in waiting:
        # Someone's own words go with them (/vergeetmij); rewritten by the organiser they stay.
        rows.append([(context.text("faqlearn_rewrite"), callbacks.FAQ_ADD_REWRITE.data())])
    rows.append([(context.text("faqlearn_abort"), callbacks.FAQ_ADD_ABORT.data())])
    text = context.text("faqlearn_pick", question=clip(waiting["question"], QUESTION_SHOWN))
    if waiting.get("rewritten"):
        text += "\n\n" + context.text("faqlearn_rewritten_stays")
    if pages > 1:
        text += "\n\n" + context.text("faqlearn_page", page=page + 1, pages=pages)
    return text, keyboard(rows)


async def _offer_topics(
    update: Update,
    context: MaoContext,
    question: str,
    language: str,
    misses: list[int],
    source: tuple[int, int, int] | None = None,
) -> None:
    """`source`: (user id, thread id, inbox message id) when these are someone's own words
    from their thread."""
    services = context.services
    question = tidy_question(question)
    # The matcher's best guesses first: usually the topic is one of them.
    result = services.matcher.match(question)
    ranked = [c for c in ((result.best,) if result.best else ()) + result.runners_up]
    guesses = [c.entry_id for c in ranked if c.score > 0][:3]
    order = guesses + [i for i in services.faq.ids if i not in guesses]
    waiting: dict[str, Any] = {
        "question": question,
        "language": language,
        "misses": misses,
        "order": order,
    }
    if source is not None:
        waiting["source_user"], waiting["source_thread"], _ = source
    text, markup = topics_page(context, waiting, 0)
    message = await reply(update, context, text, markup)
    if message is None or context.user_data is None:
        return
    waiting["chat"] = message.chat_id
    waiting["message"] = message.message_id
    context.user_data[PENDING_KEY] = waiting
    if source is not None:
        # The picker quotes the person's words: deleted with them (/vergeetmij).
        await services.db.run_session(
            record_view,
            message.chat_id,
            message.message_id,
            source[2],
            services.now(),
            OutboxKind.INBOX_SHOWN,
        )


@organisers_only
async def add_from_gap(update: Update, context: MaoContext) -> None:
    miss_id = int(context.matched("miss"))
    groups = await _gap_groups(context.services)
    group = next((g for g in groups if miss_id in g.miss_ids), None)
    if group is None:
        await pressed(update, alert=context.text("faqlearn_gone"))
        return
    await pressed(update)
    # The question on the button, even if newer misses made another the group's example.
    pressed_miss = next((m for m in group.misses if m.id == miss_id), group.example)
    await _offer_topics(
        update, context, pressed_miss.question, pressed_miss.language, list(group.miss_ids)
    )


@organisers_only
async def add_from_thread(update: Update, context: MaoContext) -> None:
    found = await context.services.db.run_reading(thread_question, int(context.matched("thread")))
    if found is None:
        await pressed(update, alert=context.text("faqlearn_gone"))
        return
    await pressed(update)
    thread_id = int(context.matched("thread"))
    # The person's own words: they go with the person (/vergeetmij).
    source = (found.user_id, thread_id, found.message_id) if found.user_id is not None else None
    await _offer_topics(update, context, found.question, found.language, [], source)


@organisers_only
async def turn_topics_page(update: Update, context: MaoContext) -> None:
    waiting = _waiting(update, context)
    if waiting is None:
        await _stale(update, context)
        return
    await pressed(update)
    text, markup = topics_page(context, waiting, int(context.matched("page")))
    await edit_pressed(update, context, text, markup)


@organisers_only
async def ask_rewrite(update: Update, context: MaoContext) -> None:
    """The organiser writes the question anew, without personal details: the next text they
    send the bot privately (within REWRITE_TIME) takes its place, and it stays in the FAQ."""
    waiting = _waiting(update, context)
    if waiting is None or "source_user" not in waiting:
        await _stale(update, context)
        return
    await pressed(update)
    waiting["rewrite_since"] = context.services.now().isoformat()
    text = context.text("faqlearn_rewrite_ask", question=clip(waiting["question"], QUESTION_SHOWN))
    abort = keyboard([[(context.text("faqlearn_abort"), callbacks.FAQ_ADD_ABORT.data())]])
    await edit_pressed(update, context, text, abort)


async def take_rewrite(update: Update, context: MaoContext) -> bool:
    """A private text that is an organiser's rewritten question (see ask_rewrite): the topic
    picker again, with the new words. False when no rewrite is waiting: a question."""
    waiting = context.user_data.get(PENDING_KEY) if context.user_data is not None else None
    message = update.effective_message
    if not isinstance(waiting, dict) or "rewrite_since" not in waiting or message is None:
        return False
    since = datetime.fromisoformat(str(waiting.pop("rewrite_since")))
    if context.services.now() - since > REWRITE_TIME:
        return False
    user = update.effective_user
    if user is None or not await may_be_organiser(context.services, user.id):
        return False
    question = tidy_question(clean_text(message.text or ""))
    if not question:
        return False
    waiting["question"] = question
    waiting["rewritten"] = True
    waiting.pop("source_user", None)
    waiting.pop("source_thread", None)
    text, markup = topics_page(context, waiting, 0)
    sent = await reply(update, context, text, markup)
    if sent is not None:
        waiting["chat"], waiting["message"] = sent.chat_id, sent.message_id
    return True


async def end_pending(update: Update, context: MaoContext) -> bool:
    """/annuleer while an addition is being made (bot/cancelling.py): nothing is added."""
    if context.user_data is None or context.user_data.pop(PENDING_KEY, None) is None:
        return False
    await reply(update, context, context.text("faqlearn_aborted"))
    return True


@organisers_only
async def abort_adding(update: Update, context: MaoContext) -> None:
    if _waiting(update, context) is None:
        await _stale(update, context)
        return
    await pressed(update)
    assert context.user_data is not None
    context.user_data.pop(PENDING_KEY, None)
    await edit_pressed(update, context, context.text("faqlearn_aborted"))


class Addition(NamedTuple):
    entry_id: str
    language: str
    question: str
    organiser: int
    source_user: int | None
    source_thread: int | None


def _add(session: Session, addition: Addition, handled: set[int], now: datetime) -> int:
    """Store the phrasing; the misses it answers are handled. How many misses went."""
    add_addition(
        session,
        addition.entry_id,
        addition.language,
        addition.question,
        addition.organiser,
        now,
        source_user_id=addition.source_user,
        source_thread_id=addition.source_thread,
    )
    # The same question missed again (also before an inbox hand-over) is handled too.
    same = normalise(addition.question)
    since = now - timedelta(days=GAP_DAYS)
    again = {m.id for m in misses_since(session, since) if normalise(m.question) == same}
    return delete_misses(session, handled | again)


@organisers_only
async def choose_topic(update: Update, context: MaoContext) -> None:
    waiting = _waiting(update, context)
    services = context.services
    entry = services.faq.entry(context.matched("entry"))
    user = update.effective_user
    if waiting is None or entry is None or user is None:
        await _stale(update, context)
        return
    source_user = waiting.get("source_user")
    source_thread = waiting.get("source_thread")
    if isinstance(source_thread, int):
        gone = await services.db.run_reading(get_thread, source_thread) is None
        if gone:  # the asker was forgotten meanwhile: their words are not added
            assert context.user_data is not None
            context.user_data.pop(PENDING_KEY, None)
            await pressed(update, alert=context.text("faqlearn_gone"))
            return
    await pressed(update)
    question = str(waiting["question"])
    handled = {int(i) for i in waiting.get("misses", [])}
    removed = await services.db.run_session(
        _add,
        Addition(
            entry.id,
            str(waiting["language"]),
            question,
            user.id,
            source_user if isinstance(source_user, int) else None,
            source_thread if isinstance(source_thread, int) else None,
        ),
        handled,
        services.now(),
    )
    assert context.user_data is not None
    context.user_data.pop(PENDING_KEY, None)
    logger.info("FAQ addition to %s by organiser %s", entry.id, user.id)
    # This instance answers the very next question with it; the others at their next one.
    await refresh_matcher(services)
    text = context.text(
        "faqlearn_added",
        question=clip(question, QUESTION_SHOWN),
        topic=entry.localised(context.language).question,
    )
    if removed:
        text += "\n" + context.text("faqlearn_handled", count=removed)
    # Whether it stays: someone's own words go with them when they ask to be forgotten.
    if isinstance(source_user, int):
        stays = "faqlearn_goes_with_asker"
    elif waiting.get("rewritten"):
        stays = "faqlearn_rewritten_stays"
    else:
        stays = "faqlearn_names_nobody"
    text += "\n\n" + context.text(stays)
    await edit_pressed(update, context, text)


def build_handlers() -> Handlers:
    return [
        CommandHandler("faqgaps", show_gaps, filters=filters.ChatType.PRIVATE),
        CallbackQueryHandler(turn_gaps_page, pattern=callbacks.FAQ_GAPS_PAGE.pattern),
        CallbackQueryHandler(add_from_gap, pattern=callbacks.FAQ_ADD_GAP.pattern),
        CallbackQueryHandler(add_from_thread, pattern=callbacks.FAQ_ADD_THREAD.pattern),
        CallbackQueryHandler(turn_topics_page, pattern=callbacks.FAQ_ADD_PAGE.pattern),
        CallbackQueryHandler(choose_topic, pattern=callbacks.FAQ_ADD_TOPIC.pattern),
        CallbackQueryHandler(abort_adding, pattern=callbacks.FAQ_ADD_ABORT.pattern),
        CallbackQueryHandler(ask_rewrite, pattern=callbacks.FAQ_ADD_REWRITE.pattern),
    ]
