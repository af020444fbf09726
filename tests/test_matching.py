"""Pure tests of FAQ matching: normalisation, bands, robustness, long messages, the disk cache,
organisers' extra phrasings and measured accuracy."""

from __future__ import annotations

import logging
import os
import pickle
import stat
import time
import zipfile
from collections.abc import Iterator
from pathlib import Path

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from faq import cache, matching
from faq.content import FaqContent, parse_faq
from faq.evaluation import (
    EvalReport,
    evaluate,
    load_question_set,
    scaled_content,
    time_baseline,
    time_matcher,
)
from faq.matching import (
    STORED_KINDS,
    Band,
    Candidate,
    FaqMatcher,
    MatchResult,
    Phrasing,
    Thresholds,
    _build_matcher,
    load_matcher,
    normalise,
    with_phrasings,
)
from faq.questions import STORY_WEIGHT, asking_sentences, parts_to_match

ROOT = Path(__file__).resolve().parents[1]
CONTENT = ROOT / "faq" / "content"
DEV_SET = Path(__file__).resolve().parents[2] / "shared" / "faq-dev.yaml"
HELDOUT_SET = ROOT / "tests" / "data" / "faq-heldout.yaml"
LONG_DEV_SET = ROOT / "tests" / "data" / "faq-long-dev.yaml"


@pytest.fixture(scope="module")
def content() -> FaqContent:
    return load_matcher(CONTENT, Thresholds())[0]


@pytest.fixture(scope="module")
def matcher(content: FaqContent) -> FaqMatcher:
    """The bot's own build (shared by the tests in this process, see conftest.py)."""
    shared_content, built = load_matcher(CONTENT, Thresholds())
    assert shared_content == content
    return built


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


@pytest.mark.usefixtures("without_collections")
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
        elapsed = time.perf_counter() - started
        assert elapsed < 0.25, (question[:20], elapsed)
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


# --- long messages: the question inside the story -----------------------------------------------

STORY_WITH_QUESTION = (
    "Mijn zoon van 13 zit al sinds de herfstvakantie thuis. Hij heeft autisme en kan de drukte "
    "op school niet aan. School zegt dat ze niks meer kunnen, de gemeente verwijst naar school. "
    "Ik ben op. Doet Met Andere Ogen iets aan kinderen die thuiszitten?"
)
STORY_WITHOUT_QUESTION = (
    "Vorige week was ik bij een bijeenkomst over passend onderwijs in onze gemeente. Er werd veel "
    "gepraat maar ik ging naar huis zonder antwoorden. Mijn zoon van tien zit nog steeds op een "
    "school die niet bij hem past. Ik ben het zo zat."
)


def test_asking_sentences_are_found_in_a_story() -> None:
    assert asking_sentences(STORY_WITH_QUESTION) == [
        "Doet Met Andere Ogen iets aan kinderen die thuiszitten?"
    ]
    # Without a question mark: a question word starting a clause, or "ik wil weten".
    text = (
        "de directeur zegt dat ze de doelen van met andere ogen volgen. ik wil weten wat die "
        "doelen zijn. groetjes"
    )
    assert asking_sentences(text) == ["ik wil weten wat die doelen zijn."]
    run_on = (
        "ik kreeg deze bot doorgestuurd van een andere ouder uit de klas maar ik snap het niet "
        "goed, wat is met andere ogen eigenlijk voor iets"
    )
    assert asking_sentences(run_on) == ["wat is met andere ogen eigenlijk voor iets"]
    assert asking_sentences(STORY_WITHOUT_QUESTION) == []


def test_parts_to_match_weigh_the_question_above_the_story() -> None:
    short = parts_to_match("hoe meld ik me af")
    assert [(p.text, p.weight) for p in short] == [("hoe meld ik me af", 1.0)]
    parts = parts_to_match(STORY_WITH_QUESTION)
    whole = parts[0]
    assert whole.text == STORY_WITH_QUESTION and whole.weight < 1.0
    question = "Doet Met Andere Ogen iets aan kinderen die thuiszitten?"
    assert any(p.text == question and p.needs_support for p in parts)
    # The sentence before the question comes along, for "wat is dat precies?".
    assert any(p.text == f"Ik ben op. {question}" and not p.needs_support for p in parts)
    story = parts_to_match(STORY_WITHOUT_QUESTION)
    assert [(p.text, p.weight) for p in story] == [(STORY_WITHOUT_QUESTION, STORY_WEIGHT)]


@pytest.mark.parametrize(
    ("question", "expected"),
    [
        (STORY_WITH_QUESTION, "thuiszitters"),
        (
            "Ik had me aangemeld voor de werksessie in juni maar mijn dochter is net geopereerd "
            "en ik moet die week bij haar in het ziekenhuis zijn. Ik wil mijn plek niet bezet "
            "houden voor iemand anders. Hoe meld ik me af?",
            "afmelden",
        ),
        (
            "Wij hebben als school met het wijkteam iets moois opgezet en willen dat verhaal "
            "graag met anderen delen, want andere scholen kunnen er veel van leren. Ik las iets "
            "over een Doen-dag. Wat is dat precies?",
            "doen-dag",
        ),
    ],
)
def test_long_messages_are_answered_by_their_question(
    matcher: FaqMatcher, question: str, expected: str
) -> None:
    assert matcher.match(question).answer_id == expected


@pytest.mark.parametrize(
    "question",
    [
        STORY_WITHOUT_QUESTION,
        # A mother's story whose question the FAQ does not cover: no random entry.
        "Mijn zoon van 8 heeft autisme en krijgt steeds woedeaanvallen als hij uit school komt. "
        "De juf zegt dat hij in de klas heel rustig is. Ik weet niet meer wat ik moet doen, hij "
        "slaapt slecht en ik ben uitgeput. Wat kan ik het beste doen?",
    ],
)
def test_stories_without_a_covered_question_are_not_answered(
    matcher: FaqMatcher, question: str
) -> None:
    assert matcher.match(question).band is Band.FALLBACK


def test_the_question_at_the_end_of_a_very_long_message_counts(matcher: FaqMatcher) -> None:
    story = "Ik wil even mijn verhaal kwijt over school en de jeugdzorg bij ons in de buurt. " * 20
    result = matcher.match(story + "Hoe meld ik me af voor de masterclass?")
    assert result.answer_id == "afmelden"


# --- the disk cache ---------------------------------------------------------------------------


@pytest.fixture
def cache_dir(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Iterator[Path]:
    directory = tmp_path / "cache"
    monkeypatch.setenv("MAO_CACHE_DIR", str(directory))
    _build_matcher.cache_clear()  # the in-process memo would hide the disk
    yield directory
    _build_matcher.cache_clear()


SAMPLE = ["hoe meld ik me af", "wat is een fieldlab", "wie betaalt mao", "vertel een mop"]


def _results(matcher: FaqMatcher) -> list[MatchResult]:
    return [matcher.match(question) for question in SAMPLE]


def test_second_start_reads_the_index_from_disk(
    cache_dir: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    content, built = load_matcher(CONTENT, Thresholds())
    assert len(list(cache_dir.glob("*.faqindex"))) == 1
    _build_matcher.cache_clear()

    def no_build(*_: object) -> None:
        raise AssertionError("built again instead of read from the disk cache")

    # Not timed (on a busy machine the read can take as long as a build): the second start
    # must not read the YAML files nor build. How fast the read is: benchmarks/.
    with monkeypatch.context() as patched:
        patched.setattr(matching, "load_faq", no_build)
        patched.setattr(matching.FaqMatcher, "__init__", no_build)
        content_again, cached = load_matcher(CONTENT, Thresholds())
    assert cached is not built  # really read back, not the in-process memo
    assert content_again == content
    assert _results(cached) == _results(built)
    assert cached.thresholds == Thresholds()


def test_changed_content_or_thresholds_are_not_read_from_a_stale_cache(
    cache_dir: Path, tmp_path: Path
) -> None:
    folder = tmp_path / "faq"
    folder.mkdir()
    entry = (
        "entries:\n  - id: hond\n    nl: {question: 'Wanneer laat ik de hond uit?', "
        "answer: A}\n    en: {question: 'When do I walk the dog?', answer: A}\n"
    )
    (folder / "faq.yaml").write_text(entry)
    _, first = load_matcher(folder, Thresholds())
    assert first.match("hond uitlaten").best is not None
    (folder / "faq.yaml").write_text(entry.replace("hond", "kat").replace("dog", "cat"))
    _build_matcher.cache_clear()
    content, second = load_matcher(folder, Thresholds())
    assert content.ids == ("kat",)
    best = second.match("wanneer laat ik de kat uit").best
    assert best is not None and best.entry_id == "kat"
    _, third = load_matcher(folder, Thresholds(answer=90))
    assert third.thresholds == Thresholds(answer=90)
    assert len(list(cache_dir.glob("*.faqindex"))) == 3


def test_corrupt_cache_falls_back_to_building(cache_dir: Path) -> None:
    _, built = load_matcher(CONTENT, Thresholds())
    (path,) = cache_dir.glob("*.faqindex")
    good = path.read_bytes()
    for damage in (b"", b"not a pickle at all", good[:200]):
        path.write_bytes(damage)
        # What load_matcher reads before it builds (a build each would cost a second).
        assert cache.load(path.stem, kinds=STORED_KINDS) is None
    _build_matcher.cache_clear()
    _, rebuilt = load_matcher(CONTENT, Thresholds())  # from the last, truncated file
    assert _results(rebuilt) == _results(built)
    # The rebuild wrote a good file again.
    assert cache.load(path.stem, kinds=STORED_KINDS) is not None


class _Planted:
    """Unpickling this runs code: it makes the directory `marker`."""

    def __init__(self, marker: Path) -> None:
        self.marker = marker

    def __reduce__(self) -> tuple[object, tuple[str]]:
        return os.mkdir, (str(self.marker),)


def test_a_planted_pickle_in_the_cache_is_never_run(
    cache_dir: Path, tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    """The file a start reads, replaced by a pickle that would run code: it is data to the
    cache, not code, so the next start ignores it and builds the index again."""
    _, built = load_matcher(CONTENT, Thresholds())
    (path,) = cache_dir.glob("*.faqindex")
    marker = tmp_path / "planted-code-ran"
    payload = pickle.dumps(_Planted(marker))
    # With the header a pickle cache would expect, and as a member of an .npz archive.
    with zipfile.ZipFile(tmp_path / "planted.npz", "w") as archive:
        archive.writestr("document.npy", payload)
    for planted in (
        b"mao-faq-index/1\n" + payload,
        payload,
        (tmp_path / "planted.npz").read_bytes(),
    ):
        path.write_bytes(planted)
        path.chmod(0o600)  # the owner's own file, as the cache writes it
        # What load_matcher reads before it builds (a build each would cost a second).
        assert cache.load(path.stem, kinds=STORED_KINDS) is None
        assert not marker.exists(), "planted file ran code"
    _build_matcher.cache_clear()
    _, rebuilt = load_matcher(CONTENT, Thresholds())  # from the last planted file
    assert not marker.exists(), "planted file ran code"
    assert _results(rebuilt) == _results(built)
    print("\nplanted file ignored: yes")


def test_a_cache_file_others_can_write_is_ignored(
    cache_dir: Path, caplog: pytest.LogCaptureFixture
) -> None:
    load_matcher(CONTENT, Thresholds())
    (path,) = cache_dir.glob("*.faqindex")
    assert stat.S_IMODE(path.stat().st_mode) & 0o077 == 0  # written for its owner only
    path.chmod(0o666)
    _build_matcher.cache_clear()
    with caplog.at_level(logging.WARNING, logger="faq.cache"):
        _, matcher = load_matcher(CONTENT, Thresholds())
    assert "writable by others" in caplog.text
    assert matcher.match("hoe meld ik me af").answer_id == "afmelden"


def test_the_cache_stores_data_only() -> None:
    with pytest.raises(TypeError):
        cache._encode(object(), {})  # an unknown type is never stored (nor pickled)
    round_trip = cache._decode(cache._encode({"x": (1, 2.5, None)}, {}), {})
    assert round_trip == {"x": (1, 2.5, None)}


def test_unwritable_cache_directory_is_no_error(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    blocker = tmp_path / "a-file"
    blocker.write_text("not a directory")
    # Even root cannot create a directory inside a regular file.
    monkeypatch.setenv("MAO_CACHE_DIR", str(blocker / "cache"))
    _build_matcher.cache_clear()
    try:
        _, matcher = load_matcher(CONTENT, Thresholds())
        assert matcher.match("hoe meld ik me af").answer_id == "afmelden"
        assert cache.store("key", {"x": 1}) is False
        assert cache.load("key") is None
    finally:
        _build_matcher.cache_clear()


def test_cache_directory_defaults(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    monkeypatch.delenv("MAO_CACHE_DIR", raising=False)
    monkeypatch.setenv("XDG_CACHE_HOME", str(tmp_path))
    assert cache.cache_dir() == tmp_path / "mao-bot"
    monkeypatch.setenv("MAO_CACHE_DIR", str(tmp_path / "own"))
    assert cache.cache_dir() == tmp_path / "own"


# --- organisers' extra phrasings ----------------------------------------------------------------


def test_with_phrasings_adds_a_way_of_asking(
    content: FaqContent, matcher: FaqMatcher, cache_dir: Path
) -> None:
    question = "wat doen jullie in zo een proefwerkplaats met collega's"
    assert matcher.match(question).answer_id != "fieldlab"
    extra = [
        Phrasing("fieldlab", "nl", "wat doen jullie in zo een proefwerkplaats"),
        Phrasing("no-such-entry", "nl", "wordt overgeslagen"),
    ]
    added = matcher.with_phrasings(content, extra)
    assert added.match(question).answer_id == "fieldlab"
    assert added.thresholds == matcher.thresholds
    assert matcher.match(question).answer_id != "fieldlab"  # the original is unchanged
    # The same as building from scratch (new stemmers: a cold build); and read back from the
    # disk cache the second time. (That adding is faster is measured in benchmarks, not here:
    # on a busy machine a timed comparison fails either way.)
    scratch = FaqMatcher(with_phrasings(content, extra), matcher.thresholds)
    questions = [question, *SAMPLE]
    assert [added.match(q) for q in questions] == [scratch.match(q) for q in questions]
    again = matcher.with_phrasings(content, extra)
    assert again is not added
    assert [again.match(q) for q in questions] == [added.match(q) for q in questions]
    assert len(list(cache_dir.glob("*.faqindex"))) == 1


def test_with_phrasings_in_english_and_unknown_entries(content: FaqContent) -> None:
    merged = with_phrasings(
        content,
        [Phrasing("contact", "en", "how do I phone the office"), Phrasing("nope", "nl", "x")],
    )
    contact = merged.entry("contact")
    assert contact is not None and contact.en.alternatives[-1] == "how do I phone the office"
    assert merged.ids == content.ids


# --- scale and timing helpers -------------------------------------------------------------------


def test_scaled_content_and_timing(content: FaqContent) -> None:
    scaled = scaled_content(content, 3)
    assert len(scaled.entries) == 3 * len(content.entries)
    assert len(set(scaled.ids)) == len(scaled.ids)
    assert "fieldlab-x3" in scaled.ids
    matcher = FaqMatcher(scaled, Thresholds())
    best = matcher.match("wat is een fieldlab").best
    assert best is not None and best.entry_id.startswith("fieldlab")
    mine = time_matcher(matcher, SAMPLE, rounds=1)
    naive = time_baseline(scaled, SAMPLE, rounds=1)
    assert mine.count == naive.count == len(SAMPLE)
    assert 0 < mine.p50 <= mine.worst
    with pytest.raises(ValueError):
        scaled_content(content, 0)


def test_long_message_set_accuracy(matcher: FaqMatcher) -> None:
    """The developer's own long, story-like messages (not blind; see the file's header)."""
    report = _report(matcher, LONG_DEV_SET)
    print(report.summary())
    assert report.answer_rate >= 0.75, report.failures
    assert report.wrong_answer_rate <= 0.05, report.failures
    assert report.null_rejection_rate >= 0.85, report.failures
