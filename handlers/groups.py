"""Groups: the bot is personal, so in a group it only points people to a private chat.

Everything the bot does is about one person (their questions, sign-ups, data; an
organiser's attendee lists), so it happens in private chats only. In a group the bot
answers only what is addressed to it — a command with its @username, a message that
mentions it or replies to it — with one short message and a button that opens a private
chat. Bare commands (they may be meant for another bot), other bots' commands and plain
chatter get no answer. Not even an FAQ answer is given in a group: answers carry buttons
that work only in a private chat, and an unanswered question would be stored from a
conversation its author did not have with the bot.

Nothing of a group update reaches the rest of the bot (the gate stops it), so group
members are not recorded as users and receive no announcements unless they talk to the
bot privately. The one exception is the organisers' own chat (`inbox.chat_id`): there an
organiser's reply to the bot, and "Afgehandeld", go on to the inbox (handlers/inbox.py).
"""

from __future__ import annotations

import logging
import re

from telegram import Message, Update
from telegram.ext import ApplicationHandlerStop, BaseHandler

from core.chats import addressed_to_bot, in_private_chat
from core.context import MaoContext, user_language
from core.inbox_access import gate as inbox_gate
from core.keyboards import private_chat_keyboard
from core.replies import pressed, reply

logger = logging.getLogger(__name__)

# The private chat opened from a group starts with "/start groep" (a plain greeting), or
# continues a sign-up link typed in the group (t.me allows 64 characters).
GROUP_START = "groep"
SIGNUP_PAYLOAD = re.compile(r"^signup_[a-z0-9-]{1,57}$")


def _start_payload(message: Message | None) -> str:
    """A sign-up link typed in the group ("/start@bot signup_<slug>") continues privately."""
    words = (message.text or "").split() if message is not None else []
    starts = len(words) == 2 and words[0].lower().startswith("/start@")
    if starts and SIGNUP_PAYLOAD.match(words[1]):
        return words[1]
    return GROUP_START


async def point_to_private_chat(update: Update, context: MaoContext) -> None:
    """The only thing the bot does outside private chats. Ends the update here, except an
    organiser's reply to an inbox copy in the organisers' chat (handlers/inbox.py)."""
    passes = await inbox_gate(update, context)
    if passes is True:
        return  # on to the inbox's handlers, where the reply or "Afgehandeld" is handled
    if passes is False:
        raise ApplicationHandlerStop  # not an organiser: ignored without a word
    if addressed_to_bot(update, context.bot) and update.effective_user is not None:
        await user_language(update, context)  # reads the stored choice; records nothing
        if update.callback_query is not None:
            await pressed(update, alert=context.text("group_button_private_only"))
        else:
            logger.info("Addressed in a group: pointed to a private chat")
            await reply(
                update,
                context,
                context.text("group_pointer"),
                private_chat_keyboard(
                    context.text("group_open_private_chat"),
                    context.bot.username,
                    _start_payload(update.effective_message),
                ),
            )
    raise ApplicationHandlerStop


class OutsidePrivateChats(BaseHandler[Update, MaoContext, None]):
    """Matches every update from a group, supergroup or channel (messages and buttons)."""

    def check_update(self, update: object) -> bool:
        if not isinstance(update, Update):
            return False
        return update.effective_chat is not None and not in_private_chat(update)


def build_gate_handler() -> OutsidePrivateChats:
    return OutsidePrivateChats(point_to_private_chat)
