"""The shipped FAQ says only what the programme's texts and the bot itself say.

Checks that do not need a reader: button labels and /commands named in answers exist in the
user's language, answers stay chat-sized, and guards against defects found in a line-by-line
check of the content against the programme's own texts (figures from the 2020 report stated
as current, promises about data sharing, Dutch labels in English answers, ...).

A button is named in an answer as its exact label, in bold, between square brackets:
`<b>[Afmelden]</b>`; a placeholder in a label ("Aanmelden: {title}") is written as "…".
"""

from __future__ import annotations

import html
import re
from collections.abc import Iterator
from pathlib import Path

import pytest

from core.i18n import Catalogue
from core.menus import ADMIN_COMMANDS, USER_COMMANDS
from faq.content import FaqContent, FaqContentError, load_faq, parse_faq

ROOT = Path(__file__).resolve().parents[1]
CONTENT = ROOT / "faq" / "content"
LANGUAGES = ("nl", "en")
MAX_VISIBLE_CHARS = 600

BUTTON = re.compile(r"<b>\[([^\]<>]+)\]</b>")
# A command starts a word: "/agenda", "(/mine)"; not the path of a link such as "….nl/cop".
COMMAND = re.compile(r"(?<![^\s(])/([A-Za-z_]+)")
PLACEHOLDER = re.compile(r"\{[^{}]*\}")
# Same name in both languages (core/menus.py lists them as (nl, en) pairs).
NEUTRAL_COMMANDS = frozenset({"start", "help", "privacy"})

# Facts from the programme office's report over 2020: true then, not necessarily now.
FIGURES_FROM_2020 = (
    r"\b379\b",
    r"\b60\+|\bmeer dan 60\b|\bmore than 60\b",
    r"\b37\b",
    r"\b35 presentati",
    r"\b11 interviews\b",
    r"\b8 advi",
    r"\b24\b",
    r"\b88\b",
    r"\b2\.000\b",
    r"\b22\b",
    r"\b(?:8|acht|eight) (?:themaforums|thema forums|theme forums)\b",
    r"\b(?:4|vier|four) (?:kennisverbinders|kennis verbinders|(?:NJi )?knowledge connectors)\b",
    r"\b(?:11|12) (?:ambassadeurs|ambassadors)\b",
    r"\b(?:5|vijf|five) (?:thema|theme)",
    r"\b6 van de 11\b|\b6 of the 11\b",
    r"\b150\b",
)
DUTCH_ONLY_LABELS = ("aanmelden", "afmelden", "ik kom", "van de wachtlijst af")


@pytest.fixture(scope="module")
def content() -> FaqContent:
    return load_faq(CONTENT)


@pytest.fixture(scope="module")
def catalogue() -> Catalogue:
    return Catalogue.load()


def visible(text: str) -> str:
    """What the user reads: tags dropped, entities such as &amp; turned into characters."""
    return html.unescape(re.sub(r"<[^>]+>", "", text))


def texts(content: FaqContent, language: str) -> Iterator[tuple[str, str, str]]:
    """(entry id, field, text) of every answer and every optional `more` in one language."""
    for entry in content.entries:
        localised = entry.localised(language)
        yield entry.id, "answer", localised.answer
        if localised.more:
            yield entry.id, "more", localised.more


def catalogue_texts(catalogue: Catalogue, language: str) -> set[str]:
    """Every text of a catalogue; a text with plural forms counts with each of its forms."""
    found: set[str] = set()
    for value in catalogue.messages[language].values():
        if isinstance(value, str):
            found.add(value)
        elif isinstance(value, dict):
            # `plural` names the counting placeholder; the other values are the forms.
            found.update(v for k, v in value.items() if k != "plural" and isinstance(v, str))
    return found


def label_exists(label: str, known: set[str]) -> bool:
    """The label is a catalogue text, or one with each {placeholder} written as "…"."""
    return label in known or any(PLACEHOLDER.sub("…", text) == label for text in known)


def commands(language: str) -> set[str]:
    index = 1 if language == "en" else 0
    return {names[index] for names in USER_COMMANDS + ADMIN_COMMANDS} | NEUTRAL_COMMANDS


# --- (1) button labels ----------------------------------------------------------------------


@pytest.mark.parametrize("language", LANGUAGES)
def test_every_named_button_is_a_label_of_that_language(
    content: FaqContent, catalogue: Catalogue, language: str
) -> None:
    known = catalogue_texts(catalogue, language)
    unknown = [
        f"{entry_id}.{language}.{field}: [{label}]"
        for entry_id, field, text in texts(content, language)
        for label in BUTTON.findall(text)
        if not label_exists(label, known)
    ]
    assert unknown == []


@pytest.mark.parametrize("language", LANGUAGES)
def test_square_brackets_are_used_only_to_name_buttons(content: FaqContent, language: str) -> None:
    # A label written another way ("[Afmelden]" without bold) would escape the check above.
    stray = [
        f"{entry_id}.{language}.{field}"
        for entry_id, field, text in texts(content, language)
        if "[" in visible(BUTTON.sub("", text)) or "]" in visible(BUTTON.sub("", text))
    ]
    assert stray == []


def test_the_convention_finds_the_buttons_it_should(content: FaqContent) -> None:
    afmelden = content.entry("afmelden")
    assert afmelden is not None
    assert BUTTON.findall(afmelden.nl.answer)[:2] == ["Afmelden", "Ja, afmelden"]
    assert label_exists("Aanmelden: …", {"Aanmelden: {title}"})
    assert not label_exists("Aanmelden", {"Aanmelden: {title}"})


# --- (2) commands ---------------------------------------------------------------------------


@pytest.mark.parametrize("language", LANGUAGES)
def test_every_named_command_exists_in_that_language(content: FaqContent, language: str) -> None:
    allowed = commands(language)
    wrong = [
        f"{entry_id}.{language}.{field}: /{name}"
        for entry_id, field, text in texts(content, language)
        for name in COMMAND.findall(visible(text))
        if name not in allowed
    ]
    assert wrong == []


def test_commands_are_found_but_links_are_not() -> None:
    text = 'Typ /agenda (of /mijnaanmeldingen). Zie <a href="https://x.nl/cop">x.nl/cop</a>.'
    assert COMMAND.findall(visible(text)) == ["agenda", "mijnaanmeldingen"]


# --- (3) the defects found in the line-by-line check ---------------------------------------


def test_english_answers_name_no_dutch_only_labels(content: FaqContent) -> None:
    found = [
        f"{entry_id}.{field}: {label!r}"
        for entry_id, field, text in texts(content, "en")
        for label in DUTCH_ONLY_LABELS
        if label in visible(text).lower()
    ]
    assert found == []


@pytest.mark.parametrize("language", LANGUAGES)
def test_no_invented_button_or_promise(content: FaqContent, language: str) -> None:
    invented = (
        "wachtlijst verlaten",  # the button is "Van de wachtlijst af"
        "alleen het programmabureau",  # the consent text says "de organisatoren"
        "only the met andere ogen programme office",
        "niets met anderen gedeeld",  # a promise the programme's texts do not make
        "nothing is shared",
    )
    found = [
        f"{entry_id}.{language}.{field}: {phrase!r}"
        for entry_id, field, text in texts(content, language)
        for phrase in invented
        if phrase in visible(text).lower()
    ]
    assert found == []


@pytest.mark.parametrize("language", LANGUAGES)
def test_figures_from_2020_are_dated(content: FaqContent, language: str) -> None:
    undated = [
        f"{entry_id}.{language}.{field}: {pattern}"
        for entry_id, field, text in texts(content, language)
        for pattern in FIGURES_FROM_2020
        if re.search(pattern, visible(text), re.IGNORECASE) and "2020" not in text
    ]
    assert undated == []


def _both(content: FaqContent, entry_id: str) -> dict[str, str]:
    """Answer and `more` of one entry, per language, as the user reads them (lower case)."""
    entry = content.entry(entry_id)
    assert entry is not None, entry_id
    return {
        language: visible(entry.localised(language).answer + "\n" + entry.localised(language).more)
        .lower()
        .replace("\n", " ")
        for language in LANGUAGES
    }


def test_exchange_between_regions_includes_the_plans(content: FaqContent) -> None:
    answers = _both(content, "inspiratieregios")
    assert "van plan" in answers["nl"] and "planned" in answers["en"]


def test_parents_are_not_promised_activities(content: FaqContent) -> None:
    answers = _both(content, "ouders")
    assert "naar activiteiten" not in answers["nl"]
    assert "join activities" not in answers["en"]


def test_thuiszitters_says_nothing_the_sources_say_of_other_children(
    content: FaqContent,
) -> None:
    answers = _both(content, "thuiszitters")
    for phrase in ("tussen wal en schip", "ouders en professionals", "fall through the cracks"):
        assert phrase not in answers["nl"] and phrase not in answers["en"]
    assert "parents and professionals" not in answers["en"]


@pytest.mark.parametrize("entry_id", ["knelpunten", "privacy"])
def test_no_mail_procedure_the_sources_do_not_give(content: FaqContent, entry_id: str) -> None:
    for text in _both(content, entry_id).values():
        assert "@" not in text and "mail ons" not in text


def test_privacy_names_the_bots_own_commands(content: FaqContent) -> None:
    answers = _both(content, "privacy")
    # The periods are placeholders, filled from config when answered (tests/test_promises.py).
    periods = ("{keep_registrations}", "{keep_inbox}", "{keep_misses}")
    for command in ("/privacy", "/mijngegevens", "/vergeetmij", *periods):
        assert command in answers["nl"]
    for command in ("/privacy", "/mydata", "/forgetme", *periods):
        assert command in answers["en"]
    assert "organisatoren" in answers["nl"] and "organisers" in answers["en"]


def test_contact_makes_no_promise_about_registrations(content: FaqContent) -> None:
    answers = _both(content, "contact")
    assert "aangemeld" not in answers["nl"] and "signed up" not in answers["en"]


def test_ambassador_figures_are_largely_not_all_by_one(content: FaqContent) -> None:
    answers = _both(content, "ambassadeurs")
    assert "grotendeels" in answers["nl"] and "largely" in answers["en"]


def test_commissioning_parties_are_not_called_funders(content: FaqContent) -> None:
    answers = _both(content, "opdrachtgevers")
    for text in answers.values():
        assert not re.search(r"\bfinancier\b|\bfunders?\b|\bfunded by\b|\bfinancierd door\b", text)
    # "Wie betaalt MAO?" lands here: the answer says the sources do not tell.
    assert "gefinancierd" in answers["nl"] and "staat niet" in answers["nl"]
    assert "funded" in answers["en"] and "not in the information" in answers["en"]


def test_more_is_checked_like_the_answer() -> None:
    def entry(nl_more: str, en_more: str) -> dict[str, object]:
        return {
            "id": "a",
            "nl": {"question": "Q", "answer": "A", "more": nl_more},
            "en": {"question": "Q", "answer": "A", "more": en_more},
        }

    with pytest.raises(FaqContentError) as raised:
        parse_faq({"entries": [entry("<b>open", "<p>x</p>")]}, Path("faq.yaml"))
    assert "a.nl.more: unclosed tag <b>" in raised.value.problems
    assert "a.en.more: tag <p> is not allowed in Telegram HTML" in raised.value.problems
    with pytest.raises(FaqContentError) as raised:
        parse_faq({"entries": [entry("Meer.", "")]}, Path("faq.yaml"))
    assert raised.value.problems == ["a.more: given in one language only"]
    assert parse_faq({"entries": [entry("", "")]}, Path("faq.yaml")).entries[0].nl.more == ""


# --- (4) chat-sized -------------------------------------------------------------------------


@pytest.mark.parametrize("language", LANGUAGES)
def test_answers_are_chat_sized(content: FaqContent, language: str) -> None:
    too_long = [
        f"{entry_id}.{language}.{field}: {len(visible(text))}"
        for entry_id, field, text in texts(content, language)
        if len(visible(text)) > MAX_VISIBLE_CHARS
    ]
    assert too_long == []
