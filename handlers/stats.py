"""/cijfers (/stats) for organisers: users, sign-ups, turn-up, feedback, FAQ and announcements
(figures from storage.statistics), with one chart of sign-ups over time."""

from __future__ import annotations

import logging
from collections import Counter
from datetime import date, datetime, tzinfo

from sqlalchemy.orm import Session
from telegram import InputFile, Update
from telegram.ext import CommandHandler

from core.apart import run_apart
from core.charts import MIN_DAYS, MIN_SIGNUPS, SignupSeries, chart_data, chart_png
from core.context import Handlers, MaoContext
from core.replies import reply
from core.roles import organisers_only
from core.text_limits import clip
from storage.db import REPORT_SECONDS
from storage.statistics import Statistics, signups_per_day, statistics

logger = logging.getLogger(__name__)
TITLE_SHOWN = 60


def _date(moment: datetime, zone: tzinfo) -> str:
    return moment.astimezone(zone).strftime("%d-%m-%Y")


def _average(value: float | None, language: str) -> str:
    if value is None:
        return "–"
    text = f"{value:.1f}"
    return text.replace(".", ",") if language == "nl" else text


def stats_text(context: MaoContext, figures: Statistics) -> str:
    language = context.language
    zone = context.services.config.zone
    users = figures.users
    parts = [
        context.text(
            "stats_users",
            total=users.total,
            active=users.active,
            opted_out=users.opted_out,
            blocked=users.blocked,
        )
    ]
    lines = [context.text("stats_upcoming")]
    for item in figures.upcoming[:12]:
        title = item.title_en if language == "en" else item.title_nl
        fill = "–" if item.fill_rate is None else f"{round(item.fill_rate * 100)}%"
        lines.append(
            context.text(
                "stats_upcoming_line",
                title=clip(title, TITLE_SHOWN),
                date=_date(item.starts_at, zone),
                registered=item.registered,
                capacity="∞" if item.capacity is None else item.capacity,
                fill=fill,
                waiting=item.waiting,
            )
        )
    if not figures.upcoming:
        lines.append(context.text("stats_none"))
    parts.append("\n".join(lines))
    lines = [context.text("stats_past")]
    for past in figures.past:
        title = past.title_en if language == "en" else past.title_nl
        lines.append(
            context.text(
                "stats_past_line",
                title=clip(title, TITLE_SHOWN),
                date=_date(past.starts_at, zone),
                present=past.present,
                absent=past.absent,
                unknown=past.unknown,
                count=past.feedback_count,
                average=_average(past.feedback_average, language),
            )
        )
    if not figures.past:
        lines.append(context.text("stats_none"))
    parts.append("\n".join(lines))
    parts.append(
        context.text(
            "stats_faq",
            answered_7d=figures.faq.answered_7d,
            suggested_7d=figures.faq.suggested_7d,
            fallback_7d=figures.faq.fallback_7d,
            answered_30d=figures.faq.answered_30d,
            suggested_30d=figures.faq.suggested_30d,
            fallback_30d=figures.faq.fallback_30d,
        )
    )
    if figures.faq.rejected_30d:
        lines = [context.text("stats_faq_rejected")]
        for topic in figures.faq.rejected_30d:
            entry = context.services.faq.entry(topic.entry_id)
            name = entry.localised(context.language).question if entry else topic.entry_id
            lines.append(
                context.text(
                    "stats_faq_rejected_line",
                    topic=name,
                    rejected=topic.rejected,
                    answered=topic.answered,
                    share=f"{topic.share:.0%}",
                )
            )
        parts[-1] += "\n" + "\n".join(lines)
    lines = [context.text("stats_broadcasts")]
    for broadcast in figures.broadcasts:
        tally = broadcast.tally
        lines.append(
            context.text(
                "stats_broadcast_line",
                date=_date(broadcast.created_at, zone),
                sent=tally.sent,
                unconfirmed=tally.unconfirmed,
                blocked=tally.blocked,
                failed=tally.failed,
            )
        )
    if not figures.broadcasts:
        lines.append(context.text("stats_none"))
    parts.append("\n".join(lines))
    return "\n\n".join(parts)


@organisers_only
async def show_stats(update: Update, context: MaoContext) -> None:
    services = context.services
    language = context.language
    zone = services.config.zone
    figures, per_day = await services.db.run_reading(
        _read_figures, services.now(), zone, limit=REPORT_SECONDS, slow_is_away=False
    )
    await reply(update, context, stats_text(context, figures))
    series = [
        SignupSeries(
            item.title_en if language == "en" else item.title_nl,
            per_day=per_day[item.activity_id],
        )
        for item in figures.upcoming
    ]
    data = chart_data(series, zone, services.now().astimezone(zone).date())
    if not data.enough:
        await reply(update, context, _too_few(context, data.signups))
        return
    png = await run_apart(
        chart_png, data, context.text("stats_chart_title"), context.text("stats_chart_y")
    )
    chat = update.effective_chat
    if chat is not None:
        await context.bot.send_photo(chat.id, InputFile(png, filename="aanmeldingen.png"))


def _read_figures(
    session: Session, now: datetime, zone: tzinfo
) -> tuple[Statistics, dict[int, Counter[date]]]:
    figures = statistics(session, now, zone)
    return figures, signups_per_day(session, [u.activity_id for u in figures.upcoming], zone)


def _too_few(context: MaoContext, signups: int) -> str:
    return context.text("stats_chart_too_few", count=signups, signups=MIN_SIGNUPS, days=MIN_DAYS)


def build_handlers() -> Handlers:
    return [CommandHandler(["cijfers", "stats"], show_stats)]
