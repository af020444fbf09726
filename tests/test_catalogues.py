"""Message catalogues: plural forms, escaping, the checks, and one retention statement."""

from __future__ import annotations

import re
from pathlib import Path

import pytest

from bot.config import load_config
from core.i18n import LANGUAGES, Catalogue, Html, Message, message_placeholders
from core.privacy_terms import privacy_terms

ROOT = Path(__file__).resolve().parents[1]
CATALOGUE = Catalogue.load()

SEATS: Message = {
    "plural": "left",
    "one": "Nog {left} plek vrij bij {title}",
    "other": "Nog {left} plekken vrij bij {title}",
}
SEATS_EN: Message = {
    "plural": "left",
    "one": "{left} place left at {title}",
    "other": "{left} places left at {title}",
}


def catalogue_of(nl: dict[str, Message], en: dict[str, Message] | None = None) -> Catalogue:
    return Catalogue({"nl": nl, "en": nl if en is None else en})


def plural_keys(language: str) -> list[str]:
    return sorted(k for k, m in CATALOGUE.messages[language].items() if not isinstance(m, str))


def render(language: str, key: str, number: int, others: int | None = None) -> str:
    """Every placeholder filled with `number`; for plural forms, all but the chosen one with
    `others` (a text has one number that picks its form)."""
    message = CATALOGUE.messages[language][key]
    values = dict.fromkeys(message_placeholders(message), number if others is None else others)
    if not isinstance(message, str):
        values[message["plural"]] = number
    return CATALOGUE.text(language, key, **values)


# -- plural selection -------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("language", "number", "expected"),
    [
        ("nl", 0, "Nog 0 plekken vrij bij <b>&lt;x&gt; &amp; y</b>"),
        ("nl", 1, "Nog 1 plek vrij bij <b>&lt;x&gt; &amp; y</b>"),
        ("nl", 2, "Nog 2 plekken vrij bij <b>&lt;x&gt; &amp; y</b>"),
        ("nl", 21, "Nog 21 plekken vrij bij <b>&lt;x&gt; &amp; y</b>"),
        ("en", 0, "0 places left at <b>&lt;x&gt; &amp; y</b>"),
        ("en", 1, "1 place left at <b>&lt;x&gt; &amp; y</b>"),
        ("en", 2, "2 places left at <b>&lt;x&gt; &amp; y</b>"),
        ("en", 21, "21 places left at <b>&lt;x&gt; &amp; y</b>"),
    ],
)
def test_plural_form_follows_the_number_and_values_stay_escaped(
    language: str, number: int, expected: str
) -> None:
    catalogue = catalogue_of({"seats": SEATS}, {"seats": SEATS_EN})
    text = catalogue.text(language, "seats", left=number, title=Html("<b>&lt;x&gt; &amp; y</b>"))
    assert text == expected
    escaped = catalogue.text(language, "seats", left=number, title="<x> & y")
    assert escaped == expected.replace("<b>", "").replace("</b>", "")


def test_missing_category_falls_back_to_other_and_unknown_language_to_default() -> None:
    catalogue = catalogue_of({"seats": {"plural": "left", "other": "{left} plekken"}})
    assert catalogue.text("nl", "seats", left=1) == "1 plekken"
    catalogue = catalogue_of({"seats": SEATS}, {"seats": SEATS_EN})
    assert catalogue.text("fr", "seats", left=1, title="x") == "Nog 1 plek vrij bij x"
    assert catalogue.text(None, "seats", left=5, title="x") == "Nog 5 plekken vrij bij x"


def test_shipped_plural_texts_in_both_languages() -> None:
    assert CATALOGUE.text("nl", "seats_left", left=1) == "👥 Nog 1 plek vrij"
    assert CATALOGUE.text("nl", "seats_left", left=0) == "👥 Nog 0 plekken vrij"
    assert CATALOGUE.text("en", "seats_left", left=1) == "👥 1 place left"
    assert CATALOGUE.text("en", "seats_left", left=21) == "👥 21 places left"
    assert "<b>1</b> ontvanger." in CATALOGUE.text("nl", "broadcast_confirm", count=1)
    assert "<b>10</b> ontvangers." in CATALOGUE.text("nl", "broadcast_confirm", count=10)
    assert "<b>1</b> recipient." in CATALOGUE.text("en", "broadcast_confirm", count=1)
    assert "<b>2</b> recipients." in CATALOGUE.text("en", "broadcast_confirm", count=2)


# -- the shipped catalogues -------------------------------------------------------------------


def test_shipped_catalogues_have_no_problems_and_plural_keys() -> None:
    assert CATALOGUE.problems() == []
    assert {"seats_left", "broadcast_confirm", "broadcast_report"} <= set(plural_keys("nl"))
    assert {"seats_left", "broadcast_confirm", "broadcast_report"} <= set(plural_keys("en"))


@pytest.mark.parametrize(
    ("language", "key"), [(lang, key) for lang in LANGUAGES for key in plural_keys(lang)]
)
def test_plural_keys_read_right_for_one(language: str, key: str) -> None:
    text = render(language, key, 1, others=2)
    for wrong in ("1 plekken", "1 places", "1 dagen", "1 days", "1 tekens", "1 characters"):
        assert wrong not in text
    assert "(s)" not in text and "(en)" not in text
    assert "1 ontvangers" not in text and "1 recipients" not in text


@pytest.mark.parametrize("language", LANGUAGES)
@pytest.mark.parametrize("number", [1, 2])
def test_no_text_hedges_its_plural(language: str, number: int) -> None:
    for key in CATALOGUE.messages[language]:
        text = render(language, key, number)
        assert "(s)" not in text, key
        assert "(en)" not in text, key
        assert "ontvanger(s)" not in text and "recipient(s)" not in text, key


# -- problems() -------------------------------------------------------------------------------


def test_problems_catch_malformed_plural_forms() -> None:
    broken: dict[str, Message] = {
        "no_other": {"plural": "n", "one": "{n} plek"},
        "no_plural": {"one": "{n} plek", "other": "{n} plekken"},
        "missing_placeholder": {"plural": "count", "one": "{n} plek", "other": "{n} plekken"},
        "different_forms": {"plural": "n", "one": "{n} plek", "other": "{n} plekken bij {title}"},
        "unknown_category": {"plural": "n", "single": "{n} plek", "other": "{n} plekken"},
        "never_chosen": {"plural": "n", "few": "{n} plekjes", "other": "{n} plekken"},
    }
    problems = catalogue_of(broken).problems()
    joined = "\n".join(problems)
    assert "nl: 'no_other': plural forms without 'other'" in problems
    assert "nl: 'no_plural': plural forms without 'plural' (the number's placeholder)" in problems
    assert "nl: 'missing_placeholder': plural 'count' is not a placeholder of every form" in (
        problems
    )
    assert "nl: 'different_forms': plural forms use different placeholders" in joined
    assert "nl: 'unknown_category': unknown plural category 'single'" in joined
    assert "nl: 'never_chosen': plural category 'few' is never chosen in nl" in joined
    # Each language is checked on its own.
    assert "en: 'no_other': plural forms without 'other'" in problems


def test_problems_compare_placeholders_between_languages_across_forms() -> None:
    nl: dict[str, Message] = {"seats": SEATS, "plain": "{n} keer"}
    en: dict[str, Message] = {
        "seats": {"plural": "left", "one": "{left} place left", "other": "{left} places left"},
        "plain": {"plural": "n", "one": "{n} time", "other": "{n} times"},
    }
    assert catalogue_of(nl, en).problems() == ["'seats': placeholders differ between languages"]
    assert catalogue_of({"seats": SEATS}, {"seats": SEATS_EN}).problems() == []


def test_problems_report_texts_that_are_neither_text_nor_forms() -> None:
    odd: dict[str, Message] = {"number": 5, "bad": "{oops"}  # type: ignore[dict-item]
    problems = "\n".join(catalogue_of(odd).problems())
    assert "nl: 'number': is neither a text nor a mapping of plural forms" in problems
    assert "nl: 'bad': bad template" in problems


# -- one retention statement ------------------------------------------------------------------

AFTER = {"nl": "na de activiteit", "en": "after the activity"}
FORGET = {"nl": "/vergeetmij", "en": "/forgetme"}
WHO = {"nl": "organisatoren van Met Andere Ogen", "en": "organisers of Met Andere Ogen"}


def terms(language: str) -> dict[str, str]:
    return privacy_terms(load_config(ROOT / "config.yaml", environ={}), language)


@pytest.mark.parametrize("language", LANGUAGES)
def test_consent_and_privacy_state_the_same_retention(language: str) -> None:
    kept = terms(language)["keep_registrations"]
    assert kept == {"nl": "183 dagen", "en": "183 days"}[language]  # the shipped config
    consent = CATALOGUE.text(language, "signup_consent", keep_registrations=kept)
    summary = CATALOGUE.text(language, "signup_summary_consent", keep_registrations=kept)
    privacy = CATALOGUE.text(language, "privacy", **terms(language))
    for text in (consent, summary, privacy):
        assert kept in text
        assert FORGET[language] in text
        # Every "after the activity" is the configured period, never deletion right after it.
        for match in re.finditer(AFTER[language], text, flags=re.IGNORECASE):
            assert kept in text[max(0, match.start() - 40) : match.start()], text
    for text in (consent, privacy):
        assert WHO[language].lower() in text.lower()


def test_nothing_else_claims_deletion_right_after_the_activity() -> None:
    for language in LANGUAGES:
        for key, message in CATALOGUE.messages[language].items():
            forms = [message] if isinstance(message, str) else list(message.values())
            for text in forms:
                for match in re.finditer(AFTER[language], text, flags=re.IGNORECASE):
                    before = text[max(0, match.start() - 40) : match.start()]
                    assert "{keep_registrations}" in before, (language, key)
