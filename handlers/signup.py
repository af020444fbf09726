"""/aanmelden (/signup): the guided sign-up, persisted so a restart resumes where the user was.

The draft lives in user_data["signup"] (a SignupDraft of JSON-safe values). Rules (capacity,
waiting list, duplicates, who an activity is for) are decided by storage.registrations inside
one transaction.

Every step has "← Terug" (also typed: "terug", "back"), which returns to the step before with
the answers kept; the summary changes one answer at a time ("Wijzig …") and comes back.
"""

from __future__ import annotations

import logging
import re
import unicodedata
import warnings
from collections.abc import Awaitable, Callable, Iterable, Mapping
from datetime import timedelta
from enum import IntEnum
from functools import partial
from typing import TypedDict, cast

from sqlalchemy.orm import Session
from telegram import InlineKeyboardMarkup, Update
from telegram.ext import (
    BaseHandler,
    CallbackQueryHandler,
    CommandHandler,
    ConversationHandler,
    MessageHandler,
    TypeHandler,
    filters,
)
from telegram.warnings import PTBUserWarning

from core import callbacks
from core.activity_text import choice_label, describe
from core.callbacks import CallbackFormat
from core.context import Handlers, MaoContext, state_handlers
from core.drafts import SIGNUP_DRAFT as DRAFT
from core.i18n import Html
from core.keyboards import Button, keyboard, one_per_row, shorten
from core.privacy_terms import privacy_terms
from core.replies import close_buttons, pressed, reply, stale_button
from core.signups import picker, signup_start
from core.text_limits import clean_text, clip
from core.typed_choice import ROLE_WORDS, typed_choice
from storage.activities import ActivityInfo, get_activity_by_id
from storage.db import DatabaseUnavailableError
from storage.registrations import (
    Outcome,
    SignupDetails,
    audience_admits,
    get_user_registration_for,
    register,
)
from storage.vocabulary import Role, Sector

logger = logging.getLogger(__name__)

# The activities sign-ups are for, as this process last read them (see _activity).
ACTIVITIES_READ_KEY = "signup_activities_last_read"
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
# Typed instead of pressing "← Terug".
BACK_WORDS = re.compile(r"^\s*(terug|ga terug|vorige|back|go back)\s*[.!]?\s*$", re.IGNORECASE)
# The answers a user gave, kept when they go back to the picker and choose again.
ANSWERS = ("name", "role", "sector", "email", "question")
# A kept answer is repeated on its "Zo laten" button, shortened.
KEEP_PREVIEW = 30


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
    reused: bool  # "Ja, klopt": the remembered answers were taken over (no consent step)
    editing: bool  # changing one answer from the summary: back to the summary after it


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
    return await _ask_activity(update, context, start_afresh=True)


async def _ask_activity(update: Update, context: MaoContext, start_afresh: bool = False) -> int:
    """The picker: each button says date and place (sessions of one title differ only there)
    and whether the user already has a place or only the waiting list is left.

    `start_afresh`: a sign-up in progress is forgotten, but only once the picker is read: in
    an outage the user hears so and the sign-up they were in stays as it was."""
    services = context.services
    now = services.now()
    choice = await services.db.run_reading(picker, _user_id(update), now)
    if start_afresh:
        _forget_draft(context)
    open_ones, held = choice.open, choice.held
    if not open_ones:
        _forget_draft(context)
        await reply(update, context, context.text("signup_nothing_open"))
        return END
    buttons: list[Button] = [
        (choice_label(a, context, held.get(a.id)), callbacks.SIGNUP_PICK.data(activity=a.id))
        for a in open_ones[:20]
    ]
    await reply(update, context, context.text("signup_choose"), one_per_row(buttons))
    return Step.PICK


async def pick_from_button(update: Update, context: MaoContext) -> int:
    await pressed(update)
    return await _begin_for(update, context, int(context.matched("activity")))


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
        Outcome.WRONG_AUDIENCE: "signup_wrong_audience",
    }
    return context.text(keys[outcome], title=title, position=position or 0)


async def _begin_for(update: Update, context: MaoContext, wanted: str | int) -> int:
    """`wanted`: the activity's slug (a deep link) or id (a button)."""
    services = context.services
    # Read before anything changes: in an outage the user hears so, and a sign-up in
    # progress (and the pressed button) stays as it was.
    start = await services.db.run_reading(
        signup_start, wanted, _user_id(update), services.now(), services.demo
    )
    activity, check, profile = start.activity, start.check, start.profile
    if activity is not None:
        _remember(context, activity)
    # Answers given before (the user went back to the picker, or chose another activity
    # mid-way) are kept and offered again; everything about the activity starts afresh.
    earlier = context.user_data.get(DRAFT) if context.user_data is not None else None
    kept = {k: v for k, v in (earlier or {}).items() if k in ANSWERS}
    _forget_draft(context)
    await close_buttons(update)
    if check.outcome not in (Outcome.REGISTERED, Outcome.FULL) or activity is None:
        await reply(
            update, context, _refusal(check.outcome, check.activity, check.position, context)
        )
        return END
    draft = _draft(context)
    cast(dict[str, object], draft).update(kept)
    draft.update({"slug": activity.slug, "activity_id": activity.id, "waitlist": False})
    if profile is not None:
        draft["profile"] = {
            "name": profile.name,
            "role": profile.role,
            "sector": profile.sector,
            "email": profile.email,
        }
    if check.outcome is Outcome.FULL:
        return await _ask_waitlist(update, context, activity)
    await reply(update, context, describe(activity, context, with_description=True))
    return await _ask_profile_or_role(update, context)


async def _ask_waitlist(
    update: Update, context: MaoContext, activity: ActivityInfo | None = None
) -> int:
    if activity is None:
        activity = await _activity(context)
        if activity is None:
            return await _gone(update, context)
    text = describe(activity, context, with_description=True)
    await reply(
        update,
        context,
        text + "\n\n" + context.text("signup_full_offer_waitlist"),
        keyboard(
            [
                _yes_no(callbacks.SIGNUP_WAITLIST, "signup_waitlist", context),
                _back_row(Step.WAITLIST, context),
            ]
        ),
    )
    return Step.WAITLIST


def _kept_for(context: MaoContext) -> str:
    """How long a registration is kept, as the consent says it (from config)."""
    return privacy_terms(context.services.config, context.language)["keep_registrations"]


def _yes_no(answer: CallbackFormat, key: str, context: MaoContext) -> list[Button]:
    """The two answers of a yes/no step: labels `<key>_yes` and `<key>_no`."""
    return [
        (context.text(f"{key}_yes"), answer.data(answer="yes")),
        (context.text(f"{key}_no"), answer.data(answer="no")),
    ]


async def choose_waitlist(update: Update, context: MaoContext) -> int:
    await pressed(update)
    await close_buttons(update)
    if context.matched("answer") == "no":
        _forget_draft(context)
        await reply(update, context, context.text("signup_stopped"))
        return END
    _draft(context)["waitlist"] = True
    return await _ask_profile_or_role(update, context)


def _remember(context: MaoContext, activity: ActivityInfo) -> None:
    last_read: dict[int, ActivityInfo] = context.bot_data.setdefault(ACTIVITIES_READ_KEY, {})
    last_read[activity.id] = activity


def _read_activity(session: Session, activity_id: int) -> tuple[bool, ActivityInfo | None]:
    return True, get_activity_by_id(session, activity_id)


async def _activity(context: MaoContext) -> ActivityInfo | None:
    """The activity of the draft, as it is now; while the database is away (or slow), as
    last read: the steps only describe it, and the confirmation checks everything again in
    its own transaction. None: it is gone."""
    activity_id = _draft(context).get("activity_id")
    if activity_id is None:
        return None
    unread: tuple[bool, ActivityInfo | None] = (False, None)
    read, activity = await context.services.db.read_or(unread, _read_activity, activity_id)
    last_read: dict[int, ActivityInfo] = context.bot_data.setdefault(ACTIVITIES_READ_KEY, {})
    if read:
        if activity is None:
            last_read.pop(activity_id, None)
        else:
            last_read[activity_id] = activity
        return activity
    if activity_id not in last_read:
        raise DatabaseUnavailableError("the activity of the sign-up was never read here")
    return last_read[activity_id]


async def _gone(update: Update, context: MaoContext) -> int:
    _forget_draft(context)
    await reply(update, context, context.text("signup_not_found"))
    return END


# -- who an activity is for ------------------------------------------------------------------


def _audience_text(key: str, activity: ActivityInfo, role: Role, context: MaoContext) -> str:
    return context.text(
        key,
        title=activity.title(context.language),
        audience=context.text(f"audience_name_{activity.audience}"),
        role=context.text(f"role_{role}").lower(),
    )


def _audience_check(activity: ActivityInfo, role: Role, context: MaoContext) -> tuple[bool, str]:
    """(may go on, what to say: empty when the activity is meant for this role). Outside the
    audience the user is told; a strict activity refuses (storage refuses it too)."""
    if audience_admits(activity.audience, role):
        return True, ""
    if activity.audience_strict:
        return False, _audience_text("signup_audience_strict", activity, role, context)
    return True, _audience_text("signup_audience_note", activity, role, context)


# -- who is signing up -----------------------------------------------------------------------


def _who(name: str, role: str, sector: str | None, context: MaoContext) -> str:
    described = context.text(f"role_{role}")
    if sector:
        described += f" ({context.text('sector_' + sector)})"
    return f"{name}, {described}"


def _back_row(step: Step, context: MaoContext) -> list[Button]:
    return [(context.text("signup_back"), callbacks.SIGNUP_BACK.data(step=step.name.lower()))]


def _keep_row(field: str, context: MaoContext) -> list[list[Button]]:
    """Keep the answer given before: shown when the user comes back to a typed step."""
    value = cast(dict[str, object], _draft(context)).get(field)
    if not value:
        return []
    label = context.text("signup_keep", value=Html(shorten(str(value), KEEP_PREVIEW)))
    return [[(label, callbacks.SIGNUP_KEEP.data(field=field))]]


def _chosen(label: str, chosen: bool) -> str:
    return f"✓ {label}" if chosen else label


async def _ask_profile_or_role(update: Update, context: MaoContext) -> int:
    if _draft(context).get("profile"):
        return await _ask_profile(update, context)
    return await _ask_role(update, context)


async def _ask_profile(update: Update, context: MaoContext) -> int:
    profile = _draft(context).get("profile")
    if not profile:
        return await _ask_role(update, context)
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
                _yes_no(callbacks.SIGNUP_PROFILE, "signup_reuse", context),
                _back_row(Step.PROFILE, context),
            ]
        ),
    )
    return Step.PROFILE


async def _ask_role(update: Update, context: MaoContext, intro: str = "") -> int:
    current = _draft(context).get("role")
    buttons = [
        (
            _chosen(context.text(f"role_{role}"), role == current),
            callbacks.SIGNUP_ROLE.data(role=role),
        )
        for role in Role
    ]
    text = context.text("signup_ask_role")
    if intro:
        text = intro + "\n\n" + text
    await reply(update, context, text, keyboard([buttons, _back_row(Step.ROLE, context)]))
    return Step.ROLE


async def choose_profile(update: Update, context: MaoContext) -> int:
    await pressed(update)
    await close_buttons(update)
    draft = _draft(context)
    profile = draft.get("profile")
    draft["reused"] = False
    if context.matched("answer") == "yes" and profile:
        draft["name"], draft["role"] = profile["name"], profile["role"]
        draft["sector"], draft["email"] = profile["sector"], profile["email"]
        activity = await _activity(context)
        if activity is None:
            return await _gone(update, context)
        may, said = _audience_check(activity, Role(profile["role"]), context)
        if not may:
            return await _ask_role(update, context, said)
        if said:
            await reply(update, context, said)
        # The remembered answers are taken over, but the question is for this activity.
        draft["reused"] = True
        return await _ask_question(update, context)
    return await _ask_role(update, context)


async def choose_role(update: Update, context: MaoContext) -> int:
    await pressed(update)
    await close_buttons(update)
    return await _take_role(update, context, Role(context.matched("role")))


def _typed_option(
    update: Update,
    context: MaoContext,
    prefix: str,
    values: Iterable[str],
    words: Mapping[str, Iterable[str]] | None = None,
) -> str | None:
    """The option a typed answer names ("ouder", "Parent", "profesional"): by its button's
    label in either language, or by `words`."""
    message = update.effective_message
    catalogue = context.services.catalogue
    options = {
        value: [
            *(catalogue.text(language, f"{prefix}_{value}") for language in ("nl", "en")),
            *(words or {}).get(value, ()),
        ]
        for value in values
    }
    return typed_choice(message.text or "", options) if message is not None else None


async def type_role(update: Update, context: MaoContext) -> int | None:
    """ "ouder" typed where the role buttons are: the same as pressing "Ouder"."""
    role = _typed_option(update, context, "role", Role, ROLE_WORDS)
    if role is None:
        await expect_button(update, context)
        return None
    return await _take_role(update, context, Role(role))


async def _take_role(update: Update, context: MaoContext, role: Role) -> int:
    activity = await _activity(context)
    if activity is None:
        return await _gone(update, context)
    draft = _draft(context)
    may, said = _audience_check(activity, role, context)
    if not may:
        return await _ask_role(update, context, said)
    if said and not draft.get("editing"):
        await reply(update, context, said)  # the summary says it again when editing
    if role is Role.PROFESSIONAL:
        # Stored with the sector: going back from the sector step leaves the role as it was.
        return await _ask_sector(update, context)
    draft["role"], draft["sector"] = role.value, None
    return await _after(Step.ROLE, update, context)


async def _ask_sector(update: Update, context: MaoContext) -> int:
    current = _draft(context).get("sector")
    buttons = [
        (
            _chosen(context.text(f"sector_{s}"), s == current),
            callbacks.SIGNUP_SECTOR.data(sector=s),
        )
        for s in Sector
    ]
    rows = [buttons[i : i + 2] for i in range(0, len(buttons), 2)]
    await reply(
        update,
        context,
        context.text("signup_ask_sector"),
        keyboard([*rows, _back_row(Step.SECTOR, context)]),
    )
    return Step.SECTOR


async def choose_sector(update: Update, context: MaoContext) -> int:
    await pressed(update)
    await close_buttons(update)
    return await _take_sector(update, context, Sector(context.matched("sector")))


async def type_sector(update: Update, context: MaoContext) -> int | None:
    sector = _typed_option(update, context, "sector", Sector)
    if sector is None:
        await expect_button(update, context)
        return None
    return await _take_sector(update, context, Sector(sector))


async def _take_sector(update: Update, context: MaoContext, sector: Sector) -> int:
    draft = _draft(context)
    draft["role"] = Role.PROFESSIONAL.value
    draft["sector"] = sector.value
    return await _after(Step.SECTOR, update, context)


async def _ask_name(update: Update, context: MaoContext) -> int:
    await reply(
        update,
        context,
        context.text("signup_ask_name"),
        keyboard([*_keep_row("name", context), _back_row(Step.NAME, context)]),
    )
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
    return await _after(Step.NAME, update, context)


def _email_keyboard(context: MaoContext) -> InlineKeyboardMarkup | None:
    return keyboard(
        [
            [(context.text("signup_skip"), callbacks.SIGNUP_SKIP_EMAIL.data())],
            *_keep_row("email", context),
            _back_row(Step.EMAIL, context),
        ]
    )


async def _ask_email(update: Update, context: MaoContext) -> int:
    await reply(update, context, context.text("signup_ask_email"), _email_keyboard(context))
    return Step.EMAIL


async def receive_email(update: Update, context: MaoContext) -> int:
    message = update.effective_message
    assert message is not None and message.text is not None
    email = clean_text(message.text, multiline=False).strip()
    if len(email) > 254 or not EMAIL.match(email):
        await reply(update, context, context.text("signup_bad_email"), _email_keyboard(context))
        return Step.EMAIL
    _draft(context)["email"] = email
    return await _after(Step.EMAIL, update, context)


async def skip_email(update: Update, context: MaoContext) -> int:
    await pressed(update)
    await close_buttons(update)
    _draft(context)["email"] = None
    return await _after(Step.EMAIL, update, context)


async def _ask_question(update: Update, context: MaoContext) -> int:
    await reply(
        update,
        context,
        context.text("signup_ask_question"),
        keyboard(
            [
                [(context.text("signup_no_question"), callbacks.SIGNUP_SKIP_QUESTION.data())],
                *_keep_row("question", context),
                _back_row(Step.QUESTION, context),
            ]
        ),
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
    return await _after(Step.QUESTION, update, context)


async def skip_question(update: Update, context: MaoContext) -> int:
    await pressed(update)
    await close_buttons(update)
    _draft(context)["question"] = None
    return await _after(Step.QUESTION, update, context)


async def _ask_consent(update: Update, context: MaoContext) -> int:
    await reply(
        update,
        context,
        context.text("signup_consent", keep_registrations=_kept_for(context)),
        keyboard(
            [
                _yes_no(callbacks.SIGNUP_CONSENT, "signup_consent", context),
                _back_row(Step.CONSENT, context),
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


# -- moving between steps --------------------------------------------------------------------


async def _after(step: Step, update: Update, context: MaoContext) -> int:
    """The step that follows an answer: the next one, or the summary when the user was
    changing just this answer from it."""
    draft = _draft(context)
    if draft.get("editing"):
        return await _show_summary(update, context)
    if step in (Step.ROLE, Step.SECTOR):
        return await _ask_name(update, context)
    if step is Step.NAME:
        return await _ask_email(update, context)
    if step is Step.EMAIL:
        return await _ask_question(update, context)
    if step is Step.QUESTION and not draft.get("reused"):
        return await _ask_consent(update, context)
    # A returning user's "Ja, klopt" skips the consent step: the summary asks it.
    return await _show_summary(update, context)


def previous_step(step: Step, draft: SignupDraft) -> Step:
    """Where "← Terug" leads from `step`, given the way the user came."""
    if draft.get("editing"):
        # Changing one answer from the summary: back is back to the summary, unchanged.
        return Step.ROLE if step is Step.SECTOR else Step.SUMMARY
    reused = bool(draft.get("reused"))
    before_profile = Step.WAITLIST if draft.get("waitlist") else Step.PICK
    previous = {
        Step.PICK: Step.PICK,
        Step.WAITLIST: Step.PICK,
        Step.PROFILE: before_profile,
        Step.ROLE: Step.PROFILE if draft.get("profile") else before_profile,
        Step.SECTOR: Step.ROLE,
        Step.NAME: Step.SECTOR if draft.get("role") == Role.PROFESSIONAL else Step.ROLE,
        Step.EMAIL: Step.NAME,
        Step.QUESTION: Step.PROFILE if reused else Step.EMAIL,
        Step.CONSENT: Step.QUESTION,
        Step.SUMMARY: Step.QUESTION if reused else Step.CONSENT,
    }
    return previous[step]


async def _go_back(update: Update, context: MaoContext, step: Step) -> int:
    if step is Step.PICK:
        await reply(update, context, context.text("signup_back_first"))
        return Step.PICK
    asks: dict[Step, Callable[[Update, MaoContext], Awaitable[int]]] = {
        Step.PICK: _ask_activity,
        Step.WAITLIST: _ask_waitlist,
        Step.PROFILE: _ask_profile,
        Step.ROLE: _ask_role,
        Step.SECTOR: _ask_sector,
        Step.NAME: _ask_name,
        Step.EMAIL: _ask_email,
        Step.QUESTION: _ask_question,
        Step.CONSENT: _ask_consent,
        Step.SUMMARY: _show_summary,
    }
    return await asks[previous_step(step, _draft(context))](update, context)


def _back_handlers(step: Step) -> list[BaseHandler[Update, MaoContext, int]]:
    """The back button of `step`, pressed or typed ("terug", "back"): the previous step,
    with the answers given so far kept."""

    async def back_pressed(update: Update, context: MaoContext) -> int:
        if context.matched("step") != step.name.lower():
            await pressed(update, alert=context.text("stale_button"))
            return step
        await pressed(update)
        await close_buttons(update)
        return await _go_back(update, context, step)

    async def back_typed(update: Update, context: MaoContext) -> int:
        return await _go_back(update, context, step)

    return [
        CallbackQueryHandler(back_pressed, pattern=callbacks.SIGNUP_BACK.pattern),
        MessageHandler(filters.TEXT & filters.Regex(BACK_WORDS), back_typed),
    ]


def _keep_handler(step: Step, field: str) -> CallbackQueryHandler[MaoContext, int]:
    """Keep the answer of a typed step and go on."""

    async def keep(update: Update, context: MaoContext) -> int:
        if context.matched("field") != field:
            await pressed(update, alert=context.text("stale_button"))
            return step
        await pressed(update)
        await close_buttons(update)
        return await _after(step, update, context)

    return CallbackQueryHandler(keep, pattern=callbacks.SIGNUP_KEEP.pattern)


async def edit_answer(update: Update, context: MaoContext) -> int:
    """A "Wijzig" button of the summary: that one step, then the summary again."""
    await pressed(update)
    await close_buttons(update)
    _draft(context)["editing"] = True
    asks: dict[str, Callable[[Update, MaoContext], Awaitable[int]]] = {
        "name": _ask_name,
        "role": _ask_role,
        "email": _ask_email,
        "question": _ask_question,
    }
    return await asks[context.matched("field")](update, context)


# -- summary and confirmation ----------------------------------------------------------------


async def _show_summary(update: Update, context: MaoContext) -> int:
    draft = _draft(context)
    draft.pop("editing", None)
    activity = await _activity(context)
    if activity is None:
        return await _gone(update, context)
    role = Role(draft["role"])
    text = context.text(
        "signup_summary",
        activity=Html(describe(activity, context, with_seats=False)),
        who=_who(draft["name"], role, draft.get("sector"), context),
        email=draft.get("email") or context.text("signup_no_email"),
        question=clip(draft.get("question") or "–", SUMMARY_QUESTION_PREVIEW),
    )
    if not audience_admits(activity.audience, role):
        text += "\n\n" + _audience_text("signup_summary_audience", activity, role, context)
    if draft.get("waitlist"):
        text += "\n\n" + context.text("signup_summary_waitlist")
    text += "\n\n" + context.text("signup_summary_consent", keep_registrations=_kept_for(context))
    await reply(
        update,
        context,
        text,
        keyboard(
            [
                [
                    (context.text("signup_confirm"), callbacks.SIGNUP_CONFIRM.data()),
                    (context.text("signup_abort"), callbacks.SIGNUP_ABORT.data()),
                ],
                [
                    (context.text("signup_edit_name"), callbacks.SIGNUP_EDIT.data(field="name")),
                    (context.text("signup_edit_role"), callbacks.SIGNUP_EDIT.data(field="role")),
                ],
                [
                    (context.text("signup_edit_email"), callbacks.SIGNUP_EDIT.data(field="email")),
                    (
                        context.text("signup_edit_question"),
                        callbacks.SIGNUP_EDIT.data(field="question"),
                    ),
                ],
                _back_row(Step.SUMMARY, context),
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
    # One transaction: in an outage nothing is written, the error handler tells the user
    # (and that this button did nothing), and the summary stays, to be confirmed later.
    result = await services.db.run_session(
        partial(
            register,
            join_waitlist=bool(draft.get("waitlist")),
            examples_allowed=services.demo,
            join_link_before=services.config.reminders.join_link_before,
        ),
        draft["activity_id"],
        _user_id(update),
        details,
        services.now(),
    )
    # Only now that the seat is saved: a failed confirm can be pressed again.
    await close_buttons(update)
    activity = result.activity
    if result.outcome is Outcome.FULL and activity is not None:
        # Filled up while the user was typing: offer the waiting list with the same answers.
        draft["waitlist"] = True
        await reply(update, context, context.text("signup_filled_meanwhile"))
        return await _show_summary(update, context)
    if result.outcome is Outcome.WRONG_AUDIENCE and activity is not None:
        # Made strict for one audience while the user was answering: the role decides.
        draft["editing"] = True
        said = _audience_text("signup_audience_strict", activity, details.role, context)
        return await _ask_role(update, context, said)
    _forget_draft(context)
    # A seat or a waiting-list place: the confirmation (and calendar file) was owed in the
    # same transaction and follows this update at once (jobs.outbox, `answering`); if
    # Telegram fails now, the outbox delivers it later and the seat stays taken.
    if result.outcome not in (Outcome.REGISTERED, Outcome.WAITING):
        await reply(update, context, _refusal(result.outcome, activity, result.position, context))
    return END


# -- leaving the flow ------------------------------------------------------------------------


async def cancel_flow(update: Update, context: MaoContext) -> int:
    """Stop the flow, and say truthfully what is stored: a seat already taken stays taken."""
    activity_id = _draft(context).get("activity_id")
    held = None
    if activity_id is not None:
        # Read before the draft goes: in an outage the user hears so, and may cancel again.
        held = await context.services.db.run_reading(
            get_user_registration_for, activity_id, _user_id(update)
        )
    _forget_draft(context)
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


async def button_without_signup(update: Update, context: MaoContext) -> None:
    """A sign-up button with no sign-up going on: stale, unless the database could not say
    which sign-up is (the error handler then tells the user to try again in a while; the
    sign-up is kept and goes on from this button after the outage)."""
    context.require_state()
    await stale_button(update, context)


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
                Step.PICK: state_handlers(*_back_handlers(Step.PICK), stray_text),
                Step.WAITLIST: state_handlers(
                    CallbackQueryHandler(
                        choose_waitlist, pattern=callbacks.SIGNUP_WAITLIST.pattern
                    ),
                    *_back_handlers(Step.WAITLIST),
                    stray_text,
                ),
                Step.PROFILE: state_handlers(
                    CallbackQueryHandler(choose_profile, pattern=callbacks.SIGNUP_PROFILE.pattern),
                    *_back_handlers(Step.PROFILE),
                    stray_text,
                ),
                Step.ROLE: state_handlers(
                    CallbackQueryHandler(choose_role, pattern=callbacks.SIGNUP_ROLE.pattern),
                    *_back_handlers(Step.ROLE),
                    MessageHandler(typed, type_role),  # "ouder" typed, not tapped
                    stray_text,
                ),
                Step.SECTOR: state_handlers(
                    CallbackQueryHandler(choose_sector, pattern=callbacks.SIGNUP_SECTOR.pattern),
                    *_back_handlers(Step.SECTOR),
                    MessageHandler(typed, type_sector),
                    stray_text,
                ),
                Step.NAME: state_handlers(
                    *_back_handlers(Step.NAME),
                    _keep_handler(Step.NAME, "name"),
                    MessageHandler(typed, receive_name),
                ),
                Step.EMAIL: state_handlers(
                    *_back_handlers(Step.EMAIL),
                    _keep_handler(Step.EMAIL, "email"),
                    MessageHandler(typed, receive_email),
                    CallbackQueryHandler(skip_email, pattern=callbacks.SIGNUP_SKIP_EMAIL.pattern),
                ),
                Step.QUESTION: state_handlers(
                    *_back_handlers(Step.QUESTION),
                    _keep_handler(Step.QUESTION, "question"),
                    MessageHandler(typed, receive_question),
                    CallbackQueryHandler(
                        skip_question, pattern=callbacks.SIGNUP_SKIP_QUESTION.pattern
                    ),
                ),
                Step.CONSENT: state_handlers(
                    CallbackQueryHandler(choose_consent, pattern=callbacks.SIGNUP_CONSENT.pattern),
                    *_back_handlers(Step.CONSENT),
                    stray_text,
                ),
                Step.SUMMARY: state_handlers(
                    CallbackQueryHandler(confirm, pattern=callbacks.SIGNUP_CONFIRM.pattern),
                    CallbackQueryHandler(abort, pattern=callbacks.SIGNUP_ABORT.pattern),
                    CallbackQueryHandler(edit_answer, pattern=callbacks.SIGNUP_EDIT.pattern),
                    *_back_handlers(Step.SUMMARY),
                    stray_text,
                ),
                ConversationHandler.TIMEOUT: state_handlers(TypeHandler(Update, timed_out)),
            },
            fallbacks=state_handlers(
                CommandHandler(["annuleer", "cancel"], cancel_flow),
                stray_button,
            ),
        )
    # "Nothing to cancel" outside the flow: bot/cancelling.py, for every flow at once.
    return [
        conversation,
        CallbackQueryHandler(button_without_signup, pattern=callbacks.SIGNUP_ANY),
    ]
