"""/agenda (/events): upcoming activities, a page at a time, filterable by kind."""

from __future__ import annotations

from telegram import Update
from telegram.ext import CallbackQueryHandler, CommandHandler

from core import callbacks
from core.activity_text import describe
from core.context import Handlers, MaoContext
from core.keyboards import Button, keyboard, shorten
from handlers.replies import edit_pressed, pressed, reply
from storage.activities import upcoming_activities
from storage.vocabulary import Kind


def _page(context: MaoContext, page: int, kind: str | None) -> tuple[str, list[list[Button]]]:
    services = context.services
    size = services.config.activities.page_size
    with services.db.session() as session:
        activities = upcoming_activities(session, services.now(), kind)
    if not activities:
        return context.text("agenda_empty"), []
    pages = (len(activities) + size - 1) // size
    page = min(max(page, 0), pages - 1)
    shown = activities[page * size : (page + 1) * size]
    language = context.language
    header = context.text("agenda_header", page=page + 1, pages=pages)
    if kind:
        header = context.text(
            "agenda_header_kind",
            kind=context.text(f"kind_{kind.replace('-', '_')}"),
            page=page + 1,
            pages=pages,
        )
    blocks = [header] + [describe(a, context) for a in shown]
    rows: list[list[Button]] = [
        [
            (
                context.text("agenda_signup_button", title=shorten(a.title(language), 40)),
                callbacks.SIGNUP_PICK.data(activity=a.id),
            )
        ]
        for a in shown
        if a.open_for_registration(services.now())
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


async def show_agenda(update: Update, context: MaoContext) -> None:
    kind = None
    if context.args:
        wanted = context.args[0].lower()
        kind = next((k.value for k in Kind if k.value.startswith(wanted)), None)
    text, rows = _page(context, 0, kind)
    await reply(update, context, text, keyboard(rows))


async def turn_page(update: Update, context: MaoContext) -> None:
    await pressed(update)
    filter_key = context.matched("kind")
    kind = None if filter_key == "all" else filter_key
    text, rows = _page(context, int(context.matched("page")), kind)
    await edit_pressed(update, context, text, keyboard(rows))


async def show_filters(update: Update, context: MaoContext) -> None:
    await pressed(update)
    with context.services.db.session() as session:
        present = {a.kind for a in upcoming_activities(session, context.services.now())}
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
