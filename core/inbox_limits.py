"""How many inbox threads (questions handed over, stories, bottlenecks) one person may start:
`inbox.limits.per_hour` and `per_day`, so one account cannot flood the organisers' group.

Counted in this process's memory only, never in the database: an anonymous story or
bottleneck must not be linkable to its sender (storage/inbox.py stores no user id for it),
and a stored per-person count with times would link it again. The price: each instance
counts for itself (two instances let through at most twice the limit) and a restart starts
counting afresh. Only times are kept, for at most a day.
"""

from __future__ import annotations

from collections import deque
from datetime import datetime, timedelta

HOUR = timedelta(hours=1)
DAY = timedelta(days=1)


class InboxLimiter:
    def __init__(self) -> None:
        self._sent: dict[int, deque[datetime]] = {}

    def _recent(self, user_id: int, now: datetime) -> deque[datetime]:
        times = self._sent.get(user_id)
        if times is None:
            return deque()
        while times and times[0] <= now - DAY:
            times.popleft()
        if not times:
            del self._sent[user_id]
        return times

    def next_allowed(
        self, user_id: int, now: datetime, per_hour: int, per_day: int
    ) -> datetime | None:
        """None when `user_id` may start a thread now, else the moment they may again."""
        times = self._recent(user_id, now)
        last_hour = [t for t in times if t > now - HOUR]
        waits: list[datetime] = []
        if len(last_hour) >= per_hour:
            waits.append(last_hour[-per_hour] + HOUR)
        if len(times) >= per_day:
            waits.append(times[-per_day] + DAY)
        return max(waits) if waits else None

    def record(self, user_id: int, now: datetime) -> None:
        self._sent.setdefault(user_id, deque()).append(now)
        # Memory stays bounded however many people write: forget whoever is past the day.
        if len(self._sent) > 10_000:
            for stale in [u for u, times in self._sent.items() if times[-1] <= now - DAY]:
                del self._sent[stale]
