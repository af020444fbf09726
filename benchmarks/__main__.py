"""One command for the bot's figures, each beside its baseline measured in the same run.

    python -m benchmarks [--quick] [--only NAME ...] [--output FILE]

Baselines: a ~20-line python-telegram-bot echo bot (benchmarks/echo_bot.py) and a bare
python-telegram-bot FAQ bot with the project's matcher and two writes per question
(benchmarks/bare_bot.py), against the same Bot API stand-in; a plain sender evenly paced at
Telegram's 30 messages/s with 4 calls in flight; and rapidfuzz's `process.extractOne`
(WRatio) over every FAQ phrasing. The machine is shared and noisy: ratios matter more than
absolute times. `--quick` runs small sizes (a smoke test, not figures). NAMEs: broadcast,
per-update, matching, scale, organisers; and costs (what each step of a FAQ question costs
in CPU; not in the default run).
"""

from __future__ import annotations

import argparse
import asyncio
import logging
import os
import sys
import tempfile
import time
from collections.abc import Awaitable, Callable
from pathlib import Path

os.environ.setdefault("PTB_TIMEDELTA", "1")

from benchmarks import scenarios
from benchmarks.harness import Row, machine, table
from bot.app import register_owed_kinds

Section = Callable[[scenarios.Options], Awaitable[list[Row]]]


async def _matching(options: scenarios.Options) -> list[Row]:
    return scenarios.matching(options)


SECTIONS: dict[str, Section] = {
    "broadcast": scenarios.broadcast,
    "per-update": scenarios.per_update,
    "matching": _matching,
    "scale": scenarios.at_scale,
    "organisers": scenarios.organisers,
}
# Not in the default run: what each step of a FAQ question costs (for profiling).
EXTRA: dict[str, Section] = {"costs": scenarios.costs}


async def run(names: list[str], quick: bool) -> str:
    rows: list[Row] = []
    started = time.monotonic()
    with tempfile.TemporaryDirectory(prefix="mao-bench-") as folder:
        options = scenarios.Options(quick=quick, folder=Path(folder))
        for name in names:
            print(f"... {name}", file=sys.stderr, flush=True)
            rows += await {**SECTIONS, **EXTRA}[name](options)
    command = "python -m benchmarks" + (" --quick" if quick else "")
    if set(names) != set(SECTIONS):
        command += " --only " + " ".join(names)
    header = f"`{command}`"
    return f"{header} on {machine()}; {time.monotonic() - started:.0f} s in all\n\n{table(rows)}\n"


def main() -> int:
    parser = argparse.ArgumentParser(
        prog="python -m benchmarks", description=__doc__.splitlines()[0]
    )
    parser.add_argument("--quick", action="store_true", help="small sizes, for a smoke test")
    parser.add_argument(
        "--only",
        nargs="+",
        choices=[*SECTIONS, *EXTRA],
        metavar="NAME",
        help=", ".join([*SECTIONS, *EXTRA]) + " (costs: not in the default run)",
    )
    parser.add_argument("--output", type=Path, help="also write the table to this file")
    args = parser.parse_args()
    logging.basicConfig(level=logging.WARNING)
    register_owed_kinds()  # the scenarios owe messages through storage directly
    text = asyncio.run(run(args.only or list(SECTIONS), args.quick))
    print(text)
    if args.output:
        args.output.write_text(text, encoding="utf-8")
    return 0


if __name__ == "__main__":
    sys.exit(main())
