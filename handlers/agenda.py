"""/agenda (/events): upcoming activities, a page at a time, filterable by kind."""

from __future__ import annotations

from telegram import Update
from telegram.ext import CallbackQueryHandler, CommandHandler

from core.activity_text import describe
from core.context import Handlers, MaoContext
from core.keyboards import Button, keyboard, shorten
from handlers.replies import reply
from storage.activities import Kind, upcoming_activities


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
                f"signup:pick:{a.slug}",
            )
        ]
        for a in shown
        if a.open_for_registration(services.now())
    ]
    filter_key = kind or "all"
    navigation: list[Button] = []
    if page > 0:
        navigation.append(
            (context.text("agenda_previous"), f"agenda:page:{page - 1}:{filter_key}")
        )
    if page < pages - 1:
        navigation.append((context.text("agenda_next"), f"agenda:page:{page + 1}:{filter_key}"))
    if navigation:
        rows.append(navigation)
    rows.append([(context.text("agenda_filter"), "agenda:filters")])
    return "\n\n".join(blocks), rows


async def show_agenda(update: Update, context: MaoContext) -> None:
    kind = None
    if context.args:
        wanted = context.args[0].lower()
        kind = next((k.value for k in Kind if k.value.startswith(wanted)), None)
    text, rows = _page(context, 0, kind)
    await reply(update, context, text, keyboard(rows))


async def turn_page(update: Update, context: MaoContext) -> None:
    query = update.callback_query
    assert query is not None and query.data is not None
    await query.answer()
    _, _, page, filter_key = query.data.split(":", 3)
    kind = None if filter_key == "all" else filter_key
    text, rows = _page(context, int(page), kind)
    if query.message is not None and query.message.is_accessible:
        await query.edit_message_text(text, reply_markup=keyboard(rows))
    else:
        await reply(update, context, text, keyboard(rows))


async def show_filters(update: Update, context: MaoContext) -> None:
    query = update.callback_query
    assert query is not None
    await query.answer()
    with context.services.db.session() as session:
        present = {a.kind for a in upcoming_activities(session, context.services.now())}
    buttons: list[Button] = [(context.text("agenda_all"), "agenda:page:0:all")] + [
        (context.text(f"kind_{k.value.replace('-', '_')}"), f"agenda:page:0:{k.value}")
        for k in Kind
        if k.value in present
    ]
    rows = [buttons[i : i + 2] for i in range(0, len(buttons), 2)]
    if query.message is not None and query.message.is_accessible:
        await query.edit_message_text(
            context.text("agenda_choose_kind"), reply_markup=keyboard(rows)
        )


def build_handlers() -> Handlers:
    kinds = "|".join(k.value for k in Kind)
    return [
        CommandHandler(["agenda", "events"], show_agenda),
        CallbackQueryHandler(turn_page, pattern=rf"^agenda:page:\d{{1,3}}:(all|{kinds})$"),
        CallbackQueryHandler(show_filters, pattern=r"^agenda:filters$"),
    ]
