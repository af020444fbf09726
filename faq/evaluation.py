"""Measure a FaqMatcher against a labelled question set (the faq-dev.yaml format).

A question set maps each question to the entry id that should answer it, or to None when the
bot must not answer from the FAQ. Wrong answers cost more trust than "I don't know", so the
report separates top-1 accuracy (ranking) from what the user would actually be told.
"""

from __future__ import annotations

from dataclasses import dataclass
from enum import StrEnum
from pathlib import Path

import yaml

from faq.matching import Band, FaqMatcher

__all__ = ["EvalReport", "Failure", "FailureKind", "evaluate", "load_question_set"]


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
    raw = yaml.safe_load(Path(path).read_text(encoding="utf-8"))
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
