"""Charts for organisers: data in, a Figure (to inspect) or PNG bytes (to send) out.

The chart is read on a phone: one point per day, each date once on the x-axis, whole
numbers from 0 on the y-axis, big letters. With too little data a chart says nothing (an
empty plot, a y-axis from 0.95 to 1.05), so the organiser gets a sentence instead.

Rendering takes a few hundred milliseconds and holds the GIL most of that time: handlers
count the data (`chart_data`) and then draw it with `chart_png` in a process of their own
(core.apart). It draws on a Figure of its own (no pyplot, whose global state is not safe
across threads) with the Agg renderer.
"""

from __future__ import annotations

import io
import math
from collections import Counter
from collections.abc import Mapping
from dataclasses import dataclass, field
from datetime import date, datetime, timedelta, tzinfo
from typing import TYPE_CHECKING

if TYPE_CHECKING:  # matplotlib is imported when a chart is drawn, not at start
    from matplotlib.figure import Figure

PNG_SIGNATURE = b"\x89PNG\r\n\x1a\n"

# A chart from this many sign-ups on this many different days; fewer: a sentence.
MIN_SIGNUPS = 5
MIN_DAYS = 3
# Lines beyond a handful cannot be told apart on a phone: the activities with most sign-ups.
MAX_LINES = 5
MAX_DATE_TICKS = 7
LABEL_SHOWN = 32
# 960 x 720 pixels: sharp on a phone screen, under Telegram's 1,280-pixel photo size, and
# letters of 13-16 points stay readable when the photo is shown 360 points wide.
FIGURE_INCHES = (6.0, 4.5)
DPI = 160
TITLE_SIZE = 16
TEXT_SIZE = 13
LEGEND_SIZE = 11


@dataclass(frozen=True)
class SignupSeries:
    label: str
    moments: list[datetime] = field(default_factory=list)  # when each seat was taken
    # Or already counted per local day (storage.statistics.signups_per_day at scale).
    per_day: Mapping[date, int] | None = None

    def counted(self, zone: tzinfo) -> Counter[date]:
        if self.per_day is not None:
            return Counter({day: n for day, n in self.per_day.items() if n})
        return Counter(m.astimezone(zone).date() for m in self.moments)


@dataclass(frozen=True)
class ChartData:
    """Sign-ups per day, added up, per activity: what the chart shows."""

    days: list[date]  # every day from the first sign-up to the last one (or today)
    lines: list[tuple[str, list[int]]]  # (label, running total at the end of each day)
    signups: int  # of all the series, also those not drawn
    days_with_signups: int

    @property
    def enough(self) -> bool:
        return self.signups >= MIN_SIGNUPS and self.days_with_signups >= MIN_DAYS


@dataclass(frozen=True)
class ChartResult:
    data: ChartData
    png: bytes | None  # None: too few sign-ups for a chart (say `data` in a sentence)


def chart_data(series: list[SignupSeries], zone: tzinfo, today: date | None = None) -> ChartData:
    counted = [(item.label, item.counted(zone)) for item in series]
    per_series = [(label, counts) for label, counts in counted if counts]
    all_days = {day for _, counts in per_series for day in counts}
    signups = sum(sum(counts.values()) for _, counts in per_series)
    if not all_days:
        return ChartData([], [], 0, 0)
    first, last = min(all_days), max(all_days)
    if today is not None and today > last:
        last = today
    days = [first + timedelta(days=n) for n in range((last - first).days + 1)]
    busiest = sorted(per_series, key=lambda item: -sum(item[1].values()))[:MAX_LINES]
    lines = []
    for label, counts in busiest:
        running, totals = 0, []
        for day in days:
            running += counts.get(day, 0)
            totals.append(running)
        lines.append((_short(label), totals))
    return ChartData(days, lines, signups, len(all_days))


def _short(label: str) -> str:
    return label if len(label) <= LABEL_SHOWN else label[: LABEL_SHOWN - 1].rstrip() + "…"


def date_ticks(days: list[date]) -> tuple[list[int], list[str]]:
    """At most MAX_DATE_TICKS days, evenly spaced, each once ("14-12")."""
    step = max(1, math.ceil(len(days) / MAX_DATE_TICKS))
    positions = list(range(0, len(days), step))
    return positions, [f"{days[p]:%d-%m}" for p in positions]


def signups_figure(data: ChartData, title: str, y_label: str) -> Figure:
    """The chart, not yet drawn: its ticks and labels can be read as they will be shown."""
    from matplotlib.figure import Figure
    from matplotlib.ticker import MaxNLocator

    figure = Figure(figsize=FIGURE_INCHES, dpi=DPI)
    axes = figure.add_subplot()
    x = list(range(len(data.days)))
    for label, totals in data.lines:
        axes.plot(x, totals, drawstyle="steps-post", linewidth=2.5, label=label)
    axes.set_title(title, fontsize=TITLE_SIZE)
    axes.set_ylabel(y_label, fontsize=TEXT_SIZE)
    top = max((max(totals) for _, totals in data.lines), default=0)
    axes.set_ylim(0, max(1, top) * 1.08)
    axes.yaxis.set_major_locator(MaxNLocator(integer=True, nbins=6, min_n_ticks=2))
    positions, labels = date_ticks(data.days)
    axes.set_xticks(positions, labels)
    axes.set_xlim(-0.3, max(len(x) - 1, 1) + 0.3)
    axes.tick_params(labelsize=TEXT_SIZE)
    axes.grid(True, alpha=0.3)
    if data.lines:
        axes.legend(loc="upper left", fontsize=LEGEND_SIZE, framealpha=0.85)
    figure.tight_layout()
    return figure


def png_of(figure: Figure) -> bytes:
    buffer = io.BytesIO()
    figure.savefig(buffer, format="png")
    return buffer.getvalue()


def chart_png(data: ChartData, title: str, y_label: str) -> bytes:
    """The chart drawn (in a process of its own: core.apart)."""
    return png_of(signups_figure(data, title, y_label))


def signups_chart(
    series: list[SignupSeries],
    title: str,
    y_label: str,
    zone: tzinfo,
    today: date | None = None,
) -> ChartResult:
    """Cumulative sign-ups per day, one line per activity, or no chart when too few."""
    data = chart_data(series, zone, today)
    if not data.enough:
        return ChartResult(data, None)
    return ChartResult(data, chart_png(data, title, y_label))
