"""/mijnaanmeldingen (/mine): the user's registrations, with calendar file, cancel and leave.

Also the answers to a seat offer (claim / decline), which arrive from notices.
"""

from __future__ import annotations

from collections.abc import Callable

from telegram import InputFile, Update
from telegram.ext import CallbackQueryHandler, CommandHandler

from core import callbacks
from core.activity_text import choice_label, describe, moment
from core.calendar import calendar_file
from core.context import Handlers, MaoContext
from core.keyboards import Button, keyboard, offer_buttons, one_per_row
from core.replies import close_buttons, pressed, reply
from core.signups import read_other_dates
from storage.activities import ActivityInfo
from storage.registrations import (
    ChangeResult,
    UserRegistration,
    cancel_registration,
    claim_offer,
    get_user_registration,
    user_registrations,
)
from storage.vocabulary import SEAT_HOLDING, RegistrationStatus


def _buttons(item: UserRegistration, context: MaoContext) -> list[list[Button]]:
    rid = item.registration_id
    if item.status == RegistrationStatus.REGISTERED:
        return [
            [
                (context.text("mine_calendar"), callbacks.MINE_CALENDAR.data(registration=rid)),
                (context.text("mine_cancel"), callbacks.MINE_CANCEL.data(registration=rid)),
            ]
        ]
    if item.status == RegistrationStatus.OFFERED:
        return offer_buttons(rid, context)
    return [[(context.text("mine_leave"), callbacks.MINE_LEAVE.data(registration=rid))]]


def _status_line(item: UserRegistration, context: MaoContext) -> str:
    if item.status == RegistrationStatus.REGISTERED:
        return context.text("mine_status_registered")
    if item.status == RegistrationStatus.OFFERED and item.offer_expires_at is not None:
        return context.text("mine_status_offered", deadline=moment(item.offer_expires_at, context))
    return context.text("mine_status_waiting", position=item.position or 0)


async def show_mine(update: Update, context: MaoContext) -> None:
    user = update.effective_user
    assert user is not None
    services = context.services
    # Not a read to do without: "no registrations" would be untrue; an outage says so.
    items = await services.db.run_reading(user_registrations, user.id, services.now())
    if not items:
        await reply(update, context, context.text("mine_empty"))
        return
    await reply(update, context, context.text("mine_header", count=len(items)))
    for item in items:
        # The meeting link of an online activity is for those with a seat.
        seat = item.status == RegistrationStatus.REGISTERED
        block = describe(item.activity, context, with_seats=False, with_link=seat)
        text = block + "\n" + _status_line(item, context)
        await reply(update, context, text, keyboard(_buttons(item, context)))


def _registration_id(context: MaoContext) -> int:
    return int(context.matched("registration"))


async def _load(update: Update, context: MaoContext) -> UserRegistration | None:
    """The pressed button's registration, if it is the presser's own (data is not trusted)."""
    query = update.callback_query
    assert query is not None
    return await context.services.db.run_reading(
        get_user_registration, _registration_id(context), query.from_user.id
    )


async def send_ics(update: Update, context: MaoContext) -> None:
    item = await _load(update, context)
    if item is None or item.status != RegistrationStatus.REGISTERED:
        await pressed(update, alert=context.text("stale_button"))
        return
    query = await pressed(update)
    chat_id = update.effective_chat.id if update.effective_chat else query.from_user.id
    await send_calendar_file(chat_id, item, context)


async def ask_cancel(update: Update, context: MaoContext) -> None:
    item = await _load(update, context)
    if item is None or item.status not in SEAT_HOLDING:
        await pressed(update, alert=context.text("stale_button"))
        return
    await pressed(update)
    language = context.language
    rid = item.registration_id
    await reply(
        update,
        context,
        context.text("mine_cancel_confirm", title=item.activity.title(language)),
        keyboard(
            [
                [
                    (
                        context.text("mine_cancel_yes"),
                        callbacks.MINE_CANCEL_YES.data(registration=rid),
                    ),
                    (context.text("mine_cancel_no"), callbacks.MINE_KEEP.data(registration=rid)),
                ]
            ]
        ),
    )


async def cancel_seat(update: Update, context: MaoContext) -> None:
    await _give_up(update, context, "mine_cancelled")


async def leave_waiting_list(update: Update, context: MaoContext) -> None:
    await _give_up(update, context, "mine_left")


async def decline_offer(update: Update, context: MaoContext) -> None:
    await _give_up(update, context, "offer_declined")


async def _change_place(
    context: MaoContext, change: Callable[..., ChangeResult], user_id: int
) -> ChangeResult:
    """Cancel or claim the pressed button's place: one transaction through the seam (in an
    outage nothing changes and the error handler says so; the button stays)."""
    services = context.services
    return await services.db.run_session(
        change,
        _registration_id(context),
        user_id,
        services.now(),
        services.config.reminders.join_link_before,
    )


async def _give_up(update: Update, context: MaoContext, done_key: str) -> None:
    """Cancel a seat (after confirmation), leave the waiting list, or decline an offer."""
    query = await pressed(update)
    result = await _change_place(context, cancel_registration, query.from_user.id)
    await close_buttons(update)  # after the write: a failed cancel can be pressed again
    if not result.ok:
        key = "mine_cancel_started" if result.reason == "started" else "mine_nothing_to_cancel"
        await reply(update, context, context.text(key))
        return
    assert result.activity is not None
    language = context.language
    await reply(update, context, context.text(done_key, title=result.activity.title(language)))
    # The file that takes the event out of their calendar, and a message to whoever moved
    # up, are owed: they follow this update's answer at once (jobs.outbox, `answering`).
    await _offer_other_dates(update, context, result.activity)


async def _offer_other_dates(update: Update, context: MaoContext, activity: ActivityInfo) -> None:
    """Could not come this time: perhaps another date of the same kind suits. Only an
    extra: while the database is away, none are offered."""
    user = update.effective_user
    assert user is not None
    services = context.services
    none: list[ActivityInfo] = []
    found = await services.db.read_or(none, read_other_dates, activity, user.id, services.now())
    if not found:
        return
    buttons: list[Button] = [
        (choice_label(other, context), callbacks.SIGNUP_PICK.data(activity=other.id))
        for other in found
    ]
    await reply(update, context, context.text("mine_other_dates"), one_per_row(buttons))


async def keep(update: Update, context: MaoContext) -> None:
    await pressed(update)
    await close_buttons(update)
    await reply(update, context, context.text("mine_kept"))


async def claim(update: Update, context: MaoContext) -> None:
    query = await pressed(update)
    result = await _change_place(context, claim_offer, query.from_user.id)
    await close_buttons(update)
    if not result.ok or result.activity is None:
        key = "offer_expired_claim" if result.reason == "expired" else "offer_gone"
        await reply(update, context, context.text(key))
        return
    # The confirmation and calendar file were owed with the seat: they follow at once.


async def send_calendar_file(chat_id: int, item: UserRegistration, context: MaoContext) -> None:
    data, filename = calendar_file(
        item.activity,
        item.registration_id,
        context,
        context.services.now(),
        seat_changed_at=item.registered_at,
    )
    await context.bot.send_document(
        chat_id,
        document=InputFile(data, filename=filename),
        caption=context.text("calendar_caption"),
    )


def build_handlers() -> Handlers:
    return [
        CommandHandler(["mijnaanmeldingen", "mine"], show_mine),
        CallbackQueryHandler(send_ics, pattern=callbacks.MINE_CALENDAR.pattern),
        CallbackQueryHandler(ask_cancel, pattern=callbacks.MINE_CANCEL.pattern),
        CallbackQueryHandler(cancel_seat, pattern=callbacks.MINE_CANCEL_YES.pattern),
        CallbackQueryHandler(leave_waiting_list, pattern=callbacks.MINE_LEAVE.pattern),
        CallbackQueryHandler(decline_offer, pattern=callbacks.OFFER_DECLINE.pattern),
        CallbackQueryHandler(keep, pattern=callbacks.MINE_KEEP.pattern),
        CallbackQueryHandler(claim, pattern=callbacks.OFFER_CLAIM.pattern),
    ]
