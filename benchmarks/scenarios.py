"""The measurements of `python -m benchmarks`, each beside its baseline in the same run.

Bots run as their own processes against the Bot API stand-in (benchmarks/harness.py), so
CPU time and memory are theirs alone; the matcher runs in this process.
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import timedelta
from pathlib import Path
from typing import Any

from benchmarks import dataset
from benchmarks.harness import (
    ROOT,
    BotProcess,
    Row,
    TimedStandIn,
    mean,
    percentile,
    running_standin,
    user,
    write_config,
)
from storage.db import Database

TELEGRAM_RATE = 30.0  # messages per second Telegram allows a bot for bulk sending
QUESTION = "wat is een fieldlab"


@dataclass(frozen=True)
class Options:
    quick: bool
    folder: Path

    def size(self, full: int, quick: int) -> int:
        return quick if self.quick else full


def _fmt(value: float, unit: str, digits: int = 1) -> str:
    return f"{value:.{digits}f} {unit}"


def _ratio(project: float, baseline: float, digits: int = 2) -> str:
    if baseline <= 0 or project != project or baseline != baseline:
        return "-"
    return f"{project / baseline:.{digits}f}"


def _fresh_database(folder: Path, name: str) -> Path:
    path = folder / f"{name}.sqlite3"
    for suffix in ("", "-wal", "-shm"):
        Path(f"{path}{suffix}").unlink(missing_ok=True)
    db = Database(f"sqlite:///{path}")
    db.upgrade()
    db.dispose()
    return path


# -- broadcast at Telegram's rate, and users' answers meanwhile ----------------------------------


async def broadcast(options: Options) -> list[Row]:
    """benchmarks/broadcast_benchmark.py's runs (the bot as its own process), in this table:
    the broadcast alone at 100 and 50 ms per call, then at 100 ms with users asking."""
    from benchmarks import broadcast_benchmark as runs

    recipients = options.size(1_000, 120)
    rows = []
    for latency in (0.100, 0.050):
        ours = await runs.project(options.folder, recipients, latency)
        theirs = await runs.baseline(recipients, latency)
        rows.append(
            Row(
                f"broadcast of {recipients:,} at {TELEGRAM_RATE:.0f} msg/s, "
                f"{latency * 1000:.0f} ms per call",
                f"{ours.rate:.1f} msg/s, {ours.too_many} × 429",
                f"{theirs.rate:.1f} msg/s, {theirs.too_many} × 429 (paced, 4 in flight)",
                _ratio(ours.rate, theirs.rate),
                f">= {0.9 * TELEGRAM_RATE:.0f} msg/s, 0 × 429",
                ours.rate >= 0.9 * TELEGRAM_RATE and ours.too_many == 0,
            )
        )
    askers, every = options.size(20, 5), 2.0
    asked = await runs.project(options.folder, recipients, 0.100, askers, every)
    # The same askers with no broadcast running, as long as the broadcast took.
    alone = await runs.project(
        options.folder, recipients, 0.100, askers, every, asking_for=asked.seconds
    )
    p95, alone_p95 = percentile(asked.answers, 0.95), percentile(alone.answers, 0.95)
    rows.append(
        Row(
            f"a user's answer during a broadcast (100 ms per call; {askers} users each ask "
            f"every {every:g} s; the stand-in's 1/s per chat on), p95",
            f"{_fmt(p95, 's', 3)} ({len(asked.answers)} answers, max "
            f"{max(asked.answers, default=float('nan')):.2f} s; broadcast meanwhile "
            f"{asked.rate:.1f} msg/s, {asked.too_many} × 429)",
            f"{_fmt(alone_p95, 's', 3)} with no broadcast ({len(alone.answers)} answers, "
            f"{alone.too_many} × 429)",
            _ratio(p95, alone_p95),
            "<= 1 s, 0 × 429",
            p95 <= 1.0 and asked.too_many == 0 if asked.answers else None,
        )
    )
    return rows


# -- per update: CPU, and a burst of 1,000 ------------------------------------------------------


@dataclass
class Burst:
    rate: float
    p95: float
    cpu_per_update: float
    rss_mb: float


async def _ask_all(
    standin: TimedStandIn, users: Sequence[int], text: str, limit: float
) -> list[float]:
    """Every user sends `text` at once; the seconds until each got an answer (`limit` for
    one that got none in time)."""
    before = {u: len(standin.received[u]) for u in users}
    asked = time.monotonic()
    for user_id in users:
        standin.user_message(user(user_id), text)
    await standin.until(lambda: all(len(standin.received[u]) > before[u] for u in users), limit)
    return [
        standin.received[u][before[u]] - asked if len(standin.received[u]) > before[u] else limit
        for u in users
    ]


async def _per_update(
    bot: BotProcess, standin: TimedStandIn, options: Options, burst: bool = True
) -> Burst:
    """CPU per update (known users, a few at a time), then the burst (new users at once)."""
    await bot.start()
    try:
        known = [2_000_000 + n for n in range(options.size(100, 20))]
        for start in range(0, len(known), 10):  # users get known, code paths get warm
            await _ask_all(standin, known[start : start + 10], QUESTION, 60)
        rounds = options.size(3, 1)
        cpu_before = bot.cpu_seconds()
        for _ in range(rounds):
            for start in range(0, len(known), 10):
                await _ask_all(standin, known[start : start + 10], QUESTION, 60)
        cpu = (bot.cpu_seconds() - cpu_before) / (rounds * len(known))
        if not burst:
            return Burst(float("nan"), float("nan"), cpu, bot.rss_mb())
        burst_users = [3_000_000 + n for n in range(options.size(1_000, 100))]
        waits = await _ask_all(standin, burst_users, QUESTION, 300)
        return Burst(len(waits) / max(waits), percentile(waits, 0.95), cpu, bot.rss_mb())
    finally:
        await bot.stop()


async def per_update(options: Options) -> list[Row]:
    """CPU per FAQ question of the project against both baselines, all in this run: the echo
    bot, and a bare PTB bot with the same matcher and two writes (benchmarks/bare_bot.py)."""
    async with running_standin() as standin:
        echo = await _per_update(BotProcess.echo(standin), standin, options)
    database = _fresh_database(options.folder, "per-update")
    config = write_config(options.folder, database)
    async with running_standin() as standin:
        bare_bot = BotProcess.bare(standin, config, options.folder / "bare.sqlite3")
        bare = await _per_update(bare_bot, standin, options, burst=False)
    async with running_standin() as standin:
        project = await _per_update(BotProcess.project(standin, config), standin, options)
    burst = options.size(1_000, 100)
    return [
        Row(
            "CPU per FAQ question (known user) against a bare bot",
            _fmt(project.cpu_per_update * 1000, "ms"),
            _fmt(bare.cpu_per_update * 1000, "ms (bare PTB bot: same matcher, two writes)"),
            _ratio(project.cpu_per_update, bare.cpu_per_update, 1),
            "<= 2x bare",
            project.cpu_per_update <= 2 * bare.cpu_per_update,
        ),
        Row(
            "CPU per FAQ question (known user) against an echo bot",
            _fmt(project.cpu_per_update * 1000, "ms"),
            _fmt(echo.cpu_per_update * 1000, "ms (echo bot)"),
            _ratio(project.cpu_per_update, echo.cpu_per_update, 1),
            "-",
            None,
        ),
        Row(
            f"{burst:,} users ask one FAQ question at once",
            f"{project.rate:.0f} updates/s, p95 {project.p95:.2f} s",
            f"{echo.rate:.0f} updates/s, p95 {echo.p95:.2f} s (echo bot, no rate limit; "
            f"answering at Telegram's {TELEGRAM_RATE:.0f}/s: p95 >= "
            f"{0.95 * burst / TELEGRAM_RATE:.1f} s)",
            f"p95 {_ratio(project.p95, echo.p95, 1)}",
            "p95 <= 3x echo",
            project.p95 <= 3 * echo.p95,
        ),
    ]


async def costs(options: Options) -> list[Row]:
    """What each step of a FAQ question costs: CPU per question with that step switched off
    (benchmarks/probed_run.py WITHOUT), beside the bot with everything on."""
    from benchmarks.probed_run import WITHOUT

    async def cpu(without: Sequence[str]) -> float:
        database = _fresh_database(options.folder, "costs")
        config = write_config(options.folder, database)
        async with running_standin() as standin:
            bot = BotProcess.project(standin, config, without=without)
            return (await _per_update(bot, standin, options, burst=False)).cpu_per_update

    everything = await cpu(())
    rows = [
        Row(
            "CPU per FAQ question, everything on",
            _fmt(everything * 1000, "ms"),
            "-",
            "-",
            "-",
            None,
        )
    ]
    for name in WITHOUT:
        if name == "plan-feedback":
            continue  # not per update (see at_scale's lag)
        without = await cpu((name,))
        rows.append(
            Row(
                f"... without {name}",
                _fmt(without * 1000, "ms"),
                _fmt(everything * 1000, "ms (everything on)"),
                _ratio(without, everything),
                f"saves {(everything - without) * 1000:.1f} ms",
                None,
            )
        )
    return rows


# -- the FAQ matcher ----------------------------------------------------------------------------


def _questions() -> list[str]:
    from faq.evaluation import load_question_set

    sets = [
        ROOT.parent / "shared" / "faq-dev.yaml",
        *sorted((ROOT / "tests" / "data").glob("faq-*.yaml")),
    ]
    return [question for path in sets if path.exists() for question, _ in load_question_set(path)]


def _phrasings(content: Any) -> list[str]:
    return [
        text
        for entry in content.entries
        for localised in (entry.nl, entry.en)
        for text in (localised.question, *localised.alternatives)
    ]


def _time_each(function: Any, questions: Sequence[str]) -> list[float]:
    for question in questions[:20]:
        function(question)  # warm
    times = []
    for question in questions:
        started = time.perf_counter()
        function(question)
        times.append(time.perf_counter() - started)
    return times


def matching(options: Options) -> list[Row]:
    from rapidfuzz import process, utils
    from rapidfuzz.fuzz import WRatio

    from bot.config import load_config
    from bot.services import matcher_thresholds
    from faq.content import load_faq
    from faq.evaluation import scaled_content
    from faq.matching import FaqMatcher

    config = load_config(ROOT / "config.yaml", environ={})
    thresholds = matcher_thresholds(config)
    shipped = load_faq(config.faq.content)
    questions = _questions()
    if options.quick:
        questions = questions[:80]
    rows = []
    for label, factor in (("shipped content", 1), ("10x content", 10)):
        content = scaled_content(shipped, factor)
        built = time.perf_counter()
        matcher = FaqMatcher(content, thresholds)
        build_seconds = time.perf_counter() - built
        phrasings = _phrasings(content)
        ours = _time_each(matcher.match, questions)
        naive = _time_each(
            lambda q, p=phrasings: process.extractOne(
                q, p, scorer=WRatio, processor=utils.default_process
            ),
            questions,
        )
        goal_met = mean(ours) <= mean(naive)
        goal = "mean <= 1x extractOne"
        if factor == 10:
            goal_met = goal_met and percentile(ours, 0.99) <= 0.010
            goal += ", p99 <= 10 ms"
        rows.append(
            Row(
                f"FAQ match, {label} ({len(content.entries)} entries, {len(questions)} questions)",
                f"mean {mean(ours) * 1000:.2f} ms, p99 {percentile(ours, 0.99) * 1000:.1f} ms"
                f" (built in {build_seconds:.1f} s)",
                f"mean {mean(naive) * 1000:.2f} ms, p99 {percentile(naive, 0.99) * 1000:.1f} ms"
                f" (extractOne WRatio, {len(phrasings)} phrasings)",
                _ratio(mean(ours), mean(naive)),
                goal,
                goal_met,
            )
        )
    return rows


# -- at 100,000 users -------------------------------------------------------------------------


async def _answer_times(standin: TimedStandIn, users: Sequence[int], text: str) -> list[float]:
    """One user after the other sends `text`; the seconds until each answer arrived."""
    times = []
    for user_id in users:
        times.extend(await _ask_all(standin, [user_id], text, 30))
    return times


def _scale_source(options: Options) -> tuple[Path, dataset.Sizes]:
    """The database at scale, built once per run (it takes a minute or more)."""
    sizes = dataset.Sizes().scaled(0.02 if options.quick else 1.0)
    path = options.folder / "scale-source.sqlite3"
    if not path.exists():
        dataset.build(path, sizes)
    return path, sizes


async def at_scale(options: Options) -> list[Row]:
    source, sizes = _scale_source(options)
    # Start-ups on a copy of their own: the traffic's reminders must still be due after them.
    quiet = dataset.copy(source, options.folder / "scale-start.sqlite3")
    starts = options.size(3, 1)
    known = [dataset.FIRST_USER + n for n in range(0, sizes.users, max(1, sizes.users // 50))]
    traffic_seconds = options.size(120, 10)
    probe = options.folder / "probe.txt"
    probe.unlink(missing_ok=True)
    async with running_standin() as standin:
        echo_starts = []
        for _ in range(starts):
            echo = BotProcess.echo(standin)
            echo_starts.append(await echo.start())
            echo_answers = await _answer_times(standin, known[:20], "/agenda")
            echo_rss = echo.rss_mb()
            await echo.stop()
        project_starts = []
        for _ in range(starts):
            bot = BotProcess.project(standin, write_config(options.folder, quiet))
            project_starts.append(await bot.start())
            await bot.stop()
        # The bot starts while reminders fall due (from now on, through the traffic).
        database = dataset.copy(source, options.folder / "scale.sqlite3")
        due = dataset.make_due(
            database, options.size(3_000, 100), timedelta(seconds=traffic_seconds)
        )
        bot = BotProcess.project(standin, write_config(options.folder, database), probe)
        started = time.time()
        await bot.start()
        try:
            await asyncio.sleep(3)  # what a start leaves to do (the outbox's first round)
            rss_at_start = bot.rss_mb()
            agenda = await _answer_times(standin, known[:20], "/agenda")
            # The same path without any database work: what every command costs here.
            helps = await _answer_times(standin, known[:20], "/help")
            # Users talk while reminders fall due: questions, the agenda, their sign-ups.
            texts = (QUESTION, "/agenda", "hoe meld ik me aan", "/mijn", "wat kost het")
            talkers = known[20:]
            asked = 0
            answers: list[float] = []
            deadline = time.monotonic() + traffic_seconds
            while time.monotonic() < deadline:
                batch = [talkers[(asked + k) % len(talkers)] for k in range(5)]
                answers += await _ask_all(standin, batch, texts[asked % len(texts)], 30)
                asked += len(batch)
                await asyncio.sleep(0.5)
            rss = bot.rss_mb()
            # Over the bot's whole life, its start included.
            lags = [
                (float(lag), float(at) - started)
                for at, lag, *_ in (line.split() for line in probe.read_text().splitlines())
            ]
        finally:
            await bot.stop()
    reminders_sent = dataset.reminders_sent(database)
    scale = (
        f"{sizes.users:,} users, {sizes.registrations:,} registrations, "
        f"{sizes.reminders:,} reminders"
    )
    start_project = sorted(project_starts)[len(project_starts) // 2]
    start_echo = sorted(echo_starts)[len(echo_starts) // 2]
    worst_lag, worst_at = max(lags) if lags else (float("nan"), float("nan"))
    later = max((lag for lag, at in lags if at > 15), default=float("nan"))
    return [
        Row(
            f"/agenda at {scale} (answer time, p95 of 20)",
            _fmt(percentile(agenda, 0.95) * 1000, "ms", 0)
            + f" (/help: {percentile(helps, 0.95) * 1000:.0f} ms)",
            _fmt(percentile(echo_answers, 0.95) * 1000, "ms (echo bot's answer)", 0),
            _ratio(percentile(agenda, 0.95), percentile(echo_answers, 0.95), 1),
            "<= 50 ms",
            percentile(agenda, 0.95) <= 0.050,
        ),
        Row(
            "`mao-bot run` until polling, same database (median)",
            _fmt(start_project, "s", 2),
            _fmt(start_echo, "s (echo bot)", 2),
            _ratio(start_project, start_echo, 1),
            "<= 5 s",
            start_project <= 5.0,
        ),
        Row(
            f"event loop's worst lag from start through {traffic_seconds} s of users talking "
            f"({asked} messages, p95 answer {percentile(answers, 0.95):.2f} s) while "
            f"{due:,} reminders fall due ({reminders_sent:,} sent)",
            f"{worst_lag * 1000:.0f} ms ({worst_at:.0f} s after start; "
            f"after the first 15 s: {later * 1000:.0f} ms)",
            "-",
            "-",
            "<= 200 ms",
            worst_lag <= 0.200,
        ),
        Row(
            "memory (RSS) after that traffic",
            f"{rss:.0f} MB (after start: {rss_at_start:.0f} MB)",
            _fmt(echo_rss, "MB (echo bot)", 0),
            _ratio(rss, echo_rss, 1),
            "<= 200 MB",
            rss <= 200,
        ),
    ]


async def organisers(options: Options) -> list[Row]:
    """benchmarks/organisers.py: /cijfers, /deelnemers and an announcement to everyone at
    100,000 users, the event loop's worst lag during each."""
    from benchmarks import organisers as commands

    source, sizes = _scale_source(options)
    return await commands.organisers(source, options.folder, sizes)
