"""The inbox, through the stand-in: a question the FAQ cannot answer reaches the programme
office, an organiser's reply comes back in the person's chat (also across a restart), the
person's answer goes back to the thread; stories and bottlenecks, /vragen, privacy."""

from __future__ import annotations

import html
import json
from datetime import timedelta
from typing import Any

import pytest
from conftest import ADMIN_ID, FakeClock, texts
from sqlalchemy import func, select

from bot.config import AppConfig
from bot.offline.driver import BotDriver, buttons_of
from bot.offline.standin import Fault
from core import callbacks
from storage.inbox import ThreadKind, ThreadStatus
from storage.models import InboxMessage, InboxThread, OutboxMessage
from storage.organisers import add_organiser
from storage.outbox import OutboxKind

GROUP = -1001234567890
GROUP_CHAT = {"id": GROUP, "type": "supergroup", "title": "Programmabureau MAO"}
PARENT, OTHER_PARENT, MEMBER, SECOND_ORGANISER = 4001, 4002, 4003, 9002
# Nothing in the FAQ is about this: the honest fallback, with the hand-over button.
QUESTION = "Mijn zoon <12> & zijn juf praten langs elkaar heen, wie kan daar eens naar kijken?"
HANDOVER = "programmabureau"


@pytest.fixture
def config(config: AppConfig) -> AppConfig:
    return config.model_copy(update={"inbox": config.inbox.model_copy(update={"chat_id": GROUP})})


# -- helpers ------------------------------------------------------------------------------------


def message_with(driver: BotDriver, chat_id: int, containing: str) -> dict[str, Any]:
    """The latest message the bot sent to a chat that contains a text (as stored by Telegram)."""
    for (chat, _), message in reversed(driver.standin.messages.items()):
        if chat == chat_id and containing in str(message.get("text", "")):
            return message
    raise LookupError(f"no message with {containing!r} in chat {chat_id}")


def sent_to(driver: BotDriver, chat_id: int, containing: str) -> list[str]:
    return [
        str(c.params.get("text"))
        for c in driver.standin.calls
        if c.method == "sendMessage"
        and c.chat_id == chat_id
        and containing in str(c.params.get("text", ""))
    ]


def threads(driver: BotDriver) -> list[InboxThread]:
    with driver.services.db.session() as session:
        rows = list(session.scalars(select(InboxThread).order_by(InboxThread.id)))
        session.expunge_all()
    return rows


def messages_of(driver: BotDriver, thread_id: int) -> list[tuple[str, str, int | None]]:
    with driver.services.db.session() as session:
        rows = session.execute(
            select(InboxMessage.direction, InboxMessage.text, InboxMessage.author_id)
            .where(InboxMessage.thread_id == thread_id)
            .order_by(InboxMessage.id)
        ).all()
    return [(r[0], r[1], r[2]) for r in rows]


def outbox_rows(driver: BotDriver, kind: OutboxKind) -> list[tuple[int, str, dict[str, Any]]]:
    with driver.services.db.session() as session:
        rows = session.execute(
            select(OutboxMessage.user_id, OutboxMessage.status, OutboxMessage.payload)
            .where(OutboxMessage.kind == kind.value)
            .order_by(OutboxMessage.id)
        ).all()
    return [(r[0], r[1], json.loads(r[2]) if r[2] else {}) for r in rows]


async def hand_over(driver: BotDriver, user: int, question: str = QUESTION) -> list[str]:
    """Ask what the FAQ cannot answer, tap the hand-over button, and say yes. Returns what the
    person saw: the fallback, the preview and the confirmation."""
    fallback = await driver.say(user, question)
    assert any(HANDOVER in label for label, _ in buttons_of(driver.latest_message(user) or {}))
    preview = await driver.press(user, HANDOVER)
    done = await driver.press(user, "Ja, versturen")
    return texts(fallback) + texts(preview) + texts(done)


async def organiser_replies(
    driver: BotDriver, organiser: int, copy: dict[str, Any], text: str
) -> list[str]:
    chat = copy["chat"]
    calls = await driver.say(organiser, text, chat=chat if chat["id"] < 0 else None, reply_to=copy)
    return texts(calls)


# -- the whole way: question, group, answer, answer back ---------------------------------------


async def test_question_reaches_the_group_and_the_answer_comes_back(
    driver: BotDriver,
) -> None:
    seen = await hand_over(driver, PARENT)
    _fallback, preview, done = seen  # the fallback's button was checked by hand_over
    # The preview says exactly what goes where, with the first name only and when to expect
    # an answer; the user's text is shown as typed (escaped).
    assert "het programmabureau van Met Andere Ogen" in preview
    assert "Mijn zoon &lt;12&gt; &amp; zijn juf" in preview
    assert "<b>Test</b>" in preview and "telefoonnummer" in preview
    # The shipped config promises no answer time (the programme never gave one).
    assert "Het antwoord krijg je hier in deze chat." in preview and "werkdag" not in preview
    assert "Verstuurd naar het programmabureau" in done and "binnen" not in done

    [thread] = threads(driver)
    assert (thread.user_id, thread.first_name, thread.kind, thread.status, thread.language) == (
        PARENT,
        "Test",
        ThreadKind.QUESTION,
        ThreadStatus.OPEN,
        "nl",
    )
    assert messages_of(driver, thread.id) == [("in", QUESTION, None)]

    # The organisers' copy: label, number, first name, language, the text, the hint.
    [copy_text] = texts(await driver.messages_to(GROUP, f"Vraag #{thread.id}"))
    assert "Test" in copy_text and "Nederlands" in copy_text
    assert "Mijn zoon &lt;12&gt; &amp; zijn juf" in copy_text
    assert "Beantwoord door op dit bericht te reageren" in copy_text
    copy = message_with(driver, GROUP, f"Vraag #{thread.id}")
    assert buttons_of(copy) == [
        ("✅ Afgehandeld", callbacks.INBOX_ANSWERED.data(thread=thread.id)),
        ("➕ Voeg toe aan FAQ", callbacks.FAQ_ADD_THREAD.data(thread=thread.id)),
    ]

    # An organiser replies in the group: confirmed there, relayed to the parent.
    confirmation = await organiser_replies(
        driver, ADMIN_ID, copy, "Bel ons gerust: <maandag> & dinsdag zijn we er."
    )
    assert confirmation == [f"✅ Je antwoord gaat naar Test (Vraag #{thread.id})."]
    [answer] = texts(await driver.messages_to(PARENT, "Antwoord van het programmabureau"))
    assert "Bel ons gerust: &lt;maandag&gt; &amp; dinsdag zijn we er." in answer
    assert "Beantwoord dit bericht" in answer
    assert messages_of(driver, thread.id)[-1] == (
        "out",
        "Bel ons gerust: <maandag> & dinsdag zijn we er.",
        ADMIN_ID,
    )
    assert threads(driver)[0].status == ThreadStatus.ANSWERED

    # The parent answers back by replying: it reaches the same thread, which opens again,
    # and not the FAQ.
    relayed = message_with(driver, PARENT, "Antwoord van het programmabureau")
    back = texts(await driver.say(PARENT, "Dank je, dinsdag bel ik!", reply_to=relayed))
    assert back == [f"✅ Doorgestuurd naar het programmabureau (#{thread.id})."]
    assert messages_of(driver, thread.id)[-1] == ("in", "Dank je, dinsdag bel ik!", None)
    assert threads(driver)[0].status == ThreadStatus.OPEN
    [follow_up] = texts(await driver.messages_to(GROUP, "reactie"))
    assert f"Vraag #{thread.id}: reactie" in follow_up and "dinsdag bel ik" in follow_up

    # A reply to the follow-up's copy answers the same thread again.
    follow_up_copy = message_with(driver, GROUP, "reactie")
    await organiser_replies(driver, ADMIN_ID, follow_up_copy, "Prima, tot dinsdag.")
    assert await driver.messages_to(PARENT, "Prima, tot dinsdag.")
    assert [d for d, _, _ in messages_of(driver, thread.id)] == ["in", "out", "in", "out"]


# -- across a restart and faults ----------------------------------------------------------------


async def test_a_restart_delivers_what_the_first_application_still_owed(
    driver: BotDriver, clock: FakeClock
) -> None:
    # The organisers' group is unreachable when the question is sent: it stays owed.
    driver.standin.inject(Fault.server_error(times=100, chat_id=GROUP))
    await hand_over(driver, PARENT)
    [thread] = threads(driver)
    assert sent_to(driver, GROUP, "Vraag #") == []
    assert [s for _, s, _ in outbox_rows(driver, OutboxKind.INBOX_TO_ORGANISERS)] == ["pending"]

    await driver.restart()  # a second Application over the same database file
    driver.standin.clear_faults()
    clock.advance(timedelta(minutes=5))
    await driver.deliver_owed()
    assert len(sent_to(driver, GROUP, f"Vraag #{thread.id}")) == 1

    # The answer is owed while the parent's chat fails, and arrives after another restart.
    driver.standin.inject(Fault.server_error(times=100, chat_id=PARENT))
    copy = message_with(driver, GROUP, f"Vraag #{thread.id}")
    await organiser_replies(driver, ADMIN_ID, copy, "Antwoord na een herstart.")
    assert sent_to(driver, PARENT, "Antwoord na een herstart.") == []
    await driver.restart()
    driver.standin.clear_faults()
    clock.advance(timedelta(minutes=5))
    await driver.deliver_owed()
    assert len(sent_to(driver, PARENT, "Antwoord na een herstart.")) == 1

    # The parent's reply to it, on the new Application, still finds the thread.
    relayed = message_with(driver, PARENT, "Antwoord na een herstart.")
    await driver.say(PARENT, "Top, bedankt!", reply_to=relayed)
    assert messages_of(driver, thread.id)[-1] == ("in", "Top, bedankt!", None)
    assert len(await driver.messages_to(GROUP, "Top, bedankt!")) == 1


async def test_blocked_user_the_organiser_who_answered_is_told(driver: BotDriver) -> None:
    await hand_over(driver, PARENT)
    [thread] = threads(driver)
    await driver.messages_to(GROUP, "Vraag #")
    driver.standin.blocked_chats.add(PARENT)
    copy = message_with(driver, GROUP, f"Vraag #{thread.id}")
    await organiser_replies(driver, ADMIN_ID, copy, "Dit komt nooit aan.")
    [note] = texts(await driver.messages_to(ADMIN_ID, "niet aangekomen"))
    assert f"Vraag #{thread.id} (Test)" in note and "geblokkeerd" in note
    assert [s for _, s, _ in outbox_rows(driver, OutboxKind.INBOX_TO_USER)] == ["blocked"]
    # Told once, also when the sender looks again.
    await driver.deliver_owed()
    assert len(sent_to(driver, ADMIN_ID, "niet aangekomen")) == 1


async def test_an_organiser_who_cannot_be_reached_is_told_in_the_group(
    driver: BotDriver,
) -> None:
    await hand_over(driver, PARENT)
    [thread] = threads(driver)
    await driver.messages_to(GROUP, "Vraag #")
    driver.standin.blocked_chats.update({PARENT, ADMIN_ID})
    copy = message_with(driver, GROUP, f"Vraag #{thread.id}")
    await organiser_replies(driver, ADMIN_ID, copy, "Dit komt ook nooit aan.")
    [note] = texts(await driver.messages_to(GROUP, "niet aangekomen"))
    assert f"Vraag #{thread.id} (Test)" in note


async def test_a_group_that_refuses_the_copy_falls_back_to_each_organiser(
    driver: BotDriver,
) -> None:
    driver.standin.blocked_chats.add(GROUP)  # the bot was removed from the group
    await hand_over(driver, PARENT)
    [thread] = threads(driver)
    [copy_text] = texts(await driver.messages_to(ADMIN_ID, f"Vraag #{thread.id}"))
    assert "Mijn zoon &lt;12&gt;" in copy_text
    copy = message_with(driver, ADMIN_ID, f"Vraag #{thread.id}")
    await organiser_replies(driver, ADMIN_ID, copy, "Gevonden, ook zonder groep.")
    assert await driver.messages_to(PARENT, "Gevonden, ook zonder groep.")


# -- who may answer ---------------------------------------------------------------------------


async def test_a_non_organiser_replying_in_the_group_is_ignored(driver: BotDriver) -> None:
    await hand_over(driver, PARENT)
    [thread] = threads(driver)
    await driver.messages_to(GROUP, "Vraag #")
    copy = message_with(driver, GROUP, f"Vraag #{thread.id}")
    before = len(driver.standin.calls)
    answer = await driver.say(MEMBER, "Ik weet het ook niet", chat=GROUP_CHAT, reply_to=copy)
    assert answer == [] and driver.standin.calls[before:] == []  # not a word, anywhere
    assert messages_of(driver, thread.id) == [("in", QUESTION, None)]
    assert outbox_rows(driver, OutboxKind.INBOX_TO_USER) == []
    # Their tap on "Afgehandeld" is refused, and the thread stays open.
    await driver.press_data(MEMBER, callbacks.INBOX_ANSWERED.data(thread=thread.id), copy)
    assert threads(driver)[0].status == ThreadStatus.OPEN
    # What else is addressed to the bot in that group still gets the usual pointer.
    pointer = texts(await driver.say(MEMBER, "/agenda@mao_test_bot", chat=GROUP_CHAT))
    assert len(pointer) == 1 and "privégesprek" in pointer[0]


async def afgehandeld_on_the_copy(
    driver: BotDriver,
) -> tuple[InboxThread, dict[str, Any], dict[str, Any]]:
    """A parent's question, and an organiser's "Afgehandeld" on its copy in the group: the
    thread, the copy, and the message with the closing choices."""
    await hand_over(driver, PARENT)
    [thread] = threads(driver)
    await driver.messages_to(GROUP, "Vraag #")
    copy = message_with(driver, GROUP, f"Vraag #{thread.id}")
    await driver.press_data(ADMIN_ID, callbacks.INBOX_ANSWERED.data(thread=thread.id), copy)
    return thread, copy, message_with(driver, GROUP, f"Hoe sluit je <b>Vraag #{thread.id}</b>")


async def test_afgehandeld_in_the_group_offers_how_to_close_and_says_the_person_hears_nothing(
    driver: BotDriver,
) -> None:
    thread, copy, choice = await afgehandeld_on_the_copy(driver)
    # Not closed yet: the organiser chooses how, and is told what each choice means.
    assert threads(driver)[0].status == ThreadStatus.OPEN
    assert "We hebben je vraag afgehandeld" in choice["text"]  # the standard line, shown
    assert "Zonder bericht hoort Test niets meer van ons" in choice["text"]
    assert [label for label, _ in buttons_of(choice)] == [
        "💬 Standaardzin sturen",
        "✏️ Zelf een zin typen",
        "🔕 Afsluiten zonder bericht",
    ]
    # Somebody else in the group cannot choose for the organiser.
    await driver.press_data(
        MEMBER, callbacks.INBOX_CLOSE.data(thread=thread.id, how="quiet"), choice
    )
    assert threads(driver)[0].status == ThreadStatus.OPEN

    await driver.press_data(
        ADMIN_ID, callbacks.INBOX_CLOSE.data(thread=thread.id, how="quiet"), choice
    )
    assert threads(driver)[0].status == ThreadStatus.ANSWERED
    assert outbox_rows(driver, OutboxKind.INBOX_TO_USER) == []
    closed = driver.standin.messages[(GROUP, choice["message_id"])]
    assert "zonder bericht: Test hoort hier niets meer over" in closed["text"]
    assert not buttons_of(closed)
    # The copy keeps only "Voeg toe aan FAQ".
    assert buttons_of(driver.standin.messages[(GROUP, copy["message_id"])]) == [
        ("➕ Voeg toe aan FAQ", callbacks.FAQ_ADD_THREAD.data(thread=thread.id))
    ]
    # A second tap on the old choice does nothing more.
    await driver.press_data(
        ADMIN_ID, callbacks.INBOX_CLOSE.data(thread=thread.id, how="standard"), choice
    )
    assert outbox_rows(driver, OutboxKind.INBOX_TO_USER) == []


async def test_closing_with_the_standard_line_tells_the_parent(driver: BotDriver) -> None:
    await hand_over(driver, PARENT)
    [thread] = threads(driver)
    await driver.say(ADMIN_ID, "/vragen")
    listing = message_with(driver, ADMIN_ID, "Open berichten")
    await driver.press_data(ADMIN_ID, callbacks.INBOX_ANSWERED.data(thread=thread.id), listing)
    await driver.press(ADMIN_ID, "Standaardzin sturen")
    assert threads(driver)[0].status == ThreadStatus.ANSWERED
    # Owed: an outbox row, and the line kept in the thread as the office's answer.
    [(user, _, payload)] = outbox_rows(driver, OutboxKind.INBOX_TO_USER)
    assert user == PARENT and payload["message"]
    assert messages_of(driver, thread.id)[-1][:2] == (
        "out",
        "We hebben je vraag afgehandeld. Heb je nog een vraag? Stel hem gerust hier in de chat.",
    )
    [told] = texts(await driver.messages_to(PARENT, "We hebben je vraag afgehandeld"))
    assert "Antwoord van het programmabureau" in told
    assert message_with(driver, ADMIN_ID, "Test krijgt: <i>We hebben je vraag afgehandeld")
    # The list shows it no longer.
    updated = driver.standin.messages[(ADMIN_ID, listing["message_id"])]
    assert "Er zijn geen open berichten" in updated["text"]


async def test_closing_with_a_typed_line_relays_it_and_the_parent_can_answer_back(
    driver: BotDriver,
) -> None:
    thread, copy, choice = await afgehandeld_on_the_copy(driver)
    await driver.press_data(
        ADMIN_ID, callbacks.INBOX_CLOSE.data(thread=thread.id, how="type"), choice
    )
    prompt = message_with(driver, GROUP, "Typ je afsluitende zin voor Test")
    assert (GROUP, prompt["message_id"]) in driver.standin.force_reply  # the reply box opens
    assert threads(driver)[0].status == ThreadStatus.OPEN
    await organiser_replies(driver, ADMIN_ID, prompt, "Fijn dat het gelukt is, succes!")
    assert threads(driver)[0].status == ThreadStatus.ANSWERED
    assert await driver.messages_to(PARENT, "Fijn dat het gelukt is, succes!")
    assert buttons_of(driver.standin.messages[(GROUP, copy["message_id"])]) == [
        ("➕ Voeg toe aan FAQ", callbacks.FAQ_ADD_THREAD.data(thread=thread.id))
    ]


# -- without a group: each organiser privately ---------------------------------------------------


async def test_without_a_group_every_organiser_gets_it_and_either_can_answer(
    driver: BotDriver,
) -> None:
    services = driver.services
    services.config = services.config.model_copy(
        update={"inbox": services.config.inbox.model_copy(update={"chat_id": None})}
    )
    with services.db.session() as session:
        add_organiser(session, SECOND_ORGANISER, services.now())
    await driver.say(PARENT, "/knelpunt")
    assert (
        "knelpunten, obstakels en systeemfouten"
        in texts([c for c in driver.standin.calls if c.chat_id == PARENT])[-1]
    )
    calls = await driver.say(PARENT, "Het zorgloket en school verwijzen naar elkaar.")
    assert "met je voornaam (Test), of anoniem" in texts(calls)[0]
    preview = texts(await driver.press(PARENT, "Met mijn voornaam"))[0]
    assert "Het zorgloket en school verwijzen naar elkaar." in preview
    assert "<b>Test</b>" in preview
    await driver.press(PARENT, "Ja, versturen")
    [thread] = threads(driver)
    assert thread.kind == ThreadKind.BOTTLENECK and thread.user_id == PARENT
    for organiser in (ADMIN_ID, SECOND_ORGANISER):
        [copy_text] = texts(await driver.messages_to(organiser, f"Knelpunt #{thread.id}"))
        assert "Het zorgloket en school verwijzen naar elkaar." in copy_text
        assert "Voeg toe aan FAQ" not in json.dumps(
            message_with(driver, organiser, "Knelpunt #")["reply_markup"]
        )
    # The second organiser answers from their own private copy.
    copy = message_with(driver, SECOND_ORGANISER, f"Knelpunt #{thread.id}")
    confirmation = await organiser_replies(driver, SECOND_ORGANISER, copy, "Wij nemen het mee.")
    assert "Je antwoord gaat naar Test" in confirmation[0]
    assert await driver.messages_to(PARENT, "Wij nemen het mee.")
    assert messages_of(driver, thread.id)[-1] == ("out", "Wij nemen het mee.", SECOND_ORGANISER)


# -- stories ------------------------------------------------------------------------------------


async def test_anonymous_story_stores_no_user_and_cannot_be_answered(driver: BotDriver) -> None:
    intro = texts(await driver.say(PARENT, "/deelverhaal"))[0]
    assert "verhalen uit de praktijk deelbaar en zichtbaar" in intro
    await driver.say(PARENT, "Op school van mijn dochter <zat> iedereen samen aan tafel.")
    preview = texts(await driver.press(PARENT, "Anoniem"))[0]
    assert "Anoniem: zonder je naam" in preview and "<b>Test</b>" not in preview
    done = texts(await driver.press(PARENT, "Ja, versturen"))[0]
    assert "anoniem doorgestuurd" in done
    [thread] = threads(driver)
    assert (thread.user_id, thread.first_name, thread.kind) == (None, None, ThreadKind.STORY)
    [copy_text] = texts(await driver.messages_to(GROUP, f"Verhaal #{thread.id}"))
    assert "anoniem" in copy_text and "Test" not in copy_text
    assert "hierop kan niemand antwoorden" in copy_text
    assert "&lt;zat&gt;" in copy_text
    copy = message_with(driver, GROUP, f"Verhaal #{thread.id}")
    assert [label for label, _ in buttons_of(copy)] == ["✅ Afgehandeld"]
    # Nothing about the parent is kept with it: /mijngegevens does not list it.
    with driver.services.db.session() as session:
        from storage.personal_data import personal_data

        assert personal_data(session, PARENT).inbox == ()
    answer = await organiser_replies(driver, ADMIN_ID, copy, "Mooi verhaal!")
    assert "anoniem verstuurd" in answer[0]
    assert outbox_rows(driver, OutboxKind.INBOX_TO_USER) == []


async def test_story_flow_can_be_cancelled_and_sends_nothing(driver: BotDriver) -> None:
    await driver.say(PARENT, "/deelverhaal")
    await driver.say(PARENT, "Een verhaal dat ik toch niet wil sturen.")
    assert "Gestopt" in texts(await driver.say(PARENT, "/annuleer"))[0]
    assert threads(driver) == []
    # After the flow, text is a question for the FAQ again (not a story).
    calls = await driver.say(PARENT, "wat is een fieldlab")
    assert "fieldlab" in texts(calls)[0].lower()
    assert threads(driver) == []


# -- double taps, stale buttons, aborting --------------------------------------------------------


async def test_a_double_tap_sends_one_thread(driver: BotDriver) -> None:
    await driver.say(PARENT, QUESTION)
    await driver.press(PARENT, HANDOVER)
    preview = driver.latest_message_with_buttons(PARENT)
    assert preview is not None
    await driver.press_data(PARENT, callbacks.INBOX_SEND.data(), preview)
    second = await driver.press_data(PARENT, callbacks.INBOX_SEND.data(), preview)
    assert len(threads(driver)) == 1
    assert not [t for t in texts(second) if "Verstuurd" in t]


async def test_no_thanks_sends_nothing(driver: BotDriver) -> None:
    await driver.say(PARENT, QUESTION)
    await driver.press(PARENT, HANDOVER)
    assert "niets verstuurd" in texts(await driver.press(PARENT, "Nee, niet versturen"))[0]
    assert threads(driver) == []


async def test_stale_button_asks_for_the_question_again(driver: BotDriver) -> None:
    await driver.say(PARENT, QUESTION)
    fallback = driver.latest_message_with_buttons(PARENT)
    assert fallback is not None
    await driver.say(PARENT, "/vergeetmij")
    await driver.press(PARENT, "Ja, wis alles")
    calls = await driver.press_data(PARENT, callbacks.INBOX_ASK.data(), fallback)
    assert "Typ je vraag voor het programmabureau" in texts(calls)[0]
    preview = texts(await driver.say(PARENT, "Is er een oudergroep in Zwolle?"))[0]
    assert "Is er een oudergroep in Zwolle?" in preview
    await driver.press(PARENT, "Ja, versturen")
    [thread] = threads(driver)
    assert messages_of(driver, thread.id) == [("in", "Is er een oudergroep in Zwolle?", None)]


async def test_a_question_of_only_control_characters_is_asked_for_again(
    driver: BotDriver,
) -> None:
    """The fuzzer's find: a question draft that came out empty asked for an unknown text."""
    await driver.say(PARENT, QUESTION)
    fallback = driver.latest_message_with_buttons(PARENT)
    assert fallback is not None
    await driver.say(PARENT, "/vergeetmij")
    await driver.press(PARENT, "Ja, wis alles")
    await driver.press_data(PARENT, callbacks.INBOX_ASK.data(), fallback)
    again = texts(await driver.say(PARENT, "\x00 \x00"))
    assert len(again) == 1 and "Typ je vraag voor het programmabureau" in again[0], again
    preview = texts(await driver.say(PARENT, "Is er een oudergroep in Zwolle?"))[0]
    assert "Is er een oudergroep in Zwolle?" in preview


# -- /vragen ------------------------------------------------------------------------------------


async def test_organisers_list_open_threads_show_one_and_mark_it_answered(
    driver: BotDriver, clock: FakeClock
) -> None:
    await hand_over(driver, PARENT)
    clock.advance(timedelta(minutes=10))
    await hand_over(
        driver, OTHER_PARENT, "Kan mijn schoonmoeder ook mee als oppas voor de tweeling?"
    )
    first, second = threads(driver)

    refused = texts(await driver.say(PARENT, "/vragen"))
    assert "alleen de organisatoren" in refused[0]

    listing = texts(await driver.say(ADMIN_ID, "/vragen"))[0]
    assert "Open berichten aan het programmabureau: 2" in listing
    # Newest activity first.
    assert listing.index(f"Vraag #{second.id}") < listing.index(f"Vraag #{first.id}")
    assert "schoonmoeder" in listing

    shown = texts(await driver.press(ADMIN_ID, f"#{first.id} bekijken"))[0]
    assert f"Vraag #{first.id}" in shown and "Mijn zoon &lt;12&gt;" in shown
    # A reply to the shown thread answers it, like a reply to its copy.
    view = message_with(driver, ADMIN_ID, f"<b>Vraag #{first.id}</b>")
    await organiser_replies(driver, ADMIN_ID, view, "Antwoord vanuit /vragen.")
    assert await driver.messages_to(PARENT, "Antwoord vanuit /vragen.")

    await driver.say(ADMIN_ID, "/vragen")
    listing_message = message_with(driver, ADMIN_ID, "Open berichten")
    await driver.press_data(
        ADMIN_ID, callbacks.INBOX_ANSWERED.data(thread=second.id), listing_message
    )
    await driver.press(ADMIN_ID, "Afsluiten zonder bericht")
    assert threads(driver)[1].status == ThreadStatus.ANSWERED
    updated = driver.standin.messages[(ADMIN_ID, listing_message["message_id"])]
    assert "Er zijn geen open berichten" in updated["text"]


async def test_vragen_pages_through_many_threads(driver: BotDriver, clock: FakeClock) -> None:
    for number in range(7):
        clock.advance(timedelta(minutes=1))
        await hand_over(driver, 5000 + number, f"Vraag nummer {number} over iets onbekends?")
    listing = texts(await driver.say(ADMIN_ID, "/vragen"))[0]
    assert "Open berichten aan het programmabureau: 7" in listing
    assert listing.count("<b>Vraag #") == 5
    await driver.press(ADMIN_ID, "Volgende")
    shown = driver.latest_message_with_buttons(ADMIN_ID)
    assert shown is not None and str(shown["text"]).count("<b>Vraag #") == 2
    assert [label for label, _ in buttons_of(shown)][-1] == "← Vorige"


# -- privacy ------------------------------------------------------------------------------------


async def test_forget_me_removes_the_thread_and_its_owed_copies(driver: BotDriver) -> None:
    driver.standin.inject(Fault.server_error(times=100, chat_id=GROUP))
    await hand_over(driver, PARENT)
    [thread] = threads(driver)
    data = texts(await driver.say(PARENT, "/mijngegevens"))[0]
    assert "Je berichten aan het programmabureau" in data and f"Vraag #{thread.id}" in data
    file_call = [c for c in driver.standin.calls if c.method == "sendDocument"][-1]
    document = json.loads(next(iter(file_call.files.values()))[1])
    assert document["inbox_threads"][0]["messages"][0]["text"] == QUESTION

    await driver.say(PARENT, "/vergeetmij")
    await driver.press(PARENT, "Ja, wis alles")
    assert threads(driver) == []
    with driver.services.db.session() as session:
        assert session.scalar(select(func.count()).select_from(InboxMessage)) == 0
    assert outbox_rows(driver, OutboxKind.INBOX_TO_ORGANISERS) == []
    driver.standin.clear_faults()
    await driver.deliver_owed()
    assert sent_to(driver, GROUP, "Vraag #") == []


async def test_privacy_names_the_retention_and_old_threads_are_deleted(
    driver: BotDriver, clock: FakeClock
) -> None:
    privacy = texts(await driver.say(PARENT, "/privacy"))[0]
    assert "programmabureau" in privacy and "365 dagen na het laatste bericht" in privacy
    await hand_over(driver, PARENT)
    clock.advance(timedelta(days=200))
    await hand_over(driver, OTHER_PARENT, "Nog een vraag over iets heel anders?")
    clock.advance(timedelta(days=170))  # the first is 370 days old, the second 170
    await driver.run_job("retention")
    [kept] = threads(driver)
    assert kept.user_id == OTHER_PARENT
    assert {r[0] for r in outbox_rows(driver, OutboxKind.INBOX_TO_ORGANISERS)} == {GROUP}
    assert len(outbox_rows(driver, OutboxKind.INBOX_TO_ORGANISERS)) == 1


async def test_replying_to_the_copy_of_a_forgotten_thread_says_it_is_gone(
    driver: BotDriver,
) -> None:
    await hand_over(driver, PARENT)
    [thread] = threads(driver)
    await driver.messages_to(GROUP, "Vraag #")
    copy = message_with(driver, GROUP, f"Vraag #{thread.id}")
    await driver.say(PARENT, "/vergeetmij")
    await driver.press(PARENT, "Ja, wis alles")
    await driver.deliver_owed()  # the copy's deletion and the notice to the group first
    answer = await organiser_replies(driver, ADMIN_ID, copy, "Te laat?")
    assert answer == ["Dit gesprek bestaat niet meer (gewist op verzoek of na de bewaartermijn)."]
    assert sent_to(driver, PARENT, "Te laat?") == []
    assert threads(driver) == []


async def test_the_copy_shows_the_faqs_guesses_by_their_question(driver: BotDriver) -> None:
    """A question that led to "Bedoelde je…?" and "Geen van deze" (or to the fallback with
    weak candidates) carries what the FAQ thought of, so organisers see where it went wrong."""
    await driver.say(PARENT, "kosten masterclass")
    if not any(HANDOVER in label for label, _ in buttons_of(driver.latest_message(PARENT) or {})):
        await driver.press(PARENT, "Geen van deze")
    await driver.press(PARENT, HANDOVER)
    await driver.press(PARENT, "Ja, versturen")
    [thread] = threads(driver)
    guesses = json.loads(thread.guesses or "[]")
    assert guesses, "the FAQ had candidates for this question"
    [copy_text] = texts(await driver.messages_to(GROUP, f"Vraag #{thread.id}"))
    assert "De FAQ dacht aan:" in copy_text
    for entry_id in guesses:
        entry = driver.services.faq.entry(entry_id)
        assert entry is not None
        assert html.escape(entry.localised("nl").question) in copy_text


async def test_a_story_in_progress_survives_a_restart_and_times_out_later(
    driver: BotDriver, clock: FakeClock
) -> None:
    await driver.say(PARENT, "/deelverhaal")
    await driver.restart()
    asked = texts(await driver.say(PARENT, "Wat ik meemaakte bij het wijkteam."))
    assert "met je voornaam (Test), of anoniem" in asked[0]
    clock.advance(timedelta(minutes=31))  # longer than the conversation may stay quiet
    lapsed = texts(await driver.press(PARENT, "Anoniem"))
    assert any("niet verstuurd, omdat het een tijd stil bleef" in t for t in lapsed)
    assert threads(driver) == []


async def test_voeg_toe_aan_faq_on_a_group_copy_reaches_its_handler(driver: BotDriver) -> None:
    """The gate lets the copy's other button through in the organisers' group, where
    handlers/faq_learning.py offers the topics (elsewhere in groups buttons only point to a
    private chat)."""
    await hand_over(driver, PARENT)
    [thread] = threads(driver)
    await driver.messages_to(GROUP, "Vraag #")
    copy = message_with(driver, GROUP, f"Vraag #{thread.id}")
    before = len(driver.standin.calls)
    await driver.press_data(ADMIN_ID, callbacks.FAQ_ADD_THREAD.data(thread=thread.id), copy)
    calls = driver.standin.calls[before:]
    alerts = [str(c.params.get("text")) for c in calls if c.method == "answerCallbackQuery"]
    assert not any("privégesprek" in a for a in alerts)
    picker = [c for c in calls if c.method == "sendMessage" and c.chat_id == GROUP]
    assert picker and any(
        b.get("callback_data", "").startswith("faqadd:topic:")
        for row in picker[-1].params["reply_markup"]["inline_keyboard"]
        for b in row
    )
