"""The inbox: hand-over to the programme office, stories and bottlenecks.

- When the FAQ cannot answer (its fallback, or "Geen van deze"), it offers "Stel je vraag
  aan het programmabureau" (`handover_button`). The bot shows exactly what it will send and
  to whom, and sends only after a yes: a thread (storage/inbox.py) whose copies the outbox
  delivers to the organisers' group, or to each organiser privately.
- `/deelverhaal` and `/knelpunt` send a story from practice or a bottleneck the same way,
  with the person's first name or anonymously.
- An organiser answers by replying to a copy (in the group or privately); the answer is
  relayed to the person through the outbox, and the person's reply to it goes back to the
  same thread. `/vragen` lists the open threads; "Afgehandeld" closes one, with the standard
  closing line, a typed one, or (said plainly) no word to the person.

Replies are matched before anything else in group 0 (bot/app.py): a person's reply to an
answer belongs to the thread, not to the FAQ or a flow that happens to be going on.

Database work goes through the seam (`Database.run_session` / `run_reading`; what it does is
in core/inbox_actions.py). While the database is away, a message to the programme office or
an organiser's answer is not stored, and its author hears at once that it was NOT sent.
"""

from __future__ import annotations

import html
import logging
import warnings
from collections.abc import Callable, Sequence
from datetime import timedelta
from enum import IntEnum
from functools import partial
from typing import Any, TypeVar

from telegram import ForceReply, Message, Update
from telegram.constants import ChatType
from telegram.error import BadRequest
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
from core.context import Handlers, MaoContext, state_handlers
from core.dates import format_date_only, format_datetime, start_of_day
from core.i18n import Html
from core.inbox_access import (
    DRAFT_KEY,
    UNANSWERED_KEY,
    anyone_reads,
    replied_to_bot,
)
from core.inbox_actions import (
    CloseWith,
    ReplyTarget,
    answer_back,
    answer_thread,
    finish_thread,
    hand_over,
    open_page,
    reply_target,
    thread_with_messages,
)
from core.keyboards import Button, keyboard
from core.pending_questions import (
    forget_question,
    pending_question,
)
from core.replies import close_buttons, edit_pressed, pressed, reply
from core.roles import check_organiser, organisers_only
from core.text_limits import clean_text, clip, fit_html, plain_name
from jobs.inbox_delivery import label, organiser_buttons, organiser_chats, who
from storage.blocks import blocked_since
from storage.db import is_outage
from storage.inbox import (
    MAX_TEXT,
    Direction,
    MessageInfo,
    ThreadInfo,
    ThreadKind,
    ThreadStatus,
    get_thread,
    mark_answered,
    record_view,
)

logger = logging.getLogger(__name__)
T = TypeVar("T")

# The preview last sent from, so that a double tap on "Versturen" sends once.
SENT_KEY = "inbox_sent"
# The /vragen page an organiser looks at ("Afgehandeld" there shows the same page again).
PAGE_KEY = "inbox_page"
# "Afgehandeld" pressed: the thread, the message with the closing choices, and where it was
# pressed (see _origin).
CLOSING_KEY = "inbox_closing"
PAGE_SIZE = 5
LISTED_SNIPPET = 140
SHOWN_MESSAGE = 700  # characters of each message when a whole thread is shown
END = ConversationHandler.END


class Step(IntEnum):
    TEXT = 1
    ANONYMOUS = 2
    CONFIRM = 3


async def refer_to_mail(update: Update, context: MaoContext) -> int:
    """Nobody reads the inbox: say so, and where a person does read (nothing is stored)."""
    await reply(
        update, context, context.text("inbox_nobody", email=context.services.config.contact.email)
    )
    return END


# -- the person: preview, send, abort -----------------------------------------------------------


def _user_data(context: MaoContext) -> dict[Any, Any]:
    assert context.user_data is not None
    return context.user_data


async def _draft_pressed(
    update: Update, context: MaoContext
) -> tuple[dict[Any, Any], object, int | None]:
    """A preview's button: the user data, the draft in it, and which preview was pressed
    (a draft belongs to its newest preview; older previews' buttons are stale)."""
    query = await pressed(update)
    data = _user_data(context)
    pressed_on = query.message.message_id if query.message is not None else None
    return data, data.get(DRAFT_KEY), pressed_on


def _first_name(update: Update) -> str:
    user = update.effective_user
    return clip(plain_name(clean_text(user.first_name or "", multiline=False)), 40) if user else ""


async def held_back(context: MaoContext, user_id: int) -> str | None:
    """Why this person cannot send anything to the programme office now (blocked by an
    organiser, or over `inbox.limits`), as the friendly text to tell them; None: they can.
    While the database is away this fails as an outage: better told before typing a whole
    story than after."""
    services = context.services
    if await services.db.run_reading(blocked_since, user_id, fail_fast=True) is not None:
        return _blocked(context)
    return _over_limit(context, user_id)


def _blocked(context: MaoContext) -> str:
    return context.text("inbox_blocked", email=context.services.config.contact.email)


def _over_limit(context: MaoContext, user_id: int) -> str | None:
    services = context.services
    limits = services.config.inbox.limits
    again = services.inbox_limiter.next_allowed(
        user_id, services.now(), limits.per_hour, limits.per_day
    )
    if again is None:
        return None
    when = format_datetime(again, context.language, services.config.zone)
    return context.text("inbox_limit_reached", when=when, email=services.config.contact.email)


def _answer_time(context: MaoContext) -> str | None:
    """When an answer may be expected: only what the programme configured (`answer_within`)."""
    within = context.services.config.inbox.answer_within
    return within.text(context.language) if within is not None else None


def preview_text(context: MaoContext, draft: dict[str, Any], first_name: str) -> str:
    """Exactly what will be sent, to whom, with which name, and what happens next."""
    kind = ThreadKind(draft["kind"])
    within = _answer_time(context)
    parts = [
        context.text("inbox_preview_header"),
        f"<blockquote>{html.escape(draft['text'])}</blockquote>",
    ]
    if draft.get("anonymous"):
        parts.append(context.text("inbox_preview_anonymous"))
    else:
        parts.append(
            context.text("inbox_preview_name", name=first_name or context.text("inbox_no_name"))
        )
        if kind is not ThreadKind.QUESTION:
            parts.append(context.text("inbox_preview_may_answer"))
        elif within is None:
            parts.append(context.text("inbox_preview_here"))
        else:
            parts.append(context.text("inbox_preview_when", within=within))
    parts.append(context.text("inbox_preview_confirm"))
    return fit_html("\n\n".join(parts))


def _preview_buttons(context: MaoContext) -> Any:
    return keyboard(
        [
            [
                (context.text("inbox_send_button"), callbacks.INBOX_SEND.data()),
                (context.text("inbox_abort_button"), callbacks.INBOX_ABORT.data()),
            ]
        ]
    )


async def show_preview(update: Update, context: MaoContext, draft: dict[str, Any]) -> None:
    sent = await reply(
        update,
        context,
        preview_text(context, draft, _first_name(update)),
        _preview_buttons(context),
    )
    draft["preview"] = sent.message_id if sent is not None else None
    _user_data(context)[DRAFT_KEY] = draft


async def ask_handover(update: Update, context: MaoContext) -> int:
    """ "Stel je vraag aan het programmabureau": show what would be sent."""
    query = await pressed(update)
    if not await anyone_reads(context.services):
        ref = context.match.groupdict().get("ref") if context.match is not None else None
        if ref:
            forget_question(_user_data(context), int(ref))  # it cannot be handed over
        return await refer_to_mail(update, context)
    # The question to hand over was kept in the user data, and the draft is kept there.
    context.require_state()
    refusal = await held_back(context, query.from_user.id)
    if refusal is not None:
        await reply(update, context, refusal)
        return END
    data = _user_data(context)
    data.pop(UNANSWERED_KEY, None)  # where the last question was kept before
    ref = context.match.groupdict().get("ref") if context.match is not None else None
    # Without a number ("ben je een mens?", or a button from before each kept its own
    # question): the question is asked for, not guessed.
    kept = pending_question(data, int(ref), context.services.now()) if ref else None
    if kept is None or kept.question is None:
        # Nothing remembered (after /vergeetmij, an old button, or "are you a person?"):
        # the question typed next is the one to send.
        _user_data(context)[DRAFT_KEY] = {
            "kind": ThreadKind.QUESTION.value,
            "language": context.language,
        }
        await reply(update, context, context.text("inbox_type_question"))
        return Step.TEXT
    draft = {
        "kind": ThreadKind.QUESTION.value,
        "text": clip(kept.question, MAX_TEXT),
        "guesses": list(kept.guesses)[:3],
        "anonymous": False,
        "language": kept.language,
        "ref": kept.ref,
    }
    await show_preview(update, context, draft)
    # Not held in the conversation: whatever the person types next is a question for the
    # FAQ again; the preview's buttons work on their own (see build_handlers).
    return END


async def send_draft(update: Update, context: MaoContext) -> int | None:
    """The yes: one thread, its copies owed to the organisers, in one transaction. When it
    cannot be stored (the database away) the person hears at once that it was NOT sent; the
    preview keeps its buttons, to send it with later."""
    data, draft, pressed_on = await _draft_pressed(update, context)
    if context.state_unread:  # no draft may just mean it was not read
        await _not_sent(update, context)
        return None
    if not isinstance(draft, dict) or draft.get("preview") != pressed_on:
        sent = data.get(SENT_KEY)
        if isinstance(sent, dict) and sent.get("preview") == pressed_on:
            return END  # a double tap: sent once already
        await close_buttons(update)
        await reply(update, context, context.text("inbox_stale"))
        return END
    services = context.services
    kind = ThreadKind(draft["kind"])
    anonymous = bool(draft.get("anonymous"))
    user = update.effective_user
    assert user is not None
    refusal = _over_limit(context, user.id)
    if refusal is not None:
        return await _refuse_draft(update, context, refusal)
    now = services.now()
    if anonymous:
        # Kept to the day only, like every time of an anonymous thread: an exact time could
        # be matched with who was active at that moment.
        now = start_of_day(now, services.config.zone)
    try:
        handed = await _store(
            context,
            partial(
                hand_over,
                recipients_of=partial(organiser_chats, services),
                sender=user.id,
                anonymous=anonymous,
                first_name=_first_name(update),
                language=str(draft.get("language") or context.language),
                kind=kind,
                text=str(draft["text"]),
                guesses=draft.get("guesses") or [],
                now=now,
            ),
        )
    except NotStoredError:
        await _not_sent(update, context)
        return None
    if handed.blocked:
        return await _refuse_draft(update, context, _blocked(context))
    thread_id, recipients = handed.thread_id, handed.recipients
    if thread_id is None:
        # Nobody would read it (the organisers were removed since the preview): nothing is
        # stored, and the person learns where a person does read.
        logger.warning("Inbox: no organisers' group and no organiser; referred to the e-mail")
        data.pop(DRAFT_KEY, None)
        await close_buttons(update)
        return await refer_to_mail(update, context)
    services.inbox_limiter.record(user.id, services.now())
    logger.info("Inbox thread %s (%s) handed over to %d chats", thread_id, kind, len(recipients))
    data.pop(DRAFT_KEY, None)
    if isinstance(draft.get("ref"), int):
        forget_question(data, draft["ref"])
    data[SENT_KEY] = {"preview": pressed_on}
    await close_buttons(update)
    within = _answer_time(context)
    if anonymous:
        text = context.text("inbox_sent_anonymous")
    elif kind is ThreadKind.QUESTION and within is None:
        text = context.text("inbox_sent_question_here", thread=thread_id)
    elif kind is ThreadKind.QUESTION:
        text = context.text("inbox_sent_question", thread=thread_id, within=within)
    else:
        text = context.text("inbox_sent_story", thread=thread_id)
    await reply(update, context, text)
    return END


class NotStoredError(Exception):
    """What a person sent could not be stored: the database is away."""


async def _store(context: MaoContext, function: Callable[..., T], *args: Any) -> T:
    """`function(session, *args)` in one transaction, through the seam (at once while the
    database is known to be away); an outage becomes NotStoredError, which only this raises,
    so that "NOT sent" is said of a store that failed, never of what came after it."""
    try:
        return await context.services.db.run_session(function, *args, fail_fast=True)
    except Exception as error:
        if is_outage(error):
            raise NotStoredError from error
        raise


async def _refuse_draft(update: Update, context: MaoContext, refusal: str) -> int:
    _user_data(context).pop(DRAFT_KEY, None)
    await close_buttons(update)
    await reply(update, context, refusal)
    return END


async def _not_sent(update: Update, context: MaoContext) -> None:
    """The database away: the message was not stored, and the person hears so at once (a
    conversation stays where it was: its handler returns None)."""
    logger.warning("Inbox: a message not stored, the database away; its sender was told")
    await reply(update, context, context.text("inbox_not_sent_away"))


async def abort_draft(update: Update, context: MaoContext) -> int:
    data, draft, pressed_on = await _draft_pressed(update, context)
    if isinstance(draft, dict) and draft.get("preview") == pressed_on:
        data.pop(DRAFT_KEY, None)  # an older preview's "no" leaves a newer draft alone
    await close_buttons(update)
    await reply(update, context, context.text("inbox_aborted"))
    return END


# -- stories and bottlenecks: a small conversation ------------------------------------------


async def _start(update: Update, context: MaoContext, kind: ThreadKind) -> int:
    if not await anyone_reads(context.services):
        return await refer_to_mail(update, context)
    # Told before they type a whole story, not after.
    user = update.effective_user
    refusal = await held_back(context, user.id) if user is not None else None
    if refusal is not None:
        await reply(update, context, refusal)
        return END
    _user_data(context)[DRAFT_KEY] = {"kind": kind.value}
    await reply(update, context, context.text(f"inbox_intro_{kind.value}"))
    return Step.TEXT


def _ask_for(kind: str) -> str:
    """The catalogue key of what the person is asked to type for a draft of this kind."""
    return "inbox_type_question" if kind == ThreadKind.QUESTION.value else f"inbox_intro_{kind}"


async def start_story(update: Update, context: MaoContext) -> int:
    return await _start(update, context, ThreadKind.STORY)


async def start_bottleneck(update: Update, context: MaoContext) -> int:
    return await _start(update, context, ThreadKind.BOTTLENECK)


async def receive_text(update: Update, context: MaoContext) -> int:
    message = update.effective_message
    assert message is not None
    text = clip(clean_text(message.text or "").strip(), MAX_TEXT)
    draft = _user_data(context).get(DRAFT_KEY)
    if not isinstance(draft, dict) or "kind" not in draft:
        return END
    if not text:  # nothing left of it (only invisible characters): asked again
        await reply(update, context, context.text(_ask_for(draft["kind"])))
        return Step.TEXT
    draft["text"] = text
    draft.pop("preview", None)
    if draft["kind"] == ThreadKind.QUESTION.value:
        # A question always goes with the first name: it is asked to be answered.
        draft["anonymous"] = False
        await show_preview(update, context, draft)
        return END
    name = _first_name(update) or context.text("inbox_no_name")
    await reply(
        update,
        context,
        context.text("inbox_ask_anonymous", name=name),
        keyboard(
            [
                [(context.text("inbox_with_name"), callbacks.INBOX_ANONYMOUS.data(answer="no"))],
                [(context.text("inbox_anonymous"), callbacks.INBOX_ANONYMOUS.data(answer="yes"))],
            ]
        ),
    )
    return Step.ANONYMOUS


async def choose_anonymous(update: Update, context: MaoContext) -> int:
    await pressed(update)
    draft = _user_data(context).get(DRAFT_KEY)
    if not isinstance(draft, dict) or not draft.get("text"):
        await close_buttons(update)
        await reply(update, context, context.text("inbox_stale"))
        return END
    draft["anonymous"] = context.matched("answer") == "yes"
    await close_buttons(update)
    await show_preview(update, context, draft)
    return Step.CONFIRM


async def use_buttons(update: Update, context: MaoContext) -> None:
    await reply(update, context, context.text("inbox_use_buttons"))


async def cancel_flow(update: Update, context: MaoContext) -> int:
    _user_data(context).pop(DRAFT_KEY, None)
    await reply(update, context, context.text("inbox_cancelled"))
    return END


async def timed_out(update: Update, context: MaoContext) -> None:
    if context.user_data is not None:
        context.user_data.pop(DRAFT_KEY, None)
    await reply(update, context, context.text("inbox_timeout"))


# -- replies: organisers answer, the person answers back --------------------------------------


# The look-up and the answer (see InboxReplies).
ReplyHandlers = tuple[BaseHandler[Update, MaoContext, None], BaseHandler[Update, MaoContext, None]]


class RepliesToBot(filters.MessageFilter):
    """A text, not a command, that replies to one of this bot's messages."""

    def filter(self, message: Message) -> bool:
        text = message.text or ""
        return bool(text) and not text.startswith("/") and replied_to_bot(message) is not None


class InboxReplies:
    """Replies to the bot's inbox messages, in two steps, because a handler's check cannot
    wait for the database: `look_up` (its own group, right before group 0) finds through the
    seam what a reply to the bot answers; `answer` (first in group 0) then takes exactly the
    replies found, so that any other reply goes on to the flow going on, or the FAQ."""

    def __init__(self) -> None:
        # Per update in hand: what its reply answers; None when that could not be looked up
        # (the database away).
        self._found: dict[int, ReplyTarget | None] = {}

    def handlers(self) -> ReplyHandlers:
        return MessageHandler(filters.TEXT & RepliesToBot(), self.look_up), _LookedUp(self)

    def __contains__(self, update_id: int) -> bool:
        return update_id in self._found

    async def look_up(self, update: Update, context: MaoContext) -> None:
        message = update.effective_message
        replied = replied_to_bot(message) if message is not None else None
        if message is None or replied is None:
            return
        in_inbox_chat = message.chat.id == context.services.config.inbox.chat_id
        try:
            target = await context.services.db.run_reading(
                reply_target, message.chat.id, replied.message_id, fail_fast=True
            )
        except Exception as error:
            if not is_outage(error):
                raise
            self._found[update.update_id] = None
            return
        # In the organisers' chat (let through by the gate) a reply to the bot is always an
        # answer, also to a thread deleted meanwhile.
        if target.found or in_inbox_chat:
            self._found[update.update_id] = target

    async def answer(self, update: Update, context: MaoContext) -> None:
        target = self._found.pop(update.update_id, None)
        message = update.effective_message
        assert message is not None and message.text is not None
        in_inbox_chat = message.chat.id == context.services.config.inbox.chat_id
        text = clip(clean_text(message.text).strip(), MAX_TEXT)
        if target is None:
            # Not known whether it answers a thread: it is not sent, and its author hears so.
            logger.warning("Inbox: a reply not looked up, the database away; its author was told")
            key = "inbox_answer_not_sent_away" if in_inbox_chat else "inbox_not_sent_away"
            await _quote_reply(message, context.text(key))
        elif target.copy is not None:
            await _organiser_answers(update, context, message, target.copy, text)
        elif target.answered is not None:
            await _person_answers_back(update, context, message, target.answered, text)
        else:
            # A copy whose thread was deleted meanwhile (/vergeetmij, retention).
            await _quote_reply(message, context.text("inbox_thread_gone"))


class _LookedUp(BaseHandler[Update, MaoContext, None]):
    """Matches the updates InboxReplies.look_up found a reply of."""

    def __init__(self, replies: InboxReplies) -> None:
        super().__init__(replies.answer)
        self.replies = replies

    def check_update(self, update: object) -> bool:
        return isinstance(update, Update) and update.update_id in self.replies


async def _quote_reply(message: Message, text: str) -> None:
    """A short answer right under the message it is about (also in the organisers' group)."""
    await message.reply_text(text, do_quote=True)


async def _organiser_answers(
    update: Update, context: MaoContext, message: Message, copy: MessageInfo, text: str
) -> None:
    services = context.services
    user = update.effective_user
    assert user is not None
    if not await check_organiser(services, user.id):
        # Someone in the organisers' group who is not (or no longer) an organiser.
        if message.chat.type == ChatType.PRIVATE:
            await reply(update, context, context.text("admin_only"))
        return
    if not text:
        return
    try:
        answered = await _store(
            context, answer_thread, copy.thread_id, text, user.id, services.now()
        )
    except NotStoredError:
        logger.warning("Inbox: an answer not stored, the database away; the organiser was told")
        await _quote_reply(message, context.text("inbox_answer_not_sent_away"))
        return
    if answered is None:
        await _quote_reply(message, context.text("inbox_thread_gone"))
        return
    thread = answered.thread
    values = {"label": label(context, thread.kind), "thread": thread.id}
    if answered.answer_id is None or thread.user_id is None:
        await _quote_reply(message, context.text("inbox_reply_anonymous", **values))
        return
    logger.info("Inbox thread %s answered by an organiser", thread.id)
    await _quote_reply(
        message, context.text("inbox_reply_relayed", name=who(context, thread), **values)
    )
    closing = context.user_data.get(CLOSING_KEY) if context.user_data is not None else None
    if isinstance(closing, dict) and closing.get("thread") == thread.id:
        # The closing line typed after "Afgehandeld" (or any answer meanwhile) closed it.
        _user_data(context).pop(CLOSING_KEY, None)
        await _after_close(context, thread, closing)


async def _person_answers_back(
    update: Update, context: MaoContext, message: Message, answer: MessageInfo, text: str
) -> None:
    services = context.services
    user = update.effective_user
    assert user is not None
    if not text:
        return
    try:
        follow_up = await _store(
            context,
            partial(
                answer_back,
                recipients_of=partial(organiser_chats, services),
                thread_id=answer.thread_id,
                user_id=user.id,
                text=text,
                now=services.now(),
            ),
        )
    except NotStoredError:
        await _not_sent(update, context)
        return None
    if follow_up is None:
        return
    if follow_up.blocked:
        await reply(update, context, _blocked(context))
        return
    thread = follow_up.thread
    logger.info("Inbox thread %s: the person answered back", thread.id)
    await reply(update, context, context.text("inbox_follow_up_sent", thread=thread.id))


# -- organisers: /vragen, a whole thread, "Afgehandeld" --------------------------------------


def _when(context: MaoContext, thread: ThreadInfo) -> str:
    services = context.services
    # An anonymous thread's times are kept to the day (see send_draft).
    shown = format_date_only if thread.anonymous else format_datetime
    return shown(thread.updated_at, context.language, services.config.zone)


async def list_page(context: MaoContext, page: int) -> tuple[str, Any]:
    page, found = await context.services.db.run_reading(open_page, page, PAGE_SIZE, fail_fast=True)
    if not found.threads:
        return context.text("inbox_list_empty"), None
    lines = [context.text("inbox_list_header", count=found.total)]
    rows: list[list[Button]] = []
    for thread, first in found.threads:
        lines.append(
            context.text(
                "inbox_list_entry",
                label=label(context, thread.kind),
                thread=thread.id,
                name=who(context, thread),
                when=_when(context, thread),
                snippet=clip(first.text, LISTED_SNIPPET),
            )
        )
        rows.append(
            [
                (
                    context.text("inbox_show_button", thread=thread.id),
                    callbacks.INBOX_SHOW.data(thread=thread.id),
                ),
                (
                    context.text("inbox_answered_short", thread=thread.id),
                    callbacks.INBOX_ANSWERED.data(thread=thread.id),
                ),
            ]
        )
    paging: list[Button] = []
    if page > 0:
        paging.append((context.text("inbox_previous"), callbacks.INBOX_PAGE.data(page=page - 1)))
    if (page + 1) * PAGE_SIZE < found.total:
        paging.append((context.text("inbox_next"), callbacks.INBOX_PAGE.data(page=page + 1)))
    if paging:
        rows.append(paging)
    return fit_html("\n\n".join(lines)), keyboard(rows)


@organisers_only
async def list_open(update: Update, context: MaoContext) -> None:
    _user_data(context)[PAGE_KEY] = 0
    text, markup = await list_page(context, 0)
    await reply(update, context, text, markup)


@organisers_only
async def turn_page(update: Update, context: MaoContext) -> None:
    await pressed(update)
    page = int(context.matched("page"))
    _user_data(context)[PAGE_KEY] = page
    text, markup = await list_page(context, page)
    await edit_pressed(update, context, text, markup)


def thread_text(context: MaoContext, thread: ThreadInfo, messages: Sequence[MessageInfo]) -> str:
    services = context.services
    status = context.text(f"inbox_status_{thread.status.value}")
    parts = [
        context.text(
            "inbox_thread_header",
            label=label(context, thread.kind),
            thread=thread.id,
            name=who(context, thread),
            language=services.catalogue.text(thread.language, "language_name"),
            status=status,
        )
    ]
    for message in messages:
        author = (
            who(context, thread)
            if message.direction is Direction.IN
            else context.text("inbox_office")
        )
        shown = format_date_only if thread.anonymous else format_datetime
        when = shown(message.created_at, context.language, services.config.zone)
        parts.append(
            f"<b>{html.escape(author)}</b>, {html.escape(when)}:\n"
            + html.escape(clip(message.text, SHOWN_MESSAGE))
        )
    parts.append(
        context.text("inbox_copy_anonymous_hint" if thread.anonymous else "inbox_copy_hint")
    )
    return Html(fit_html("\n\n".join(parts)))


@organisers_only
async def show_thread(update: Update, context: MaoContext) -> None:
    await pressed(update)
    services = context.services
    thread_id = int(context.matched("thread"))
    found = await services.db.run_reading(thread_with_messages, thread_id, fail_fast=True)
    if found is None:
        await reply(update, context, context.text("inbox_thread_gone"))
        return
    thread, messages = found
    sent = await reply(
        update,
        context,
        thread_text(context, thread, messages),
        organiser_buttons(context, thread, thread.status is ThreadStatus.OPEN),
    )
    if sent is not None:
        latest_in = [m for m in messages if m.direction is Direction.IN][-1]
        # Replying to this view answers the thread, as a reply to its copy would.
        await services.db.run_session(
            record_view, sent.chat.id, sent.message_id, latest_in.id, services.now()
        )


@organisers_only
async def mark_done(update: Update, context: MaoContext) -> None:
    """ "Afgehandeld", on a copy (group or private), a thread or the /vragen list. When the
    person can still be told and has had no answer, the organiser chooses how to close:
    the standard line, a line of their own, or no message (the person then hears nothing)."""
    query = update.callback_query
    assert query is not None
    services = context.services
    thread_id = int(context.matched("thread"))
    thread = await services.db.run_reading(get_thread, thread_id, fail_fast=True)
    if thread is None:
        await query.answer(context.text("inbox_thread_gone"), show_alert=True)
        return
    origin = _origin(update)
    if thread.user_id is None or thread.status is ThreadStatus.ANSWERED:
        # Nobody to tell (anonymous), or answered already: closing is all there is to do.
        closed = await services.db.run_session(
            mark_answered, thread_id, services.now(), fail_fast=True
        )
        await query.answer(
            context.text(
                "inbox_marked_answered", label=label(context, thread.kind), thread=thread_id
            )
        )
        if closed is not None:
            await _after_close(context, closed, origin)
        return
    await query.answer()
    values = {
        "label": label(context, thread.kind),
        "thread": thread.id,
        "name": who(context, thread),
    }
    sent = await reply(
        update,
        context,
        context.text("inbox_close_ask", standard=_standard_line(context, thread), **values),
        keyboard(
            [
                [
                    (
                        context.text(f"inbox_close_{how}_button"),
                        callbacks.INBOX_CLOSE.data(thread=thread.id, how=how),
                    )
                ]
                for how in ("standard", "type", "quiet")
            ]
        ),
    )
    if sent is not None:
        _user_data(context)[CLOSING_KEY] = {
            "thread": thread.id,
            "choice": sent.message_id,
            **origin,
        }


def _origin(update: Update) -> dict[str, Any]:
    """The message "Afgehandeld" was pressed on, and whether it is the /vragen list (which is
    shown again once the thread is closed) or a copy (which keeps only "Voeg toe aan FAQ")."""
    query = update.callback_query
    message = query.message if query is not None else None
    if not isinstance(message, Message):
        return {}
    markup = message.reply_markup
    in_list = markup is not None and any(
        callbacks.INBOX_SHOW.parse(button.callback_data or "")
        for row in markup.inline_keyboard
        for button in row
        if isinstance(button.callback_data, str)
    )
    return {"chat": message.chat.id, "message": message.message_id, "list": in_list}


def _standard_line(context: MaoContext, thread: ThreadInfo) -> str:
    """The standard closing line, in the person's language."""
    return context.services.catalogue.text(thread.language, f"inbox_closing_{thread.kind.value}")


async def _after_close(context: MaoContext, thread: ThreadInfo, origin: dict[str, Any]) -> None:
    """The message "Afgehandeld" was pressed on no longer offers it."""
    chat, message = origin.get("chat"), origin.get("message")
    if not isinstance(chat, int) or not isinstance(message, int):
        return
    try:
        if origin.get("list"):
            page = _user_data(context).get(PAGE_KEY, 0)
            text, markup = await list_page(context, page if isinstance(page, int) else 0)
            await context.bot.edit_message_text(text, chat, message, reply_markup=markup)
        else:
            markup = organiser_buttons(context, thread, answered_button=False)
            await context.bot.edit_message_reply_markup(chat, message, reply_markup=markup)
    except BadRequest as error:
        if "not modified" not in str(error) and "not found" not in str(error):
            raise
    except Exception as error:
        # The thread is closed; only the list could not be read again to show it: said
        # otherwise, the organiser would hear that the closing did not happen.
        if not is_outage(error):
            raise
        logger.info("Inbox list not refreshed after a close: the database is away")


@organisers_only
async def close_thread(update: Update, context: MaoContext) -> None:
    """The organiser's choice after "Afgehandeld". A closing line is an answer: stored in
    the thread and owed to the person in the transaction that closes it."""
    query = update.callback_query
    assert query is not None and update.effective_user is not None
    services = context.services
    how = CloseWith(context.matched("how"))
    data = _user_data(context)
    closing = data.get(CLOSING_KEY)
    pressed_on = query.message.message_id if query.message is not None else None
    # The choice is kept in the user data: unread (the database away) is not stale.
    context.require_state()
    if not isinstance(closing, dict) or closing.get("choice") != pressed_on:
        await pressed(update, alert=context.text("inbox_close_stale"))
        await close_buttons(update)
        return
    await pressed(update)
    closed = await services.db.run_session(
        partial(
            finish_thread,
            thread_id=int(context.matched("thread")),
            how=how,
            line_of=partial(_standard_line, context),
            author_id=update.effective_user.id,
            now=services.now(),
        ),
        fail_fast=True,
    )
    if closed is None:
        data.pop(CLOSING_KEY, None)
        await close_buttons(update)
        await reply(update, context, context.text("inbox_thread_gone"))
        return
    thread, line = closed.thread, closed.line
    values = {
        "label": label(context, thread.kind),
        "thread": thread.id,
        "name": who(context, thread),
    }
    if how is CloseWith.TYPED:
        # A reply to the prompt is an answer to the thread (it is kept as a view of it),
        # which closes it; ForceReply opens the reply box right away.
        await close_buttons(update)
        prompt = await reply(
            update,
            context,
            context.text("inbox_close_type_prompt", **values),
            ForceReply(input_field_placeholder=clip(line, 64)),
        )
        if prompt is not None and closed.latest_in is not None:
            await services.db.run_session(
                record_view, prompt.chat.id, prompt.message_id, closed.latest_in.id, services.now()
            )
        return
    data.pop(CLOSING_KEY, None)
    if how is CloseWith.STANDARD:
        text = context.text("inbox_closed_sent", text=html.escape(line), **values)
    else:
        text = context.text("inbox_closed_quiet", **values)
    await edit_pressed(update, context, text)
    if how is CloseWith.STANDARD and thread.user_id is not None:
        logger.info("Inbox thread %s closed with the standard line", thread.id)
    await _after_close(context, thread, closing)


# -- registration ----------------------------------------------------------------------------


def build_reply_handlers() -> ReplyHandlers:
    """Replies to the bot's inbox messages (see InboxReplies and bot/app.py): the look-up,
    for its own group right before group 0, and the answer, first in group 0."""
    return InboxReplies().handlers()


def build_handlers(timeout: timedelta) -> Handlers:
    private = filters.ChatType.PRIVATE
    typed = filters.TEXT & ~filters.COMMAND & private
    with warnings.catch_warnings():
        # per_message=False is intended: one story or bottleneck per person (see signup.py).
        warnings.simplefilter("ignore", PTBUserWarning)
        conversation = ConversationHandler(
            name="inbox",
            persistent=True,
            allow_reentry=True,
            conversation_timeout=timeout.total_seconds(),
            entry_points=[
                CallbackQueryHandler(ask_handover, pattern=callbacks.INBOX_ASK.pattern),
                CallbackQueryHandler(ask_handover, pattern=callbacks.INBOX_ASK_FOR.pattern),
                CommandHandler(["deelverhaal", "story"], start_story, filters=private),
                CommandHandler(["knelpunt", "bottleneck"], start_bottleneck, filters=private),
            ],
            states={
                Step.TEXT: state_handlers(MessageHandler(typed, receive_text)),
                Step.ANONYMOUS: state_handlers(
                    CallbackQueryHandler(
                        choose_anonymous, pattern=callbacks.INBOX_ANONYMOUS.pattern
                    ),
                    MessageHandler(typed, use_buttons),
                ),
                Step.CONFIRM: state_handlers(
                    CallbackQueryHandler(send_draft, pattern=callbacks.INBOX_SEND.pattern),
                    CallbackQueryHandler(abort_draft, pattern=callbacks.INBOX_ABORT.pattern),
                    MessageHandler(typed, use_buttons),
                ),
                ConversationHandler.TIMEOUT: state_handlers(TypeHandler(Update, timed_out)),
            },
            fallbacks=state_handlers(CommandHandler(["annuleer", "cancel"], cancel_flow)),
        )
    return [
        conversation,
        CallbackQueryHandler(send_draft, pattern=callbacks.INBOX_SEND.pattern),
        CallbackQueryHandler(abort_draft, pattern=callbacks.INBOX_ABORT.pattern),
        CommandHandler(["vragen", "questions"], list_open, filters=private),
        CallbackQueryHandler(turn_page, pattern=callbacks.INBOX_PAGE.pattern),
        CallbackQueryHandler(show_thread, pattern=callbacks.INBOX_SHOW.pattern),
        CallbackQueryHandler(mark_done, pattern=callbacks.INBOX_ANSWERED.pattern),
        CallbackQueryHandler(close_thread, pattern=callbacks.INBOX_CLOSE.pattern),
    ]
