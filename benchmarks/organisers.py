"""Organisers' commands at 100,000 users and 200,000 registrations: how long each stops the
bot's event loop, beside the loop's lag while idle and while users ask FAQ questions.

The real `mao-bot run` (benchmarks/probed_run.py, its probe measuring the loop's lateness
every PROBE_WINDOW seconds) on the scale database, against the Bot API stand-in: /cijfers
(its text, then its chart), /deelnemers for an activity of 2,000 people (200 of them
waiting), and an announcement to everyone (95,000 recipients) from /omroep to the last row
written. Then the bot's RSS.
"""

from __future__ import annotations

import asyncio
import sqlite3
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from benchmarks import dataset
from benchmarks.harness import BotProcess, Row, TimedStandIn, running_standin, user, write_config
from core import callbacks
from storage.vocabulary import Recipients

ORGANISER = 4242
PROBE_WINDOW = 0.1
TICK = 0.01  # benchmarks/probed_run.py's
GOAL_LAG = 0.100
GOAL_RSS = 200.0
ANNOUNCEMENT = "Benchmark: een aankondiging voor iedereen."


@dataclass(frozen=True)
class Interval:
    """A stretch of wall-clock time (time.time()) during which something happened."""

    start: float
    end: float


class Probe:
    """The lag lines the bot's probe wrote: per window, its worst lag and when the tick
    that was that late began (wall-clock)."""

    def __init__(self, path: Path) -> None:
        self.path = path

    def stalls(self) -> list[Interval]:
        if not self.path.exists():
            return []
        result = []
        for line in self.path.read_text().splitlines():
            _, lag, began = (float(field) for field in line.split())
            result.append(Interval(began, began + TICK + lag))
        return result

    def worst(self, during: Interval) -> float:
        """The worst lag of a tick that overlapped `during`."""
        lags = [
            stall.end - stall.start - TICK
            for stall in self.stalls()
            if stall.start <= during.end and stall.end >= during.start
        ]
        return max(lags, default=float("nan"))


def _calls(standin: TimedStandIn, chat: int, method: str) -> int:
    return sum(1 for name, _ in standin.chat_calls[chat] if name == method)


async def _until_call(
    standin: TimedStandIn, chat: int, method: str, before: int, limit: float
) -> float:
    """Wait for the chat's next `method` call after `before` of them; time.time() it came."""
    if not await standin.until(lambda: _calls(standin, chat, method) > before, limit):
        raise RuntimeError(f"no {method} to {chat} within {limit} s")
    return time.time()


def _with_button(standin: TimedStandIn, chat: int, data: str) -> dict[str, Any] | None:
    """The chat's latest message with a button carrying `data`."""
    for (chat_id, _), message in sorted(standin.messages.items(), reverse=True):
        if chat_id != chat:
            continue
        for row in message.get("reply_markup", {}).get("inline_keyboard", []):
            for button in row:
                if button.get("callback_data") == data:
                    return message
    return None


async def _button(standin: TimedStandIn, data: str) -> dict[str, Any]:
    """The organiser's message with this button, once the bot has sent it."""
    if not await standin.until(lambda: _with_button(standin, ORGANISER, data) is not None, 60):
        raise RuntimeError(f"no button {data!r} for the organiser")
    message = _with_button(standin, ORGANISER, data)
    assert message is not None
    return message


async def _say(standin: TimedStandIn, text: str, method: str = "sendMessage") -> Interval:
    before = _calls(standin, ORGANISER, method)
    started = time.time()
    standin.user_message(user(ORGANISER), text)
    return Interval(started, await _until_call(standin, ORGANISER, method, before, 120))


async def _press(standin: TimedStandIn, data: str, method: str = "sendMessage") -> Interval:
    message = await _button(standin, data)
    before = _calls(standin, ORGANISER, method)
    started = time.time()
    standin.press_button(user(ORGANISER), message, data)
    return Interval(started, await _until_call(standin, ORGANISER, method, before, 120))


def _outbox_rows(database: Path, kind: str) -> int:
    with sqlite3.connect(f"file:{database}?mode=ro", uri=True, timeout=30) as connection:
        return int(
            connection.execute("SELECT count(*) FROM outbox WHERE kind = ?", (kind,)).fetchone()[0]
        )


async def _until(condition: Callable[[], bool], limit: float, every: float = 0.2) -> bool:
    deadline = time.monotonic() + limit
    while not condition():
        if time.monotonic() > deadline:
            return False
        await asyncio.sleep(every)
    return True


@dataclass
class Measured:
    idle: float
    faq: float
    stats_text: float
    stats_chart: float
    stats_seconds: tuple[float, float]
    attendees_list: float
    attendees_view: float
    attendees_seconds: tuple[float, float]
    announce_steps: float
    announce_rows: float
    announce_seconds: tuple[float, float, float]
    recipients: int
    rss_before: float
    rss_after: float


async def _measure(
    standin: TimedStandIn, bot: BotProcess, probe: Probe, database: Path, askers: Sequence[int]
) -> Measured:
    await asyncio.sleep(5)  # what a start leaves to do (the outbox's first round)
    rss_before = bot.rss_mb()
    idle_start = time.time()
    await asyncio.sleep(3)
    idle = probe.worst(Interval(idle_start, time.time()))
    faq_start = time.time()
    for asker in askers:
        await _ask(standin, asker)
    faq = probe.worst(Interval(faq_start, time.time()))

    # /cijfers: the text, then the chart (a photo).
    photos = _calls(standin, ORGANISER, "sendPhoto")
    text = await _say(standin, "/cijfers")
    chart_end = await _until_call(standin, ORGANISER, "sendPhoto", photos, 120)
    chart = Interval(text.end, chart_end)
    await asyncio.sleep(1)

    # /deelnemers: the list of activities, then the first one's people and workbook.
    listed = await _say(standin, "/deelnemers")
    view = await _press(standin, callbacks.ATTENDEES_OF.data(activity=1), "sendDocument")
    await asyncio.sleep(1)

    # An announcement to everyone: every step of /omroep, then the rows being written.
    steps_start = time.time()
    await _say(standin, "/omroep")
    await _press(standin, callbacks.BROADCAST_AUDIENCE.data(audience=Recipients.EVERYONE))
    await _say(standin, ANNOUNCEMENT)
    await _press(standin, callbacks.BROADCAST_SKIP_ENGLISH.data())
    data = callbacks.BROADCAST_SEND.data()
    message = await _button(standin, data)
    before = _calls(standin, ORGANISER, "sendMessage")
    pressed = time.time()
    standin.press_button(user(ORGANISER), message, data)
    status_at = await _until_call(standin, ORGANISER, "sendMessage", before, 120)
    expected = _expected_recipients(database)  # the organiser among them, a user by now
    written = await _until(lambda: _outbox_rows(database, "broadcast") >= expected, 600)
    rows_end = time.time()
    if not written:
        raise RuntimeError("the announcement's rows were not written within 600 s")
    await asyncio.sleep(1)
    return Measured(
        idle=idle,
        faq=faq,
        stats_text=probe.worst(text),
        stats_chart=probe.worst(chart),
        stats_seconds=(text.end - text.start, chart.end - text.start),
        attendees_list=probe.worst(listed),
        attendees_view=probe.worst(view),
        attendees_seconds=(listed.end - listed.start, view.end - view.start),
        announce_steps=probe.worst(Interval(steps_start, pressed)),
        announce_rows=probe.worst(Interval(pressed, rows_end)),
        announce_seconds=(status_at - pressed, rows_end - pressed, pressed - steps_start),
        recipients=expected,
        rss_before=rss_before,
        rss_after=bot.rss_mb(),
    )


async def _ask(standin: TimedStandIn, asker: int) -> None:
    before = len(standin.received[asker])
    standin.user_message(user(asker), "wat is een fieldlab")
    await standin.until(lambda: len(standin.received[asker]) > before, 30)


def _expected_recipients(database: Path) -> int:
    with sqlite3.connect(f"file:{database}?mode=ro", uri=True, timeout=30) as connection:
        return int(
            connection.execute(
                "SELECT count(*) FROM users WHERE NOT blocked AND NOT announcements_opt_out"
            ).fetchone()[0]
        )


def _ms(seconds: float) -> str:
    return f"{seconds * 1000:.0f} ms"


def _lag_row(what: str, lag: float, measured: Measured, note: str = "") -> Row:
    baseline = max(measured.faq, measured.idle)
    return Row(
        what,
        _ms(lag) + (f" ({note})" if note else ""),
        f"{_ms(measured.faq)} (FAQ questions; idle {_ms(measured.idle)})",
        f"{lag / baseline:.1f}" if baseline > 0 else "-",
        f"<= {_ms(GOAL_LAG)}",
        lag <= GOAL_LAG,
    )


async def organisers(source: Path, folder: Path, sizes: dataset.Sizes) -> list[Row]:
    database = dataset.copy(source, folder / "organisers.sqlite3")
    probe_path = folder / "organisers-probe.txt"
    probe_path.unlink(missing_ok=True)
    config = write_config(folder, database, admins=[ORGANISER])
    askers = [dataset.FIRST_USER + n for n in range(0, sizes.users, max(1, sizes.users // 10))]
    async with running_standin() as standin:
        bot = BotProcess.project(standin, config, probe_path, probe_window=PROBE_WINDOW)
        await bot.start()
        try:
            measured = await _measure(standin, bot, Probe(probe_path), database, askers)
        finally:
            await bot.stop()
    m = measured
    scale = f"{sizes.users:,} users, {sizes.registrations:,} registrations"
    per_activity = sizes.registrations // sizes.activities
    return [
        _lag_row(
            f"loop's worst lag: /cijfers text at {scale}",
            m.stats_text,
            m,
            f"answered in {m.stats_seconds[0]:.2f} s",
        ),
        _lag_row(
            "loop's worst lag: /cijfers chart",
            m.stats_chart,
            m,
            f"photo {m.stats_seconds[1]:.2f} s after the command",
        ),
        _lag_row(
            "loop's worst lag: /deelnemers (the list of activities)",
            m.attendees_list,
            m,
            f"answered in {m.attendees_seconds[0]:.2f} s",
        ),
        _lag_row(
            f"loop's worst lag: /deelnemers of an activity of {per_activity:,} "
            f"({per_activity // 10:,} waiting), overview and workbook",
            m.attendees_view,
            m,
            f"workbook after {m.attendees_seconds[1]:.2f} s",
        ),
        _lag_row(
            "loop's worst lag: /omroep to everyone, audience to preview",
            m.announce_steps,
            m,
            f"{m.announce_seconds[2]:.1f} s",
        ),
        _lag_row(
            f"loop's worst lag: announcement's {m.recipients:,} rows written",
            m.announce_rows,
            m,
            f"status message after {m.announce_seconds[0]:.2f} s, "
            f"all rows after {m.announce_seconds[1]:.1f} s",
        ),
        Row(
            "memory (RSS) after these organisers' commands",
            f"{m.rss_after:.0f} MB",
            f"{m.rss_before:.0f} MB (same bot before them)",
            f"{m.rss_after / m.rss_before:.2f}",
            f"<= {GOAL_RSS:.0f} MB",
            m.rss_after <= GOAL_RSS,
        ),
    ]
