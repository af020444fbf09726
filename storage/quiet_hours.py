"""Quiet hours: at night (by default 21:00-08:00, local time) nobody gets an announcement or
a feedback question; a reminder that would fall then is sent the evening before instead.

Personal replies, confirmations, seat offers and an online activity's meeting link are never
held: someone waits for them, or needs them at that very moment.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date, datetime, time, timedelta, tzinfo

# A reminder that falls in the quiet hours goes this long before they begin (20:00 with the
# default 21:00): early enough in the evening to be read, not at the last minute.
EVENING_MARGIN = timedelta(hours=1)


@dataclass(frozen=True)
class QuietHours:
    start: time  # local time; a window that ends before it starts spans midnight
    end: time
    zone: tzinfo

    def _beginning_on(self, day: date) -> tuple[datetime, datetime]:
        """The quiet window that begins on `day` (start, end; aware, local)."""
        end_day = day if self.start < self.end else day + timedelta(days=1)
        return (
            datetime.combine(day, self.start, self.zone),
            datetime.combine(end_day, self.end, self.zone),
        )

    def window(self, moment: datetime) -> tuple[datetime, datetime] | None:
        """The quiet window that holds `moment` (start, end; aware, local), or None."""
        local = moment.astimezone(self.zone)
        for days_back in (0, 1):
            start, end = self._beginning_on(local.date() - timedelta(days=days_back))
            if start <= local < end:
                return start, end
        return None

    def windows(self, since: datetime, until: datetime) -> list[tuple[datetime, datetime]]:
        """Every quiet window that overlaps [since, until)."""
        found = []
        day = since.astimezone(self.zone).date() - timedelta(days=1)
        last = until.astimezone(self.zone).date()
        while day <= last:
            start, end = self._beginning_on(day)
            if start < until and end > since:
                found.append((start, end))
            day += timedelta(days=1)
        return found

    def contains(self, moment: datetime) -> bool:
        return self.window(moment) is not None

    def release(self, moment: datetime) -> datetime:
        """`moment`, or the end of the quiet window it falls in (when bulk messages go)."""
        window = self.window(moment)
        return moment if window is None else window[1]

    def reminder_moment(
        self, planned: datetime, signed_up: datetime, now: datetime, starts_at: datetime
    ) -> datetime:
        """When a reminder planned for `planned` goes: outside quiet hours as planned; inside
        them the evening before they began (EVENING_MARGIN before), but never before the seat
        was taken (nor in the past: then at once, if that is still before the quiet hours).
        Failing that, when they end, if that is before the activity starts; else as planned."""
        window = self.window(planned)
        if window is None:
            return planned
        start, end = window
        earliest = max(signed_up, now)
        evening = start - EVENING_MARGIN
        if evening >= earliest:
            return evening
        if earliest < start:
            return earliest
        return end if end < starts_at else planned
