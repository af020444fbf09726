"""`mao-bot run` with an event-loop lag probe, for the benchmarks.

The probe sleeps 10 ms at a time on the bot's own loop and appends, every second (or every
MAO_BENCH_PROBE_WINDOW seconds), the wall time and the worst overshoot of that window to the
file named by MAO_BENCH_PROBE: "<unix time> <seconds> <unix time that tick began>".
Everything else is the real `mao-bot run`, except the steps named in MAO_BENCH_WITHOUT
(comma-separated, see WITHOUT), switched off to measure what each costs.
"""

from __future__ import annotations

import asyncio
import os
import signal
import sys
import time
from pathlib import Path
from typing import Any

TICK = 0.01


async def _nothing(*_args: Any) -> None:
    return None


def _no_talk(_text: str) -> None:
    return None


def _not_counted(*_args: Any) -> int:
    return 0


# Per-update steps of a FAQ question, by name: (module, attribute, stand-in).
WITHOUT: dict[str, tuple[str, str, Any]] = {
    "small-talk": ("handlers.faq", "small_talk", _no_talk),
    "band-count": ("handlers.faq", "_count", _not_counted),
    "refresh-matcher": ("handlers.faq_learning", "refresh_before_matching", _nothing),
    "persist-now": ("bot.app", "persist_now", _nothing),
    "load-state": ("bot.app", "load_state", _nothing),
    # Not per update: once a minute, the outbox's search for feedback questions now owed.
    "plan-feedback": ("jobs.outbox", "plan_feedback_requests", _not_counted),
}


def _switch_off(names: str) -> None:
    import importlib

    for name in filter(None, names.split(",")):
        module_name, attribute, replacement = WITHOUT[name]
        module = importlib.import_module(module_name)
        if not hasattr(module, attribute):
            print(f"probed_run: {module_name}.{attribute} is gone", file=sys.stderr)
            continue
        setattr(module, attribute, replacement)


async def _probe(path: Path, window: float) -> None:
    loop = asyncio.get_running_loop()
    with path.open("a", encoding="utf-8") as out:
        window_start = loop.time()
        worst, worst_began = 0.0, time.time()
        while True:
            before, began = loop.time(), time.time()
            await asyncio.sleep(TICK)
            lag = loop.time() - before - TICK
            if lag > worst:
                worst, worst_began = lag, began
            if loop.time() - window_start >= window:
                out.write(f"{time.time():.3f} {worst:.4f} {worst_began:.3f}\n")
                out.flush()
                window_start, worst = loop.time(), 0.0


def _dump_tasks() -> None:
    for task in asyncio.all_tasks():
        print(f"task {task.get_name()}:", file=sys.stderr)
        awaited: Any = task.get_coro()
        while awaited is not None:
            frame = getattr(awaited, "cr_frame", None) or getattr(awaited, "gi_frame", None)
            if frame is not None:
                print(f"  {frame.f_code.co_filename}:{frame.f_lineno}", file=sys.stderr)
                if os.environ.get("MAO_BENCH_LOCALS") and "/site-packages/" not in (
                    frame.f_code.co_filename
                ):
                    print(f"    {dict(frame.f_locals)!r:.600}", file=sys.stderr)
            awaited = getattr(awaited, "cr_await", None) or getattr(awaited, "gi_yieldfrom", None)
    sys.stderr.flush()


def main() -> int:
    import bot.app
    from bot.cli import main as cli_main

    probe_file = os.environ.get("MAO_BENCH_PROBE")
    original = bot.app._post_init
    tasks: list[asyncio.Task[None]] = []

    async def post_init(application: Any) -> None:
        loop = asyncio.get_running_loop()
        # `kill -USR1 <pid>`: every task's stack to stderr (what is a stuck bot waiting for?)
        loop.add_signal_handler(signal.SIGUSR1, _dump_tasks)
        if probe_file:
            window = float(os.environ.get("MAO_BENCH_PROBE_WINDOW", "1"))
            tasks.append(loop.create_task(_probe(Path(probe_file), window)))
        await original(application)

    bot.app._post_init = post_init  # build_application looks it up when it runs
    _switch_off(os.environ.get("MAO_BENCH_WITHOUT", ""))
    return cli_main(["run", *sys.argv[1:]])


if __name__ == "__main__":
    sys.exit(main())
