"""The counters of the flood guard (handlers/flood.py): updates per user per window, and
the unanswered questions a user may add per hour (read by the FAQ before it keeps one).
In this process's memory only, counted in real (monotonic) time."""

from __future__ import annotations

import math
import time
from collections import deque
from collections.abc import Callable, Hashable
from dataclasses import dataclass, field
from datetime import timedelta
from enum import Enum
from typing import Any

from telegram.ext import Application

from core.context import MaoContext
from core.settings import FloodConfig

GUARD_KEY = "flood"


HOUR = timedelta(hours=1)


# The table of keys is swept for idle ones when it has doubled since the last sweep.
SWEEP_MIN = 1024


Clock = Callable[[], float]


class Verdict(Enum):
    PASS = "pass"
    FIRST_REFUSAL = "first refusal"  # the first refused one of a burst: say so, once
    REFUSED = "refused"


@dataclass
class _Track:
    passed: deque[float]
    last_refused: float = -math.inf


@dataclass
class SlidingWindow:
    """At most `limit` events per `per` seconds per key, over a sliding window.

    Only events that pass are counted, so a sustained flood still gets `limit` per `per`
    through (and no more). A burst of refusals ends when nothing was refused for `per`
    seconds; only its first refusal is FIRST_REFUSAL. Memory stays small: at most `limit`
    times per key, and keys quiet for `per` seconds are swept out as new keys arrive.
    """

    limit: int
    per: float
    clock: Clock = time.monotonic
    _tracks: dict[Hashable, _Track] = field(default_factory=dict, init=False, repr=False)
    _sweep_at: int = field(default=SWEEP_MIN, init=False, repr=False)

    def check(self, key: Hashable) -> Verdict:
        now = self.clock()
        track = self._tracks.get(key)
        if track is None:
            self._sweep(now)
            track = self._tracks[key] = _Track(deque(maxlen=max(self.limit, 1)))
        passed = track.passed
        while passed and now - passed[0] >= self.per:
            passed.popleft()
        if len(passed) < self.limit:
            passed.append(now)
            return Verdict.PASS
        burst_over = now - track.last_refused >= self.per
        track.last_refused = now
        return Verdict.FIRST_REFUSAL if burst_over else Verdict.REFUSED

    def __len__(self) -> int:
        """Keys remembered now (for tests of the memory bound)."""
        return len(self._tracks)

    def _sweep(self, now: float) -> None:
        if len(self._tracks) < self._sweep_at:
            return
        for key in [key for key, track in self._tracks.items() if self._quiet(track, now)]:
            del self._tracks[key]
        self._sweep_at = max(SWEEP_MIN, 2 * len(self._tracks))

    def _quiet(self, track: _Track, now: float) -> bool:
        """Nothing passed or was refused for a whole window: a fresh start is the same."""
        latest = max(track.passed[-1] if track.passed else -math.inf, track.last_refused)
        return now - latest >= self.per


@dataclass
class FloodGuard:
    """This process's limits per user: updates per window, and stored FAQ misses per hour."""

    updates: SlidingWindow
    misses: SlidingWindow

    @classmethod
    def from_settings(cls, settings: FloodConfig, clock: Clock = time.monotonic) -> FloodGuard:
        return cls(
            updates=SlidingWindow(settings.updates, settings.per.total_seconds(), clock),
            misses=SlidingWindow(settings.misses_per_hour, HOUR.total_seconds(), clock),
        )


def guard_of(application: Application[Any, Any, Any, Any, Any, Any]) -> FloodGuard:
    guard = application.bot_data[GUARD_KEY]
    assert isinstance(guard, FloodGuard)
    return guard


def may_store_miss(context: MaoContext, user_id: int) -> bool:
    """Whether an unanswered question of this user may still be kept (counts it if so)."""
    return guard_of(context.application).misses.check(user_id) is Verdict.PASS
