"""Sending what the bot owes: the delivery outbox (storage/outbox.py), one message at a time.

One sender runs per bot process. It claims the most urgent due message with a lease, writes
it out in the recipient's language at the moment of sending (so a cancelled seat, a moved
activity or a switched-off reminder is respected), sends it, and records the outcome:

- sent only after Telegram confirmed;
- network errors, 5xx and 429 are tried again later, with backoff, until the deadline that
  fits the message (a reminder until the activity starts, an offer until it lapses);
- a timeout is "unconfirmed": Telegram may well have delivered it, so it is not repeated;
- 403 means the user blocked the bot.

Handlers write the owed message in the transaction of the change, then call `deliver_now`
so the user hears at once; whatever fails is picked up by the background loop.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import os
import socket
import uuid
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any

from sqlalchemy.orm import Session
from telegram import InlineKeyboardMarkup, InputFile
from telegram.error import BadRequest, Forbidden, NetworkError, RetryAfter, TelegramError, TimedOut
from telegram.ext import Application

from core import callbacks
from core.activity_text import describe, moment
from core.calendar import calendar_file
from core.context import MaoContext, services_of
from core.keyboards import keyboard, offer_buttons
from core.services import Services
from storage.activities import ActivityInfo, get_activity_by_id
from storage.broadcasts import (
    BroadcastInfo,
    finish_if_done,
    get_broadcast,
    unfinished_broadcasts,
)
from storage.feedback import feedback_owed
from storage.outbox import (
    OutboxKind,
    OutboxStatus,
    OwedMessage,
    Priority,
    Tally,
    broadcast_tally,
    claim_next,
    plan_feedback_requests,
    release_stale_claims,
    retry_later,
    settle,
)
from storage.registrations import UserRegistration, get_user_registration
from storage.users import get_user, set_flags
from storage.vocabulary import RegistrationStatus, Status

logger = logging.getLogger(__name__)
SENDER_KEY = "outbox_sender"
POLL_SECONDS = 1.0
FEEDBACK_SWEEP = timedelta(minutes=1)
OUTAGE_PAUSE_SECONDS = 2.0
# PTB's rate limiter would retry a 429 itself and hold every other message meanwhile; the
# outbox reschedules just that message instead (see bot.app.RateLimiter).
NO_LIMITER_RETRIES = -1

AnyApplication = Application[Any, Any, Any, Any, Any, Any]


@dataclass(frozen=True)
class Rendered:
    text: str | None = None
    markup: InlineKeyboardMarkup | None = None
    document: tuple[bytes, str] | None = None  # (content, file name); text is the caption


class Pace:
    """Evenly spaced bulk sends: Telegram answers bursts with 429."""

    def __init__(self, per_second: float) -> None:
        self.interval = 1.0 / per_second
        self.next_at = 0.0

    async def wait(self) -> None:
        now = asyncio.get_running_loop().time()
        if now < self.next_at:
            await asyncio.sleep(self.next_at - now)
        self.next_at = max(self.next_at, now) + self.interval


def seconds_until_allowed(now_local: datetime, quiet: tuple[int, int] | None) -> float:
    """0 outside quiet hours; otherwise the wait until they end. (22, 8) spans midnight."""
    if quiet is None:
        return 0.0
    start, end = quiet
    hour = now_local.hour
    inside = start <= hour < end if start < end else (hour >= start or hour < end)
    if not inside:
        return 0.0
    end_time = now_local.replace(hour=end, minute=0, second=0, microsecond=0)
    if end_time <= now_local:
        end_time += timedelta(days=1)
    return (end_time - now_local).total_seconds()


class OutboxSender:
    def __init__(self, application: AnyApplication) -> None:
        self.application = application
        self.services: Services = services_of(application)
        self.name = f"{socket.gethostname()}:{os.getpid()}:{uuid.uuid4().hex[:8]}"
        self.wake = asyncio.Event()
        self.lock = asyncio.Lock()
        self.pace = Pace(self.services.config.broadcast.messages_per_second)
        self.bulk_paused_until = 0.0
        self.since_progress: dict[int, int] = {}
        self.task: asyncio.Task[None] | None = None
        self.feedback_planned_at: datetime | None = None

    # -- running ------------------------------------------------------------------------------

    def start(self) -> None:
        if self.task is None:
            self.task = asyncio.create_task(self._loop(), name="outbox")

    async def stop(self) -> None:
        task, self.task = self.task, None
        if task is not None:
            task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await task

    def kick(self) -> None:
        """Something new is owed: look now rather than at the next poll."""
        self.wake.set()

    async def _loop(self) -> None:
        while True:
            self.wake.clear()
            try:
                await self.deliver_due()
                await self.finish_broadcasts()
            except asyncio.CancelledError:
                raise
            except Exception as error:
                # A database outage: nothing is lost (rows stay owed), so wait and look again.
                logger.warning("Outbox paused: %s", type(error).__name__)
                await asyncio.sleep(OUTAGE_PAUSE_SECONDS)
                continue
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(self.wake.wait(), POLL_SECONDS)

    # -- sending ------------------------------------------------------------------------------

    async def deliver_due(self, user_id: int | None = None) -> int:
        """Send every due message (or one user's), most urgent first. Returns how many."""
        services = self.services
        delivered = 0
        if user_id is None:
            # Once per round, not once per message: a broadcast of thousands would otherwise
            # pay these two statements for every recipient.
            with services.db.session() as session:
                release_stale_claims(session, services.now())
                self._plan_feedback(session, services.now())
        while True:
            async with self.lock:
                now = services.now()
                paused = asyncio.get_running_loop().time() < self.bulk_paused_until
                with services.db.session() as session:
                    message = claim_next(
                        session,
                        now,
                        self.name,
                        services.config.broadcast.lease,
                        user_id=user_id,
                        below=Priority.BULK if paused else None,
                    )
                if message is None:
                    return delivered
                outcome = await self._deliver(message)
            if outcome is OutboxStatus.SENT:
                delivered += 1
            if message.broadcast_id is not None:
                await self._progress(message.broadcast_id)

    def _plan_feedback(self, session: Session, now: datetime) -> None:
        """Feedback questions become owed once an activity has been over `feedback.after`
        (looked for at most once a minute: a cheap query, but the loop runs every second)."""
        feedback = self.services.config.feedback
        if not feedback.enabled:
            return
        last = self.feedback_planned_at
        if last is not None and timedelta(0) <= now - last < FEEDBACK_SWEEP:
            return
        self.feedback_planned_at = now
        plan_feedback_requests(session, now, feedback.after)

    def _feedback_wanted(self, message: OwedMessage, now: datetime) -> bool:
        """Decided at send time: present (or nobody checked in), still registered, the
        activity held, and feedback not switched off meanwhile."""
        if not self.services.config.feedback.enabled or message.registration_id is None:
            return False
        with self.services.db.session() as session:
            return feedback_owed(session, message.registration_id, now)

    async def _deliver(self, message: OwedMessage) -> OutboxStatus:
        services = self.services
        with services.db.session() as session:
            user = get_user(session, message.user_id)
            registration = (
                get_user_registration(session, message.registration_id, message.user_id)
                if message.registration_id is not None
                else None
            )
            broadcast = (
                get_broadcast(session, message.broadcast_id)
                if message.broadcast_id is not None
                else None
            )
            signup_activity = (
                get_activity_by_id(session, broadcast.signup_activity_id)
                if broadcast is not None and broadcast.signup_activity_id is not None
                else None
            )
        language = (user.language if user else None) or services.catalogue.default
        context = MaoContext(self.application, chat_id=message.user_id, user_id=message.user_id)
        context.cached_language = language
        now = services.now()
        if message.kind is OutboxKind.BROADCAST:
            wait = seconds_until_allowed(
                now.astimezone(services.config.zone), services.config.broadcast.quiet_hours
            )
            if wait > 0:
                with services.db.session() as session:
                    return retry_later(
                        session, message, now, "quiet hours", timedelta(seconds=wait)
                    )
        if message.kind is OutboxKind.FEEDBACK_REQUEST and not self._feedback_wanted(message, now):
            registration = None  # no longer owed: dropped below
        rendered = None
        if user is None or not (user.blocked and message.kind is OutboxKind.REMINDER):
            rendered = _render(
                message, registration, broadcast, user, context, now, signup_activity
            )
        if rendered is None:
            with services.db.session() as session:
                settle(session, message.id, OutboxStatus.DROPPED, now, "no longer owed")
            return OutboxStatus.DROPPED
        if message.kind is OutboxKind.BROADCAST:
            await self.pace.wait()
        return await self._send(message, rendered)

    async def _send(self, message: OwedMessage, rendered: Rendered) -> OutboxStatus:
        services = self.services
        bot = self.application.bot
        error_text = ""
        try:
            if rendered.document is not None:
                content, filename = rendered.document
                await bot.send_document(
                    message.user_id,
                    document=InputFile(content, filename=filename),
                    caption=rendered.text,
                    rate_limit_args=NO_LIMITER_RETRIES,
                )
            else:
                await bot.send_message(
                    message.user_id,
                    rendered.text or "",
                    reply_markup=rendered.markup,
                    rate_limit_args=NO_LIMITER_RETRIES,
                )
            status = OutboxStatus.SENT
        except Forbidden:
            status = OutboxStatus.BLOCKED
        except RetryAfter as error:
            wait = _seconds(error.retry_after)
            if message.kind is OutboxKind.BROADCAST:
                self.bulk_paused_until = asyncio.get_running_loop().time() + wait
            with services.db.session() as session:
                return retry_later(
                    session, message, services.now(), "429", timedelta(seconds=wait)
                )
        except TimedOut:
            status = OutboxStatus.UNCONFIRMED
        except BadRequest as error:
            status, error_text = OutboxStatus.FAILED, error.message
            logger.warning("Owed %s message %s refused: %s", message.kind, message.id, error)
        except (NetworkError, TelegramError) as error:
            logger.info("Owed message %s not delivered yet: %s", message.id, type(error).__name__)
            with services.db.session() as session:
                return retry_later(session, message, services.now(), type(error).__name__)
        with services.db.session() as session:
            settle(session, message.id, status, services.now(), error_text)
            if status is OutboxStatus.BLOCKED:
                set_flags(session, message.user_id, blocked=True)
        return status

    # -- broadcasts: progress and the final report ----------------------------------------------

    async def _progress(self, broadcast_id: int) -> None:
        count = self.since_progress.get(broadcast_id, 0) + 1
        self.since_progress[broadcast_id] = count
        if count % self.services.config.broadcast.progress_every:
            return
        with self.services.db.session() as session:
            result = broadcast_tally(session, broadcast_id)
        await self._show_status(broadcast_id, result, finished=False)

    async def finish_broadcasts(self) -> None:
        services = self.services
        with services.db.session() as session:
            ids = unfinished_broadcasts(session)
        for broadcast_id in ids:
            with services.db.session() as session:
                result = finish_if_done(session, broadcast_id, services.now())
            if result is not None:
                self.since_progress.pop(broadcast_id, None)
                logger.info("Broadcast %s done: %s", broadcast_id, result)
                await self._show_status(broadcast_id, result, finished=True)

    async def _show_status(self, broadcast_id: int, result: Tally, finished: bool) -> None:
        services = self.services
        with services.db.session() as session:
            info = get_broadcast(session, broadcast_id)
            organiser = get_user(session, info.created_by) if info else None
        if info is None or info.status_chat_id is None or info.status_message_id is None:
            return
        language = (organiser.language if organiser else None) or services.catalogue.default
        text = report_text(services, language, result, finished)
        markup = None
        if finished and result.failed:
            markup = keyboard(
                [
                    [
                        (
                            services.catalogue.text(language, "broadcast_retry_failed"),
                            callbacks.BROADCAST_RETRY.data(broadcast=broadcast_id),
                        )
                    ]
                ]
            )
        try:
            await self.application.bot.edit_message_text(
                text,
                chat_id=info.status_chat_id,
                message_id=info.status_message_id,
                reply_markup=markup,
            )
        except BadRequest:
            pass  # "not modified", or the organiser deleted it: progress is a courtesy
        except TelegramError as error:
            logger.warning("Could not update broadcast %s status: %s", broadcast_id, error)


def report_text(services: Services, language: str, result: Tally, finished: bool) -> str:
    catalogue = services.catalogue
    text = catalogue.text(
        language,
        "broadcast_report" if finished else "broadcast_progress",
        done=result.done,
        total=result.total,
        sent=result.sent,
        unconfirmed=result.unconfirmed,
        blocked=result.blocked,
        failed=result.failed,
    )
    if finished and result.unconfirmed:
        text += "\n" + catalogue.text(language, "broadcast_unconfirmed_explained")
    return text


def _render_broadcast(
    broadcast: BroadcastInfo | None,
    context: MaoContext,
    now: datetime,
    signup_activity: ActivityInfo | None,
) -> Rendered | None:
    """An announcement in the recipient's language, with "Aanmelden" while sign-up is open."""
    if broadcast is None:
        return None
    text = broadcast.text_en if context.language == "en" and broadcast.text_en else broadcast.text
    markup = None
    if signup_activity is not None and signup_activity.open_for_registration(now):
        # Checked at send time: a scheduled announcement may go out after sign-up closed.
        markup = keyboard(
            [
                [
                    (
                        context.text("broadcast_signup_button"),
                        callbacks.SIGNUP_PICK.data(activity=signup_activity.id),
                    )
                ]
            ]
        )
    return Rendered(text=text, markup=markup)


def _render(
    message: OwedMessage,
    registration: UserRegistration | None,
    broadcast: Any,
    user: Any,
    context: MaoContext,
    now: datetime,
    signup_activity: ActivityInfo | None = None,
) -> Rendered | None:
    """The message as the user should read it now, or None when it is no longer owed."""
    kind = message.kind
    if kind is OutboxKind.BROADCAST:
        return _render_broadcast(broadcast, context, now, signup_activity)
    if registration is None:
        return None
    activity = registration.activity
    status = registration.status
    block = describe(activity, context, with_seats=False)
    title = activity.title(context.language)
    if kind is OutboxKind.ACTIVITY_CANCELLED:
        return Rendered(text=f"{context.text('notice_cancelled')}\n\n{block}")
    if kind is OutboxKind.OFFER_EXPIRED:
        return Rendered(text=f"{context.text('notice_offer_expired')}\n\n{block}")
    if activity.status != Status.PUBLISHED:
        return None
    if kind is OutboxKind.FEEDBACK_REQUEST:
        # Whether it is still owed was decided by the sender (OutboxSender._feedback_wanted).
        stars = [
            (f"⭐{n}", callbacks.FEEDBACK_STARS.data(activity=activity.id, stars=n))
            for n in range(1, 6)
        ]
        text = context.text("feedback_question", title=title)
        return Rendered(text=text, markup=keyboard([stars]))
    if kind is OutboxKind.ACTIVITY_REOPENED:
        markup = keyboard(
            [
                [
                    (
                        context.text("notice_signup_again"),
                        callbacks.SIGNUP_PICK.data(activity=activity.id),
                    )
                ]
            ]
        )
        return Rendered(text=f"{context.text('notice_reopened')}\n\n{block}", markup=markup)
    if kind is OutboxKind.ACTIVITY_MOVED:
        previous = message.payload.get("from")
        when = moment(datetime.fromisoformat(previous), context) if previous else "–"
        return Rendered(text=f"{context.text('notice_moved', previous=when)}\n\n{block}")
    if kind is OutboxKind.WAITLISTED:
        if status != RegistrationStatus.WAITING:
            return None
        text = context.text("signup_waiting", title=title, position=registration.position or 0)
        return Rendered(text=text)
    if kind is OutboxKind.OFFERED:
        expires = registration.offer_expires_at
        if status != RegistrationStatus.OFFERED or expires is None or now >= expires:
            return None
        text = context.text("notice_offered", deadline=moment(expires, context))
        markup = keyboard(offer_buttons(registration.registration_id, context))
        return Rendered(text=f"{text}\n\n{block}", markup=markup)
    if kind is OutboxKind.JOIN_LINK:
        # Owed while the seat is held, until the activity ends (someone joining late needs
        # it most); the link is the activity's as it is now, none if it was taken away. Sent
        # also with reminders off: without it the user cannot take part.
        if status != RegistrationStatus.REGISTERED or now >= activity.ends_at:
            return None
        if not activity.online_url:
            return None
        text = context.text("join_link_text", title=title, url=activity.online_url)
        return Rendered(text=f"{text}\n\n{block}")
    if status != RegistrationStatus.REGISTERED or now >= activity.starts_at:
        return None
    if kind is OutboxKind.CONFIRMATION:
        return Rendered(text=context.text("signup_done", title=title))
    if kind is OutboxKind.PROMOTED:
        return Rendered(text=f"{context.text('notice_promoted')}\n\n{block}")
    if kind is OutboxKind.CALENDAR:
        # Written now: a file owed after a move carries the new time and a higher SEQUENCE.
        document = calendar_file(activity, registration.registration_id, context, now)
        return Rendered(text=context.text("calendar_caption"), document=document)
    if kind is OutboxKind.REMINDER:
        if user is not None and not user.reminders_enabled:
            return None
        rid = registration.registration_id
        markup = keyboard(
            [
                [
                    (
                        context.text("reminder_coming"),
                        callbacks.REMINDER_COMING.data(registration=rid),
                    ),
                    (context.text("mine_cancel"), callbacks.MINE_CANCEL.data(registration=rid)),
                ]
            ]
        )
        return Rendered(text=f"{context.text('reminder_text')}\n\n{block}", markup=markup)
    return None


def _seconds(value: int | float | timedelta) -> float:
    return value.total_seconds() if isinstance(value, timedelta) else float(value)


def outbox_of(application: AnyApplication) -> OutboxSender:
    sender = application.bot_data.get(SENDER_KEY)
    if sender is None:
        sender = application.bot_data[SENDER_KEY] = OutboxSender(application)
    assert isinstance(sender, OutboxSender)
    return sender


async def deliver_now(context: MaoContext, user_id: int) -> None:
    """Send what is owed to this user right away (their confirmation, their notice).

    The change that owed it is committed already: a failure here must never become an
    error for the user, so it is logged and left to the background loop."""
    sender = outbox_of(context.application)
    try:
        await sender.deliver_due(user_id)
    except Exception as error:
        logger.warning("Immediate delivery deferred: %s", type(error).__name__)
    sender.kick()  # others may be owed something by the same change (a freed seat)
