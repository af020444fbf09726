"""Sending what the bot owes: the delivery outbox (storage/outbox.py).

One sender runs per bot process. It claims the most urgent due message with a lease, writes
it out in the recipient's language at the moment of sending (so a cancelled seat, a moved
activity or a switched-off reminder is respected), sends it, and records the outcome. It
keeps up to `broadcast.in_flight` messages on their way at once, each claimed, sent and
settled on its own (a call to Telegram takes 50-100 ms: one at a time could not keep
Telegram's pace), and one user's messages always one after the other, in order.

The cost of that window: a crash may repeat up to `in_flight` messages (sent, but not yet
recorded as sent), plus one for each person being answered at that moment (`answering`);
their leases run out and they go again. Nothing is lost. A database that goes away does
not cost repeats: outcomes Telegram confirmed meanwhile are recorded once it is back.

Pace (jobs/pacing.py): every call to a chat, the handlers' replies included, spends from
one SendBudget under Telegram's ~30/s and each chat's ~1/s. Replies and PERSONAL messages go
first; notices, reminders and announcements take what is left. A 429 holds back only its
chat, or (Telegram's flood limit) bulk sending.

Outcomes:
- sent only after Telegram confirmed;
- network errors, 5xx and 429 are tried again later, with backoff, until the deadline that
  fits the message (a reminder until the activity starts, an offer until it lapses);
- a timeout is "unconfirmed": Telegram may well have delivered it, so it is not repeated;
- 403 means the user blocked the bot.

Handlers write the owed message in the transaction of the change (storage.outbox.owe) and do
nothing more: the commit wakes the sender (storage.db's `when_owed`), and the person whose
update caused it hears right after the update's own answer (`answering`, around every
update); whatever fails is picked up by the background loop.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import os
import socket
import uuid
from collections.abc import AsyncIterator, Callable
from contextvars import ContextVar
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from typing import Any

from sqlalchemy.orm import Session
from telegram import InputFile
from telegram.error import BadRequest, Forbidden, NetworkError, RetryAfter, TelegramError, TimedOut
from telegram.ext import Application

from core.context import MaoContext, services_of
from core.services import Services
from jobs import owed_kinds
from jobs.owed_kinds import Held, Rendered, registered_sweeps
from jobs.pacing import (
    CHAT_WAIT_IN_PLACE_SECONDS,
    NO_LIMITER_RETRIES,
    Lane,
    Place,
    budget_of,
    lane_of,
    seconds,
)
from storage.outbox import (
    NIGHT_ALLOWED,
    OutboxKind,
    OutboxStatus,
    OwedMessage,
    Priority,
    claim_next,
    give_back,
    release_stale_claims,
    retry_later,
    settle,
)
from storage.users import set_flags

logger = logging.getLogger(__name__)
SENDER_KEY = "outbox_sender"
POLL_SECONDS = 1.0
OUTAGE_PAUSE_SECONDS = 2.0
# Claimed messages per place in the window, counting those that wait for their chat's turn.
MAX_CLAIMED = 16
# How long stopping waits for the messages on their way.
STOP_GRACE_SECONDS = 5.0

AnyApplication = Application[Any, Any, Any, Any, Any, Any]


# Owed to more people than this by one update (a cancellation to everyone signed up): the
# round sends them, paced as bulk. Up to this many (a sign-up: the person and whoever moved
# up; an answer relayed to a parent) hear before the update counts as answered.
ANSWERED_AT_ONCE = 5


@dataclass
class Answering:
    """One update being answered: whom the commits made for it owed messages to."""

    user_id: int | None
    owed_to: set[int] = field(default_factory=set)
    many: bool = False
    open: bool = True

    def owe(self, recipients: frozenset[int], many: bool) -> None:
        self.owed_to |= recipients
        self.many = self.many or many

    def hear_at_once(self) -> set[int]:
        """Who gets their messages at the end of the update, in the reply lane."""
        if self.many or len(self.owed_to) > ANSWERED_AT_ONCE:
            return self.owed_to & {self.user_id} if self.user_id is not None else set()
        return set(self.owed_to)


# Set around each update (OutboxSender.answering): a commit made for it, also on a thread of
# the database seam (which runs in the caller's context), finds the update here.
ANSWERING: ContextVar[Answering | None] = ContextVar("mao_answering", default=None)


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
        self.swept_at: dict[str, datetime] = {}  # each registered sweep's last run
        self.loop: asyncio.AbstractEventLoop | None = None
        self._unhook: Callable[[], None] | None = None

    # -- running ------------------------------------------------------------------------------

    def start(self) -> None:
        self._listen_for_commits()
        if self.task is None:
            self.stopping = False
            self.task = asyncio.create_task(self._loop(), name="outbox")

    async def stop(self) -> None:
        if self._unhook is not None:
            self._unhook()
            self._unhook = None
        task, self.task = self.task, None
        if task is None:
            return
        # No new claims; what is on its way may arrive and be recorded first (cut off
        # mid-call, it would be sent again once its lease ran out).
        self.stopping = True
        with contextlib.suppress(TimeoutError):
            async with asyncio.timeout(STOP_GRACE_SECONDS):
                await self._between_rounds()
        task.cancel()
        with contextlib.suppress(asyncio.CancelledError):
            await task

    async def _between_rounds(self) -> None:
        async with self.lock:
            pass

    def kick(self) -> None:
        """Look now rather than at the next poll (a commit that owes messages does this by
        itself: `_owed_committed`)."""
        self.wake.set()

    # -- waking on commit, and the person being answered ----------------------------------------

    def _listen_for_commits(self) -> None:
        if self._unhook is None:
            self.loop = asyncio.get_running_loop()
            self._unhook = self.services.db.when_owed(self._owed_committed)

    def _owed_committed(self, recipients: frozenset[int], many: bool) -> None:
        """A transaction that wrote outbox rows committed (on a thread of the database seam,
        or on the event loop): the round looks now, and the update it was part of, if any,
        notes whom it owes."""
        answering = ANSWERING.get()
        if answering is not None and answering.open:
            # Before the seam hands the commit's result back: the update reads it only later.
            answering.owe(recipients, many)
            if answering.hear_at_once() == answering.owed_to:
                # Sent when the update ends, in order; the round claiming them meanwhile
                # could put a calendar file before its confirmation.
                return
        self._wake_soon()

    def _wake_soon(self) -> None:
        """Thread-safe `kick`."""
        loop = self.loop
        if loop is not None and not loop.is_closed():
            with contextlib.suppress(RuntimeError):  # closing: the next start looks anyway
                loop.call_soon_threadsafe(self.wake.set)

    @contextlib.asynccontextmanager
    async def answering(self, user_id: int | None) -> AsyncIterator[Answering]:
        """Around one update from `user_id` (bot.app): what is owed to them meanwhile waits
        until the update's own answer is out, then follows at once, in the reply lane, with
        what the update owed a few others (an answer relayed to a parent); only then is the
        update done. A message the round claimed for them waits for the same turn."""
        self._listen_for_commits()
        answering = Answering(user_id)
        token = ANSWERING.set(answering)
        release = self._hold_turn(user_id) if user_id is not None else None
        try:
            yield answering
        finally:
            ANSWERING.reset(token)
            answering.open = False
            if release is not None:
                release()
        await asyncio.gather(
            *(self._deliver_at_once(person) for person in sorted(answering.hear_at_once()))
        )
        if answering.owed_to or answering.many:
            self.kick()  # whatever was not theirs to send (a freed seat's offer due later)

    def _hold_turn(self, user_id: int) -> Callable[[], None]:
        """Take the user's turn (after whatever is on its way to them); the returned call
        gives it up."""
        previous = self.user_turns.get(user_id)
        turn: asyncio.Future[None] = asyncio.get_running_loop().create_future()
        self.user_turns[user_id] = turn

        def finish(_previous: object = None) -> None:
            if not turn.done():
                turn.set_result(None)
            if self.user_turns.get(user_id) is turn:
                del self.user_turns[user_id]

        def release() -> None:
            if previous is None or previous.done():
                finish()
            else:
                previous.add_done_callback(finish)

        return release

    async def _deliver_at_once(self, user_id: int) -> None:
        """The change that owed it is committed already: a failure here must never become
        an error for the user, so it is logged and left to the round."""
        try:
            await self.deliver_due(user_id)
        except Exception as error:
            logger.warning("Immediate delivery deferred: %s", type(error).__name__)

    async def _loop(self) -> None:
        while not self.stopping:
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
            # asyncio.timeout, not wait_for: on Python 3.11 wait_for swallows a cancellation
            # that arrives as the wait ends (a commit's wake during stop), and the loop would
            # never stop.
            with contextlib.suppress(TimeoutError):
                async with asyncio.timeout(POLL_SECONDS):
                    await self.wake.wait()

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
        for sweep in registered_sweeps():
            last = self.swept_at.get(sweep.name)
            if last is not None and timedelta(0) <= now - last < sweep.every:
                continue
            self.swept_at[sweep.name] = now
            sweep.run(session, self.services, now)

    async def _deliver_in_turn(
        self, message: OwedMessage, lane: Lane | None = None, place: Place | None = None
    ) -> OutboxStatus:
        """Deliver after the message to the same user claimed before it (a confirmation
        before its calendar file), however many are on their way at once."""
        previous = self.user_turns.get(message.user_id)
        turn: asyncio.Future[None] = asyncio.get_running_loop().create_future()
        self.user_turns[message.user_id] = turn
        try:
            if previous is not None and not previous.done():
                # Never cancels `previous`. Waiting (an answer still being written) holds no
                # place in the window.
                waiting = asyncio.wait([previous])
                await (place.step_out_until(waiting) if place is not None else waiting)
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
        wait = self.budget.chat_wait(message.user_id, lane)
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
            wait = seconds(error.retry_after)
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


def outbox_of(application: AnyApplication) -> OutboxSender:
    sender = application.bot_data.get(SENDER_KEY)
    if sender is None:
        sender = application.bot_data[SENDER_KEY] = OutboxSender(application)
    assert isinstance(sender, OutboxSender)
    return sender
