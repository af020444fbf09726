"""Updates of different users at the same time, each user's strictly one after the other.

PTB processes updates one at a time by default, so one user who sends hundreds of messages
makes everyone else wait for all of them. `PerUserUpdateProcessor` runs the updates of
different users concurrently (up to a bound), while every user's own updates wait for the
previous one to finish. That keeps what PTB's ConversationHandler relies on ("updates of
one conversation are processed one by one"): a conversation is keyed by chat and user, and
the sign-up draft lives in user_data, so per-user order is all they need. Persistence is
safe too: PTB serialises `update_persistence` itself, and SqlPersistence reads nothing back
per update (`refresh_user_data` does nothing).
"""

from __future__ import annotations

import asyncio
import contextlib
import inspect
from collections.abc import Awaitable
from dataclasses import dataclass, field
from typing import Any

from telegram import Update
from telegram.ext import BaseUpdateProcessor

# PTB takes its own semaphore *before* `do_process_update`, so a slot would be held by an
# update that is only waiting for its user's previous one: one busy user could fill every
# slot and stall everyone again. PTB's bound is therefore only a backstop on updates in
# flight (waiting or running); the real bound is taken once it is an update's turn.
IN_FLIGHT_BACKSTOP = 100_000


@dataclass
class _Lane:
    """One user's (or chat's) queue: the lock is FIFO, `pending` counts who holds or waits."""

    lock: asyncio.Lock = field(default_factory=asyncio.Lock)
    pending: int = 0


def lane_key(update: object) -> int | None:
    """Whose turn an update waits for: its user, else its chat, else nobody's."""
    if not isinstance(update, Update):
        return None
    if update.effective_user is not None:
        return update.effective_user.id
    if update.effective_chat is not None:
        return update.effective_chat.id
    return None


class PerUserUpdateProcessor(BaseUpdateProcessor):
    """At most `max_running` updates at once; one user's updates in the order they came."""

    def __init__(self, max_running: int = 64) -> None:
        if max_running < 1:
            raise ValueError("max_running must be at least 1")
        super().__init__(max_concurrent_updates=IN_FLIGHT_BACKSTOP)
        self.max_running = max_running
        self._running = asyncio.Semaphore(max_running)
        # Only users with an update in flight have a lane: removed as soon as it is idle.
        self._lanes: dict[int, _Lane] = {}

    @property
    def busy_lanes(self) -> int:
        return len(self._lanes)

    async def do_process_update(self, update: object, coroutine: Awaitable[Any]) -> None:
        key = lane_key(update)
        lane = self._enter(key)
        started = False
        try:
            # Called in arrival order (PTB starts one task per update, in order, and nothing
            # before this line waits), and asyncio.Lock wakes its waiters first come, first
            # served: so one user's updates run in the order they came.
            # The user's turn first, then a running slot: waiting never holds a slot.
            turn = lane.lock if lane is not None else contextlib.nullcontext()
            async with turn, self._running:
                started = True
                await coroutine
        finally:
            self._leave(key, lane)
            if not started and inspect.iscoroutine(coroutine):
                coroutine.close()  # cancelled while waiting (shutdown): it never ran

    def _enter(self, key: int | None) -> _Lane | None:
        if key is None:
            return None
        lane = self._lanes.get(key)
        if lane is None:
            lane = self._lanes[key] = _Lane()
        lane.pending += 1
        return lane

    def _leave(self, key: int | None, lane: _Lane | None) -> None:
        if key is None or lane is None:
            return
        lane.pending -= 1
        if lane.pending == 0:
            del self._lanes[key]

    async def initialize(self) -> None:
        """Nothing to set up: lanes appear with the first update of a user."""

    async def shutdown(self) -> None:
        """Nothing to free: PTB waits for the updates in flight before shutting down."""
