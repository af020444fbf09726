"""/help: what the bot does, and for organisers every organiser command (from the list
the command menu is made of). Also the answer to "help" typed as a question."""

from __future__ import annotations

from telegram import Update

from core.context import MaoContext
from core.menus import ADMIN_COMMANDS
from core.replies import reply
from core.roles import may_be_organiser


async def show_help(update: Update, context: MaoContext) -> None:
    text = context.text("help", email=context.services.config.contact.email)
    user = update.effective_user
    if user is not None and await may_be_organiser(context.services, user.id):
        text += "\n\n" + organiser_help(context)
    await reply(update, context, text)


def organiser_help(context: MaoContext) -> str:
    """Every organiser command, from the one list the command menu is made of."""
    index = 1 if context.language == "en" else 0
    lines = [context.text("help_admin")]
    lines += [
        f"/{names[index]} – {context.text(f'help_admin_{names[1]}')}" for names in ADMIN_COMMANDS
    ]
    return "\n".join(lines)
