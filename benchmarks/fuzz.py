"""10,000 fuzzed updates through the real Application: crashes, refused calls, invariants.

    python benchmarks/fuzz.py [--updates 10000] [--seed 1]

Random text (commands, questions, HTML and odd characters, 5,000-character messages),
presses of any button the bot showed (stale, twice, out of order), forged callback data,
stickers and group messages, from three people of whom one is an organiser, against the
test activities (small capacities, waiting lists, offers). Prints what went wrong.
"""

from __future__ import annotations

import argparse
import asyncio
import os
import random
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))
os.environ.setdefault("PTB_TIMEDELTA", "1")

from bot.config import load_config
from bot.offline.driver import BotDriver
from bot.offline.fuzz import random_actions, run_actions
from bot.services import build_services

ROOT = Path(__file__).resolve().parents[1]
ORGANISER = 9001


async def run(updates: int, seed: int) -> None:
    with tempfile.TemporaryDirectory() as folder:
        base = load_config(ROOT / "config.yaml", environ={})
        config = base.model_copy(
            update={
                "storage": base.storage.model_copy(update={"url": f"sqlite:///{folder}/z.db"}),
                "activities": base.activities.model_copy(
                    update={"file": ROOT / "tests" / "data" / "activities-test.yaml"}
                ),
                "admins": (ORGANISER,),
                # One fuzzer types faster than any person: the flood limit would drop most.
                "flood": base.flood.model_copy(update={"updates": 1_000_000}),
            }
        )
        actions = random_actions(random.Random(seed), updates, (4001, 4002, ORGANISER))
        started = time.perf_counter()
        async with BotDriver(lambda: build_services(config)) as driver:
            report = await run_actions(driver, actions)
        elapsed = time.perf_counter() - started
    print(f"updates:                {report.updates} in {elapsed:.0f} s (seed {seed})")
    print(f"by kind:                {dict(report.by_kind)}")
    print(f"crashes (error handler): {report.errors}")
    print(f"calls Telegram refuses: {len(report.rejected)} {report.rejected[:3]}")
    print(f"unanswered:             {len(report.unanswered)} {report.unanswered[:3]}")
    print(f"invariant violations:   {report.violations}")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--updates", type=int, default=10_000)
    parser.add_argument("--seed", type=int, default=1)
    args = parser.parse_args()
    asyncio.run(run(args.updates, args.seed))


if __name__ == "__main__":
    main()
