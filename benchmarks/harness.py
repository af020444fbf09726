"""What every benchmark of `python -m benchmarks` shares: the timed Bot API stand-in, bots
run as their own processes (the project's `mao-bot run` and the baselines: an echo bot, and a
bare FAQ bot with the project's matcher), the machine
description and the table."""

from __future__ import annotations

import asyncio
import contextlib
import datetime as dt
import os
import platform
import statistics
import sys
import time
from collections import defaultdict
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import yaml

from bot.offline.standin import ApiCall, BotApiStandIn

ROOT = Path(__file__).resolve().parents[1]
PYTHON = sys.executable
CLOCK_TICKS = os.sysconf("SC_CLK_TCK")


def percentile(values: Sequence[float], fraction: float) -> float:
    ordered = sorted(values)
    if not ordered:
        return float("nan")
    return ordered[min(len(ordered) - 1, round(fraction * (len(ordered) - 1)))]


def mean(values: Sequence[float]) -> float:
    return statistics.fmean(values) if values else float("nan")


def machine() -> str:
    model = platform.processor() or platform.machine()
    with contextlib.suppress(OSError):
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                model = line.split(":", 1)[1].strip()
                break
    return (
        f"{model}, {os.cpu_count()} cores, Python {platform.python_version()}, "
        f"{platform.system()} {platform.release()}, {dt.datetime.now(dt.UTC):%Y-%m-%d %H:%M} UTC"
    )


# -- the table ---------------------------------------------------------------------------------


@dataclass
class Row:
    what: str
    project: str
    baseline: str
    ratio: str
    goal: str
    met: bool | None  # None: no goal, or not measured

    @property
    def verdict(self) -> str:
        return {True: "yes", False: "NO", None: "-"}[self.met]


def table(rows: Sequence[Row]) -> str:
    header = ("what", "project", "baseline (same run)", "ratio", "goal", "met")
    cells = [header] + [(r.what, r.project, r.baseline, r.ratio, r.goal, r.verdict) for r in rows]
    widths = [max(len(row[i]) for row in cells) for i in range(len(header))]
    lines = [
        "| " + " | ".join(c.ljust(w) for c, w in zip(row, widths, strict=True)) + " |"
        for row in cells
    ]
    lines.insert(1, "|" + "|".join("-" * (w + 2) for w in widths) + "|")
    return "\n".join(lines)


# -- the stand-in, timed -----------------------------------------------------------------------


class TimedStandIn(BotApiStandIn):
    """The stand-in, noting when polling starts and when each chat receives a message."""

    def __init__(self, **kwargs: Any) -> None:
        kwargs.setdefault("record_calls", False)
        super().__init__(**kwargs)
        self.polls = 0
        self.first_poll: float | None = None
        self.received: defaultdict[int, list[float]] = defaultdict(list)
        self.received_total = 0
        # Every call answered for a chat (sendPhoto, sendDocument, editMessageText, ...).
        self.chat_calls: defaultdict[int, list[tuple[str, float]]] = defaultdict(list)
        self._changed = asyncio.Event()

    async def next_updates(self, offset: int, wait_seconds: float) -> list[dict[str, Any]]:
        self.polls += 1
        if self.first_poll is None:
            self.first_poll = time.monotonic()
            self._changed.set()
        return await super().next_updates(offset, wait_seconds)

    def answer(self, call: ApiCall, *, answered: bool = True) -> tuple[int, dict[str, Any]]:
        status, body = super().answer(call, answered=answered)
        if status == 200 and call.chat_id is not None:
            self.chat_calls[call.chat_id].append((call.method, time.monotonic()))
            self._changed.set()
        if status == 200 and call.method == "sendMessage" and call.chat_id is not None:
            self.received[call.chat_id].append(time.monotonic())
            self.received_total += 1
            self._changed.set()
        return status, body

    async def until(self, condition: Callable[[], bool], seconds: float) -> bool:
        """Wait up to `seconds` for `condition`; whether it came true."""
        deadline = time.monotonic() + seconds
        while not condition():
            remaining = deadline - time.monotonic()
            if remaining <= 0:
                return False
            self._changed.clear()
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(self._changed.wait(), min(remaining, 0.5))
        return True

    def reset_received(self) -> None:
        self.received.clear()
        self.received_total = 0


def user(user_id: int) -> dict[str, Any]:
    return {"id": user_id, "is_bot": False, "first_name": "Bench", "language_code": "nl"}


# -- bots as processes -------------------------------------------------------------------------


def write_config(folder: Path, database: Path, admins: Sequence[int] = (), **changes: Any) -> Path:
    """config.yaml as shipped, on `database`, with sections changed (`broadcast={...}`)
    and these organisers; written beside the database."""
    raw = yaml.safe_load((ROOT / "config.yaml").read_text(encoding="utf-8"))
    raw["admins"] = list(admins)
    raw["storage"] = {"url": f"sqlite:///{database}"}
    raw["faq"]["content"] = str(ROOT / "faq" / "content")
    raw["activities"]["file"] = None
    # Measured at any hour: announcements must not wait for the end of the quiet hours.
    raw["broadcast"]["quiet_hours"] = None
    for section, values in changes.items():
        raw.setdefault(section, {}).update(values)
    path = folder / f"{database.stem}.yaml"
    path.write_text(yaml.safe_dump(raw, allow_unicode=True), encoding="utf-8")
    return path


class BotProcess:
    """A bot in its own process, polling the stand-in: its CPU time and memory are its own."""

    def __init__(self, standin: TimedStandIn, argv: Sequence[str], env: dict[str, str]) -> None:
        self.standin = standin
        self.log = Path(os.environ.get("TMPDIR", "/tmp")) / f"mao-bench-{os.getpid()}.log"
        self.argv = list(argv)
        self.env = env
        self.process: asyncio.subprocess.Process | None = None
        self.started_at = 0.0

    @classmethod
    def project(
        cls,
        standin: TimedStandIn,
        config: Path,
        probe: Path | None = None,
        without: Sequence[str] = (),
        probe_window: float = 1.0,
    ) -> BotProcess:
        env = {
            "MAO_CONFIG": str(config),
            "MAO_LOG_LEVEL": "WARNING",
            "MAO_BENCH_WITHOUT": ",".join(without),
        }
        if probe is not None:
            env["MAO_BENCH_PROBE"] = str(probe)
            env["MAO_BENCH_PROBE_WINDOW"] = str(probe_window)
        return cls(standin, [PYTHON, "-m", "benchmarks.probed_run"], env)

    @classmethod
    def echo(cls, standin: TimedStandIn) -> BotProcess:
        return cls(standin, [PYTHON, str(ROOT / "benchmarks" / "echo_bot.py")], {})

    @classmethod
    def bare(cls, standin: TimedStandIn, config: Path, database: Path) -> BotProcess:
        """benchmarks/bare_bot.py: the project's matcher and two writes, nothing else."""
        env = {"MAO_CONFIG": str(config), "BARE_DATABASE": str(database)}
        return cls(standin, [PYTHON, str(ROOT / "benchmarks" / "bare_bot.py")], env)

    async def start(self, limit: float = 120.0) -> float:
        """Start and wait for the first getUpdates; returns the seconds that took."""
        self.standin.first_poll = None
        env = {
            **os.environ,
            "TELEGRAM_BOT_TOKEN": self.standin.token,
            "TELEGRAM_BASE_URL": f"http://127.0.0.1:{self.standin.port}",
            "PYTHONPATH": str(ROOT),
            **self.env,
        }
        self.started_at = time.monotonic()
        self.process = await asyncio.create_subprocess_exec(
            *self.argv,
            cwd=str(ROOT),
            env=env,
            stdout=asyncio.subprocess.DEVNULL,
            stderr=self.log.open("wb"),
        )
        if not await self.standin.until(
            lambda: self.standin.first_poll is not None or self.exited, limit
        ):
            raise RuntimeError(f"{self.argv} did not start polling within {limit} s")
        if self.exited or self.standin.first_poll is None:
            raise RuntimeError(f"{self.argv} exited: {self.log_tail()}")
        return self.standin.first_poll - self.started_at

    def log_tail(self) -> str:
        with contextlib.suppress(OSError):
            return self.log.read_text(errors="replace")[-2000:]
        return ""

    @property
    def exited(self) -> bool:
        return self.process is None or self.process.returncode is not None

    def _proc(self, name: str) -> str:
        assert self.process is not None
        return Path(f"/proc/{self.process.pid}/{name}").read_text()

    def cpu_seconds(self) -> float:
        fields = self._proc("stat").rsplit(")", 1)[1].split()
        return (int(fields[11]) + int(fields[12])) / CLOCK_TICKS  # utime + stime

    def rss_mb(self) -> float:
        for line in self._proc("status").splitlines():
            if line.startswith("VmRSS:"):
                return int(line.split()[1]) / 1024
        return float("nan")

    async def stop(self) -> None:
        process = self.process
        if process is None or process.returncode is not None:
            return
        process.terminate()
        try:
            await asyncio.wait_for(process.wait(), 20)
        except TimeoutError:
            process.kill()
            await process.wait()


@contextlib.asynccontextmanager
async def running_standin(**kwargs: Any) -> Any:
    standin = TimedStandIn(**kwargs)
    await standin.start()
    try:
        yield standin
    finally:
        await standin.stop()
