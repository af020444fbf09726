"""/aanmelden (/signup): the guided sign-up, persisted so a restart resumes where the user was.

The draft lives in user_data["signup"] (a SignupDraft of JSON-safe values). Rules (capacity,
waiting list, duplicates) are decided by storage.registrations inside one transaction.
"""

from __future__ import annotations

import logging
import re
import unicodedata
import warnings
from datetime import timedelta
from enum import IntEnum
from typing import TypedDict, cast

from telegram import Update
from telegram.ext import (
    CallbackQueryHandler,
    CommandHandler,
    ConversationHandler,
    MessageHandler,
    TypeHandler,
    filters,
)
from telegram.warnings import PTBUserWarning

from core import callbacks
from core.activity_text import describe
from core.context import Handlers, MaoContext, state_handlers
from core.i18n import Html
from core.keyboards import Button, keyboard, one_per_row
from core.text_limits import clean_text, clip
from handlers.replies import close_buttons, pressed, reply
from jobs.outbox import deliver_now
from storage.activities import ActivityInfo, get_activity, get_activity_by_id, upcoming_activities
from storage.registrations import (
    Outcome,
    SignupDetails,
    availability,
    get_profile,
    get_user_registration_for,
    register,
)
from storage.vocabulary import Role, Sector

logger = logging.getLogger(__name__)

DRAFT = "signup"
EMAIL = re.compile(r"^[^@\s<>\"',;]{1,64}@[A-Za-z0-9-]+(\.[A-Za-z0-9-]+)*\.[A-Za-z]{2,}$")
MAX_NAME = 100
MAX_NAME_WORDS = 6
MAX_QUESTION = 1000
# The summary repeats the question for checking; a long one is shown shortened, so that
# with the other answers it stays well inside one message.
SUMMARY_QUESTION_PREVIEW = 400
# Invisible format characters that real names use: the zero-width non-joiner (Persian
# names), the zero-width joiner (emoji sequences) and the soft hyphen. Other format
# characters (bidi overrides, invisible separators) only disguise what a name says.
NAME_FORMAT_CHARACTERS = frozenset("\u200c\u200d\u00ad")
QUESTION_MARKS = frozenset("?？¿؟")


class Step(IntEnum):
    PICK = 1
    WAITLIST = 2
    PROFILE = 3
    ROLE = 4
    SECTOR = 5
    NAME = 6
    EMAIL = 7
    QUESTION = 8
    CONSENT = 9
    SUMMARY = 10


END = ConversationHandler.END


class Profile(TypedDict):
    name: str
    role: str
    sector: str | None
    email: str | None


class SignupDraft(TypedDict, total=False):
    """What the user has answered so far; stored as JSON between updates and restarts."""

    slug: str
    activity_id: int
    waitlist: bool
    profile: Profile  # answers remembered from the last sign-up, offered again
    name: str
    role: str
    sector: str | None
    email: str | None
    question: str | None


def _draft(context: MaoContext) -> SignupDraft:
    assert context.user_data is not None
    return cast(SignupDraft, context.user_data.setdefault(DRAFT, {}))


def _forget_draft(context: MaoContext) -> None:
    if context.user_data is not None:
        context.user_data.pop(DRAFT, None)


def _user_id(update: Update) -> int:
    assert update.effective_user is not None
    return update.effective_user.id


# -- choosing the activity -------------------------------------------------------------------


async def start_signup(update: Update, context: MaoContext) -> int:
    _forget_draft(context)
    services = context.services
    now = services.now()
    with services.db.session() as session:
        open_ones = [a for a in upcoming_activities(session, now) if a.open_for_registration(now)]
    if not open_ones:
        await reply(update, context, context.text("signup_nothing_open"))
        return END
    language = context.language
    buttons: list[Button] = [
        (a.title(language), callbacks.SIGNUP_PICK.data(activity=a.id)) for a in open_ones[:20]
    ]
    await reply(update, context, context.text("signup_choose"), one_per_row(buttons))
    return Step.PICK


async def pick_from_button(update: Update, context: MaoContext) -> int:
    await pressed(update)
    with context.services.db.session() as session:
        activity = get_activity_by_id(session, int(context.matched("activity")))
    return await _begin_for(update, context, activity.slug if activity else "")


async def pick_from_deep_link(update: Update, context: MaoContext) -> int:
    slug = (context.args or [""])[0].removeprefix("signup_")
    return await _begin_for(update, context, slug)


def _refusal(
    outcome: Outcome, activity: ActivityInfo | None, position: int | None, context: MaoContext
) -> str:
    title = activity.title(context.language) if activity else ""
    keys = {
        Outcome.NOT_FOUND: "signup_not_found",
        Outcome.CANCELLED_ACTIVITY: "signup_cancelled_activity",
        Outcome.NOT_OPEN_YET: "signup_not_open",
        Outcome.CLOSED: "signup_closed",
        Outcome.PAST: "signup_past",
        Outcome.EXAMPLE_ONLY: "signup_example_only",
        Outcome.ALREADY_REGISTERED: "signup_already",
        Outcome.ALREADY_WAITING: "signup_already_waiting",
    }
    return context.text(keys[outcome], title=title, position=position or 0)


async def _begin_for(update: Update, context: MaoContext, slug: str) -> int:
    _forget_draft(context)
    services = context.services
    with services.db.session() as session:
        activity = get_activity(session, slug)
        check = availability(
            session, activity, _user_id(update), services.now(), examples_allowed=services.demo
        )
        profile = get_profile(session, _user_id(update))
    await close_buttons(update)
    if check.outcome not in (Outcome.REGISTERED, Outcome.FULL) or activity is None:
        await reply(
            update, context, _refusal(check.outcome, check.activity, check.position, context)
        )
        return END
    draft = _draft(context)
    draft.update({"slug": activity.slug, "activity_id": activity.id, "waitlist": False})
    if profile is not None:
        draft["profile"] = {
            "name": profile.name,
            "role": profile.role,
            "sector": profile.sector,
            "email": profile.email,
        }
    text = describe(activity, context, with_description=True)
    if check.outcome is Outcome.FULL:
        await reply(
            update,
            context,
            text + "\n\n" + context.text("signup_full_offer_waitlist"),
            keyboard(
                [
                    [
                        (
                            context.text("signup_waitlist_yes"),
                            callbacks.SIGNUP_WAITLIST.data(answer="yes"),
                        ),
                        (
                            context.text("signup_waitlist_no"),
                            callbacks.SIGNUP_WAITLIST.data(answer="no"),
                        ),
                    ]
                ]
            ),
        )
        return Step.WAITLIST
    await reply(update, context, text)
    return await _ask_profile_or_role(update, context)


async def choose_waitlist(update: Update, context: MaoContext) -> int:
    await pressed(update)
    await close_buttons(update)
    if context.matched("answer") == "no":
        _forget_draft(context)
        await reply(update, context, context.text("signup_stopped"))
        return END
    _draft(context)["waitlist"] = True
    return await _ask_profile_or_role(update, context)


# -- who is signing up -----------------------------------------------------------------------


def _who(name: str, role: str, sector: str | None, context: MaoContext) -> str:
    described = context.text(f"role_{role}")
    if sector:
        described += f" ({context.text('sector_' + sector)})"
    return f"{name}, {described}"


async def _ask_profile_or_role(update: Update, context: MaoContext) -> int:
    profile = _draft(context).get("profile")
    if profile:
        text = context.text(
            "signup_reuse_profile",
            who=_who(profile["name"], profile["role"], profile["sector"], context),
            email=profile.get("email") or context.text("signup_no_email"),
        )
        await reply(
            update,
            context,
            text,
            keyboard(
                [
                    [
                        (
                            context.text("signup_reuse_yes"),
                            callbacks.SIGNUP_PROFILE.data(answer="yes"),
                        ),
                        (
                            context.text("signup_reuse_no"),
                            callbacks.SIGNUP_PROFILE.data(answer="no"),
                        ),
                    ]
                ]
            ),
        )
        return Step.PROFILE
    return await _ask_role(update, context)


async def _ask_role(update: Update, context: MaoContext) -> int:
    buttons = [
        (context.text(f"role_{role}"), callbacks.SIGNUP_ROLE.data(role=role)) for role in Role
    ]
    await reply(update, context, context.text("signup_ask_role"), keyboard([buttons]))
    return Step.ROLE


async def choose_profile(update: Update, context: MaoContext) -> int:
    await pressed(update)
    await close_buttons(update)
    draft = _draft(context)
    profile = draft.get("profile")
    if context.matched("answer") == "yes" and profile:
        draft["name"], draft["role"] = profile["name"], profile["role"]
        draft["sector"], draft["email"] = profile["sector"], profile["email"]
        return await _show_summary(update, context)
    return await _ask_role(update, context)


async def choose_role(update: Update, context: MaoContext) -> int:
    await pressed(update)
    await close_buttons(update)
    role = Role(context.matched("role"))
    draft = _draft(context)
    draft["role"] = role.value
    draft["sector"] = None
    if role is Role.PROFESSIONAL:
        buttons = [
            (context.text(f"sector_{s}"), callbacks.SIGNUP_SECTOR.data(sector=s)) for s in Sector
        ]
        await reply(
            update,
            context,
            context.text("signup_ask_sector"),
            keyboard([buttons[i : i + 2] for i in range(0, len(buttons), 2)]),
        )
        return Step.SECTOR
    return await _ask_name(update, context)


async def choose_sector(update: Update, context: MaoContext) -> int:
    await pressed(update)
    await close_buttons(update)
    _draft(context)["sector"] = Sector(context.matched("sector")).value
    return await _ask_name(update, context)


async def _ask_name(update: Update, context: MaoContext) -> int:
    await reply(update, context, context.text("signup_ask_name"))
    return Step.NAME


def clean_name(text: str) -> str | None:
    """1-100 characters without control characters or invisible tricks; spaces tidied."""
    name = " ".join(text.split())
    if not 1 <= len(name) <= MAX_NAME:
        return None
    for character in name:
        category = unicodedata.category(character)
        if category == "Cf" and character not in NAME_FORMAT_CHARACTERS:
            return None
        if category in {"Cc", "Cs", "Co", "Cn"}:
            return None
    return name


def looks_like_name(name: str) -> bool:
    """False for what people type at the name step that is no name: a question, an
    e-mail address, a sentence, a dot or an emoji."""
    return (
        any(character.isalpha() for character in name)
        and not QUESTION_MARKS.intersection(name)
        and "@" not in name
        and len(name.split()) <= MAX_NAME_WORDS
    )


async def receive_name(update: Update, context: MaoContext) -> int:
    message = update.effective_message
    assert message is not None and message.text is not None
    name = clean_name(message.text)
    if name is None:
        await reply(update, context, context.text("signup_bad_name", max=MAX_NAME))
        return Step.NAME
    if not looks_like_name(name):
        await reply(update, context, context.text("signup_not_a_name"))
        return Step.NAME
    _draft(context)["name"] = name
    await reply(
        update,
        context,
        context.text("signup_ask_email"),
        keyboard([[(context.text("signup_skip"), callbacks.SIGNUP_SKIP_EMAIL.data())]]),
    )
    return Step.EMAIL


async def receive_email(update: Update, context: MaoContext) -> int:
    message = update.effective_message
    assert message is not None and message.text is not None
    email = clean_text(message.text, multiline=False).strip()
    if len(email) > 254 or not EMAIL.match(email):
        await reply(
            update,
            context,
            context.text("signup_bad_email"),
            keyboard([[(context.text("signup_skip"), callbacks.SIGNUP_SKIP_EMAIL.data())]]),
        )
        return Step.EMAIL
    _draft(context)["email"] = email
    return await _ask_question(update, context)


async def skip_email(update: Update, context: MaoContext) -> int:
    await pressed(update)
    await close_buttons(update)
    _draft(context)["email"] = None
    return await _ask_question(update, context)


async def _ask_question(update: Update, context: MaoContext) -> int:
    await reply(
        update,
        context,
        context.text("signup_ask_question"),
        keyboard([[(context.text("signup_no_question"), callbacks.SIGNUP_SKIP_QUESTION.data())]]),
    )
    return Step.QUESTION


async def receive_question(update: Update, context: MaoContext) -> int:
    message = update.effective_message
    assert message is not None and message.text is not None
    question = clean_text(message.text).strip()
    if len(question) > MAX_QUESTION:
        await reply(update, context, context.text("signup_question_too_long", max=MAX_QUESTION))
        return Step.QUESTION
    _draft(context)["question"] = question or None
    return await _ask_consent(update, context)


async def skip_question(update: Update, context: MaoContext) -> int:
    await pressed(update)
    await close_buttons(update)
    _draft(context)["question"] = None
    return await _ask_consent(update, context)


async def _ask_consent(update: Update, context: MaoContext) -> int:
    await reply(
        update,
        context,
        context.text("signup_consent"),
        keyboard(
            [
                [
                    (
                        context.text("signup_consent_yes"),
                        callbacks.SIGNUP_CONSENT.data(answer="yes"),
                    ),
                    (
                        context.text("signup_consent_no"),
                        callbacks.SIGNUP_CONSENT.data(answer="no"),
                    ),
                ]
            ]
        ),
    )
    return Step.CONSENT


async def choose_consent(update: Update, context: MaoContext) -> int:
    await pressed(update)
    await close_buttons(update)
    if context.matched("answer") == "no":
        _forget_draft(context)
        await reply(update, context, context.text("signup_no_consent"))
        return END
    return await _show_summary(update, context)


# -- summary and confirmation ----------------------------------------------------------------


async def _show_summary(update: Update, context: MaoContext) -> int:
    draft = _draft(context)
    with context.services.db.session() as session:
        activity = get_activity(session, draft["slug"])
    if activity is None:
        _forget_draft(context)
        await reply(update, context, context.text("signup_not_found"))
        return END
    text = context.text(
        "signup_summary",
        activity=Html(describe(activity, context, with_seats=False)),
        who=_who(draft["name"], draft["role"], draft.get("sector"), context),
        email=draft.get("email") or context.text("signup_no_email"),
        question=clip(draft.get("question") or "–", SUMMARY_QUESTION_PREVIEW),
    )
    if draft.get("waitlist"):
        text += "\n\n" + context.text("signup_summary_waitlist")
    text += "\n\n" + context.text("signup_summary_consent")
    await reply(
        update,
        context,
        text,
        keyboard(
            [
                [
                    (context.text("signup_confirm"), callbacks.SIGNUP_CONFIRM.data()),
                    (context.text("signup_abort"), callbacks.SIGNUP_ABORT.data()),
                ]
            ]
        ),
    )
    return Step.SUMMARY


async def abort(update: Update, context: MaoContext) -> int:
    await pressed(update)
    await close_buttons(update)
    _forget_draft(context)
    await reply(update, context, context.text("signup_stopped"))
    return END


async def confirm(update: Update, context: MaoContext) -> int:
    await pressed(update)
    draft = _draft(context)
    services = context.services
    sector = draft.get("sector")
    details = SignupDetails(
        name=draft["name"],
        role=Role(draft["role"]),
        sector=Sector(sector) if sector else None,
        email=draft.get("email"),
        question=draft.get("question"),
    )
    with services.db.session() as session:
        result = register(
            session,
            draft["activity_id"],
            _user_id(update),
            details,
            services.now(),
            join_waitlist=bool(draft.get("waitlist")),
            examples_allowed=services.demo,
        )
    # Only now that the seat is saved: a failed confirm can be pressed again.
    await close_buttons(update)
    activity = result.activity
    if result.outcome is Outcome.FULL and activity is not None:
        # Filled up while the user was typing: offer the waiting list with the same answers.
        draft["waitlist"] = True
        await reply(update, context, context.text("signup_filled_meanwhile"))
        return await _show_summary(update, context)
    _forget_draft(context)
    if result.outcome in (Outcome.REGISTERED, Outcome.WAITING):
        # The confirmation (and calendar file) was owed in the same transaction as the seat;
        # if Telegram fails now, the outbox delivers it later and the seat stays taken.
        await deliver_now(context, _user_id(update))
    else:
        await reply(update, context, _refusal(result.outcome, activity, result.position, context))
    return END


# -- leaving the flow ------------------------------------------------------------------------


async def cancel_flow(update: Update, context: MaoContext) -> int:
    """Stop the flow, and say truthfully what is stored: a seat already taken stays taken."""
    activity_id = _draft(context).get("activity_id")
    _forget_draft(context)
    held = None
    if activity_id is not None:
        with context.services.db.session() as session:
            held = get_user_registration_for(session, activity_id, _user_id(update))
    if held is not None:
        title = held.activity.title(context.language)
        await reply(update, context, context.text("signup_stopped_but_kept", title=title))
    else:
        await reply(update, context, context.text("signup_stopped"))
    return END


async def timed_out(update: Update, context: MaoContext) -> None:
    _forget_draft(context)
    await reply(update, context, context.text("signup_timeout"))


async def expect_button(update: Update, context: MaoContext) -> None:
    await reply(update, context, context.text("signup_use_buttons"))


async def expect_text(update: Update, context: MaoContext) -> None:
    await pressed(update, alert=context.text("signup_type_answer"))


async def nothing_to_cancel(update: Update, context: MaoContext) -> None:
    await reply(update, context, context.text("signup_nothing_to_cancel"))


def build_handlers(timeout: timedelta) -> Handlers:
    typed = filters.TEXT & ~filters.COMMAND
    stray_text = MessageHandler(typed, expect_button)
    stray_button = CallbackQueryHandler(expect_text, pattern=callbacks.SIGNUP_ANY)
    with warnings.catch_warnings():
        # per_message=False is right here (one sign-up per user, across messages); PTB warns
        # about CallbackQueryHandlers in that mode, which is exactly what we want.
        warnings.simplefilter("ignore", PTBUserWarning)
        conversation = ConversationHandler(
            name="signup",
            persistent=True,
            allow_reentry=True,
            conversation_timeout=timeout.total_seconds(),
            entry_points=[
                CommandHandler(
                    "start",
                    pick_from_deep_link,
                    filters=filters.Regex(r"^/start signup_[a-z0-9-]{1,64}$"),
                ),
                CommandHandler(["aanmelden", "signup"], start_signup),
                CallbackQueryHandler(pick_from_button, pattern=callbacks.SIGNUP_PICK.pattern),
            ],
            states={
                Step.PICK: state_handlers(stray_text),
                Step.WAITLIST: state_handlers(
                    CallbackQueryHandler(
                        choose_waitlist, pattern=callbacks.SIGNUP_WAITLIST.pattern
                    ),
                    stray_text,
                ),
                Step.PROFILE: state_handlers(
                    CallbackQueryHandler(choose_profile, pattern=callbacks.SIGNUP_PROFILE.pattern),
                    stray_text,
                ),
                Step.ROLE: state_handlers(
                    CallbackQueryHandler(choose_role, pattern=callbacks.SIGNUP_ROLE.pattern),
                    stray_text,
                ),
                Step.SECTOR: state_handlers(
                    CallbackQueryHandler(choose_sector, pattern=callbacks.SIGNUP_SECTOR.pattern),
                    stray_text,
                ),
                Step.NAME: state_handlers(MessageHandler(typed, receive_name)),
                Step.EMAIL: state_handlers(
                    MessageHandler(typed, receive_email),
                    CallbackQueryHandler(skip_email, pattern=callbacks.SIGNUP_SKIP_EMAIL.pattern),
                ),
                Step.QUESTION: state_handlers(
                    MessageHandler(typed, receive_question),
                    CallbackQueryHandler(
                        skip_question, pattern=callbacks.SIGNUP_SKIP_QUESTION.pattern
                    ),
                ),
                Step.CONSENT: state_handlers(
                    CallbackQueryHandler(choose_consent, pattern=callbacks.SIGNUP_CONSENT.pattern),
                    stray_text,
                ),
                Step.SUMMARY: state_handlers(
                    CallbackQueryHandler(confirm, pattern=callbacks.SIGNUP_CONFIRM.pattern),
                    CallbackQueryHandler(abort, pattern=callbacks.SIGNUP_ABORT.pattern),
                    stray_text,
                ),
                ConversationHandler.TIMEOUT: state_handlers(TypeHandler(Update, timed_out)),
            },
            fallbacks=state_handlers(
                CommandHandler(["annuleer", "cancel"], cancel_flow),
                stray_button,
            ),
        )
    return [conversation, CommandHandler(["annuleer", "cancel"], nothing_to_cancel)]
