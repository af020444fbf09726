"""Pacing: every call the bot makes to a chat, under Telegram's limits, in one place.

Telegram allows a bot about 30 messages a second overall, about one a second in one chat
(short bursts of replies pass), and 20 a minute in a group. One SendBudget per process holds
all three, for the handlers' replies (through RateLimiter, PTB's hook for every Bot API
call) and for the outbox (jobs/outbox.py) alike:

- replies and messages a person waits for (Lane.INTERACTIVE) take the next free slot;
  bulk (announcements, notices, reminders) takes the slots they leave;
- one chat gets a bulk message only a second after anything else it got, and a reply only
  a second after a bulk message: neither draws that chat's 429;
- a 429 holds back only what caused it: that chat (its own limit) or bulk sending (the
  bot's overall flood limit), never the replies to everyone else.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import time
from collections import Counter
from collections.abc import Awaitable, Callable, Coroutine
from datetime import timedelta
from enum import IntEnum
from typing import Any

from aiolimiter import AsyncLimiter
from telegram.error import RetryAfter
from telegram.ext import Application, BaseRateLimiter

from core.context import services_of
from core.services import Services
from storage.outbox import OwedMessage, Priority, priority_of

logger = logging.getLogger(__name__)

# The outbox has already spent from the budget for this call and reschedules a refused
# message itself: RateLimiter passes such a call straight through (PTB's own limiter would
# wait out a 429 and hold every other call meanwhile).
NO_LIMITER_RETRIES = -1
BUDGET_KEY = "send_budget"
# Sends are spaced this much wider than `broadcast.messages_per_second` asks: network delays
# vary, so messages sent evenly at exactly Telegram's rate arrive bunched up and draw 429s.
HEADROOM = 0.95
# Telegram allows a chat about one message a second; a little more, for the same reason.
CHAT_GAP_SECONDS = 1.1
# Telegram's limit for a group chat (the bot writes to the organisers' group, and answers in
# groups only when addressed).
GROUP_MESSAGES_PER_MINUTE = 20
# Groups whose limiter is kept before idle ones are forgotten.
GROUPS_KEPT = 512
# A chat held back longer than this (a 429's retry_after) gets its owed message rescheduled
# rather than waited for: the claim's lease must not run out while it waits.
CHAT_WAIT_IN_PLACE_SECONDS = 3.0
# Per-chat bookkeeping is dropped once this old (it only matters for about a second).
FORGET_AFTER_SECONDS = 10.0

AnyApplication = Application[Any, Any, Any, Any, Any, Any]


class Lane(IntEnum):
    """Who waits for a send: a person (a reply, a PERSONAL owed message) or nobody (bulk)."""

    INTERACTIVE = 0
    BULK = 1


def lane_of(message: OwedMessage) -> Lane:
    return Lane.INTERACTIVE if priority_of(message.kind) is Priority.PERSONAL else Lane.BULK


def seconds(value: int | float | timedelta) -> float:
    return value.total_seconds() if isinstance(value, timedelta) else float(value)


class SendBudget:
    """Telegram's ~30 messages a second, shared by every call the bot makes to a chat, and
    each chat's own limit.

    Sends are spaced evenly (bursts are what draw 429s). An interactive send takes the next
    free slot at once; a bulk send takes a slot only when its time has come and nobody took
    it, so bulk gets what interactive sends leave and a reply never queues behind a
    broadcast.

    Per chat: a bulk message waits `chat_gap` after anything the chat got (a reply
    included: a broadcast must not spend the second a person's answer needs), and a reply
    waits `chat_gap` after a bulk message. Replies may follow each other, as Telegram allows
    a private chat short bursts (a confirmation after "Gelukt"). A group gets 20 a minute.

    A 429 slows down only what caused it: for a chat that just had a message it holds that
    chat (`retry_after`); otherwise it is the bot's overall flood limit, and it pauses bulk
    sending, not replies."""

    def __init__(
        self,
        per_second: float,
        *,
        chat_gap: float = CHAT_GAP_SECONDS,
        headroom: float = HEADROOM,
        group_per_minute: float = GROUP_MESSAGES_PER_MINUTE,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        self.interval = 1.0 / (per_second * headroom)
        self.chat_gap = chat_gap
        self.group_per_minute = group_per_minute
        self.clock = clock
        self.next_free = 0.0  # when the next unreserved slot comes
        self.bulk_paused_until = 0.0
        self.last_sent: dict[int, float] = {}  # chat -> its latest send
        self.before_last: dict[int, float] = {}  # chat -> the send before that
        self.held_until: dict[int, float] = {}  # chat -> nothing before (a 429)
        self.bulk_sent: dict[int, float] = {}  # chat -> its latest bulk message
        self.refusals: Counter[str] = Counter()  # "chat" and "flood" 429s seen
        self._groups: dict[int, AsyncLimiter] = {}
        self._bulk_turn = asyncio.Lock()
        self._forgotten_at = 0.0

    def bulk_paused(self) -> bool:
        return self.clock() < self.bulk_paused_until

    async def acquire(self, chat_id: int | None, lane: Lane) -> None:
        """Wait for this send's turn (`chat_id` None: a call to no chat, e.g. a button's
        answer, still spends a slot)."""
        if chat_id is not None and chat_id < 0:
            await self._group_limiter(chat_id).acquire()
        if lane is Lane.INTERACTIVE:
            await self._interactive(chat_id)
        else:
            await self._bulk(chat_id)

    def chat_wait(self, chat_id: int | None, lane: Lane = Lane.BULK) -> float:
        """Seconds until this chat may have a message in `lane` (0: now)."""
        if chat_id is None:
            return 0.0
        # A bulk message waits for the chat's latest send of any kind; a reply only for a
        # bulk one (replies in a conversation may follow each other).
        latest = self.last_sent if lane is Lane.BULK else self.bulk_sent
        ready = max(
            self.held_until.get(chat_id, 0.0),
            latest.get(chat_id, -self.chat_gap) + self.chat_gap,
        )
        return max(0.0, ready - self.clock())

    def _group_limiter(self, group: int) -> AsyncLimiter:
        if len(self._groups) > GROUPS_KEPT:
            for key, limiter in list(self._groups.items()):
                if key != group and limiter.has_capacity(limiter.max_rate):
                    del self._groups[key]
        if group not in self._groups:
            self._groups[group] = AsyncLimiter(self.group_per_minute, 60)
        return self._groups[group]

    async def _interactive(self, chat_id: int | None) -> None:
        held = self.chat_wait(chat_id, Lane.INTERACTIVE)
        if held > 0:
            # The chat just had a bulk message (or a 429): its slot, not a refusal.
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
                    # The chat had a message meanwhile (a reply, or another of this person's
                    # in the window): wait for it outside the queue, so nobody else waits.
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
    """The budget shared with RateLimiter; one of its own if the bot has another limiter."""
    budget = getattr(application.bot.rate_limiter, "budget", None)
    if isinstance(budget, SendBudget):
        return budget
    budget = application.bot_data.get(BUDGET_KEY)
    if not isinstance(budget, SendBudget):
        budget = application.bot_data[BUDGET_KEY] = budget_for(services_of(application))
    return budget


def budget_for(services: Services) -> SendBudget:
    broadcast = services.config.broadcast
    return SendBudget(broadcast.messages_per_second, chat_gap=broadcast.chat_gap.total_seconds())


class Place:
    """A message's place in the outbox round's window of `in_flight` messages on their way."""

    def __init__(self, window: asyncio.Semaphore) -> None:
        self.window = window
        self.held = True

    async def step_out_for(self, wait: float) -> None:
        """Leave the window while waiting, then queue for a place again."""
        await self.step_out_until(asyncio.sleep(wait))

    async def step_out_until(self, waiting: Awaitable[object]) -> None:
        """Leave the window until `waiting` is over (the chat's second, or the person's
        answer still being written), then queue for a place again."""
        self.give_up()
        await waiting
        await self.window.acquire()
        self.held = True

    def done(self, _task: object) -> None:
        self.give_up()

    def give_up(self) -> None:
        if self.held:
            self.held = False
            self.window.release()


class RateLimiter(BaseRateLimiter[int]):
    """PTB's hook for every Bot API call: a call to a chat spends from the SendBudget as an
    interactive send (a handler's reply goes before bulk sending).

    A 429 holds back only the call that drew it (retried after retry_after, up to
    `max_retries` times, or `rate_limit_args` if given) and, through the budget, that chat
    or bulk sending; never every other call, as PTB's AIORateLimiter does. Calls marked
    NO_LIMITER_RETRIES come from the outbox, which spent from the budget already and
    reschedules a refused message itself."""

    def __init__(self, budget: SendBudget, max_retries: int = 5) -> None:
        self.budget = budget
        self.max_retries = max_retries

    async def initialize(self) -> None:
        """Nothing to set up."""

    async def shutdown(self) -> None:
        """Nothing to release."""

    async def process_request(
        self,
        callback: Callable[..., Coroutine[Any, Any, Any]],
        args: Any,
        kwargs: dict[str, Any],
        endpoint: str,
        data: dict[str, Any],
        rate_limit_args: int | None,
    ) -> Any:
        if rate_limit_args == NO_LIMITER_RETRIES:
            return await callback(*args, **kwargs)
        retries = rate_limit_args or self.max_retries
        raw_chat = data.get("chat_id")
        chat: int | None = None
        with contextlib.suppress(ValueError, TypeError):
            chat = int(raw_chat)  # type: ignore[arg-type]
        # A channel's @username: no chat of ours to pace, but it still spends a slot.
        aimed = chat is not None or isinstance(raw_chat, str)
        for attempt in range(retries + 1):
            if aimed:
                await self.budget.acquire(chat, Lane.INTERACTIVE)
            try:
                return await callback(*args, **kwargs)
            except RetryAfter as error:
                wait = seconds(error.retry_after)
                self.budget.refused(chat, wait)
                if attempt == retries:
                    raise
                logger.info("429 for one call: retried after %.1f s", wait)
            await asyncio.sleep(wait + 0.1)  # only this call waits
        raise AssertionError("unreachable")
