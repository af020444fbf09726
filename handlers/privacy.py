"""/privacy, /mijngegevens and /vergeetmij: the user's rights under the GDPR (AVG)."""

from __future__ import annotations

import json
from datetime import datetime
from typing import Any

from sqlalchemy.orm import Session
from telegram import InputFile, Update
from telegram.ext import CallbackQueryHandler, CommandHandler

from core import callbacks
from core.context import Handlers, MaoContext
from core.dates import format_datetime
from core.drafts import SIGNUP_DRAFT
from core.erasure import forget_traces
from core.i18n import Html
from core.keyboards import keyboard
from core.pending_questions import KEEP, KEEP_HOURS, PENDING_KEY
from core.privacy_terms import privacy_terms
from core.replies import close_buttons, pressed, reply
from core.seen import forget_seen
from storage.activities import ActivityInfo, get_activity
from storage.personal_data import (
    MessageRecord,
    PersonalData,
    RegistrationRecord,
    personal_data,
    personal_data_json,
)
from storage.privacy import erase_user
from storage.vocabulary import RegistrationStatus

DATA_FILE_NAME = "mijn-gegevens.json"
# The chat message stays inside Telegram's 4096 characters (with room for the "… and N
# more" lines); the file has everything.
CHAT_ROOM = 3900
LISTED_AT_MOST = 5
SHOWN_CHARACTERS = 120  # of a name, e-mail address, question or title in the chat message


async def show_privacy(update: Update, context: MaoContext) -> None:
    config = context.services.config
    text = context.text("privacy", **privacy_terms(config, context.language))
    limits = config.inbox.limits
    counted = context.text("privacy_limits", per_hour=limits.per_hour, per_day=limits.per_day)
    counted += "\n" + context.text("privacy_kept_questions", count=KEEP, hours=KEEP_HOURS)
    # These go before the closing paragraph (the commands and the address).
    head, _, tail = text.rpartition("\n\n")
    await reply(update, context, f"{head}\n{counted}\n\n{tail}")


def _short(value: str | None, context: MaoContext) -> str:
    if not value:
        return context.text("mydata_none")
    return value if len(value) <= SHOWN_CHARACTERS else value[: SHOWN_CHARACTERS - 1] + "…"


def _when(moment: datetime | None, context: MaoContext) -> str:
    if moment is None:
        return context.text("mydata_none")
    return format_datetime(moment, context.language, context.services.config.zone)


def _role(role: str | None, sector: str | None, context: MaoContext) -> str:
    if not role:
        return context.text("mydata_none")
    described = context.text(f"role_{role}")
    return f"{described} ({context.text(f'sector_{sector}')})" if sector else described


def _listing(header: str, entries: list[str], room: int, context: MaoContext) -> str:
    """The header and as many entries as fit the room, then how many more the file holds."""
    shown: list[str] = [header]
    used = len(header)
    for index, entry in enumerate(entries):
        if index == LISTED_AT_MOST or used + len(entry) > room:
            shown.append(context.text("mydata_more", count=len(entries) - index))
            break
        shown.append(entry)
        used += len(entry) + 1
    return "\n".join(shown)


def _registration_text(registration: RegistrationRecord, context: MaoContext) -> str:
    if registration.status == RegistrationStatus.WAITING:
        status = context.text("mine_status_waiting", position=registration.position or "?")
    elif registration.status == RegistrationStatus.OFFERED:
        deadline = _when(registration.offer_expires_at, context)
        status = context.text("mine_status_offered", deadline=deadline)
    elif registration.status == RegistrationStatus.CANCELLED:
        status = context.text("mydata_status_cancelled")
    else:
        status = context.text("mine_status_registered")
    text = context.text(
        "mydata_registration",
        title=_short(registration.activity.title(context.language), context),
        when=_when(registration.activity.starts_at, context),
        status=status,
        name=_short(registration.name, context),
        role=_role(registration.role, registration.sector, context),
        email=_short(registration.email, context),
        question=_short(registration.question, context),
        registered=_when(registration.registered_at, context),
    )
    if registration.cancelled_at is not None:
        cancelled = _when(registration.cancelled_at, context)
        text += "\n" + context.text("mydata_registration_cancelled", cancelled=cancelled)
    if registration.attended is True:
        checked_in = _when(registration.checked_in_at, context)
        text += "\n" + context.text("mydata_registration_present", when=checked_in)
    elif registration.attended is False:
        text += "\n" + context.text("mydata_registration_absent")
    return text


def _feedback_text(data: PersonalData, context: MaoContext) -> str:
    lines = [context.text("mydata_feedback")]
    for given in data.feedback[-LISTED_AT_MOST:]:
        lines.append(
            context.text(
                "mydata_feedback_entry",
                title=_short(given.activity.title(context.language), context),
                stars="⭐" * (given.stars or 0) or context.text("mydata_none"),
                comment=_short(given.comment, context),
            )
        )
    if len(data.feedback) > LISTED_AT_MOST:
        lines.append(context.text("mydata_more", count=len(data.feedback) - LISTED_AT_MOST))
    return "\n".join(lines)


def _organiser_text(data: PersonalData, configured: bool, context: MaoContext) -> str | None:
    """What the person did as organiser (the texts are in the file)."""
    lines: list[str] = []
    if data.organiser is not None:
        when = _when(data.organiser.added_at, context)
        lines.append(context.text("mydata_organiser_record", when=when))
    elif configured:
        lines.append(context.text("mydata_organiser_config"))
    if data.activities_created:
        titles = ", ".join(
            _short(a.title(context.language), context)
            for a in data.activities_created[:LISTED_AT_MOST]
        )
        count = len(data.activities_created)
        lines.append(context.text("mydata_activities_created", count=count, titles=titles))
    added = sum(1 for a in data.faq_additions if a.added_by_you)
    if added:
        lines.append(context.text("mydata_faq_added", count=added))
    if data.answers_written:
        lines.append(context.text("mydata_answers_written", count=len(data.answers_written)))
    if not lines:
        return None
    return "\n".join([context.text("mydata_organiser"), *lines])


def _message_text(message: MessageRecord, context: MaoContext) -> str:
    activity = (
        context.text(
            "mydata_message_activity",
            title=_short(message.activity.title(context.language), context),
        )
        if message.activity is not None
        else ""
    )
    return context.text(
        "mydata_message",
        kind=context.text(f"mydata_kind_{message.kind}"),
        activity=Html(activity),
        status=context.text(f"mydata_sent_{message.status}"),
        when=_when(message.sent_at or message.due_at, context),
    )


def _draft_text(draft: dict[str, Any], title: str | None, context: MaoContext) -> str:
    def value(key: str) -> str | None:
        found = draft.get(key)
        return str(found) if found else None

    return context.text(
        "mydata_draft",
        title=_short(title or value("slug"), context),
        name=_short(value("name"), context),
        role=_role(value("role"), value("sector"), context),
        email=_short(value("email"), context),
        question=_short(value("question"), context),
    )


def _inbox_text(data: PersonalData, context: MaoContext) -> str:
    """The conversations with the programme office (the latest first; texts in the file)."""
    lines = [context.text("mydata_inbox")]
    for thread, messages in reversed(data.inbox[-LISTED_AT_MOST:]):
        lines.append(
            context.text(
                "mydata_inbox_thread",
                label=context.text(f"inbox_label_{thread.kind.value}"),
                thread=thread.id,
                status=context.text(f"inbox_status_{thread.status.value}"),
                when=_when(thread.updated_at, context),
                snippet=_short(messages[0].text if messages else "", context),
            )
        )
    if len(data.inbox) > LISTED_AT_MOST:
        lines.append(context.text("mydata_more", count=len(data.inbox) - LISTED_AT_MOST))
    return "\n".join(lines)


def my_data_text(data: PersonalData, draft_title: str | None, context: MaoContext) -> str:
    """Everything kept about the user, chat-sized: long lists end with "… and N more"."""
    services = context.services
    head: list[str] = []
    tail: list[str] = []
    info = data.user
    if info is not None:
        on, off = context.text("mydata_on"), context.text("mydata_off")
        head.append(
            context.text(
                "mydata",
                telegram_id=info.telegram_id,
                chosen_language=services.catalogue.text(
                    info.language or context.language, "language_name"
                ),
                first_seen=_when(info.first_seen, context),
                last_seen=_when(info.last_seen, context),
                reminders=on if info.reminders_enabled else off,
                announcements=off if info.announcements_opt_out else on,
                blocked=context.text("mydata_yes" if info.blocked else "mydata_no"),
            )
        )
    profile = data.profile
    if profile is not None:
        head.append(
            context.text(
                "mydata_profile",
                name=_short(profile.name, context),
                role=_role(profile.role, profile.sector, context),
                email=_short(profile.email, context),
            )
        )
    draft = data.user_data.get(SIGNUP_DRAFT)
    if isinstance(draft, dict) and draft:
        tail.append(_draft_text(draft, draft_title, context))
    if data.inbox:
        tail.append(_inbox_text(data, context))
    yours = sum(1 for a in data.faq_additions if a.your_words)
    if yours:
        tail.append(context.text("mydata_faq_yours", count=yours))
    if data.feedback:
        tail.append(_feedback_text(data, context))
    organiser = _organiser_text(data, services.config.is_admin(data.telegram_id), context)
    if organiser:
        tail.append(organiser)
    if data.broadcasts:
        tail.append(context.text("mydata_broadcasts", count=len(data.broadcasts)))
    if data.blocked_since is not None:
        tail.append(context.text("mydata_blocked", since=_when(data.blocked_since, context)))
    kept = data.user_data.get(PENDING_KEY)
    if isinstance(kept, dict) and kept:
        hours = KEEP_HOURS
        tail.append(context.text("mydata_kept_questions", count=len(kept), hours=hours))
    tail.append(context.text("mydata_file_note"))
    # The lists share what room the fixed parts leave: two thirds for registrations.
    room = CHAT_ROOM - sum(len(part) + 2 for part in head + tail)
    lists: list[str] = []
    if data.registrations:
        entries = [_registration_text(r, context) for r in data.registrations]
        header = context.text("mydata_registrations")
        lists.append(_listing(header, entries, room * 2 // 3, context))
    if data.messages:
        # The latest first: what is still owed and what was sent last matter most.
        entries = [_message_text(m, context) for m in reversed(data.messages)]
        header = context.text("mydata_messages")
        lists.append(_listing(header, entries, room - sum(len(x) + 2 for x in lists), context))
    return "\n\n".join(head + lists + tail)


def _read_my_data(session: Session, user_id: int) -> tuple[PersonalData, ActivityInfo | None]:
    """Everything stored about the user, and the activity of a sign-up they are in the
    middle of (the draft names it only by its slug)."""
    data = personal_data(session, user_id)
    draft = data.user_data.get(SIGNUP_DRAFT)
    slug = draft.get("slug") if isinstance(draft, dict) else None
    return data, get_activity(session, slug) if isinstance(slug, str) else None


async def show_my_data(update: Update, context: MaoContext) -> None:
    user = update.effective_user
    chat = update.effective_chat
    assert user is not None and chat is not None
    services = context.services
    # Not a read to do without: "nothing stored" would be untrue; an outage says so.
    data, activity = await services.db.run_reading(_read_my_data, user.id)
    if data.is_empty:
        await reply(update, context, context.text("mydata_nothing"))
        return
    draft_title = activity.title(context.language) if activity is not None else None
    await reply(update, context, my_data_text(data, draft_title, context))
    document = json.dumps(
        personal_data_json(data, services.config.zone), ensure_ascii=False, indent=2
    )
    await context.bot.send_document(
        chat.id,
        InputFile(document.encode("utf-8"), filename=DATA_FILE_NAME),
        caption=context.text("mydata_file_caption"),
    )


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
    services = context.services
    user_id = query.from_user.id
    # One transaction: in an outage nothing is erased, and the user hears so (the button
    # stays, to be pressed again).
    erased = await services.db.run_session(
        erase_user, user_id, services.now(), services.config.reminders.join_link_before
    )
    forget_seen(context, user_id)
    if context.user_data is not None:
        context.user_data.clear()
    await forget_traces(services, erased)
    for listener in services.on_erased:
        listener(user_id)
    await close_buttons(update)
    # A seat the user held has gone to the next person waiting, and the organisers' chats
    # are owed the deletion of their copies: the commit woke the outbox for them.
    await reply(update, context, context.text("forget_done"))


def build_handlers() -> Handlers:
    return [
        CommandHandler("privacy", show_privacy),
        CommandHandler(["mijngegevens", "mydata"], show_my_data),
        CommandHandler(["vergeetmij", "forgetme"], ask_forget),
        CallbackQueryHandler(confirm_forget, pattern=callbacks.FORGET.pattern),
    ]
