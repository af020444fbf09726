"""Free text goes to the FAQ matcher; its three bands become an answer, a choice or a fallback."""

from __future__ import annotations

import logging

from telegram import Update
from telegram.ext import CallbackQueryHandler, MessageHandler, filters

from core import callbacks
from core.context import Handlers, MaoContext
from core.i18n import Html
from core.keyboards import Button, one_per_row
from core.text_limits import clean_text
from faq.matching import Band
from faq.misses import is_question_worth_keeping
from handlers.flood import may_store_miss
from handlers.replies import close_buttons, pressed, reply
from storage.faq_misses import count_band, record_miss

logger = logging.getLogger(__name__)


async def send_answer(update: Update, context: MaoContext, entry_id: str) -> None:
    services = context.services
    entry = services.faq.entry(entry_id)
    if entry is None:
        await reply(update, context, context.text("faq_unknown_topic"))
        return
    language = context.language
    more: list[Button] = []
    if entry.localised(language).more.strip():
        # Answers stay chat-sized; the detail is one tap away.
        more.append((context.text("faq_more"), callbacks.FAQ_MORE.data(entry=entry.id)))
    related: list[Button] = []
    for other_id in entry.related[: services.config.faq.related]:
        other = services.faq.entry(other_id)
        if other is not None:
            related.append(
                (other.localised(language).question, callbacks.FAQ_SHOW.data(entry=other_id))
            )
    text = entry.localised(language).answer
    if related:
        text += "\n\n" + context.text("faq_related")
    await reply(update, context, text, one_per_row(more + related))


async def show_more(update: Update, context: MaoContext) -> None:
    """The detail of an answer, asked for with its "Meer" button."""
    await pressed(update)
    entry = context.services.faq.entry(context.matched("entry"))
    if entry is None or not entry.localised(context.language).more.strip():
        await reply(update, context, context.text("faq_unknown_topic"))
        return
    await close_buttons(update)
    await reply(update, context, entry.localised(context.language).more)


def _count(context: MaoContext, band: Band) -> None:
    """The organisers' statistics count answers per band and day (no text, no user)."""
    services = context.services
    today = services.now().astimezone(services.config.zone).date()
    with services.db.session() as session:
        count_band(session, band.value, today)


async def answer_question(update: Update, context: MaoContext) -> None:
    message = update.effective_message
    assert message is not None and message.text is not None
    services = context.services
    # Cleaned where it enters: a question may be stored (faq_misses), and PostgreSQL
    # refuses NUL characters.
    question = clean_text(message.text)
    result = services.matcher.match(question)
    logger.info(
        "FAQ band=%s best=%s score=%.1f",
        result.band,
        result.best.entry_id if result.best else None,
        result.best.score if result.best else 0.0,
    )
    if result.band is Band.ANSWER and result.answer_id is not None:
        _count(context, Band.ANSWER)
        await send_answer(update, context, result.answer_id)
        return
    language = context.language
    if result.band is Band.SUGGEST and result.suggestions:
        buttons: list[Button] = []
        for candidate in result.suggestions:
            entry = services.faq.entry(candidate.entry_id)
            if entry is not None:
                buttons.append(
                    (entry.localised(language).question, callbacks.FAQ_PICK.data(entry=entry.id))
                )
        buttons.append((context.text("faq_none_of_these"), callbacks.FAQ_NONE.data()))
        _count(context, Band.SUGGEST)
        await reply(update, context, context.text("faq_did_you_mean"), one_per_row(buttons))
        return
    _count(context, Band.FALLBACK)
    # Only questions: a name typed after a stopped sign-up also ends up here (faq.misses).
    # And only a few per user and hour: misses carry no user id, so nobody must be able to
    # fill the list with nonsense (counted in memory, see handlers/flood.py).
    user = update.effective_user
    worth_keeping = is_question_worth_keeping(question)
    if worth_keeping and user is not None and may_store_miss(context, user.id):
        with services.db.session() as session:
            record_miss(
                session,
                question,
                language,
                result.best.entry_id if result.best else None,
                result.best.score if result.best else 0.0,
                services.now(),
            )
    contact = services.config.contact
    await reply(
        update,
        context,
        context.text("faq_fallback", email=contact.email, website=Html(contact.website)),
    )


async def show_topic(update: Update, context: MaoContext) -> None:
    """A related topic: its button stays usable."""
    await pressed(update)
    await send_answer(update, context, context.matched("entry"))


async def pick_topic(update: Update, context: MaoContext) -> None:
    """A "did you mean" choice is made once."""
    await pressed(update)
    await close_buttons(update)
    await send_answer(update, context, context.matched("entry"))


async def none_of_these(update: Update, context: MaoContext) -> None:
    await pressed(update)
    await close_buttons(update)
    await reply(
        update,
        context,
        context.text("faq_none_chosen", email=context.services.config.contact.email),
    )


def build_handlers() -> Handlers:
    return [
        CallbackQueryHandler(show_topic, pattern=callbacks.FAQ_SHOW.pattern),
        CallbackQueryHandler(show_more, pattern=callbacks.FAQ_MORE.pattern),
        CallbackQueryHandler(pick_topic, pattern=callbacks.FAQ_PICK.pattern),
        CallbackQueryHandler(none_of_these, pattern=callbacks.FAQ_NONE.pattern),
        MessageHandler(
            filters.TEXT & ~filters.COMMAND & filters.ChatType.PRIVATE, answer_question
        ),
    ]
