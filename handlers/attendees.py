"""Organisers: /deelnemers (/attendees) — who comes, what they asked, a workbook to keep.

From the attendee view the organiser can write to exactly this activity's people; that
button starts the /omroep conversation at its text step (handlers.broadcast).
"""

from __future__ import annotations

import html
import logging
from collections import Counter
from datetime import timedelta

from sqlalchemy.orm import Session
from telegram import InputFile, Update
from telegram.constants import MessageLimit
from telegram.ext import CallbackQueryHandler, CommandHandler

from core import callbacks
from core.apart import run_apart
from core.context import Handlers, MaoContext
from core.keyboards import Button, one_per_row
from core.organiser_refusal import activity_label
from core.replies import pressed, reply
from core.roles import organisers_only
from core.text_limits import clip, plain_name, visible_length
from storage.activities import ActivityInfo, get_activity_by_id, recent_and_upcoming
from storage.db import REPORT_SECONDS
from storage.exports import attendees_xlsx
from storage.registrations import ExportRow, export_registrations_by_id
from storage.vocabulary import Recipients, RegistrationStatus, Status

logger = logging.getLogger(__name__)
# Ended activities stay in the list this long: for the no-show list and a last message.
SHOWN_AFTER_END = timedelta(days=7)


@organisers_only
async def attendees(update: Update, context: MaoContext) -> None:
    services = context.services
    activities = await services.db.run_reading(
        recent_and_upcoming,
        services.now(),
        SHOWN_AFTER_END,
        limit=REPORT_SECONDS,
        slow_is_away=False,
    )
    if not activities:
        await reply(update, context, context.text("attendees_none"))
        return
    buttons: list[Button] = [
        (activity_label(context, a), callbacks.ATTENDEES_OF.data(activity=a.id))
        for a in activities[:20]
    ]
    await reply(update, context, context.text("attendees_choose"), one_per_row(buttons))


def _counted(context: MaoContext, prefix: str, values: list[str | None]) -> str:
    counts = Counter(v for v in values if v)
    parts = [f"{context.text(f'{prefix}_{value}')}: {n}" for value, n in sorted(counts.items())]
    return " · ".join(parts) or "–"


def _person(context: MaoContext, row: ExportRow) -> str:
    line = f"• {html.escape(clip(plain_name(row.name), 100))}"
    details = [context.text(f"role_{row.role}")]
    if row.sector:
        details.append(context.text(f"sector_{row.sector}"))
    line += f" ({html.escape(', '.join(details))})"
    if row.position is not None:
        line = f"{row.position}. {line[2:]}"
    if row.attended is not None:
        # Checked at the door (/incheck): present or absent.
        line += " ✅" if row.attended else " ❌"
    if row.question:
        line += f"\n  <i>{html.escape(clip(row.question, 300))}</i>"
    return line


def _people(context: MaoContext, header: str, budget: int, rows: list[ExportRow]) -> str:
    """The list of people, cut to fit `budget` visible characters with a pointer to the file."""
    lines = [header] if rows else []
    used = visible_length(header) + 1
    for index, row in enumerate(rows):
        line = _person(context, row)
        last = index == len(rows) - 1
        # Room for "… and N more: see the file" unless this is the last one.
        if used + visible_length(line) + 1 > budget - (0 if last else 60):
            lines.append(context.text("attendees_more", count=len(rows) - index))
            break
        lines.append(line)
        used += visible_length(line) + 1
    return "\n".join(lines)


def overview(context: MaoContext, activity: ActivityInfo, rows: list[ExportRow]) -> str:
    registered = [r for r in rows if r.status == RegistrationStatus.REGISTERED]
    waiting = [
        r for r in rows if r.status in (RegistrationStatus.WAITING, RegistrationStatus.OFFERED)
    ]
    cancelled = [r for r in rows if r.status == RegistrationStatus.CANCELLED]
    head = context.text(
        "attendees_summary",
        title=activity.title(context.language),
        registered=len(registered),
        waiting=len(waiting),
        cancelled=len(cancelled),
        by_role=_counted(context, "role", [r.role for r in registered]),
        by_sector=_counted(context, "sector", [r.sector for r in registered]),
    )
    if activity.status == Status.CANCELLED:
        head = context.text("attendees_cancelled_activity") + "\n" + head
    # Telegram's limit, less the head and a little room for the separators.
    budget = MessageLimit.MAX_TEXT_LENGTH - visible_length(head) - 10
    registered_part = _people(
        context, context.text("attendees_registered_header"), budget, registered
    )
    budget -= visible_length(registered_part)
    waiting_part = _people(context, context.text("attendees_waiting_header"), budget, waiting)
    return "\n\n".join(part for part in (head, registered_part, waiting_part) if part)


def _write_buttons(context: MaoContext, activity: ActivityInfo) -> list[Button]:
    buttons: list[Button] = [
        (
            context.text("attendees_write_attendees"),
            callbacks.ATTENDEES_WRITE.data(audience=Recipients.ATTENDEES, activity=activity.id),
        )
    ]
    if activity.status != Status.CANCELLED:
        # After a cancellation everyone's place ended alike: "attendees" reaches them all.
        buttons.append(
            (
                context.text("attendees_write_waiting"),
                callbacks.ATTENDEES_WRITE.data(audience=Recipients.WAITING, activity=activity.id),
            )
        )
        buttons.append(
            (context.text("attendees_checkin"), callbacks.CHECKIN_OF.data(activity=activity.id))
        )
    return buttons


@organisers_only
async def attendees_of(update: Update, context: MaoContext) -> None:
    query = await pressed(update)
    services = context.services
    activity_id = int(context.matched("activity"))
    activity, rows = await services.db.run_reading(
        _activity_and_people, activity_id, limit=REPORT_SECONDS, slow_is_away=False
    )
    if activity is None or rows is None:
        await reply(update, context, context.text("signup_not_found"))
        return
    await reply(
        update,
        context,
        overview(context, activity, rows),
        one_per_row(_write_buttons(context, activity)),
    )
    # Building a workbook is CPU work (and openpyxl's import holds the GIL): in a process of
    # its own, so other users are not kept waiting.
    workbook = await run_apart(attendees_xlsx, rows, services.config.zone, activity.title("nl"))
    await context.bot.send_document(
        query.from_user.id,
        InputFile(workbook, filename=f"deelnemers-{activity.slug}.xlsx"),
    )


def _activity_and_people(
    session: Session, activity_id: int
) -> tuple[ActivityInfo | None, list[ExportRow] | None]:
    return get_activity_by_id(session, activity_id), export_registrations_by_id(
        session, activity_id
    )


def build_handlers() -> Handlers:
    return [
        CommandHandler(["deelnemers", "attendees"], attendees),
        CallbackQueryHandler(attendees_of, pattern=callbacks.ATTENDEES_OF.pattern),
    ]
