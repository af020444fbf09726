"""Sending what the bot owes: the delivery outbox (storage/outbox.py).

One sender runs per bot process. It claims the most urgent due message with a lease, reads
what it is made from (one read), writes it out in the recipient's language at the moment
of sending (so a cancelled seat, a moved activity or a switched-off reminder is respected),
sends it, and records the outcome.

What a message says, its priority and deadline, and what follows sending it are declared by
the feature that owes it (handlers/*_owed.py, registered in bot/app.py): this engine knows
kinds only through that registry (jobs/owed_kinds.py). It
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
from datetime import datetime, timedelta
from enum import IntEnum
from typing import Any

from sqlalchemy.orm import Session
from telegram import InputFile
from telegram.error import BadRequest, Forbidden, NetworkError, RetryAfter, TelegramError, TimedOut
from telegram.ext import Application

from core.context import MaoContext, services_of
from core.services import Services
from jobs import owed_kinds
from jobs.owed_kinds import Held, Rendered
from storage.outbox import (
    NIGHT_ALLOWED,
    OutboxKind,
    OutboxStatus,
    OwedMessage,
    Priority,
    claim_next,
    give_back,
    keep_reminders_out_of_quiet_hours,
    plan_feedback_requests,
    priority_of,
    release_stale_claims,
    retry_later,
    settle,
)
from storage.users import set_flags

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
# How long stopping waits for the messages on their way.
STOP_GRACE_SECONDS = 5.0
# Per-chat bookkeeping is dropped once this old (it only matters for about a second).
FORGET_AFTER_SECONDS = 10.0

AnyApplication = Application[Any, Any, Any, Any, Any, Any]


class Lane(IntEnum):
    """Who waits for a send: a person (a reply, a PERSONAL owed message) or nobody (bulk)."""

    INTERACTIVE = 0
    BULK = 1


def lane_of(message: OwedMessage) -> Lane:
    return Lane.INTERACTIVE if priority_of(message.kind) is Priority.PERSONAL else Lane.BULK


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
        # What kinds ask beyond their messages (a broadcast's progress report).
        self.follow_ups = owed_kinds.follow_ups(application)
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
                await self.after_round()
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
            await self._follow_up(message)
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
                await self._follow_up(message)
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

    async def _deliver(
        self, message: OwedMessage, lane: Lane, place: Place | None = None
    ) -> OutboxStatus:
        services = self.services
        now = services.now()
        quiet = services.config.quiet_hours
        kind = owed_kinds.owed_kind(message.kind)
        if (
            quiet is not None
            and kind.held_at_night
            and not message.payload.get(NIGHT_ALLOWED)
            and quiet.contains(now)
        ):
            # Planned outside them, due in them (a retry, a broadcast still going at 21:00).
            return await services.db.run_session(
                retry_later, message, now, "quiet hours", quiet.release(now) - now
            )
        # Everything the message is made from, in one read; rendering reads nothing.
        loaded = await services.db.run_reading(owed_kinds.load, message, services, now)
        if isinstance(loaded, Held):
            # The message it belongs to was retried: this one waits for it.
            return await services.db.run_session(
                retry_later, message, now, "after its message", loaded.wait
            )
        rendered = None
        if loaded is not None:
            context = MaoContext(
                self.application, chat_id=message.user_id, user_id=message.user_id
            )
            context.cached_language = loaded.language or services.catalogue.default
            rendered = owed_kinds.render(loaded, context)
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
                # The kind's own step (an inbox copy: where it landed; an answer the person
                # could not receive).
                owed_kinds.after_send(services, session, message, status, sent)

        try:
            await services.db.run(record)
        except Exception:
            # Telegram has it, the database is away: recorded later, never sent again.
            self._hand_over(message.id, record)
            raise
        return status

    # -- what kinds ask beyond their messages ---------------------------------------------------

    async def _follow_up(self, message: OwedMessage) -> None:
        follow_up = self.follow_ups.get(message.kind)
        if follow_up is not None:
            await follow_up.settled(message)

    async def after_round(self) -> None:
        """Every due message was looked at: the kinds' follow-ups (a broadcast's report)."""
        for follow_up in {id(f): f for f in self.follow_ups.values()}.values():
            await follow_up.after_round()


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
