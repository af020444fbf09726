"""Broadcast throughput: 10,000 users through the real Application and the Bot API stand-in.

The stand-in enforces a rate limit like Telegram's (answering 429 beyond it); the bot's
AIORateLimiter is configured to the same rate. Prints the achieved rate as a fraction of the
limit, 429s received, peak RSS and total time.

    python benchmarks/broadcast_benchmark.py [--users 10000] [--rate 300]
"""

from __future__ import annotations

import argparse
import asyncio
import os
import resource
import tempfile
import time
from datetime import UTC, datetime
from pathlib import Path

from sqlalchemy import insert

os.environ.setdefault("PTB_TIMEDELTA", "1")

from bot.config import load_config
from bot.offline.driver import BotDriver
from bot.offline.standin import BotApiStandIn, RateLimit
from bot.services import build_services
from storage.broadcasts import create_broadcast
from storage.models import User
from storage.outbox import broadcast_tally
from storage.vocabulary import Recipients

ROOT = Path(__file__).resolve().parents[1]


async def benchmark(users: int, rate: float) -> None:
    with tempfile.TemporaryDirectory() as folder:
        base = load_config(ROOT / "config.yaml", environ={})
        config = base.model_copy(
            update={
                "storage": base.storage.model_copy(
                    update={"url": f"sqlite:///{folder}/bench.sqlite3"}
                ),
                "activities": base.activities.model_copy(update={"file": None}),
                "broadcast": base.broadcast.model_copy(
                    update={"messages_per_second": rate, "progress_every": 1000}
                ),
            }
        )
        standin = BotApiStandIn(rate_limit=RateLimit(per_second=rate), record_calls=False)
        async with BotDriver(lambda: build_services(config), standin) as driver:
            now = datetime.now(UTC)
            with driver.services.db.session() as session:
                session.execute(
                    insert(User),
                    [
                        {
                            "telegram_id": 1_000_000 + n,
                            "first_seen": now,
                            "last_seen": now,
                            "reminders_enabled": True,
                            "announcements_opt_out": False,
                            "blocked": False,
                        }
                        for n in range(users)
                    ],
                )
            with driver.services.db.session() as session:
                broadcast_id = create_broadcast(
                    session, 1, Recipients.EVERYONE, None, "Benchmark-aankondiging", now
                )
            assert driver.application is not None
            started = time.perf_counter()
            await driver.deliver_owed()
            elapsed = time.perf_counter() - started
            with driver.services.db.session() as session:
                result = broadcast_tally(session, broadcast_id)
    achieved = result.sent / elapsed
    peak_rss_mb = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
    print(f"recipients:            {users}")
    print(f"sent / blocked / failed: {result.sent} / {result.blocked} / {result.failed}")
    print(f"limit:                 {rate:.0f} messages/s")
    print(f"achieved:              {achieved:.1f} messages/s = {achieved / rate:.3f} of the limit")
    print(f"429 answers received:  {standin.too_many_requests}")
    print(f"peak RSS:              {peak_rss_mb:.0f} MB")
    print(f"total time:            {elapsed:.1f} s")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--users", type=int, default=10_000)
    parser.add_argument("--rate", type=float, default=300.0)
    args = parser.parse_args()
    asyncio.run(benchmark(args.users, args.rate))


if __name__ == "__main__":
    main()
