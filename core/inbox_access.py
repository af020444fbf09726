"""The inbox as other features reach it: the FAQ's hand-over button (and the question it
keeps for it), the group gate's question whether an update from the organisers' chat is the
inbox's, and which updates leave no trace (a story or bottleneck may go anonymously).

The flows themselves are in handlers/inbox.py."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from telegram import Message, Update

from core import callbacks
from core.context import MaoContext
from core.keyboards import Button, one_per_row
from core.pending_questions import keep_question
from core.roles import check_organiser
from core.services import Services
from storage.inbox import ThreadKind
from storage.organisers import stored_organisers

# The question the FAQ could not answer, kept for the hand-over (core/pending_questions.py).


UNANSWERED_KEY = "unanswered"


# What the person is about to send (shown in the preview whose message id it keeps).
DRAFT_KEY = "inbox_draft"


# The commands that start a story or a bottleneck: either may be sent anonymously.
UNTRACED_COMMANDS = frozenset({"deelverhaal", "story", "knelpunt", "bottleneck"})


def handover_button(context: MaoContext, ref: int | None = None) -> Button:
    """ "Stel je vraag aan het programmabureau": offered by the fallback and "Geen van deze".
    With `ref` (remember_unanswered's number) it sends the question of the message it
    stands under, not whichever was asked last."""
    data = callbacks.INBOX_ASK.data() if ref is None else callbacks.INBOX_ASK_FOR.data(ref=ref)
    return (context.text("inbox_ask_button"), data)


async def handover_markup(
    context: MaoContext, question: str | None = None, guesses: Sequence[str] = ()
) -> Any:
    """The hand-over button (for `question`, kept for it), or None when nobody would read
    what it sends (no organisers' group, no organiser): then people are given the e-mail
    address instead, and the question is not kept."""
    if not await anyone_reads(context.services):
        return None
    ref = remember_unanswered(context, question, guesses) if question is not None else None
    return one_per_row([handover_button(context, ref)])


def leaves_no_trace(update: Update, context: MaoContext) -> bool:
    """An update of a story or bottleneck being written, which may go anonymously.

    Such updates write no time next to the person's id (users.last_seen; see
    handlers/basics.py): the organisers see when an anonymous message arrived, and a "last
    seen" written that minute would tell them who sent it."""
    message = update.message
    if message is not None and message.text and message.text.startswith("/"):
        # "/" alone or "/ text" is no command (and must not fail: the fuzzer sent "/").
        command = message.text.split(maxsplit=1)[0][1:].split("@", 1)[0].lower()
        if command in UNTRACED_COMMANDS:
            return True
    draft = context.user_data.get(DRAFT_KEY) if context.user_data is not None else None
    return isinstance(draft, dict) and draft.get("kind") in (
        ThreadKind.STORY.value,
        ThreadKind.BOTTLENECK.value,
    )


def _user_data(context: MaoContext) -> dict[Any, Any]:
    assert context.user_data is not None
    return context.user_data


def remember_unanswered(context: MaoContext, question: str, guesses: Sequence[str]) -> int:
    """The question the FAQ could not answer, kept (in the persisted user data) until the
    user decides whether to hand it over; returns the number its hand-over button carries."""
    return keep_question(
        _user_data(context),
        question,
        # The language the FAQ answered in: the question's own, when it was clear.
        language=context.language,
        now=context.services.now(),
        guesses=guesses,
    )


def forget_unanswered(context: MaoContext) -> None:
    """Nothing to hand over: the hand-over button asks for the question."""
    if context.user_data is not None:
        context.user_data.pop(UNANSWERED_KEY, None)


def replied_to_bot(message: Message) -> Message | None:
    replied = message.reply_to_message
    if replied is None or replied.from_user is None or not replied.from_user.is_bot:
        return None
    try:
        bot_id = message.get_bot().id
    except RuntimeError:
        return None
    return replied if replied.from_user.id == bot_id else None


GROUP_BUTTONS = (
    callbacks.INBOX_ANSWERED,
    callbacks.INBOX_CLOSE,
    callbacks.FAQ_ADD_THREAD,
    callbacks.FAQ_ADD_TOPIC,
    callbacks.FAQ_ADD_PAGE,
    callbacks.FAQ_ADD_ABORT,
    callbacks.FAQ_ADD_REWRITE,
)


async def gate(update: Update, context: MaoContext) -> bool | None:
    """For the group gate (handlers/groups.py): True lets an update from the organisers'
    chat through (an organiser's reply to the bot, a button of a copy), False stops it
    silently (somebody else replying to the bot there), None: not the inbox's business."""
    chat = update.effective_chat
    inbox_chat = context.services.config.inbox.chat_id
    user = update.effective_user
    if inbox_chat is None or chat is None or chat.id != inbox_chat or user is None:
        return None
    query = update.callback_query
    if query is not None:
        # The buttons of the copies: "Afgehandeld" and "Voeg toe aan FAQ" with its topic
        # picker (handlers/faq_learning.py), behind the organisers' gate (core/roles.py).
        data = query.data or ""
        # parse() is {} for a button without values (Annuleren): matched all the same.
        return True if any(f.parse(data) is not None for f in GROUP_BUTTONS) else None
    message = update.effective_message
    replied = replied_to_bot(message) if message is not None else None
    if message is None or replied is None or (message.text or "").startswith("/"):
        return None
    # Organisers' replies to the bot there are answers (or to a thread deleted meanwhile,
    # which they are told); anybody else's are ignored.
    return await check_organiser(context.services, user.id)


async def anyone_reads(services: Services) -> bool:
    """Whether a hand-over reaches a person: the organisers' group, or at least one organiser
    (config's admins, or added with `admin add`). The shipped config has neither.

    Asked at every unanswered question, so through the database seam; while the database is
    away a hand-over could not be stored anyway, and people are given the address."""
    config = services.config
    if config.inbox.chat_id is not None or config.admins:
        return True
    return bool(await services.db.read_or([], stored_organisers))
