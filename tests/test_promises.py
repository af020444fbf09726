"""What the bot says about people and data is true of the code and the config: nobody is told
"sent" when nobody reads it, no answer time is promised that the programme did not give, and
every retention period in a text comes from config."""

from __future__ import annotations

import json
import re
import shutil
from datetime import timedelta
from pathlib import Path

import pytest
from conftest import ROOT, FakeClock, texts
from sqlalchemy import event, func, select

from bot.cli import main
from bot.config import AppConfig
from bot.offline.driver import BotDriver, buttons_of
from bot.services import build_services
from core.i18n import Catalogue
from core.settings import AnswerWithinConfig
from faq.content import load_faq
from storage.models import InboxThread
from storage.organisers import add_organiser
from storage.persistence_store import load_user_data
from storage.personal_data import personal_data

PARENT = 4201
# Nothing in the FAQ is about this: the honest fallback.
QUESTION = "Mijn zoon en zijn juf praten langs elkaar heen, wie kan daar eens naar kijken?"
EMAIL = "metandereogen@vng.nl"


def driver_for(config: AppConfig) -> BotDriver:
    return BotDriver(lambda: build_services(config, FakeClock()))


def thread_count(driver: BotDriver) -> int:
    with driver.services.db.session() as session:
        return int(session.scalar(select(func.count()).select_from(InboxThread)) or 0)


# -- nobody to receive a hand-over: the shipped config (admins: [], no inbox.chat_id) --------


@pytest.fixture
def nobody(config: AppConfig) -> AppConfig:
    assert config.inbox.chat_id is None
    return config.model_copy(update={"admins": ()})


async def test_with_nobody_to_read_it_people_get_the_mail_address_not_a_handover(
    nobody: AppConfig,
) -> None:
    async with driver_for(nobody) as driver:
        fallback = texts(await driver.say(PARENT, QUESTION))[0]
        assert EMAIL in fallback and "knop" not in fallback
        assert buttons_of(driver.latest_message(PARENT) or {}) == []
        human = texts(await driver.say(PARENT, "ben je een mens?"))[0]
        assert EMAIL in human and "knop" not in human
        for command in ("/knelpunt", "/deelverhaal"):
            [answer] = texts(await driver.say(PARENT, command))
            assert "niemand" in answer and EMAIL in answer
        # Text after it is a question for the FAQ again, not a story to send.
        await driver.say(PARENT, "Een verhaal dat nergens heen kan.")
        assert thread_count(driver) == 0
        assert not any(
            "Verstuurd" in t or "doorgestuurd" in t for t in texts(driver.standin.calls)
        )
        with driver.services.db.session() as session:
            kept = load_user_data(session).get(PARENT, {})
        # No question kept for a hand-over that cannot be.
        assert QUESTION not in json.dumps(kept, ensure_ascii=False)


async def test_an_organiser_added_later_makes_the_handover_appear(
    nobody: AppConfig,
) -> None:
    async with driver_for(nobody) as driver:
        with driver.services.db.session() as session:
            add_organiser(session, 9100, driver.services.now())
        fallback = texts(await driver.say(PARENT, QUESTION))[0]
        assert "knop hieronder" in fallback
        done = texts(await driver.press(PARENT, "programmabureau"))
        assert done and thread_count(driver) == 0  # the preview, nothing sent yet
        done = texts(await driver.press(PARENT, "Ja, versturen"))
        assert "Verstuurd naar het programmabureau" in done[0]
        assert thread_count(driver) == 1


def test_check_config_warns_when_nobody_receives_handovers(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    path = tmp_path / "config.yaml"
    shutil.copy(ROOT / "config.yaml", path)
    assert main(["--config", str(path), "check-config"]) == 0
    err = capsys.readouterr().err
    assert "warning: inbox:" in err and "admin add" in err and EMAIL in err
    path.write_text(path.read_text().replace("admins: []", "admins: [12345]"))
    assert main(["--config", str(path), "check-config"]) == 0
    assert "warning: inbox" not in capsys.readouterr().err


# -- answer time: promised only when the programme configures one ----------------------------


async def test_no_answer_time_is_promised_unless_configured(config: AppConfig) -> None:
    assert config.inbox.answer_within is None  # the shipped config makes no promise
    promised = config.model_copy(
        update={
            "inbox": config.inbox.model_copy(
                update={"answer_within": AnswerWithinConfig(nl="binnen een week", en="in a week")}
            )
        }
    )
    for setting, expected in ((config, None), (promised, "binnen een week")):
        async with driver_for(setting) as driver:
            await driver.say(PARENT, QUESTION)
            [preview] = texts(await driver.press(PARENT, "programmabureau"))
            [done] = texts(await driver.press(PARENT, "Ja, versturen"))
            for text in (preview, done):
                assert "werkdag" not in text
                if expected is None:
                    assert "binnen" not in text and "in deze chat." in text
                else:
                    assert f"in deze chat, {expected}." in text


# -- retention figures come from config -----------------------------------------------------

TEST_ACTIVITIES = Path(__file__).resolve().parent / "data" / "activities-test.yaml"
# Catch a retention period typed into a text: a number (or "half") with a unit of time in a
# sentence about keeping or deleting.
KEEPING = re.compile(
    r"bewaar|bewaard|gewist|wis |wissen|verwijder|onthoud|blijft|kept|keep|deleted|delete|"
    r"remember|stored|stays",
    re.IGNORECASE,
)
FIGURE = re.compile(
    r"(\d+|half|six|zes)\s*(dag|dagen|day|days|week|weken|weeks|maand|maanden|"
    r"month|months|jaar|year|years)\b",
    re.IGNORECASE,
)


def with_retention(config: AppConfig, registrations: int, misses: int, inbox: int) -> AppConfig:
    """The config with these periods, on a database file of its own."""
    url = config.storage.url.replace(".sqlite3", f"-{registrations}-{misses}-{inbox}.sqlite3")
    return config.model_copy(
        update={
            "storage": config.storage.model_copy(update={"url": url}),
            "privacy": config.privacy.model_copy(
                update={"keep_registrations_days": registrations, "keep_faq_misses_days": misses}
            ),
            "inbox": config.inbox.model_copy(update={"retention": timedelta(days=inbox)}),
            "activities": config.activities.model_copy(update={"file": TEST_ACTIVITIES}),
        }
    )


async def privacy_texts(config: AppConfig) -> dict[str, str]:
    """What a person reads about retention: /privacy, the FAQ answer and its "Meer", the
    sign-up consent and the summary before confirming, in Dutch and in English."""
    seen: dict[str, str] = {}
    async with driver_for(config) as driver:
        for language, user in (("nl", PARENT), ("en", PARENT + 1)):
            if language == "en":
                await driver.say(user, "/language")
                await driver.press(user, "English")
            seen[f"privacy.{language}"] = texts(await driver.say(user, "/privacy"))[0]
            question = {
                "nl": "wat doet de bot met mijn gegevens",
                "en": "what do you do with my data",
            }
            seen[f"faq.{language}"] = texts(await driver.say(user, question[language]))[0]
            more = {"nl": "Meer hierover", "en": "More about this"}[language]
            seen[f"faq_more.{language}"] = texts(await driver.press(user, more))[0]
            await driver.say(user, "/start signup_kleine-dialoog")
            await driver.press(user, {"nl": "Ouder", "en": "Parent"}[language])
            await driver.say(user, "Anna")
            await driver.press(user, {"nl": "Overslaan", "en": "Skip"}[language])
            consent = await driver.press(user, {"nl": "Geen vraag", "en": "No question"}[language])
            seen[f"consent.{language}"] = texts(consent)[0]
            summary = await driver.press(user, {"nl": "akkoord", "en": "agree"}[language])
            seen[f"summary.{language}"] = texts(summary)[0]
    return seen


CHANGED = ((183, 77), (90, 55), (365, 33))


async def test_every_retention_figure_people_read_comes_from_config(config: AppConfig) -> None:
    shipped = await privacy_texts(with_retention(config, 183, 90, 365))
    changed = await privacy_texts(with_retention(config, 77, 55, 33))
    unit = {"nl": "dagen", "en": "days"}
    for where, text in shipped.items():
        language = where.rsplit(".", 1)[1]
        figures = [(f"{old} {unit[language]}", f"{new} {unit[language]}") for old, new in CHANGED]
        named = [(old, new) for old, new in figures if old in text]
        assert named, where  # each of these texts states at least one period
        for old, new in named:
            assert new in changed[where] and old not in changed[where], (where, old)
    for language in ("nl", "en"):
        for where in ("privacy", "faq_more", "consent", "summary"):
            text = changed[f"{where}.{language}"]
            wanted = ("55", "33") if where != "consent" and where != "summary" else ("77",)
            assert all(f"{n} {unit[language]}" in text for n in wanted), (where, language)
    # One day is written as one day.
    one = await privacy_texts(with_retention(config, 1, 1, 1))
    assert "1 dag " in one["privacy.nl"] and "1 day " in one["privacy.en"]


def test_no_text_types_a_retention_period_in() -> None:
    catalogue = Catalogue.load()
    content = load_faq(ROOT / "faq" / "content")
    texts_found: list[tuple[str, str]] = []
    for language in ("nl", "en"):
        for key, message in catalogue.messages[language].items():
            forms = [message] if isinstance(message, str) else list(message.values())
            texts_found += [(f"{language}:{key}", str(form)) for form in forms]
        for entry in content.entries:
            localised = entry.localised(language)
            texts_found += [(f"{entry.id}.{language}", localised.answer + "\n" + localised.more)]
    typed = []
    for where, text in texts_found:
        for sentence in re.split(r"(?<=[.!?:;])\s+|\n", text):
            if KEEPING.search(sentence) and FIGURE.search(sentence):
                typed.append(f"{where}: {sentence}")
    assert typed == []


# -- every table /mijngegevens reads is named in /privacy ------------------------------------

# Where /privacy names what each table holds (Dutch, English). A table that /mijngegevens
# starts reading fails the test below until it is named here and in /privacy.
NAMED_IN_PRIVACY: dict[str, tuple[str, str]] = {
    "users": ("je Telegram-id, je taal", "your Telegram id, your language"),
    "profiles": ("Je naam, rol en e-mail onthoud ik", "Your name, role and e-mail are remembered"),
    "registrations": ("als je je aanmeldt", "when you sign up"),
    "activities": ("activiteiten, aankondigingen", "activities, announcements"),
    "feedback": ("je beoordeling", "your feedback"),
    "outbox": ("welke berichten ik je stuurde", "which messages I sent you"),
    "inbox_threads": (
        "als je het programmabureau iets vraagt",
        "when you ask or tell the programme",
    ),
    "inbox_messages": ("je berichten en de antwoorden", "your messages and the answers"),
    "user_data": ("waar je met mij mee bezig bent", "what you are in the middle of"),
    "conversation_states": (
        "een aanmelding of bericht dat nog niet af",
        "a sign-up or message not",
    ),
    "broadcasts": ("als je organisator bent", "if you are an organiser"),
    "organisers": ("dat je organisator bent", "that you are one"),
    "faq_additions": ("vragen die je aan de FAQ toevoegde", "questions you added to the FAQ"),
    "blocked_users": ("Blokkeert een organisator je", "If an organiser blocks you"),
}
TABLE = re.compile(r'\b(?:FROM|JOIN)\s+"?(\w+)"?', re.IGNORECASE)


async def test_every_table_mydata_reads_is_named_in_privacy(driver: BotDriver) -> None:
    read: set[str] = set()

    def record(_conn: object, _cursor: object, statement: str, *_: object) -> None:
        read.update(TABLE.findall(statement))

    engine = driver.services.db.engine
    event.listen(engine, "before_cursor_execute", record)
    try:
        with driver.services.db.session() as session:
            personal_data(session, PARENT)
    finally:
        event.remove(engine, "before_cursor_execute", record)
    assert read, "no query seen"
    assert read <= set(NAMED_IN_PRIVACY), f"not named in /privacy: {read - set(NAMED_IN_PRIVACY)}"
    shown = {"nl": texts(await driver.say(PARENT, "/privacy"))[0]}
    await driver.say(PARENT + 1, "/language")
    await driver.press(PARENT + 1, "English")
    shown["en"] = texts(await driver.say(PARENT + 1, "/privacy"))[0]
    for table, (nl, en) in NAMED_IN_PRIVACY.items():
        assert nl in shown["nl"], table
        assert en in shown["en"], table


# -- examples show only what the seed gives ----------------------------------------------------


async def test_examples_invent_no_audience_seats_or_dutch_place(config: AppConfig) -> None:
    examples = config.model_copy(
        update={
            "activities": config.activities.model_copy(update={"examples": True, "page_size": 10})
        }
    )
    async with driver_for(examples) as driver:
        agenda = texts(await driver.say(PARENT, "/agenda"))[0]
        assert "Genoeg plek" not in agenda and "ouders én professionals" not in agenda
        assert "plaats niet bekend" in agenda and "Karakter, Arnhem" in agenda
        answer = texts(await driver.say(PARENT, "zijn er nog plekken bij de dialoog thuiszitters"))
        assert "Dat weet ik niet: dit is een voorbeeld" in answer[0]
        answer = texts(await driver.say(PARENT, "is de masterclass netwerkregie online"))
        assert "Dat weet ik niet: dit is een voorbeeld" in answer[0]
        await driver.say(PARENT + 1, "/language")
        await driver.press(PARENT + 1, "English")
        english = texts(await driver.say(PARENT + 1, "/events"))[0]
        assert "Plaats" not in english and "niet bekend" not in english
        assert "place not known" in english
        assert "Plenty of room" not in english and "parents and professionals" not in english


# -- what people are told about announcements and erasure ----------------------------------------


async def test_optout_and_forgetme_say_what_still_comes_and_what_stays(
    driver: BotDriver,
) -> None:
    optout = texts(await driver.say(PARENT, "/afmeldennieuws"))[0]
    assert "deelnemers of de wachtlijst" in optout and "herinneringen" in optout
    confirm = texts(await driver.say(PARENT, "/vergeetmij"))[0]
    assert "anoniem" in confirm and "kopieën bij de organisatoren" in confirm
    done = texts(await driver.press(PARENT, "Ja, wis alles"))[0]
    assert "anoniem" in done and "downloadden" in done
    assert "al je gegevens zijn gewist" not in done


# -- the FAQ's facts, as the seeds give them --------------------------------------------------

SEED_FACTS = [
    # entry, language, must say, must not say
    ("knelpunten", "nl", "/knelpunt", "kan zelf geen knelpunten"),
    ("knelpunten", "en", "/bottleneck", "cannot pass on bottlenecks"),
    ("inspiratieregios", "nl", "9 afkomstig van een coalitiepartij", "de rest kwam"),
    ("inspiratieregios", "en", "9 of whom came from a coalition party", "the others came"),
    ("nieuwsbrief", "nl", "Meer informatie vind je ook op de website", "Alles vind je"),
    ("nieuwsbrief", "en", "More information is also on the website", "Everything is also"),
    ("dialoog", "nl", "juni (zonder jaartal)", "Op de planning"),
    ("dialoog", "en", "June (without a year)", "MAO II plans"),
    ("community-of-practice", "nl", "juni (zonder jaartal)", "Op de planning"),
    ("community-of-practice", "en", "June (without a year)", "MAO II plans"),
    ("thuiszitters", "nl", "juni (zonder jaartal)", "Op de planning"),
    ("thuiszitters", "en", "June (without a year)", "MAO II plans"),
    (
        "ambities",
        "nl",
        "regierol van gemeenten versterken (en aandacht voor de rol van",
        "regie van",
    ),
    ("ambities", "en", "(and attention to the role of samenwerkingsverbanden", "(and of samen"),
]


@pytest.mark.parametrize(("entry_id", "language", "says", "not_says"), SEED_FACTS)
def test_faq_states_what_the_seeds_give(
    entry_id: str, language: str, says: str, not_says: str
) -> None:
    entry = load_faq(ROOT / "faq" / "content").entry(entry_id)
    assert entry is not None, entry_id
    localised = entry.localised(language)
    text = localised.answer + "\n" + localised.more
    assert says in text and not_says not in text


def test_no_answer_calls_the_news_update_fortnightly_now() -> None:
    for entry in load_faq(ROOT / "faq" / "content").entries:
        for language in ("nl", "en"):
            text = entry.localised(language).answer + entry.localised(language).more
            for stated in ("In de tweewekelijkse nieuwsupdate", "The fortnightly news update"):
                assert stated not in text, entry.id


def test_readme_promises_no_agenda_setting_for_a_bottleneck() -> None:
    readme = (ROOT / "README.md").read_text()
    assert "for the programme to put on the agenda" not in readme
    assert "what the code keeps" in readme and "`faq_additions`" in readme
