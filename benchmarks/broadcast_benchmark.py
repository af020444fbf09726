"""Broadcast throughput at real latency, and users' answers meanwhile, beside a baseline.

The bot runs as its own process (`mao-bot run`, the shipped config.yaml on a fresh SQLite
file) against the Bot API stand-in in this process, which waits `latency` before answering
each call and enforces Telegram's limits (30 messages/s overall, 1/s per chat: 429 beyond).
Measured in the same run against the same stand-in settings:

- the project: a broadcast to `--users` recipients, at 100 ms and at 50 ms per call;
- the baseline: a plain sender evenly paced at 30/s with 4 calls in flight;
- answers during a broadcast: `--askers` users (recipients too) each ask an FAQ question
  every `--ask-every` seconds, staggered; the time from the question to its answer.

Prints msg/s and the share of Telegram's 30/s, 429s received, and the answers' p50/p95.

    python benchmarks/broadcast_benchmark.py [--users 1000] [--askers 20] [--ask-every 2]
"""

from __future__ import annotations

import argparse
import asyncio
import os
import statistics
import tempfile
import time
from collections import defaultdict
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import UTC, datetime
from functools import partial
from pathlib import Path
from typing import Any

import yaml
from sqlalchemy import insert

os.environ.setdefault("PTB_TIMEDELTA", "1")

from telegram import Bot
from telegram.error import TelegramError
from telegram.request import HTTPXRequest

from bot.app import register_owed_kinds
from bot.offline.driver import spawn_bot_process, user_dict
from bot.offline.standin import ApiCall, BotApiStandIn, RateLimit
from storage.broadcasts import create_broadcast
from storage.db import Database
from storage.models import User
from storage.vocabulary import Recipients

ROOT = Path(__file__).resolve().parents[1]
TELEGRAM_RATE = 30.0  # messages/s Telegram allows a bot; the stand-in enforces it
ANNOUNCEMENT = "Benchmark-aankondiging"
QUESTION = "wat is een fieldlab"
FIRST = 1_000_000


class TimedStandIn(BotApiStandIn):
    """Notes when each chat received which message (announcement or not)."""

    def __init__(self, **kwargs: Any) -> None:
        super().__init__(record_calls=False, **kwargs)
        self.announced: dict[int, list[float]] = defaultdict(list)
        self.other: dict[int, list[float]] = defaultdict(list)
        self.polling = asyncio.Event()

    async def next_updates(self, offset: int, wait_seconds: float) -> list[dict[str, Any]]:
        self.polling.set()
        return await super().next_updates(offset, wait_seconds)

    def answer(self, call: ApiCall, *, answered: bool = True) -> tuple[int, dict[str, Any]]:
        status, body = super().answer(call, answered=answered)
        if status == 200 and call.method in self.SENDING_METHODS and call.chat_id is not None:
            text = str(call.params.get("text", ""))
            book = self.announced if text == ANNOUNCEMENT else self.other
            book[call.chat_id].append(time.monotonic())
        return status, body

    async def until(self, condition: Callable[[], bool], seconds: float) -> bool:
        deadline = time.monotonic() + seconds
        while not condition():
            if time.monotonic() > deadline:
                return False
            await asyncio.sleep(0.05)
        return True


@dataclass
class Result:
    rate: float
    too_many: int
    seconds: float
    answers: list[float] = field(default_factory=list)


def _rate(times: list[float]) -> float:
    times = sorted(times)
    if len(times) < 2 or times[-1] <= times[0]:
        return float("nan")
    return (len(times) - 1) / (times[-1] - times[0])


def _grew(values: list[float], before: int) -> bool:
    return len(values) > before


def _percentile(values: list[float], fraction: float) -> float:
    ordered = sorted(values)
    if not ordered:
        return float("nan")
    return ordered[min(len(ordered) - 1, round(fraction * (len(ordered) - 1)))]


def _prepare(folder: Path, users: int, broadcast: bool = True) -> Path:
    """A fresh database with `users` recipients and (`broadcast`) one broadcast to all; its
    config file."""
    database = folder / "bench.sqlite3"
    for suffix in ("", "-wal", "-shm"):
        Path(f"{database}{suffix}").unlink(missing_ok=True)
    register_owed_kinds()  # messages are owed through storage directly
    db = Database(f"sqlite:///{database}")
    db.upgrade()
    now = datetime.now(UTC)
    with db.session() as session:
        session.execute(
            insert(User),
            [
                {
                    "telegram_id": FIRST + n,
                    "first_seen": now,
                    "last_seen": now,
                    "reminders_enabled": True,
                    "announcements_opt_out": False,
                    "blocked": False,
                }
                for n in range(users)
            ],
        )
    if broadcast:
        with db.session() as session:
            create_broadcast(session, 1, Recipients.EVERYONE, None, ANNOUNCEMENT, now)
    db.dispose()
    raw = yaml.safe_load((ROOT / "config.yaml").read_text(encoding="utf-8"))
    raw["storage"] = {"url": f"sqlite:///{database}"}
    raw["activities"]["file"] = None
    raw["broadcast"]["progress_every"] = 100_000  # the shipped rate and window otherwise
    config = folder / "config.yaml"
    config.write_text(yaml.safe_dump(raw, allow_unicode=True), encoding="utf-8")
    return config


def telegram_limits() -> RateLimit:
    """Telegram's limits, as the stand-in enforces them: 30/s overall, and one message a
    second per chat (a second message to a chat within the second draws a 429)."""
    return RateLimit(per_second=TELEGRAM_RATE, per_chat_per_second=1.0)


async def project(
    folder: Path,
    users: int,
    latency: float,
    askers: int = 0,
    ask_every: float = 2.0,
    asking_for: float | None = None,
) -> Result:
    """The bot broadcasting to `users` while `askers` ask; with `asking_for` seconds, no
    broadcast at all: the askers alone, for that long (the baseline of their answers)."""
    config = _prepare(folder, users, broadcast=asking_for is None)
    standin = TimedStandIn(latency=latency, rate_limit=telegram_limits())
    await standin.start()
    answers: list[float] = []
    asking_ends = float("inf")

    def done() -> bool:
        if asking_for is not None:
            return time.monotonic() >= asking_ends
        return sum(1 for n in range(users) if standin.announced.get(FIRST + n)) >= users

    async def ask(user_id: int, offset: float) -> None:
        await asyncio.sleep(offset)
        while not done():
            asked = time.monotonic()
            got = standin.other[user_id]
            before = len(got)
            standin.user_message(user_dict(user_id), QUESTION)
            if await standin.until(partial(_grew, got, before), 30):
                answers.append(got[before] - asked)
            await asyncio.sleep(max(0.0, asked + ask_every - time.monotonic()))

    process = await spawn_bot_process(config, standin)
    try:
        await asyncio.wait_for(standin.polling.wait(), 120)
        if asking_for is None:
            await standin.until(lambda: bool(standin.announced), 60)  # the broadcast has begun
        started = time.monotonic()
        asking_ends = started + (asking_for or 0.0)
        tasks = [
            asyncio.create_task(ask(FIRST + n, n * ask_every / max(askers, 1)))
            for n in range(askers)
        ]
        finished = await standin.until(done, users / TELEGRAM_RATE * 4 + 60)
        await asyncio.gather(*tasks)
        seconds = time.monotonic() - started
    finally:
        process.terminate()
        await asyncio.wait_for(process.wait(), 30)
        await standin.stop()
    times = [t for n in range(users) for t in standin.announced.get(FIRST + n, [])[:1]]
    rate = _rate(times) if finished else float("nan")
    return Result(rate, standin.too_many_requests, seconds, answers)


async def baseline(users: int, latency: float, in_flight: int = 4) -> Result:
    """sendMessage evenly paced at Telegram's rate, never more than `in_flight` at once."""
    standin = TimedStandIn(latency=latency, rate_limit=telegram_limits())
    await standin.start()
    request = HTTPXRequest(connection_pool_size=in_flight + 2)
    bot = Bot(standin.token, base_url=standin.base_url, request=request)
    window = asyncio.Semaphore(in_flight)
    gap = 1.0 / TELEGRAM_RATE
    try:
        async with bot:
            started = time.monotonic()

            async def send(chat_id: int) -> None:
                try:
                    await bot.send_message(chat_id, ANNOUNCEMENT)
                except TelegramError:
                    pass  # a 429: counted by the stand-in, not repeated
                finally:
                    window.release()

            tasks = []
            for n in range(users):
                await asyncio.sleep(max(0.0, started + n * gap - time.monotonic()))
                await window.acquire()
                tasks.append(asyncio.create_task(send(FIRST + n)))
            await asyncio.gather(*tasks)
            seconds = time.monotonic() - started
    finally:
        await standin.stop()
    times = [t for n in range(users) for t in standin.announced.get(FIRST + n, [])[:1]]
    return Result(_rate(times), standin.too_many_requests, seconds)


async def benchmark(users: int, askers: int, ask_every: float) -> None:
    rows: list[tuple[str, str, str, str]] = []
    with tempfile.TemporaryDirectory() as folder:
        for latency in (0.100, 0.050):
            ours = await project(Path(folder), users, latency)
            theirs = await baseline(users, latency)
            rows.append(
                (
                    f"broadcast of {users:,}, {latency * 1000:.0f} ms per call",
                    f"{ours.rate:.1f} msg/s = {ours.rate / TELEGRAM_RATE:.2f} of 30/s, "
                    f"{ours.too_many} x 429",
                    f"{theirs.rate:.1f} msg/s = {theirs.rate / TELEGRAM_RATE:.2f}, "
                    f"{theirs.too_many} x 429",
                    f"{ours.rate / theirs.rate:.2f}",
                )
            )
        asked = await project(Path(folder), users, 0.100, askers, ask_every)
        p50 = statistics.median(asked.answers) if asked.answers else float("nan")
        rows.append(
            (
                f"answers during that broadcast (100 ms; {askers} users each ask every "
                f"{ask_every:g} s)",
                f"p95 {_percentile(asked.answers, 0.95):.3f} s, p50 {p50:.3f} s, "
                f"max {max(asked.answers, default=float('nan')):.3f} s "
                f"({len(asked.answers)} answers)",
                f"broadcast meanwhile {asked.rate:.1f} msg/s, {asked.too_many} x 429",
                "-",
            )
        )
    widths = [max(len(row[i]) for row in rows) for i in range(4)]
    header = ("what", "project", "baseline: paced, 4 in flight (same run)", "ratio")
    widths = [max(w, len(h)) for w, h in zip(widths, header, strict=True)]
    for row in (header, *rows):
        print(" | ".join(cell.ljust(width) for cell, width in zip(row, widths, strict=True)))


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--users", type=int, default=1_000)
    parser.add_argument("--askers", type=int, default=20)
    parser.add_argument("--ask-every", type=float, default=2.0)
    args = parser.parse_args()
    asyncio.run(benchmark(args.users, args.askers, args.ask_every))


if __name__ == "__main__":
    main()
