"""Pure tests of FAQ matching: normalisation, bands, robustness and measured accuracy."""

from __future__ import annotations

import time
from pathlib import Path

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from faq.content import FaqContent, load_faq, parse_faq
from faq.evaluation import EvalReport, evaluate, load_question_set
from faq.matching import Band, Candidate, FaqMatcher, MatchResult, Thresholds, normalise

ROOT = Path(__file__).resolve().parents[1]
CONTENT = ROOT / "faq" / "content"
DEV_SET = Path(__file__).resolve().parents[2] / "shared" / "faq-dev.yaml"
HELDOUT_SET = ROOT / "tests" / "data" / "faq-heldout.yaml"


@pytest.fixture(scope="module")
def content() -> FaqContent:
    return load_faq(CONTENT)


@pytest.fixture(scope="module")
def matcher(content: FaqContent) -> FaqMatcher:
    return FaqMatcher(content, Thresholds())


def _entry(entry_id: str, question: str, *alternatives: str) -> dict[str, object]:
    localised = {"question": question, "answer": "Antwoord.", "alternatives": list(alternatives)}
    return {"id": entry_id, "nl": localised, "en": localised}


def _tiny(*entries: dict[str, object]) -> FaqContent:
    return parse_faq({"entries": list(entries)}, Path("tiny.yaml"))


TWINS = _tiny(
    _entry("poes", "Hoe voer ik de poes?"),
    _entry("kat", "Hoe voer ik de poes?"),
    _entry("hond", "Wanneer laat ik de hond uit?"),
)


# --- normalisation ------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("Één CAFÉ, naïef!", "een cafe naief"),
        ("Inspiratieregio's?!", "inspiratieregios"),
        ("IB'er  en\tMAO-tafel", "iber en mao tafel"),
        ("wat is de ‘Doen-dag’…", "wat is de doen dag"),
        ("hoi 👋🏽 hoe gaat 't?", "hoi hoe gaat t"),
        ("   ", ""),
        ("🙂🎉", ""),
        ("snake_case and 0-23 jarigen", "snake case and 0 23 jarigen"),
    ],
)
def test_normalise(text: str, expected: str) -> None:
    assert normalise(text) == expected


def test_normalise_keeps_other_scripts() -> None:
    assert normalise("مرحبا، كيف حالك؟") == "مرحبا كيف حالك"
    assert normalise("שלום עולם!") == "שלום עולם"


def test_normalise_long_input() -> None:
    text = "Met Andere Ogen! " * 700
    assert normalise(text).startswith("met andere ogen met")


# --- bands, margin and result properties --------------------------------------------------------


def test_empty_input_has_no_best() -> None:
    matcher = FaqMatcher(TWINS, Thresholds())
    for question in ("", "   ", "?!", "🙂🙂🙂"):
        result = matcher.match(question)
        assert result.best is None
        assert result.band is Band.FALLBACK
        assert result.answer_id is None
        assert result.suggestions == ()


def test_bands_follow_thresholds() -> None:
    question = "wanneer laat ik de hond uit"
    best = FaqMatcher(TWINS, Thresholds()).match(question).best
    assert best is not None and best.entry_id == "hond"
    answer = FaqMatcher(TWINS, Thresholds(answer=best.score, suggest=best.score - 1, margin=1))
    assert answer.match(question).band is Band.ANSWER
    assert answer.match(question).answer_id == "hond"
    suggest = FaqMatcher(TWINS, Thresholds(answer=best.score + 1, suggest=best.score))
    assert suggest.match(question).band is Band.SUGGEST
    assert suggest.match(question).answer_id is None
    assert suggest.match(question).suggestions[0].entry_id == "hond"
    fallback = FaqMatcher(TWINS, Thresholds(answer=100.1, suggest=best.score + 0.1))
    assert fallback.match(question).band is Band.FALLBACK
    assert fallback.match(question).suggestions == ()


def test_close_second_turns_answer_into_suggestion() -> None:
    result = FaqMatcher(TWINS, Thresholds(answer=50, suggest=30, margin=5)).match(
        "hoe voer ik de poes"
    )
    assert result.best is not None and result.best.score >= 50
    assert result.runners_up[0].score == result.best.score
    assert result.band is Band.SUGGEST
    assert {c.entry_id for c in result.suggestions} == {"poes", "kat"}
    no_margin = FaqMatcher(TWINS, Thresholds(answer=50, suggest=30, margin=0))
    assert no_margin.match("hoe voer ik de poes").band is Band.ANSWER


def test_suggestions_are_capped_and_filtered() -> None:
    result = MatchResult(
        "q",
        Band.SUGGEST,
        Candidate("a", 60.0),
        (Candidate("b", 55.0), Candidate("c", 50.0), Candidate("d", 10.0)),
        suggest_threshold=40.0,
    )
    assert [c.entry_id for c in result.suggestions] == ["a", "b", "c"]
    assert result.answer_id is None
    answered = MatchResult("q", Band.ANSWER, Candidate("a", 90.0), (), suggest_threshold=40.0)
    assert answered.answer_id == "a"
    assert answered.suggestions == ()


# --- behaviour on the shipped content -----------------------------------------------------------


def test_every_entry_answers_its_own_questions(content: FaqContent, matcher: FaqMatcher) -> None:
    for entry in content.entries:
        for question in (entry.nl.question, entry.en.question):
            best = matcher.match(question).best
            assert best is not None and best.entry_id == entry.id, question


@pytest.mark.parametrize(
    ("question", "expected"),
    [
        ("ik wil me aanmelden voor de masterclass, hoe doe ik dat hier?", "aanmelden"),
        ("hoe schrijf ik me in voor de dialoog over thuiszitters", "aanmelden"),
        ("hoe meld ik me af voor de masterclass", "afmelden"),
        ("wat is een feildlab", "fieldlab"),
        ("hoeveel inspiratie regio's zijn er", "inspiratieregios"),
        ("wie betaalt met andere ogen", "opdrachtgevers"),
        ("hoe zet ik de herinneringen uit", "herinneringen"),
        ("kan ik me weer aanmelden", "aanmelden"),
    ],
)
def test_intent_compounds_and_typos(matcher: FaqMatcher, question: str, expected: str) -> None:
    result = matcher.match(question)
    assert result.best is not None and result.best.entry_id == expected


@pytest.mark.parametrize(
    "question",
    [
        "moet ik betalen voor de schone lei sessie?",
        "hoeveel geld krijgt MAO van het ministerie",
        "wat kost de masterclass",
        "kan ik bij OCW in den haag parkeren",
        "vertel eens een mop",
        "wat voor weer wordt het morgen",
        "asdfgh qwerty zxcvb",
        "welke basisschool is het beste voor mijn zoon",
        "hoe gaat het met je",
        "hoe laat is het in Tokio",
    ],
)
def test_unanswerable_questions_are_not_answered(matcher: FaqMatcher, question: str) -> None:
    assert matcher.match(question).band is not Band.ANSWER


def test_huge_and_odd_input_is_fast_and_safe(matcher: FaqMatcher) -> None:
    inputs = [
        "wat is met andere ogen " * 500,
        "x" * 10_000,
        "🙂" * 5_000,
        "مرحبا، كيف حالك؟ " * 300,
        "\u202ehoe meld ik me aan\u202c",
        "\x00\x01\ufffd",
    ]
    for question in inputs:
        started = time.perf_counter()
        result = matcher.match(question)
        assert time.perf_counter() - started < 0.25
        assert result.question == question


@settings(max_examples=300, deadline=None)
@given(question=st.text(max_size=300))
def test_match_never_raises_and_scores_stay_in_range(matcher: FaqMatcher, question: str) -> None:
    result = matcher.match(question)
    candidates = ([result.best] if result.best else []) + list(result.runners_up)
    assert all(0.0 <= c.score <= 100.0 for c in candidates)
    assert len({c.entry_id for c in candidates}) == len(candidates)
    assert [c.score for c in candidates] == sorted((c.score for c in candidates), reverse=True)
    assert len(result.runners_up) <= 3
    assert (result.best is None) == (normalise(question) == "")


# --- measured accuracy --------------------------------------------------------------------------


def _report(matcher: FaqMatcher, path: Path) -> EvalReport:
    if not path.exists():
        pytest.skip(f"question set {path} is not available")
    return evaluate(matcher, load_question_set(path))


def test_dev_set_accuracy(matcher: FaqMatcher) -> None:
    report = _report(matcher, DEV_SET)
    print(report.summary())
    assert report.top1_accuracy >= 0.90, report.failures
    # The stricter reading, as `mao-bot faq match --json` shows it: answered, and right.
    assert report.answer_rate >= 0.90, report.failures
    assert report.null_rejection_rate >= 0.80, report.failures
    assert report.wrong_answer_rate <= 0.05, report.failures


@pytest.mark.parametrize(
    ("name", "top1", "null_rejection"),
    [
        # Written apart from the content, later used to decide content changes.
        ("faq-heldout.yaml", 0.90, 0.85),
        ("faq-blind.yaml", 0.85, 0.85),
        ("faq-blind-2.yaml", 0.85, 0.80),
        # Written last: measured, never tuned on.
        ("faq-blind-3.yaml", 0.85, 0.85),
    ],
)
def test_unseen_question_sets(
    matcher: FaqMatcher, name: str, top1: float, null_rejection: float
) -> None:
    """The floors sit below the measured figures (README), so a regression shows but an
    ordinary content edit does not. Wrong answers cost the most trust: at most 5%."""
    report = _report(matcher, HELDOUT_SET.parent / name)
    print(report.summary())
    assert report.top1_accuracy >= top1, report.failures
    assert report.wrong_answer_rate <= 0.05, report.failures
    assert report.null_rejection_rate >= null_rejection, report.failures


def test_question_set_loader(tmp_path: Path) -> None:
    path = tmp_path / "set.yaml"
    path.write_text('questions:\n  - q: "a?"\n    id: x\n  - q: "b?"\n    id: null\n')
    assert load_question_set(path) == [("a?", "x"), ("b?", None)]
    path.write_text("questions:\n  - id: x\n")
    with pytest.raises(ValueError):
        load_question_set(path)
