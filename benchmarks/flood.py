"""Flood: can one user slow the bot down for everyone else?

The real Application runs against the Bot API stand-in. User A sends `--messages` FAQ
questions as fast as possible while user B asks one ("wat is een fieldlab") every
`--interval` seconds. Prints B's answer time (median, p95, max: from B's message reaching
the stand-in to the bot's answer reaching it) and how many of A's messages were answered
or dropped. `--sequential` also runs the bot one update after the other (PTB's default, as
the bot was), in the same run, and prints the ratio; `--no-flood-limit` switches the
per-user limit off, to see what concurrent processing alone does; `--all` runs the four
combinations and compares the bot as it was (one at a time, no limit) with now.

    python benchmarks/flood.py [--sequential] [--no-flood-limit] [--all] [--messages 300]
"""

from __future__ import annotations

import argparse
import asyncio
import os
import statistics
import tempfile
import time
from dataclasses import dataclass
from pathlib import Path

os.environ.setdefault("PTB_TIMEDELTA", "1")

from bot.config import AppConfig, load_config
from bot.offline.driver import BotDriver, ObservedApplication, user_dict
from bot.offline.standin import BotApiStandIn
from bot.services import build_services

ROOT = Path(__file__).resolve().parents[1]
FLOODER, ASKER = 5_000_001, 5_000_002
QUESTION = "wat is een fieldlab"
SLOW_DOWN = "rustig aan"


@dataclass
class Figures:
    label: str
    answer_seconds: list[float]
    answered: int
    warned: int
    dropped: int
    flood_seconds: float

    @property
    def median(self) -> float:
        return statistics.median(self.answer_seconds)

    @property
    def p95(self) -> float:
        ordered = sorted(self.answer_seconds)
        return ordered[min(len(ordered) - 1, round(0.95 * (len(ordered) - 1)))]

    @property
    def worst(self) -> float:
        return max(self.answer_seconds)

    def print(self) -> None:
        print(f"{self.label}")
        print(
            f"  B's answer time:   median {self.median:.3f} s, p95 {self.p95:.3f} s,"
            f" max {self.worst:.3f} s ({len(self.answer_seconds)} questions)"
        )
        print(
            f"  A's messages:      {self.answered} answered, {self.dropped} dropped"
            f" ({self.warned}× 'even rustig aan'); all handled after {self.flood_seconds:.1f} s"
        )


def bench_config(folder: str, concurrent: bool, flood_limit: bool) -> AppConfig:
    base = load_config(ROOT / "config.yaml", environ={})
    telegram = base.telegram.model_copy(
        update={"concurrent_updates": base.telegram.concurrent_updates if concurrent else 1}
    )
    flood = base.flood if flood_limit else base.flood.model_copy(update={"updates": 10**9})
    return base.model_copy(
        update={
            "storage": base.storage.model_copy(
                update={"url": f"sqlite:///{folder}/flood.sqlite3"}
            ),
            "activities": base.activities.model_copy(update={"file": None}),
            "telegram": telegram,
            "flood": flood,
        }
    )


async def measure(
    concurrent: bool, flood_limit: bool, messages: int, questions: int, interval: float
) -> Figures:
    with tempfile.TemporaryDirectory() as folder:
        config = bench_config(folder, concurrent, flood_limit)
        standin = BotApiStandIn()
        async with BotDriver(lambda: build_services(config), standin) as driver:
            application = driver.application
            assert isinstance(application, ObservedApplication)
            await driver.say(ASKER, "/start")  # B is a known user; the matcher is warm
            flooder, asker = user_dict(FLOODER), user_dict(ASKER)
            asked_at: list[float] = []
            update_ids: list[int] = []
            started = time.monotonic()

            async def flood() -> float:
                flood_ids = []
                for _ in range(messages):
                    flood_ids.append(standin.user_message(flooder, QUESTION))
                    await asyncio.sleep(0)  # as fast as the loop allows, not all in one go
                await asyncio.wait_for(
                    asyncio.gather(*(application.processed_event(u).wait() for u in flood_ids)),
                    timeout=600,
                )
                return time.monotonic() - started

            async def ask() -> None:
                for _ in range(questions):
                    asked_at.append(time.monotonic())
                    update_ids.append(standin.user_message(asker, QUESTION))
                    await asyncio.sleep(interval)

            flood_seconds, _ = await asyncio.gather(flood(), ask())
            await asyncio.wait_for(
                asyncio.gather(*(application.processed_event(u).wait() for u in update_ids)),
                timeout=600,
            )
    answers = [c for c in standin.calls if c.method == "sendMessage" and c.chat_id == ASKER]
    answers = answers[-questions:]  # after the /start greeting; one answer per question
    to_flooder = [
        str(c.params.get("text", ""))
        for c in standin.calls
        if c.method == "sendMessage" and c.chat_id == FLOODER
    ]
    warned = sum(SLOW_DOWN in text for text in to_flooder)
    answered = len(to_flooder) - warned
    label = (
        f"{'concurrent (per-user order)' if concurrent else 'one update at a time'},"
        f" flood limit {'on' if flood_limit else 'off'}"
    )
    return Figures(
        label=label,
        answer_seconds=[call.at - at for call, at in zip(answers, asked_at, strict=True)],
        answered=answered,
        warned=warned,
        dropped=messages - answered,
        flood_seconds=flood_seconds,
    )


def print_ratio(title: str, before: Figures, after: Figures) -> None:
    print(
        f"{title}: median ×{before.median / after.median:.1f},"
        f" p95 ×{before.p95 / after.p95:.1f}, max ×{before.worst / after.worst:.1f}"
    )


async def benchmark(args: argparse.Namespace) -> None:
    print(
        f"A sends {args.messages} questions as fast as possible; B asks one every"
        f" {args.interval} s ({args.questions} in all)\n"
    )

    async def run(concurrent: bool, flood_limit: bool) -> Figures:
        figures = await measure(
            concurrent, flood_limit, args.messages, args.questions, args.interval
        )
        figures.print()
        return figures

    if args.all:
        as_it_was = await run(False, False)
        await run(True, False)
        await run(False, True)
        now = await run(True, True)
        print_ratio("\nB's wait, as it was / now", as_it_was, now)
        return
    flood_limit = not args.no_flood_limit
    before = await run(False, flood_limit) if args.sequential else None
    after = await run(True, flood_limit)
    if before is not None:
        print_ratio("\nB's wait, one at a time / concurrent", before, after)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--sequential", action="store_true", help="also run one at a time")
    parser.add_argument("--no-flood-limit", action="store_true", help="no per-user limit")
    parser.add_argument("--all", action="store_true", help="both ways, with and without the limit")
    parser.add_argument("--messages", type=int, default=300)
    parser.add_argument("--questions", type=int, default=20)
    parser.add_argument("--interval", type=float, default=0.5)
    asyncio.run(benchmark(parser.parse_args()))


if __name__ == "__main__":
    main()
