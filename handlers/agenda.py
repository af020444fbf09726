"""/agenda (/events): upcoming activities, a page at a time, filterable by kind."""

from __future__ import annotations

from datetime import datetime

from sqlalchemy.orm import Session
from telegram import Update
from telegram.ext import CallbackQueryHandler, CommandHandler

from core import callbacks
from core.activity_text import describe, signup_button, your_place
from core.context import Handlers, MaoContext
from core.keyboards import Button, keyboard
from core.replies import edit_pressed, pressed, reply
from storage.activities import ActivityInfo, AgendaPage, upcoming_kinds, upcoming_page
from storage.db import DatabaseUnavailableError
from storage.registrations import UserRegistration, user_registrations
from storage.vocabulary import Kind


def _block(activity: ActivityInfo, held: UserRegistration | None, context: MaoContext) -> str:
    """The activity, and the user's own place in it if they have one."""
    text = describe(activity, context)
    mine = your_place(held, context)
    return text + "\n" + mine if mine else text


Held = dict[int, UserRegistration]
LAST_READ_KEY = "agenda_last_read"
KINDS_READ_KEY = "agenda_kinds_last_read"


def _read_page(
    session: Session, now: datetime, page: int, size: int, kind: str | None, user_id: int
) -> tuple[AgendaPage, Held]:
    # Only the page shown is read and counted: /agenda costs the same at any size.
    agenda = upcoming_page(session, now, page, size, kind)
    held = {item.activity.id: item for item in user_registrations(session, user_id, now)}
    return agenda, held


async def _page(
    context: MaoContext, user_id: int, page: int, kind: str | None
) -> tuple[str, list[list[Button]]]:
    services = context.services
    size = services.config.activities.page_size
    now = services.now()
    last_read: dict[tuple[int, str | None], AgendaPage] = context.bot_data.setdefault(
        LAST_READ_KEY, {}
    )
    read = await services.db.read_or(None, _read_page, now, page, size, kind, user_id)
    if read is not None:
        agenda, held = read
        last_read[(page, kind)] = agenda
    elif (page, kind) in last_read:
        # The database away: the agenda as last read (without the user's own places).
        agenda, held = last_read[(page, kind)], {}
    else:
        raise DatabaseUnavailableError("no agenda read yet")
    if not agenda.pages:
        return context.text("agenda_empty"), []
    page, pages, shown = agenda.page, agenda.pages, agenda.activities
    header = context.text("agenda_header", page=page + 1, pages=pages)
    if kind:
        header = context.text(
            "agenda_header_kind",
            kind=context.text(f"kind_{kind.replace('-', '_')}"),
            page=page + 1,
            pages=pages,
        )
    blocks = [header] + [_block(a, held.get(a.id), context) for a in shown]
    # No sign-up button where the user already has a place (the block says so).
    rows: list[list[Button]] = [
        [signup_button(a, context)]
        for a in shown
        if a.open_for_registration(now) and a.id not in held
    ]
    filter_key = kind or "all"
    navigation: list[Button] = []
    if page > 0:
        navigation.append(
            (
                context.text("agenda_previous"),
                callbacks.AGENDA_PAGE.data(page=page - 1, kind=filter_key),
            )
        )
    if page < pages - 1:
        navigation.append(
            (
                context.text("agenda_next"),
                callbacks.AGENDA_PAGE.data(page=page + 1, kind=filter_key),
            )
        )
    if navigation:
        rows.append(navigation)
    rows.append([(context.text("agenda_filter"), callbacks.AGENDA_FILTERS.data())])
    return "\n\n".join(blocks), rows


def _user_id(update: Update) -> int:
    user = update.effective_user
    assert user is not None
    return user.id


async def show_agenda(update: Update, context: MaoContext) -> None:
    kind = None
    if context.args:
        wanted = context.args[0].lower()
        kind = next((k.value for k in Kind if k.value.startswith(wanted)), None)
    text, rows = await _page(context, _user_id(update), 0, kind)
    await reply(update, context, text, keyboard(rows))


async def turn_page(update: Update, context: MaoContext) -> None:
    await pressed(update)
    filter_key = context.matched("kind")
    kind = None if filter_key == "all" else filter_key
    text, rows = await _page(context, _user_id(update), int(context.matched("page")), kind)
    await edit_pressed(update, context, text, keyboard(rows))


async def show_filters(update: Update, context: MaoContext) -> None:
    await pressed(update)
    # The database away: the kinds as last read, or every kind (a filter may come up empty).
    known: set[str] = context.bot_data.get(KINDS_READ_KEY) or {k.value for k in Kind}
    present = await context.services.db.read_or(known, upcoming_kinds, context.services.now())
    context.bot_data[KINDS_READ_KEY] = present
    buttons: list[Button] = [
        (context.text("agenda_all"), callbacks.AGENDA_PAGE.data(page=0, kind="all"))
    ] + [
        (
            context.text(f"kind_{k.value.replace('-', '_')}"),
            callbacks.AGENDA_PAGE.data(page=0, kind=k.value),
        )
        for k in Kind
        if k.value in present
    ]
    rows = [buttons[i : i + 2] for i in range(0, len(buttons), 2)]
    await edit_pressed(update, context, context.text("agenda_choose_kind"), keyboard(rows))


def build_handlers() -> Handlers:
    return [
        CommandHandler(["agenda", "events"], show_agenda),
        CallbackQueryHandler(turn_page, pattern=callbacks.AGENDA_PAGE.pattern),
        CallbackQueryHandler(show_filters, pattern=callbacks.AGENDA_FILTERS.pattern),
    ]
