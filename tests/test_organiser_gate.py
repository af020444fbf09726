"""One gate for organisers (core/roles.py: organisers_only), and proof that every organiser
command and button the application registers sits behind it.

Every handler bot/app.py registers is declared: a command is in the organisers' or the
users' command menu (core/menus.py) or listed below; a button's data has its format in
core/callbacks.py, where organisers' buttons are OrganiserButton; anything else is listed
below by name. Organiser commands, organiser buttons and every handler of a conversation an
organiser command or button starts must be gated; a new one outside the gate fails here."""

from __future__ import annotations

import asyncio
import functools
import re
import traceback
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import pytest
from conftest import ADMIN_ID, ROOT, texts
from sqlalchemy import select
from sqlalchemy.exc import OperationalError
from telegram import Update
from telegram.ext import (
    BaseHandler,
    CallbackQueryHandler,
    CommandHandler,
    ConversationHandler,
    MessageHandler,
    filters,
)

from bot.offline.driver import BotDriver
from core import callbacks
from core.callbacks import CallbackFormat, OrganiserButton
from core.menus import ADMIN_COMMANDS, USER_COMMANDS
from core.roles import is_gated, organisers_only
from storage.activities import read_activity_file, upsert_activities
from storage.models import Activity
from storage.organisers import add_organiser
from storage.vocabulary import Status

ORGANISER_COMMANDS = {name for entry in ADMIN_COMMANDS for name in entry[:2]}
PUBLIC_COMMANDS = {name for entry in USER_COMMANDS for name in entry[:2]}
# Commands outside the menus, declared here.
UNLISTED_ORGANISER_COMMANDS = {"manage"}  # an alias of /activiteiten
UNLISTED_PUBLIC_COMMANDS: set[str] = set()
# Handlers that are neither a command nor a button (or answer any button), by callback: for
# everyone. An organiser's reply to an inbox copy is checked in handle_reply itself (the same
# reply from anyone else is a person answering back).
PUBLIC_HANDLERS = {
    "bot.persistence.end_lapsed_conversations",
    "bot.persistence.load_state",
    "bot.persistence.persist_now",
    "core.replies.stale_button",
    "handlers.basics.non_text",
    "handlers.basics.refuse_empty_button",
    "handlers.basics.remember_user",
    "handlers.basics.unknown_command",
    "handlers.faq.answer_question",
    "handlers.faq_learning.refresh_before_matching",
    "handlers.flood.hold_back_floods",
    "handlers.groups.point_to_private_chat",
    # A reply to an inbox copy: an organiser's answer or a person answering back (the
    # organiser check is inside, since the same reply from anyone else is the latter).
    "handlers.inbox.InboxReplies.look_up",
    "handlers.inbox.InboxReplies.answer",
}
BUTTONS = [value for value in vars(callbacks).values() if isinstance(value, CallbackFormat)]


def sample(form: CallbackFormat) -> str:
    """Data a button of this format could carry."""
    values: dict[str, str] = {}
    for name, regex in form.fields.items():
        options = [re.sub(r"\\(.)", r"\1", option) for option in regex.split("|")]
        values[name] = next(v for v in ("1", "60", "abc", *options) if re.fullmatch(regex, v))
    return form.data(**values)


def name_of(callback: Any) -> str:
    while isinstance(callback, functools.partial):
        callback = callback.func
    return f"{callback.__module__}.{callback.__qualname__}"


def walk(
    handlers: list[BaseHandler[Any, Any, Any]], conversation: ConversationHandler[Any] | None
) -> Iterator[tuple[BaseHandler[Any, Any, Any], ConversationHandler[Any] | None]]:
    for handler in handlers:
        if isinstance(handler, ConversationHandler):
            inner = [
                *handler.entry_points,
                *(h for state in handler.states.values() for h in state),
                *handler.fallbacks,
            ]
            yield from walk(inner, handler)
        else:
            yield handler, conversation


def buttons_answered(handler: CallbackQueryHandler[Any, Any]) -> list[CallbackFormat] | None:
    """The formats whose data this handler answers; None for a catch-all."""
    pattern = handler.pattern
    if pattern is None:
        return None
    assert isinstance(pattern, re.Pattern), f"{name_of(handler.callback)}: pattern {pattern!r}"
    return [form for form in BUTTONS if pattern.match(sample(form))]


def for_organisers(handler: BaseHandler[Any, Any, Any]) -> bool:
    if isinstance(handler, CommandHandler):
        return bool(handler.commands & (ORGANISER_COMMANDS | UNLISTED_ORGANISER_COMMANDS))
    if isinstance(handler, CallbackQueryHandler):
        answered = buttons_answered(handler) or []
        return any(isinstance(form, OrganiserButton) for form in answered)
    return False


def undeclared(handler: BaseHandler[Any, Any, Any], in_conversation: bool) -> str | None:
    name = name_of(handler.callback)
    if isinstance(handler, CommandHandler):
        known = (
            ORGANISER_COMMANDS
            | UNLISTED_ORGANISER_COMMANDS
            | PUBLIC_COMMANDS
            | UNLISTED_PUBLIC_COMMANDS
        )
        unknown = sorted(handler.commands - known)
        return f"{name}: commands {unknown} in no menu nor list" if unknown else None
    if isinstance(handler, CallbackQueryHandler):
        answered = buttons_answered(handler)
        if answered is None:
            return None if name in PUBLIC_HANDLERS else f"{name}: any button, undeclared"
        if not answered:
            return f"{name}: a button with no format in core/callbacks.py"
        kinds = {isinstance(form, OrganiserButton) for form in answered}
        return f"{name}: answers organisers' and users' buttons" if len(kinds) > 1 else None
    if in_conversation or name in PUBLIC_HANDLERS:
        return None
    return f"{name}: {type(handler).__name__} undeclared"


def gate_problems(groups: dict[int, list[BaseHandler[Any, Any, Any]]]) -> list[str]:
    problems: list[str] = []
    for group in groups.values():
        flat = list(walk(group, None))
        organised = {
            id(conversation)
            for handler, conversation in flat
            if conversation is not None
            and handler in conversation.entry_points
            and for_organisers(handler)
        }
        for handler, conversation in flat:
            problem = undeclared(handler, conversation is not None)
            if problem:
                problems.append(problem)
            in_organisers_conversation = conversation is not None and id(conversation) in organised
            if (for_organisers(handler) or in_organisers_conversation) and not is_gated(
                handler.callback
            ):
                problems.append(f"{name_of(handler.callback)}: outside the organisers' gate")
    return problems


def test_every_organiser_handler_sits_behind_the_gate(driver: BotDriver) -> None:
    application = driver.application
    assert application is not None
    assert gate_problems(application.handlers) == []
    # The declarations name handlers that are registered (a renamed one is declared anew).
    registered = {
        name_of(handler.callback)
        for group in application.handlers.values()
        for handler, _ in walk(group, None)
    }
    assert PUBLIC_HANDLERS - registered == set()


async def _anything(update: Update, context: Any) -> None:
    """A handler body for the checks below."""


def test_the_gate_check_catches_a_handler_outside_it() -> None:
    gated = organisers_only(_anything)
    conversation: ConversationHandler[Any] = ConversationHandler(
        entry_points=[CommandHandler("nieuweactiviteit", gated)],
        states={1: [MessageHandler(filters.TEXT, _anything)]},
        fallbacks=[],
    )
    groups: dict[int, list[BaseHandler[Any, Any, Any]]] = {
        0: [
            CommandHandler("omroep", _anything),
            CallbackQueryHandler(_anything, pattern=callbacks.ORG_SHOW.pattern),
            CallbackQueryHandler(gated, pattern=callbacks.ORG_CANCEL.pattern),
            CommandHandler("exporteer", gated),
            CallbackQueryHandler(gated, pattern=re.compile(r"^export:")),
            MessageHandler(filters.TEXT, _anything),
            conversation,
        ]
    }
    name = name_of(_anything)
    assert gate_problems(groups) == [
        f"{name}: outside the organisers' gate",
        f"{name}: outside the organisers' gate",
        f"{name}: commands ['exporteer'] in no menu nor list",
        f"{name}: a button with no format in core/callbacks.py",
        f"{name}: MessageHandler undeclared",
        f"{name}: outside the organisers' gate",
    ]


# -- behaviour ------------------------------------------------------------------------------------

STORED_ORGANISER = 4242


@contextmanager
def database_down(driver: BotDriver) -> Iterator[None]:
    """Every session fails as a refused database would (on and off the event loop); then the
    database is back."""

    def down() -> Any:
        raise OperationalError("SELECT 1", {}, Exception("connection refused"))

    with pytest.MonkeyPatch.context() as patched:
        patched.setattr(driver.services.db, "session", down)
        patched.setattr(driver.services.db, "reading", down)
        yield
    driver.services.db.health.answered()


def kleine_dialoog(driver: BotDriver) -> int:
    """The test activities loaded; the id of an upcoming one."""
    services = driver.services
    specs = read_activity_file(ROOT / "tests" / "data" / "activities-test.yaml").activities
    with services.db.session() as session:
        upsert_activities(session, specs, services.config.zone, services.now())
        activity_id = session.scalar(select(Activity.id).where(Activity.slug == "kleine-dialoog"))
    assert activity_id is not None
    return activity_id


async def test_a_stored_organiser_hears_the_role_cannot_be_checked_during_an_outage(
    driver: BotDriver,
) -> None:
    with driver.services.db.session() as session:
        add_organiser(session, STORED_ORGANISER, driver.services.now())
    assert "Aan wie" in texts(await driver.say(STORED_ORGANISER, "/omroep"))[0]
    with database_down(driver):
        calls = await driver.say(STORED_ORGANISER, "/activiteiten")
    said = texts(calls)
    assert len(said) == 1, said
    assert "Ik kan nu even niet nagaan of je organisator bent, dus ik heb niets gedaan" in said[0]


async def test_an_organisers_cancellation_during_an_outage_says_it_did_not_happen(
    driver: BotDriver,
) -> None:
    services = driver.services
    activity_id = kleine_dialoog(driver)
    await driver.press_data(ADMIN_ID, callbacks.ORG_CANCEL.data(activity=activity_id))
    confirmation = driver.latest_message_with_buttons(ADMIN_ID)
    assert confirmation is not None
    yes = callbacks.ORG_CANCEL_YES.data(activity=activity_id)
    with database_down(driver):
        calls = await driver.press_data(ADMIN_ID, yes, confirmation)
    said = texts(calls)
    assert len(said) == 1, said
    assert "Ik kan je gegevens nu even niet bereiken" in said[0]
    assert "Dit is dus niet gebeurd: ‘Ja, afgelasten’" in said[0]
    with services.db.session() as session:
        status = session.scalar(select(Activity.status).where(Activity.id == activity_id))
    assert status == Status.PUBLISHED
    # Once the database is back, the same button cancels it.
    calls = await driver.press_data(ADMIN_ID, yes, confirmation)
    assert "Afgelast" in texts(calls)[0]


# -- nothing of it waits on the database on the event loop ----------------------------------------

SEAMED = {
    str(ROOT / "core" / "roles.py"),
    *(
        str(ROOT / "handlers" / f"{name}.py")
        for name in ("broadcast", "checkin", "faq_learning", "feedback", "organiser_activities")
    ),
}


@contextmanager
def sessions_on_the_event_loop(driver: BotDriver) -> Iterator[list[str]]:
    """Where the organisers' handlers open a synchronous session on the event loop (which
    would stop every user's answers while the database is slow)."""
    found: list[str] = []
    database = driver.services.db

    def watched(opener: Any) -> Any:
        def open_session() -> Any:
            try:
                asyncio.get_running_loop()
            except RuntimeError:
                return opener()  # on the seam's threads
            found.extend(
                f"{Path(frame.filename).name}:{frame.name}"
                for frame in traceback.extract_stack()
                if frame.filename in SEAMED
            )
            return opener()

        return open_session

    with pytest.MonkeyPatch.context() as patched:
        patched.setattr(database, "session", watched(database.session))
        patched.setattr(database, "reading", watched(database.reading))
        yield found


async def test_organisers_tools_do_their_database_work_off_the_event_loop(
    driver: BotDriver,
) -> None:
    services = driver.services
    activity_id = kleine_dialoog(driver)
    with services.db.session() as session:
        add_organiser(session, STORED_ORGANISER, services.now())
    organiser = STORED_ORGANISER  # checked in the database, not in config
    with sessions_on_the_event_loop(driver) as found:
        await driver.say(organiser, "/omroep")
        await driver.press(organiser, "Iedereen")
        await driver.say(organiser, "Nieuws van de organisatie")
        await driver.press(organiser, "Overslaan")
        assert "Versturen" in str(driver.latest_message_with_buttons(organiser))
        await driver.press(organiser, "Versturen")
        await driver.say(organiser, "/activiteiten")
        for form in (callbacks.ORG_SHOW, callbacks.ORG_SHARE, callbacks.ORG_CANCEL):
            await driver.press_data(organiser, form.data(activity=activity_id))
        calls = await driver.press_data(
            organiser, callbacks.ORG_CANCEL_YES.data(activity=activity_id)
        )
        # The announcement to everyone (the organiser too) may still be on its way.
        assert any("Afgelast" in said for said in texts(calls)), texts(calls)
        await driver.say(organiser, "/incheck")
        await driver.say(organiser, "/reacties")
        await driver.press_data(organiser, callbacks.FEEDBACK_RESULTS.data(activity=activity_id))
        await driver.say(organiser, "/faqgaps")
    assert found == []
