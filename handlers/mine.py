"""/mijnaanmeldingen (/mine): the user's registrations, with calendar file, cancel and leave.

Also the answers to a seat offer (claim / decline), which arrive from notices.
"""

from __future__ import annotations

from telegram import Update
from telegram.ext import CallbackQueryHandler, CommandHandler

from core.activity_text import describe, moment
from core.context import Handlers, MaoContext
from core.keyboards import Button, keyboard
from handlers.replies import close_buttons, reply
from handlers.signup import send_calendar_file
from jobs.notices import deliver_notices
from jobs.reminders import refresh_reminders
from storage.registrations import (
    UserRegistration,
    cancel_registration,
    claim_offer,
    get_user_registration,
    user_registrations,
)


def _buttons(item: UserRegistration, context: MaoContext) -> list[list[Button]]:
    rid = item.registration_id
    if item.status == "registered":
        return [
            [
                (context.text("mine_calendar"), f"mine:ics:{rid}"),
                (context.text("mine_cancel"), f"mine:cancel:{rid}"),
            ]
        ]
    if item.status == "offered":
        return [
            [
                (context.text("offer_claim"), f"offer:claim:{rid}"),
                (context.text("offer_decline"), f"offer:decline:{rid}"),
            ]
        ]
    return [[(context.text("mine_leave"), f"mine:leave:{rid}")]]


def _status_line(item: UserRegistration, context: MaoContext) -> str:
    if item.status == "registered":
        return context.text("mine_status_registered")
    if item.status == "offered" and item.offer_expires_at is not None:
        return context.text("mine_status_offered", deadline=moment(item.offer_expires_at, context))
    return context.text("mine_status_waiting", position=item.position or 0)


async def show_mine(update: Update, context: MaoContext) -> None:
    user = update.effective_user
    assert user is not None
    services = context.services
    with services.db.session() as session:
        items = user_registrations(session, user.id, services.now())
    if not items:
        await reply(update, context, context.text("mine_empty"))
        return
    await reply(update, context, context.text("mine_header", count=len(items)))
    for item in items:
        text = (
            describe(item.activity, context, with_seats=False) + "\n" + _status_line(item, context)
        )
        await reply(update, context, text, keyboard(_buttons(item, context)))


def _registration_id(data: str) -> int:
    return int(data.rsplit(":", 1)[-1])


async def _load(update: Update, context: MaoContext) -> UserRegistration | None:
    query = update.callback_query
    assert query is not None and query.data is not None
    with context.services.db.session() as session:
        return get_user_registration(session, _registration_id(query.data), query.from_user.id)


async def send_ics(update: Update, context: MaoContext) -> None:
    query = update.callback_query
    assert query is not None
    item = await _load(update, context)
    if item is None or item.status != "registered":
        await query.answer(context.text("stale_button"), show_alert=True)
        return
    await query.answer()
    chat_id = update.effective_chat.id if update.effective_chat else query.from_user.id
    await send_calendar_file(chat_id, item.activity, item.registration_id, context)


async def ask_cancel(update: Update, context: MaoContext) -> None:
    query = update.callback_query
    assert query is not None
    item = await _load(update, context)
    if item is None or item.status not in ("registered", "offered"):
        await query.answer(context.text("stale_button"), show_alert=True)
        return
    await query.answer()
    language = context.language
    rid = item.registration_id
    await reply(
        update,
        context,
        context.text("mine_cancel_confirm", title=item.activity.title(language)),
        keyboard(
            [
                [
                    (context.text("mine_cancel_yes"), f"mine:cancelyes:{rid}"),
                    (context.text("mine_cancel_no"), f"mine:keep:{rid}"),
                ]
            ]
        ),
    )


async def do_cancel(update: Update, context: MaoContext) -> None:
    """Cancel a seat (after confirmation), leave the waiting list, or decline an offer."""
    query = update.callback_query
    assert query is not None and query.data is not None
    await query.answer()
    await close_buttons(update)
    action = query.data.split(":")[1]
    services = context.services
    with services.db.session() as session:
        result = cancel_registration(
            session, _registration_id(query.data), query.from_user.id, services.now()
        )
    if not result.ok:
        key = "mine_cancel_started" if result.reason == "started" else "mine_nothing_to_cancel"
        await reply(update, context, context.text(key))
        return
    assert result.activity is not None
    refresh_reminders(context.application, result.activity.id)
    language = context.language
    key = {"leave": "mine_left", "decline": "offer_declined"}.get(action, "mine_cancelled")
    await reply(update, context, context.text(key, title=result.activity.title(language)))
    # Whoever moved up gets told straight away, not at the next round of the notice job.
    await deliver_notices(context)


async def keep(update: Update, context: MaoContext) -> None:
    query = update.callback_query
    assert query is not None
    await query.answer()
    await close_buttons(update)
    await reply(update, context, context.text("mine_kept"))


async def claim(update: Update, context: MaoContext) -> None:
    query = update.callback_query
    assert query is not None and query.data is not None
    await query.answer()
    services = context.services
    with services.db.session() as session:
        result = claim_offer(
            session, _registration_id(query.data), query.from_user.id, services.now()
        )
    await close_buttons(update)
    if not result.ok or result.activity is None:
        key = "offer_expired_claim" if result.reason == "expired" else "offer_gone"
        await reply(update, context, context.text(key))
        return
    refresh_reminders(context.application, result.activity.id)
    language = context.language
    await reply(
        update, context, context.text("signup_done", title=result.activity.title(language))
    )
    chat_id = update.effective_chat.id if update.effective_chat else query.from_user.id
    await send_calendar_file(chat_id, result.activity, _registration_id(query.data), context)


def build_handlers() -> Handlers:
    return [
        CommandHandler(["mijnaanmeldingen", "mine"], show_mine),
        CallbackQueryHandler(send_ics, pattern=r"^mine:ics:\d{1,12}$"),
        CallbackQueryHandler(ask_cancel, pattern=r"^mine:cancel:\d{1,12}$"),
        CallbackQueryHandler(
            do_cancel, pattern=r"^(mine:(cancelyes|leave)|offer:decline):\d{1,12}$"
        ),
        CallbackQueryHandler(keep, pattern=r"^mine:keep:\d{1,12}$"),
        CallbackQueryHandler(claim, pattern=r"^offer:claim:\d{1,12}$"),
    ]
