"""What "Voeg toe aan FAQ" is worth, and what keeping it live costs.

Usage: python benchmarks/faq_learning.py

For each question set (../shared/faq-dev.yaml when present, tests/data/faq-heldout.yaml,
faq-blind.yaml, faq-blind-2.yaml, faq-blind-3.yaml; never faq-blind-4.yaml, which is kept for
one final measurement), the in-scope questions the matcher does not answer right are added
as phrasings of their true topic, as an organiser would with "Voeg toe aan FAQ". Then every
other set is measured before and after: answered right, wrong answers, out of scope
declined. Last, each set is measured with the misses of all the others added.

Costs: the per-question look at the database (count and max id of faq_additions, SQLite
file), rebuilding the matcher with the additions, and grouping 2000 misses for /faqgaps.
"""

from __future__ import annotations

import statistics
import sys
import tempfile
import time
from datetime import UTC, datetime, timedelta
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
# Run as a plain script, so the repository root is not on sys.path by itself.
sys.path.insert(0, str(ROOT))

from bot.config import load_config  # noqa: E402  (needs the sys.path line above)
from core.faq_live import group_misses  # noqa: E402
from faq.content import FaqContent, load_faq  # noqa: E402
from faq.evaluation import EvalReport, evaluate, load_question_set  # noqa: E402
from faq.matching import FaqMatcher, Phrasing, Thresholds, normalise  # noqa: E402
from storage.db import Database  # noqa: E402
from storage.faq_additions import add_addition, additions_version  # noqa: E402
from storage.faq_misses import StoredMiss  # noqa: E402

DATA = ROOT / "tests" / "data"
SETS = {
    "dev": ROOT.parent / "shared" / "faq-dev.yaml",
    "held-out": DATA / "faq-heldout.yaml",
    "blind": DATA / "faq-blind.yaml",
    "blind-2": DATA / "faq-blind-2.yaml",
    "blind-3": DATA / "faq-blind-3.yaml",
}
RESERVED = "faq-blind-4.yaml"  # measured once, at the very end of issue 11: never here
CONTENT = ROOT / "faq" / "content"
Questions = list[tuple[str, str | None]]

_ENGLISH_WORDS = (
    "the a an is are what how who where when can i you my do does of for to with and about "
    "there this"
)
_DUTCH_WORDS = (
    "de het een is wat hoe wie waar wanneer kan ik je mijn van voor naar met en over er dit zijn"
)
_ENGLISH = frozenset(_ENGLISH_WORDS.split())
_DUTCH = frozenset(_DUTCH_WORDS.split())


def language_of(question: str) -> str:
    """Good enough to file a phrasing under nl or en (the matcher reads both anyway)."""
    words = normalise(question).split()
    english = sum(w in _ENGLISH for w in words)
    dutch = sum(w in _DUTCH for w in words)
    return "en" if english > dutch else "nl"


def misses_of(matcher: FaqMatcher, questions: Questions) -> list[Phrasing]:
    """In-scope questions not answered right, as additions to their true topic."""
    return [
        Phrasing(expected, language_of(question), question)
        for question, expected in questions
        if expected is not None and matcher.match(question).answer_id != expected
    ]


def figures(report: EvalReport) -> str:
    return (
        f"right {report.answer_rate * 100:5.1f}%  wrong {report.wrong_answer_rate * 100:4.1f}%"
        f"  declined {report.null_rejection_rate * 100:5.1f}%"
    )


def with_additions(
    base: FaqMatcher, content: FaqContent, extra: list[Phrasing]
) -> tuple[FaqMatcher, float]:
    started = time.perf_counter()
    matcher = base.with_phrasings(content, extra)
    return matcher, time.perf_counter() - started


def check_cost(additions: list[Phrasing]) -> None:
    with tempfile.TemporaryDirectory() as folder:
        database = Database(f"sqlite:///{folder}/bench.sqlite3")
        database.upgrade()
        now = datetime.now(UTC)
        with database.session() as session:
            for phrasing in additions:
                add_addition(
                    session, phrasing.entry_id, phrasing.language, phrasing.question, None, now
                )
        timings = []
        for _ in range(2000):
            started = time.perf_counter()
            with database.session() as session:
                additions_version(session)
            timings.append((time.perf_counter() - started) * 1000)
        database.dispose()
    p95 = statistics.quantiles(timings, n=20)[-1]
    print(
        f"per-question check (count, max id) on SQLite with {len(additions)} additions: "
        f"mean {statistics.fmean(timings):.3f} ms, p95 {p95:.3f} ms"
    )


def grouping_cost(questions: list[str]) -> None:
    start = datetime(2027, 1, 1, tzinfo=UTC)
    misses = [
        StoredMiss(n, questions[n % len(questions)] + (" graag" if n % 3 else ""), "nl", start)
        for n in range(2000)
    ]
    misses = [
        StoredMiss(m.id, m.question, m.language, start + timedelta(minutes=m.id)) for m in misses
    ]
    started = time.perf_counter()
    groups = group_misses(misses)
    elapsed = time.perf_counter() - started
    print(f"/faqgaps grouping of 2000 misses: {elapsed * 1000:.0f} ms ({len(groups)} groups)")


def main() -> int:
    configured = load_config(ROOT / "config.yaml", environ={}).faq.thresholds
    thresholds = Thresholds(configured.answer, configured.suggest, configured.margin)
    content = load_faq(CONTENT)
    started = time.perf_counter()
    base = FaqMatcher(content, thresholds)
    print(f"base matcher built in {(time.perf_counter() - started) * 1000:.0f} ms; {thresholds}")

    sets: dict[str, Questions] = {}
    for name, path in SETS.items():
        assert path.name != RESERVED
        if path.exists():
            sets[name] = load_question_set(path)
        else:
            print(f"{name}: {path} not found, skipped")
    before = {name: evaluate(base, questions) for name, questions in sets.items()}
    misses = {name: misses_of(base, questions) for name, questions in sets.items()}
    print("\nbefore any addition:")
    for name, report in before.items():
        print(
            f"  {name:9} ({report.total:3}, {report.nulls:2} out of scope)  {figures(report)}"
            f"  misses to add: {len(misses[name])}"
        )

    builds: list[float] = []
    print("\nmisses of one set added, another set measured (answered right: before -> after):")
    for source, added in misses.items():
        matcher, seconds = with_additions(base, content, added)
        builds.append(seconds)
        own = evaluate(matcher, sets[source])
        print(f"  + {source} ({len(added)} additions; itself now {figures(own)})")
        for target, questions in sets.items():
            if target == source:
                continue
            after = evaluate(matcher, questions)
            print(
                f"      {target:9} right {before[target].answer_rate * 100:5.1f}% -> "
                f"{after.answer_rate * 100:5.1f}%   wrong "
                f"{before[target].wrong_answer_rate * 100:4.1f}% -> "
                f"{after.wrong_answer_rate * 100:4.1f}%   declined "
                f"{before[target].null_rejection_rate * 100:5.1f}% -> "
                f"{after.null_rejection_rate * 100:5.1f}%"
            )

    print("\nmisses of all other sets added, this set measured:")
    for target, questions in sets.items():
        added = [p for source, extra in misses.items() if source != target for p in extra]
        matcher, seconds = with_additions(base, content, added)
        builds.append(seconds)
        after = evaluate(matcher, questions)
        print(
            f"  {target:9} ({len(added)} additions)  before {figures(before[target])}\n"
            f"  {'':9} {'':16}  after  {figures(after)}"
        )

    print(
        f"\nrebuilding the matcher with additions: mean {statistics.fmean(builds) * 1000:.0f} ms,"
        f" max {max(builds) * 1000:.0f} ms (in a thread, off the event loop)"
    )
    every_miss = [p for extra in misses.values() for p in extra]
    check_cost(every_miss)
    grouping_cost([q for questions in sets.values() for q, _ in questions])
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
