"""/privacy, /mijngegevens and /vergeetmij: the user's rights under the GDPR (AVG)."""

from __future__ import annotations

from telegram import Update
from telegram.ext import CallbackQueryHandler, CommandHandler

from core import callbacks
from core.context import Handlers, MaoContext
from core.dates import format_datetime
from core.keyboards import keyboard
from handlers.replies import close_buttons, pressed, reply
from jobs.outbox import outbox_of
from storage.privacy import erase_user
from storage.users import get_user


async def show_privacy(update: Update, context: MaoContext) -> None:
    config = context.services.config
    await reply(
        update,
        context,
        context.text(
            "privacy",
            keep_days=config.privacy.keep_registrations_days,
            miss_days=config.privacy.keep_faq_misses_days,
            email=config.contact.email,
        ),
    )


async def show_my_data(update: Update, context: MaoContext) -> None:
    user = update.effective_user
    assert user is not None
    services = context.services
    with services.db.session() as session:
        info = get_user(session, user.id)
    if info is None:
        await reply(update, context, context.text("mydata_nothing"))
        return
    language = context.language
    on, off = context.text("mydata_on"), context.text("mydata_off")
    text = context.text(
        "mydata",
        telegram_id=info.telegram_id,
        chosen_language=services.catalogue.text(info.language or language, "language_name"),
        first_seen=format_datetime(info.first_seen, language, services.config.zone),
        last_seen=format_datetime(info.last_seen, language, services.config.zone),
        reminders=on if info.reminders_enabled else off,
        announcements=off if info.announcements_opt_out else on,
    )
    await reply(update, context, text)


async def ask_forget(update: Update, context: MaoContext) -> None:
    await reply(
        update,
        context,
        context.text("forget_confirm"),
        keyboard(
            [
                [
                    (context.text("forget_yes"), callbacks.FORGET.data(answer="yes")),
                    (context.text("forget_no"), callbacks.FORGET.data(answer="no")),
                ]
            ]
        ),
    )


async def confirm_forget(update: Update, context: MaoContext) -> None:
    query = await pressed(update)
    if context.matched("answer") != "yes":
        await close_buttons(update)
        await reply(update, context, context.text("forget_kept"))
        return
    with context.services.db.session() as session:
        erase_user(session, query.from_user.id, context.services.now())
    await close_buttons(update)
    if context.user_data is not None:
        context.user_data.clear()
    await reply(update, context, context.text("forget_done"))
    # A seat the user held has gone to the next person waiting: tell them now.
    outbox_of(context.application).kick()


def build_handlers() -> Handlers:
    return [
        CommandHandler("privacy", show_privacy),
        CommandHandler(["mijngegevens", "mydata"], show_my_data),
        CommandHandler(["vergeetmij", "forgetme"], ask_forget),
        CallbackQueryHandler(confirm_forget, pattern=callbacks.FORGET.pattern),
    ]
