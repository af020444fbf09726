"""Heavy organiser work (a chart, a workbook) in a Python process of its own, started for
the job.

A thread is not enough: matplotlib's Agg renderer and the imports of matplotlib and
openpyxl hold the GIL for hundreds of milliseconds at a time, so the event loop stalls as if
the work ran on it (0.3 s per chart and per workbook, measured at 100,000 users). A fresh
process also keeps those libraries (some 50 MB) out of the bot's memory and gives all of it
back when it ends. A plain `python -c` child fed by pipes, not multiprocessing: nothing of
the bot (its main module, its threads, its database connections) is copied or imported
again, and no helper threads or resource tracker are started in the bot.
"""

from __future__ import annotations

import asyncio
import os
import pickle
import sys
from collections.abc import Callable
from typing import Any, TypeVar

T = TypeVar("T")
# A chart or a workbook of thousands of rows takes a few seconds, the process's start included.
APART_SECONDS = 120.0
# Set to "1": in a thread instead (the tests: a process costs each test seconds; one test
# runs the process itself).
IN_A_THREAD = "MAO_APART_IN_A_THREAD"
# Niced: on a busy machine the bot's own threads (users' answers) come before the chart.
_CHILD = (
    "import os, pickle, sys\n"
    "os.nice(10)\n"
    "function, args = pickle.load(sys.stdin.buffer)\n"
    "sys.stdout.buffer.write(pickle.dumps(function(*args)))\n"
)


class ApartError(RuntimeError):
    """The work failed in its process (its traceback is on the bot's stderr)."""


async def run_apart(function: Callable[..., T], *args: Any, limit: float = APART_SECONDS) -> T:
    """`function(*args)` in a new process; the function and its arguments must pickle (a
    module-level function, plain values), and so must its result."""
    if os.environ.get(IN_A_THREAD) == "1":
        return await asyncio.to_thread(function, *args)
    work = pickle.dumps((function, args))
    # The child finds the bot's modules where this process found them.
    env = {**os.environ, "PYTHONPATH": os.pathsep.join(p for p in sys.path if p)}
    process = await asyncio.create_subprocess_exec(
        sys.executable,
        "-c",
        _CHILD,
        stdin=asyncio.subprocess.PIPE,
        stdout=asyncio.subprocess.PIPE,
        env=env,
    )
    try:
        async with asyncio.timeout(limit):
            result, _ = await process.communicate(work)
    finally:
        if process.returncode is None:  # given up (timeout, cancelled): not left running
            process.kill()
            await process.wait()
    if process.returncode != 0:
        raise ApartError(f"{function.__qualname__} failed (exit code {process.returncode})")
    value: T = pickle.loads(result)
    return value
