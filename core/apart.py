"""Heavy organiser work (a chart, a workbook) in a process of its own, started for the job.

A thread is not enough: matplotlib's Agg renderer and the imports of matplotlib and
openpyxl hold the GIL for hundreds of milliseconds at a time, so the event loop stalls as if
the work ran on it (0.3-0.4 s per chart, measured). A fresh process also keeps those
libraries (some 50 MB) out of the bot's memory, and gives all of it back when it ends.
`spawn`, not `fork`: a forked copy of the bot would inherit its threads' locks and open
database connections.
"""

from __future__ import annotations

import asyncio
import multiprocessing
from collections.abc import Callable
from concurrent.futures import ProcessPoolExecutor
from typing import Any, TypeVar

T = TypeVar("T")
# A chart or a workbook of thousands of rows takes a few seconds, the process's start included.
APART_SECONDS = 120.0


async def run_apart(function: Callable[..., T], *args: Any, limit: float = APART_SECONDS) -> T:
    """`function(*args)` in a new process; the function and its arguments must pickle (a
    module-level function, plain values)."""
    pool = ProcessPoolExecutor(max_workers=1, mp_context=multiprocessing.get_context("spawn"))
    try:
        async with asyncio.timeout(limit):
            return await asyncio.get_running_loop().run_in_executor(pool, function, *args)
    finally:
        # Not waiting: the loop must not block on the process's exit (or on a stuck one).
        pool.shutdown(wait=False, cancel_futures=True)
