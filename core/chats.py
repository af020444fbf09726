"""Which chat an update comes from, and whether it is meant for the bot: read by the group
gate, the flood guard and the tracking handler."""

from __future__ import annotations

from telegram import Bot, Message, MessageEntity, Update
from telegram.constants import ChatType


def in_private_chat(update: Update) -> bool:
    chat = update.effective_chat
    return chat is not None and chat.type == ChatType.PRIVATE


def command_target(message: Message) -> str | None:
    """The bot a command names ("/agenda@mao_bot" -> "mao_bot"); None if it names none
    ("/agenda", and "/agenda@" with no name after it)."""
    for entity, text in message.parse_entities([MessageEntity.BOT_COMMAND]).items():
        if entity.offset == 0:
            _, at, target = text.partition("@")
            return target if at and target else None
    return None


def command_for_another_bot(message: Message, username: str) -> bool:
    target = command_target(message)
    return target is not None and target.lower() != username.lower()


def addressed_to_bot(update: Update, bot: Bot) -> bool:
    """A command with the bot's @username, a mention of it, a reply to it, or its button."""
    if update.callback_query is not None:
        return True  # a button of one of the bot's own messages
    message = update.effective_message
    if message is None:
        return False
    target = command_target(message)
    if target is not None:  # a command that names a bot is for that bot, even in a reply
        return target.lower() == bot.username.lower()
    replied_to = message.reply_to_message
    author = replied_to.from_user if replied_to is not None else None
    if author is not None and author.id == bot.id:
        return True
    return _mentions(message, bot)


def _mentions(message: Message, bot: Bot) -> bool:
    handle = f"@{bot.username}".lower()
    entities = {**message.parse_entities(), **message.parse_caption_entities()}
    for entity, text in entities.items():
        if entity.type == MessageEntity.MENTION and text.lower() == handle:
            return True
        mentioned = entity.user.id if entity.user is not None else None
        if entity.type == MessageEntity.TEXT_MENTION and mentioned == bot.id:
            return True
    return False
