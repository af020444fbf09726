"""Charts for organisers: data in, PNG bytes out (matplotlib's Agg backend, no display).

Rendering takes a few hundred milliseconds: handlers call it with asyncio.to_thread, off
the event loop."""

from __future__ import annotations

import io
from dataclasses import dataclass
from datetime import datetime, tzinfo

PNG_SIGNATURE = b"\x89PNG\r\n\x1a\n"


@dataclass(frozen=True)
class SignupSeries:
    label: str
    moments: list[datetime]  # when each seat was taken, in order


def signups_chart(series: list[SignupSeries], title: str, zone: tzinfo) -> bytes:
    """Cumulative sign-ups over time, one step line per activity."""
    # Imported here, not at start: matplotlib costs a third of a second and tens of
    # megabytes, for a chart an organiser asks for now and then.
    import matplotlib

    matplotlib.use("Agg")  # before pyplot: a server has no display
    import matplotlib.dates as mdates
    import matplotlib.pyplot as plt
    from matplotlib.ticker import MaxNLocator

    figure, axes = plt.subplots(figsize=(8, 4.5), dpi=100)
    try:
        for item in series:
            if not item.moments:
                continue
            # matplotlib's own day numbers: its type hints do not take datetimes.
            days = [
                float(mdates.date2num(m.astimezone(zone)))  # type: ignore[no-untyped-call]
                for m in sorted(item.moments)
            ]
            counts = list(range(1, len(days) + 1))
            axes.step(days, counts, where="post", label=item.label[:40])
        axes.set_title(title)
        axes.yaxis.set_major_locator(MaxNLocator(integer=True))
        axes.xaxis.set_major_formatter(
            mdates.DateFormatter("%d-%m", tz=zone)  # type: ignore[no-untyped-call]
        )
        axes.grid(True, alpha=0.3)
        if axes.get_legend_handles_labels()[0]:
            axes.legend(loc="upper left", fontsize="small")
        figure.tight_layout()
        buffer = io.BytesIO()
        figure.savefig(buffer, format="png")
        return buffer.getvalue()
    finally:
        plt.close(figure)
