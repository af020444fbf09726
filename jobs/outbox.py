"""Sending what the bot owes: the delivery outbox (storage/outbox.py).

One sender runs per bot process. It claims the most urgent due message with a lease, writes
it out in the recipient's language at the moment of sending (so a cancelled seat, a moved
activity or a switched-off reminder is respected), sends it, and records the outcome. It
keeps up to `broadcast.in_flight` messages on their way at once, each claimed, sent and
settled on its own (a call to Telegram takes 50-100 ms: one at a time could not keep
Telegram's pace), and one user's messages always one after the other, in order.

The cost of that window: a crash may repeat up to `in_flight` messages (sent, but not yet
recorded as sent), plus one for each person being answered at that moment (`deliver_now`);
their leases run out and they go again. Nothing is lost. A database that goes away does
not cost repeats: outcomes Telegram confirmed meanwhile are recorded once it is back.

Pace: every call to a chat, the handlers' replies included (bot.app.RateLimiter), spends
from one SendBudget, spaced evenly under Telegram's ~30/s. Replies and PERSONAL messages go
first; notices, reminders and announcements take what is left, at most one a second per
chat. A 429 holds back only its chat, or (Telegram's flood limit) bulk sending.

Outcomes:
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
import time
import uuid
from collections import Counter
from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime, timedelta
from enum import IntEnum
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
from jobs.inbox_delivery import after_send, render_inbox
from storage.activities import ActivityInfo, get_activity_by_id
from storage.broadcasts import (
    BroadcastInfo,
    finish_if_done,
    get_broadcast,
    unfinished_broadcasts,
)
from storage.feedback import feedback_owed
from storage.inbox import INBOX_KINDS
from storage.outbox import (
    CALENDAR_FILES,
    HELD_AT_NIGHT,
    NIGHT_ALLOWED,
    PRIORITY,
    OutboxKind,
    OutboxStatus,
    OwedMessage,
    Priority,
    Tally,
    broadcast_tally,
    claim_next,
    give_back,
    keep_reminders_out_of_quiet_hours,
    lead_due_at,
    plan_feedback_requests,
    release_stale_claims,
    retry_later,
    settle,
)
from storage.registrations import UserRegistration, get_user_registration
from storage.users import UserInfo, get_user, set_flags
from storage.vocabulary import BroadcastStatus, RegistrationStatus, Status

logger = logging.getLogger(__name__)
SENDER_KEY = "outbox_sender"
POLL_SECONDS = 1.0
FEEDBACK_SWEEP = timedelta(minutes=1)
OUTAGE_PAUSE_SECONDS = 2.0
# The outbox has already spent from the shared budget (SendBudget) for this call and reschedules
# a refused message itself: bot.app.RateLimiter passes such a call straight through (PTB's
# own limiter would wait out a 429 and hold every other call meanwhile).
NO_LIMITER_RETRIES = -1
BUDGET_KEY = "send_budget"
# Sends are spaced this much wider than `broadcast.messages_per_second` asks: network delays
# vary, so messages sent evenly at exactly Telegram's rate arrive bunched up and draw 429s.
HEADROOM = 0.95
# Telegram allows a chat about one message a second; a little more, for the same reason.
CHAT_GAP_SECONDS = 1.1
# Claimed messages per place in the window, counting those that wait for their chat's turn.
MAX_CLAIMED = 16
# A chat held back longer than this (a 429's retry_after) gets its message rescheduled
# rather than waited for: the claim's lease must not run out while it waits.
CHAT_WAIT_IN_PLACE_SECONDS = 3.0
# A calendar file whose message is still on its way (another sender holds it) looks again
# this much later.
LEAD_GAP = timedelta(seconds=2)
# How long stopping waits for the messages on their way.
STOP_GRACE_SECONDS = 5.0
# Per-chat bookkeeping is dropped once this old (it only matters for about a second).
FORGET_AFTER_SECONDS = 10.0

AnyApplication = Application[Any, Any, Any, Any, Any, Any]


@dataclass(frozen=True)
class Rendered:
    text: str | None = None
    markup: InlineKeyboardMarkup | None = None
    document: tuple[bytes, str] | None = None  # (content, file name); text is the caption
    # Not a new message: the bot's message with this id in the chat is deleted, or where
    # Telegram no longer allows that, its text replaced by `text` (/vergeetmij).
    erase: int | None = None


class Lane(IntEnum):
    """Who waits for a send: a person (a reply, a PERSONAL owed message) or nobody (bulk)."""

    INTERACTIVE = 0
    BULK = 1


def lane_of(message: OwedMessage) -> Lane:
    return Lane.INTERACTIVE if PRIORITY[message.kind] is Priority.PERSONAL else Lane.BULK


class SendBudget:
    """Telegram's ~30 messages a second, shared by every call the bot makes to a chat.

    Sends are spaced evenly (bursts are what draw 429s). An interactive send (a handler's
    reply through bot.app.RateLimiter, a PERSONAL owed message) takes the next free slot at
    once; a bulk send (announcements, notices, reminders) takes a slot only when its time
    has come and nobody took it, so bulk gets what interactive sends leave and a reply never
    queues behind a broadcast. Bulk also keeps Telegram's one message a second per chat.

    A 429 slows down only what caused it: for a chat that just had a message it holds that
    chat (`retry_after`); otherwise it is the bot's overall flood limit, and it pauses bulk
    sending, not replies."""

    def __init__(
        self,
        per_second: float,
        *,
        chat_gap: float = CHAT_GAP_SECONDS,
        headroom: float = HEADROOM,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        self.interval = 1.0 / (per_second * headroom)
        self.chat_gap = chat_gap
        self.clock = clock
        self.next_free = 0.0  # when the next unreserved slot comes
        self.bulk_paused_until = 0.0
        self.last_sent: dict[int, float] = {}  # chat -> its latest send
        self.before_last: dict[int, float] = {}  # chat -> the send before that
        self.held_until: dict[int, float] = {}  # chat -> nothing before (a 429)
        self.bulk_sent: dict[int, float] = {}  # chat -> its latest bulk message
        self.refusals: Counter[str] = Counter()  # "chat" and "flood" 429s seen
        self._bulk_turn = asyncio.Lock()
        self._forgotten_at = 0.0

    def bulk_paused(self) -> bool:
        return self.clock() < self.bulk_paused_until

    async def acquire(self, chat_id: int | None, lane: Lane) -> None:
        """Wait for this send's turn (`chat_id` None: a call to no chat, e.g. a button's
        answer, still spends a slot)."""
        if lane is Lane.INTERACTIVE:
            await self._interactive(chat_id)
        else:
            await self._bulk(chat_id)

    def chat_wait(self, chat_id: int | None) -> float:
        """Seconds until this chat may have a message (0: now), in either lane."""
        if chat_id is None:
            return 0.0
        # A second after a bulk message; replies may follow each other (Telegram allows a
        # private chat short bursts, and a reminder may follow a confirmation at once).
        ready = max(
            self.held_until.get(chat_id, 0.0),
            self.bulk_sent.get(chat_id, -self.chat_gap) + self.chat_gap,
        )
        return max(0.0, ready - self.clock())

    async def _interactive(self, chat_id: int | None) -> None:
        if chat_id is not None:
            # Only a refusal or a bulk message to this chat holds a reply back: a person in
            # a conversation may get a few messages in a row, as Telegram allows.
            held = self.chat_wait(chat_id)
            if held > 0:
                await asyncio.sleep(held)
        now = self.clock()
        slot = self._take(now)
        self._note(chat_id, slot)
        if slot > now:
            await asyncio.sleep(slot - now)

    async def _bulk(self, chat_id: int | None) -> None:
        while True:
            wait = self.chat_wait(chat_id)
            if wait > 0:  # waited for apart: one busy chat holds up no other
                await asyncio.sleep(wait)
            # Bulk sends take their slots in the order they asked (a broadcast goes out in
            # the order it was claimed); the lock is fair.
            async with self._bulk_turn:
                now = await self._next_bulk_slot(chat_id)
                if now is None:
                    # The chat had a message meanwhile (another of this person's in the
                    # window): wait for it outside the queue, so nobody else waits with us.
                    continue
                self._take(now)
            break
        self._note(chat_id, now)
        if chat_id is not None:
            self.bulk_sent[chat_id] = now

    async def _next_bulk_slot(self, chat_id: int | None) -> float | None:
        """The moment a free slot has come (None: the chat must wait first)."""
        while True:
            now = self.clock()
            if self.chat_wait(chat_id) > 0:
                return None
            ready = max(self.next_free, self.bulk_paused_until)
            if ready <= now:
                return now
            # Woken at `ready`, the slot may have gone to a reply meanwhile: look again.
            await asyncio.sleep(ready - now)

    def _take(self, now: float) -> float:
        """Reserve the next free slot. A slot missed by a little (the event loop was busy)
        keeps the schedule; after a pause the schedule starts anew, without a burst."""
        slot = self.next_free if self.next_free > now - self.interval / 4 else now
        self.next_free = slot + self.interval
        return slot

    def _note(self, chat_id: int | None, at: float) -> None:
        if chat_id is None:
            return
        previous = self.last_sent.get(chat_id)
        if previous is not None:
            self.before_last[chat_id] = previous
        self.last_sent[chat_id] = at
        if at - self._forgotten_at > FORGET_AFTER_SECONDS:
            self._forget(at - FORGET_AFTER_SECONDS)

    def _forget(self, before: float) -> None:
        self._forgotten_at = before + FORGET_AFTER_SECONDS
        for book in (self.last_sent, self.before_last, self.held_until, self.bulk_sent):
            for chat in [chat for chat, at in book.items() if at < before]:
                del book[chat]

    def failed(self, chat_id: int | None) -> None:
        """The latest send to this chat did not arrive (5xx, network): it does not count
        towards the chat's one message a second."""
        if chat_id is None or chat_id not in self.last_sent:
            return
        if self.bulk_sent.get(chat_id) == self.last_sent[chat_id]:
            del self.bulk_sent[chat_id]
        previous = self.before_last.pop(chat_id, None)
        if previous is None:
            del self.last_sent[chat_id]
        else:
            self.last_sent[chat_id] = previous

    def refused(self, chat_id: int | None, retry_after: float) -> bool:
        """Record a 429 for a send to `chat_id`. True when it was the chat's own limit
        (that chat waits), False for the bot's overall flood limit (bulk waits)."""
        now = self.clock()
        previous = self.before_last.get(chat_id) if chat_id is not None else None
        if chat_id is not None and previous is not None and now - previous < 2 * self.chat_gap:
            self.refusals["chat"] += 1
            self.held_until[chat_id] = max(self.held_until.get(chat_id, 0.0), now + retry_after)
            return True
        self.refusals["flood"] += 1
        self.bulk_paused_until = max(self.bulk_paused_until, now + retry_after)
        logger.info("Flood limit: bulk sending paused for %.1f s", retry_after)
        return False


def budget_of(application: AnyApplication) -> SendBudget:
    """The budget shared with bot.app.RateLimiter; one of its own if the bot has another."""
    budget = getattr(application.bot.rate_limiter, "budget", None)
    if isinstance(budget, SendBudget):
        return budget
    budget = application.bot_data.get(BUDGET_KEY)
    if not isinstance(budget, SendBudget):
        broadcast = services_of(application).config.broadcast
        budget = application.bot_data[BUDGET_KEY] = SendBudget(
            broadcast.messages_per_second, chat_gap=broadcast.chat_gap.total_seconds()
        )
    return budget


class Place:
    """A message's place in a round's window of `in_flight` messages on their way."""

    def __init__(self, window: asyncio.Semaphore) -> None:
        self.window = window
        self.held = True

    async def step_out_for(self, seconds: float) -> None:
        """Leave the window while waiting, then queue for a place again."""
        self.give_up()
        await asyncio.sleep(seconds)
        await self.window.acquire()
        self.held = True

    def done(self, _task: object) -> None:
        self.give_up()

    def give_up(self) -> None:
        if self.held:
            self.held = False
            self.window.release()


class OutboxSender:
    def __init__(self, application: AnyApplication) -> None:
        self.application = application
        self.services: Services = services_of(application)
        self.name = f"{socket.gethostname()}:{os.getpid()}:{uuid.uuid4().hex[:8]}"
        self.wake = asyncio.Event()
        self.lock = asyncio.Lock()  # one background round at a time
        self.budget = budget_of(application)
        self.in_flight = self.services.config.broadcast.in_flight
        # Per user, the latest message on its way: the next one to them waits for it.
        self.user_turns: dict[int, asyncio.Future[None]] = {}
        # Outcomes Telegram confirmed while the database was away, recorded once it is back
        # (and claims given back that could not be finished).
        self.unrecorded: list[Callable[[], None]] = []
        self.handed_over: set[int] = set()  # ids whose outcome waits in `unrecorded`
        self.since_progress: dict[int, int] = {}
        # Progress and the final report edit one message: taken in turns, so that a progress
        # edit still on its way cannot cover the report (and its "send again" button).
        self.status_lock = asyncio.Lock()
        self.stopping = False
        self.task: asyncio.Task[None] | None = None
        self.feedback_planned_at: datetime | None = None
        self.quiet_checked_at: datetime | None = None

    # -- running ------------------------------------------------------------------------------

    def start(self) -> None:
        if self.task is None:
            self.stopping = False
            self.task = asyncio.create_task(self._loop(), name="outbox")

    async def stop(self) -> None:
        task, self.task = self.task, None
        if task is None:
            return
        # No new claims; what is on its way may arrive and be recorded first (cut off
        # mid-call, it would be sent again once its lease ran out).
        self.stopping = True
        with contextlib.suppress(TimeoutError):
            await asyncio.wait_for(self._between_rounds(), STOP_GRACE_SECONDS)
        task.cancel()
        with contextlib.suppress(asyncio.CancelledError):
            await task

    async def _between_rounds(self) -> None:
        async with self.lock:
            pass

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
        """Send every due message (or one user's), most urgent first. Returns how many sent.

        A round keeps up to `broadcast.in_flight` messages on their way at once: one at a
        time, a call that takes 100 ms would allow only ~9 messages a second. One user's
        messages still go one after the other, in order."""
        if user_id is not None:
            return await self._deliver_to(user_id)
        async with self.lock:
            return await self._round()

    async def _deliver_to(self, user_id: int) -> int:
        """A person is waiting (their confirmation, their notice): sent now, beside the
        round's window, as interactive sends (announcements to them stay bulk)."""
        await self._record_unrecorded()
        delivered = 0
        while True:
            message = await self._claim(user_id)
            if message is None:
                break
            lane = Lane.BULK if message.kind is OutboxKind.BROADCAST else Lane.INTERACTIVE
            if await self._deliver_in_turn(message, lane) is OutboxStatus.SENT:
                delivered += 1
            if message.broadcast_id is not None:
                await self._progress(message.broadcast_id)
        # A message to them that the background round holds is part of their answer too.
        turn = self.user_turns.get(user_id)
        if turn is not None:
            await asyncio.wait([turn])
        return delivered

    async def _round(self) -> int:
        services = self.services
        await self._record_unrecorded()
        # Once per round, not once per message: a broadcast of thousands would otherwise
        # pay these two statements for every recipient.
        await services.db.run_session(self._round_chores, services.now())
        delivered = 0
        window = asyncio.Semaphore(self.in_flight)
        running: dict[asyncio.Task[OutboxStatus], OwedMessage] = {}
        failure: Exception | None = None

        async def settled(task: asyncio.Task[OutboxStatus]) -> None:
            nonlocal delivered, failure
            message = running.pop(task)
            try:
                if task.result() is OutboxStatus.SENT:
                    delivered += 1
                if message.broadcast_id is not None:
                    await self._progress(message.broadcast_id)
            except Exception as error:  # the database went away: finish the rest first
                failure = failure or error

        try:
            # Claimed one by one as places free up: a message owed to a person meanwhile is
            # next, not behind a batch of announcements.
            while failure is None and not self.stopping:
                if len(running) >= MAX_CLAIMED * self.in_flight:  # all waiting for chats
                    done, _ = await asyncio.wait(running, return_when=asyncio.FIRST_COMPLETED)
                    for task in done:
                        await settled(task)
                    continue
                await window.acquire()
                try:
                    message = await self._claim()
                except Exception as error:
                    window.release()
                    failure = error
                    break
                if message is None:
                    window.release()
                    break
                place = Place(window)
                task = asyncio.create_task(self._deliver_in_turn(message, place=place))
                task.add_done_callback(place.done)
                running[task] = message
                for task in [t for t in running if t.done()]:
                    await settled(task)
            while running:
                done, _ = await asyncio.wait(running, return_when=asyncio.FIRST_COMPLETED)
                for task in done:
                    await settled(task)
        finally:
            # Stopped (cancelled): what is on its way is given up; its lease brings it back.
            for task in running:
                task.cancel()
            if running:
                await asyncio.gather(*running, return_exceptions=True)
        if failure is not None:
            raise failure
        return delivered

    async def _claim(self, user_id: int | None = None) -> OwedMessage | None:
        services = self.services
        below = None
        if self.budget.bulk_paused():
            # Telegram's flood limit was hit: meanwhile only what a person waits for.
            below = Priority.BULK if user_id is not None else Priority.NOTICE
        now, lease = services.now(), services.config.broadcast.lease

        def claim(session: Session) -> OwedMessage | None:
            return claim_next(session, now, self.name, lease, user_id=user_id, below=below)

        return await services.db.run_session(claim)

    def _round_chores(self, session: Session, now: datetime) -> None:
        release_stale_claims(session, now)
        self._plan_feedback(session, now)
        self._keep_reminders_quiet(session, now)

    async def _deliver_in_turn(
        self, message: OwedMessage, lane: Lane | None = None, place: Place | None = None
    ) -> OutboxStatus:
        """Deliver after the message to the same user claimed before it (a confirmation
        before its calendar file), however many are on their way at once."""
        previous = self.user_turns.get(message.user_id)
        turn: asyncio.Future[None] = asyncio.get_running_loop().create_future()
        self.user_turns[message.user_id] = turn
        try:
            if previous is not None:
                await asyncio.wait([previous])  # never cancels `previous`
            try:
                return await self._deliver(
                    message, lane_of(message) if lane is None else lane, place
                )
            except Exception:
                # The database went away before the outcome was written: unsent, the claim
                # is given back once it returns (not only when its lease runs out).
                if message.id not in self.handed_over:
                    self._hand_over(message.id, self._give_back_later(message.id))
                raise
        finally:
            turn.set_result(None)
            if self.user_turns.get(message.user_id) is turn:
                del self.user_turns[message.user_id]

    async def _record_unrecorded(self) -> None:
        """First what was sent while the database was away: recorded now, so that its lease
        running out does not send it again."""
        while self.unrecorded:
            await self.services.db.run(self.unrecorded[0])
            self.unrecorded.pop(0)
        self.handed_over.clear()

    def _hand_over(self, message_id: int, record: Callable[[], None]) -> None:
        self.handed_over.add(message_id)
        self.unrecorded.append(record)

    def _give_back_later(self, message_id: int) -> Callable[[], None]:
        services = self.services

        def record() -> None:
            with services.db.session() as session:
                give_back(session, message_id, self.name, services.now())

        return record

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
        plan_feedback_requests(session, now, feedback.after, self.services.config.quiet_hours)

    def _keep_reminders_quiet(self, session: Session, now: datetime) -> None:
        """Reminders that would fall in the quiet hours go the evening before (looked for
        at most once a minute, as feedback is planned)."""
        quiet = self.services.config.quiet_hours
        if quiet is None:
            return
        last = self.quiet_checked_at
        if last is not None and timedelta(0) <= now - last < FEEDBACK_SWEEP:
            return
        self.quiet_checked_at = now
        keep_reminders_out_of_quiet_hours(session, now, quiet)

    async def _feedback_wanted(self, message: OwedMessage, now: datetime) -> bool:
        """Decided at send time: present (or nobody checked in), still registered, the
        activity held, and feedback not switched off meanwhile."""
        if not self.services.config.feedback.enabled or message.registration_id is None:
            return False
        return await self.services.db.run_session(feedback_owed, message.registration_id, now)

    async def _deliver(
        self, message: OwedMessage, lane: Lane, place: Place | None = None
    ) -> OutboxStatus:
        services = self.services
        now = services.now()
        quiet = services.config.quiet_hours
        if (
            quiet is not None
            and message.kind in HELD_AT_NIGHT
            and not message.payload.get(NIGHT_ALLOWED)
            and quiet.contains(now)
        ):
            # Planned outside them, due in them (a retry, a broadcast still going at 21:00).
            return await services.db.run_session(
                retry_later, message, now, "quiet hours", quiet.release(now) - now
            )
        if message.kind in CALENDAR_FILES:
            after = await services.db.run_session(_calendar_file_wait, message, now)
            if after is not None:
                # The message it belongs to was retried: the file waits for it.
                return await services.db.run_session(
                    retry_later, message, now, "after its message", after
                )
        # Read only for what is sent now: a message held above needs none of it.
        user, registration, broadcast, signup_activity = await services.db.run_session(
            _what_to_render, message
        )
        language = (user.language if user else None) or services.catalogue.default
        context = MaoContext(self.application, chat_id=message.user_id, user_id=message.user_id)
        context.cached_language = language
        if message.kind is OutboxKind.FEEDBACK_REQUEST and not await self._feedback_wanted(
            message, now
        ):
            registration = None  # no longer owed: dropped below
        rendered = None
        if user is None or not (user.blocked and message.kind is OutboxKind.REMINDER):
            rendered = _render(
                message, registration, broadcast, user, context, now, signup_activity
            )
        if rendered is None:
            await services.db.run_session(
                settle, message.id, OutboxStatus.DROPPED, now, "no longer owed"
            )
            return OutboxStatus.DROPPED
        wait = self.budget.chat_wait(message.user_id)
        if wait > CHAT_WAIT_IN_PLACE_SECONDS:
            return await services.db.run_session(
                retry_later, message, now, "chat held back", timedelta(seconds=wait)
            )
        if wait > 0 and place is not None:
            # Nothing is on its way while the chat waits out its second: no reason to hold
            # a place in the window (and so no repeat after a crash).
            await place.step_out_for(wait)
        await self.budget.acquire(message.user_id, lane)
        return await self._send(message, rendered)

    async def _send(self, message: OwedMessage, rendered: Rendered) -> OutboxStatus:
        services = self.services
        bot = self.application.bot
        error_text = ""
        sent = None
        try:
            if rendered.erase is not None:
                await _erase_copy(bot, message.user_id, rendered.erase, rendered.text or "")
            elif rendered.document is not None:
                content, filename = rendered.document
                await bot.send_document(
                    message.user_id,
                    document=InputFile(content, filename=filename),
                    caption=rendered.text,
                    rate_limit_args=NO_LIMITER_RETRIES,
                )
            else:
                sent = await bot.send_message(
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
            self.budget.refused(message.user_id, wait)  # this chat waits, or bulk does
            return await services.db.run_session(
                retry_later, message, services.now(), "429", timedelta(seconds=wait)
            )
        except TimedOut:
            status = OutboxStatus.UNCONFIRMED
        except BadRequest as error:
            self.budget.failed(message.user_id)
            status, error_text = OutboxStatus.FAILED, error.message
            logger.warning("Owed %s message %s refused: %s", message.kind, message.id, error)
        except (NetworkError, TelegramError) as error:
            self.budget.failed(message.user_id)
            logger.info("Owed message %s not delivered yet: %s", message.id, type(error).__name__)
            return await services.db.run_session(
                retry_later, message, services.now(), type(error).__name__
            )

        def record() -> None:
            with services.db.session() as session:
                settle(session, message.id, status, services.now(), error_text)
                if status is OutboxStatus.BLOCKED:
                    set_flags(session, message.user_id, blocked=True)
                # Inbox copies: where each landed, and an answer the person could not receive.
                after_send(services, session, message, status, sent)

        try:
            await services.db.run(record)
        except Exception:
            # Telegram has it, the database is away: recorded later, never sent again.
            self._hand_over(message.id, record)
            raise
        return status

    # -- broadcasts: progress and the final report ----------------------------------------------

    async def _progress(self, broadcast_id: int) -> None:
        count = self.since_progress.get(broadcast_id, 0) + 1
        self.since_progress[broadcast_id] = count
        if count % self.services.config.broadcast.progress_every:
            return
        result = await self.services.db.run_session(broadcast_tally, broadcast_id)
        await self._show_status(broadcast_id, result, finished=False)

    async def finish_broadcasts(self) -> None:
        services = self.services
        ids = await services.db.run_session(unfinished_broadcasts)
        for broadcast_id in ids:
            result = await services.db.run_session(finish_if_done, broadcast_id, services.now())
            if result is not None:
                self.since_progress.pop(broadcast_id, None)
                logger.info("Broadcast %s done: %s", broadcast_id, result)
                await self._show_status(broadcast_id, result, finished=True)

    async def _show_status(self, broadcast_id: int, result: Tally, finished: bool) -> None:
        async with self.status_lock:
            await self._edit_status(broadcast_id, result, finished)

    async def _edit_status(self, broadcast_id: int, result: Tally, finished: bool) -> None:
        services = self.services
        info, organiser = await services.db.run_session(_broadcast_and_organiser, broadcast_id)
        if info is None or info.status_chat_id is None or info.status_message_id is None:
            return
        if not finished and info.status == BroadcastStatus.DONE:
            return  # the final report is shown: a late progress count must not replace it
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


def _calendar_file_wait(session: Session, message: OwedMessage, now: datetime) -> timedelta | None:
    """How long a calendar file waits for the message it belongs to (None: it may go)."""
    lead = lead_due_at(session, message)
    return None if lead is None else max(lead - now, LEAD_GAP)


def _what_to_render(
    session: Session, message: OwedMessage
) -> tuple[UserInfo | None, UserRegistration | None, BroadcastInfo | None, ActivityInfo | None]:
    """Everything a message's text is made from, read at once."""
    user = get_user(session, message.user_id)
    registration = (
        get_user_registration(session, message.registration_id, message.user_id)
        if message.registration_id is not None
        else None
    )
    broadcast = (
        get_broadcast(session, message.broadcast_id) if message.broadcast_id is not None else None
    )
    signup_activity = (
        get_activity_by_id(session, broadcast.signup_activity_id)
        if broadcast is not None and broadcast.signup_activity_id is not None
        else None
    )
    return user, registration, broadcast, signup_activity


def _broadcast_and_organiser(
    session: Session, broadcast_id: int
) -> tuple[BroadcastInfo | None, UserInfo | None]:
    info = get_broadcast(session, broadcast_id)
    return info, (get_user(session, info.created_by) if info else None)


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


async def _erase_copy(bot: Any, chat_id: int, message_id: int, replacement: str) -> None:
    """Delete the bot's own message; where Telegram refuses (in a group, after 48 hours)
    replace its text and drop its buttons. A message already gone is fine."""
    try:
        await bot.delete_message(chat_id, message_id, rate_limit_args=NO_LIMITER_RETRIES)
        return
    except BadRequest as error:
        if "not found" in error.message.lower():
            return
    try:
        await bot.edit_message_text(
            replacement,
            chat_id=chat_id,
            message_id=message_id,
            rate_limit_args=NO_LIMITER_RETRIES,
        )
    except BadRequest as error:
        if "not found" in error.message.lower() or "not modified" in error.message.lower():
            return
        raise


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
    if kind is OutboxKind.COPY_ERASED:
        copy = message.payload.get("copy")
        if not isinstance(copy, int):
            return None
        return Rendered(text=context.text("inbox_copy_erased"), erase=copy)
    if kind is OutboxKind.ERASURE_NOTICE:
        count = message.payload.get("count")
        return Rendered(text=context.text("inbox_erasure_notice", count=count or 0))
    if kind in INBOX_KINDS:
        copy = render_inbox(message, context, now)
        return Rendered(text=copy.text, markup=copy.markup) if copy is not None else None
    if kind is OutboxKind.BROADCAST:
        return _render_broadcast(broadcast, context, now, signup_activity)
    if registration is None:
        return None
    activity = registration.activity
    status = registration.status
    # The meeting link only for a seat (a move notice also reaches the waiting list).
    block = describe(
        activity, context, with_seats=False, with_link=status == RegistrationStatus.REGISTERED
    )
    title = activity.title(context.language)
    if kind is OutboxKind.ACTIVITY_CANCELLED:
        return Rendered(text=f"{context.text('notice_cancelled')}\n\n{block}")
    if kind is OutboxKind.CALENDAR_CANCEL:
        # Owed while the place stays given up (signed up again: the new file replaces it).
        if status != RegistrationStatus.CANCELLED or now >= activity.ends_at:
            return None
        document = calendar_file(
            activity,
            registration.registration_id,
            context,
            now,
            seat_changed_at=registration.updated_at,
            cancel=True,
        )
        return Rendered(text=context.text("calendar_cancel_caption"), document=document)
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
        text = context.text("signup_done", title=title)
        if activity.online_url:
            # The seat is what the link was kept back for (see core.activity_text.place).
            text += "\n\n" + context.text("signup_done_link", url=activity.online_url)
        return Rendered(text=text)
    if kind is OutboxKind.PROMOTED:
        return Rendered(text=f"{context.text('notice_promoted')}\n\n{block}")
    if kind is OutboxKind.CALENDAR:
        # Written now: a file owed after a move carries the new time and a higher SEQUENCE.
        document = calendar_file(
            activity,
            registration.registration_id,
            context,
            now,
            seat_changed_at=registration.registered_at,
        )
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
