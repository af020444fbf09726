"""The command menus shown by Telegram, in both languages, per audience."""

from __future__ import annotations

import logging

from telegram import Bot, BotCommand, BotCommandScopeChat, BotCommandScopeDefault
from telegram.error import TelegramError

from core.roles import check_organiser, organiser_languages
from core.services import Services

logger = logging.getLogger(__name__)

# (command per language, catalogue key). Dutch names are the primary ones.
USER_COMMANDS: tuple[tuple[str, str, str], ...] = (
    ("start", "start", "cmd_start"),
    ("help", "help", "cmd_help"),
    ("agenda", "events", "cmd_agenda"),
    ("aanmelden", "signup", "cmd_signup"),
    ("mijnaanmeldingen", "mine", "cmd_mine"),
    ("annuleer", "cancel", "cmd_cancel"),
    ("herinneringen", "reminders", "cmd_reminders"),
    ("afmeldennieuws", "optout", "cmd_optout"),
    ("deelverhaal", "story", "cmd_story"),
    ("knelpunt", "bottleneck", "cmd_bottleneck"),
    ("taal", "language", "cmd_language"),
    ("privacy", "privacy", "cmd_privacy"),
    ("mijngegevens", "mydata", "cmd_mydata"),
    ("vergeetmij", "forgetme", "cmd_forgetme"),
)
ADMIN_COMMANDS: tuple[tuple[str, str, str], ...] = (
    ("omroep", "broadcast", "cmd_broadcast"),
    ("deelnemers", "attendees", "cmd_attendees"),
    ("nieuweactiviteit", "newevent", "cmd_new_activity"),
    ("activiteiten", "events_admin", "cmd_manage_activities"),
    ("incheck", "checkin", "cmd_checkin"),
    ("reacties", "feedback", "cmd_feedback"),
    ("cijfers", "stats", "cmd_stats"),
    ("vragen", "questions", "cmd_inbox"),
    ("faqgaps", "faqgaps", "cmd_faqgaps"),
)


def command_menu(services: Services, language: str, admin: bool = False) -> list[BotCommand]:
    entries = USER_COMMANDS + (ADMIN_COMMANDS if admin else ())
    index = 1 if language == "en" else 0
    return [
        BotCommand(names[index], services.catalogue.text(language, names[2])) for names in entries
    ]


async def register_command_menus(bot: Bot, services: Services) -> None:
    """Default menus for everyone (Dutch, and English for English clients); admins get more."""
    await bot.set_my_commands(command_menu(services, "nl"), scope=BotCommandScopeDefault())
    await bot.set_my_commands(
        command_menu(services, "en"), scope=BotCommandScopeDefault(), language_code="en"
    )
    # Organisers from config and those added with `mao-bot admin add` (a new one gets the
    # menu from the next start), each in the language they chose.
    languages = await services.db.run_reading(
        organiser_languages, services.config.admins, services.config.language.default
    )
    for organiser, language in languages.items():
        await set_chat_commands(bot, services, organiser, language)


async def set_chat_commands(bot: Bot, services: Services, chat_id: int, language: str) -> None:
    """A chat-specific menu: follows the language chosen with /taal, and shows admin tools."""
    admin = await check_organiser(services, chat_id)
    try:
        await bot.set_my_commands(
            command_menu(services, language, admin=admin),
            scope=BotCommandScopeChat(chat_id),
        )
    except TelegramError as error:
        # An admin who never started the bot has no chat yet; not worth failing over.
        logger.warning("Could not set the command menu for a chat: %s", error)
