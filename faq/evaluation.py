"""Measure a FaqMatcher against a labelled question set (the faq-dev.yaml format).

A question set maps each question to the entry id that should answer it, or to None when the
bot must not answer from the FAQ. Wrong answers cost more trust than "I don't know", so the
report separates top-1 accuracy (ranking) from what the user would actually be told.
"""

from __future__ import annotations

import statistics
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from enum import StrEnum
from pathlib import Path

from rapidfuzz import fuzz, process

from faq.content import FaqContent, load_yaml
from faq.matching import Band, FaqMatcher

__all__ = [
    "EvalReport",
    "Failure",
    "FailureKind",
    "Timing",
    "all_phrasings",
    "evaluate",
    "load_question_set",
    "scaled_content",
    "time_baseline",
    "time_matcher",
]


class FailureKind(StrEnum):
    WRONG_ANSWER = "wrong-answer"  # answered directly with the wrong entry
    NULL_ANSWERED = "null-answered"  # answered a question the FAQ cannot answer
    WRONG_TOP1 = "wrong-top1"  # not answered, and the best candidate was wrong too
    NOT_ANSWERED = "not-answered"  # right entry ranked first, but only suggested or fallback


@dataclass(frozen=True)
class Failure:
    question: str
    expected: str | None
    got: str | None  # best candidate's id
    band: Band
    score: float
    kind: FailureKind


@dataclass(frozen=True)
class EvalReport:
    total: int
    in_scope: int
    nulls: int
    top1_correct: int  # in-scope questions whose best candidate is the expected entry
    answered_correct: int  # in-scope questions answered directly with the expected entry
    wrong_answers: int  # questions answered directly with a wrong entry (nulls included)
    nulls_rejected: int  # null questions not answered directly
    failures: tuple[Failure, ...]

    @property
    def top1_accuracy(self) -> float:
        return self.top1_correct / self.in_scope if self.in_scope else 1.0

    @property
    def answer_rate(self) -> float:
        """Share of in-scope questions answered directly and correctly."""
        return self.answered_correct / self.in_scope if self.in_scope else 1.0

    @property
    def wrong_answer_rate(self) -> float:
        return self.wrong_answers / self.total if self.total else 0.0

    @property
    def null_rejection_rate(self) -> float:
        return self.nulls_rejected / self.nulls if self.nulls else 1.0

    def summary(self) -> str:
        return (
            f"{self.total} questions ({self.in_scope} in scope, {self.nulls} null): "
            f"top-1 {self.top1_accuracy:.1%}, answered correctly {self.answer_rate:.1%}, "
            f"wrong answers {self.wrong_answer_rate:.1%} ({self.wrong_answers}), "
            f"null rejection {self.null_rejection_rate:.1%}"
        )


def evaluate(matcher: FaqMatcher, questions: list[tuple[str, str | None]]) -> EvalReport:
    top1 = answered = wrong = rejected = 0
    failures: list[Failure] = []
    for question, expected in questions:
        result = matcher.match(question)
        got = result.best.entry_id if result.best else None
        score = result.best.score if result.best else 0.0
        kind: FailureKind | None = None
        if expected is None:
            if result.answer_id is None:
                rejected += 1
            else:
                wrong += 1
                kind = FailureKind.NULL_ANSWERED
        else:
            top1 += got == expected
            if result.answer_id == expected:
                answered += 1
            elif result.answer_id is not None:
                wrong += 1
                kind = FailureKind.WRONG_ANSWER
            elif got != expected:
                kind = FailureKind.WRONG_TOP1
            else:
                kind = FailureKind.NOT_ANSWERED
        if kind is not None:
            failures.append(Failure(question, expected, got, result.band, score, kind))
    nulls = sum(expected is None for _, expected in questions)
    return EvalReport(
        total=len(questions),
        in_scope=len(questions) - nulls,
        nulls=nulls,
        top1_correct=top1,
        answered_correct=answered,
        wrong_answers=wrong,
        nulls_rejected=rejected,
        failures=tuple(failures),
    )


def load_question_set(path: Path | str) -> list[tuple[str, str | None]]:
    """Read `questions: [{q: ..., id: ... | null}, ...]`; raises ValueError when malformed."""
    raw = load_yaml(Path(path).read_text(encoding="utf-8"))
    items = raw.get("questions") if isinstance(raw, dict) else None
    if not isinstance(items, list):
        raise ValueError(f"{path}: expected a mapping with a 'questions' list")
    questions: list[tuple[str, str | None]] = []
    for number, item in enumerate(items, start=1):
        if not isinstance(item, dict) or not isinstance(item.get("q"), str):
            raise ValueError(f"{path}: question {number} needs a 'q' string")
        entry_id = item.get("id")
        if entry_id is not None and not isinstance(entry_id, str):
            raise ValueError(f"{path}: question {number}: 'id' must be a string or null")
        questions.append((item["q"], entry_id))
    return questions


# --- timing -------------------------------------------------------------------------------------


@dataclass(frozen=True)
class Timing:
    """Milliseconds per question over `count` calls."""

    count: int
    mean: float
    p50: float
    p95: float
    p99: float
    worst: float

    def summary(self) -> str:
        return (
            f"mean {self.mean:.2f} ms, p50 {self.p50:.2f}, p95 {self.p95:.2f}, "
            f"p99 {self.p99:.2f}, max {self.worst:.2f} ({self.count} calls)"
        )


def _time(call: Callable[[str], object], questions: Sequence[str], rounds: int) -> Timing:
    if not questions:
        raise ValueError("no questions to time")
    for question in questions[:20]:  # warm caches (stems, typo corrections) as a bot would be
        call(question)
    timings: list[float] = []
    for _ in range(rounds):
        for question in questions:
            started = time.perf_counter()
            call(question)
            timings.append((time.perf_counter() - started) * 1000)
    cuts = statistics.quantiles(timings, n=100) if len(timings) > 1 else timings * 99
    return Timing(
        count=len(timings),
        mean=statistics.fmean(timings),
        p50=cuts[49],
        p95=cuts[94],
        p99=cuts[98],
        worst=max(timings),
    )


def time_matcher(matcher: FaqMatcher, questions: Sequence[str], rounds: int = 3) -> Timing:
    """Time `matcher.match` over the questions, `rounds` times each (after a short warm-up)."""
    return _time(matcher.match, questions, rounds)


def all_phrasings(content: FaqContent) -> list[str]:
    """Every question and alternative, both languages: what a naive matcher searches."""
    return [
        text
        for entry in content.entries
        for localised in (entry.nl, entry.en)
        for text in (localised.question, *localised.alternatives)
    ]


def time_baseline(content: FaqContent, questions: Sequence[str], rounds: int = 3) -> Timing:
    """The naive baseline of issue 13, timed like `time_matcher`:
    `rapidfuzz.process.extractOne(question, all_phrasings, scorer=WRatio)`."""
    phrasings = all_phrasings(content)

    def call(question: str) -> object:
        return process.extractOne(question, phrasings, scorer=fuzz.WRatio)

    return _time(call, questions, rounds)


def scaled_content(content: FaqContent, factor: int) -> FaqContent:
    """The content `factor` times over, copies with distinct ids ("fieldlab", "fieldlab-x2",
    ...): a FAQ ten times the size, for timing a matcher at scale."""
    if factor < 1:
        raise ValueError("factor must be at least 1")
    entries = list(content.entries)
    for copy in range(2, factor + 1):
        renamed = {entry.id: f"{entry.id}-x{copy}" for entry in content.entries}
        entries += [
            entry.model_copy(
                update={
                    "id": renamed[entry.id],
                    "related": tuple(renamed.get(r, r) for r in entry.related),
                }
            )
            for entry in content.entries
        ]
    return content.model_copy(update={"entries": tuple(entries)})
