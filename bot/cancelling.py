"""/annuleer (/cancel): one bot-wide fallback that ends whatever flow the user is in.

It has a handler group of its own, after the gate and the tracking handler and before group
0, and the update stops there: no handler of group 0 sees /annuleer, so their order does not
matter for it (a catch-all "nothing to cancel" once had to come after every conversation).

A conversation ends through its own /annuleer fallback, which says what became of its draft
(a seat already taken stays taken); one without such a fallback ends as if it lapsed (its
TIMEOUT handlers clear what it kept) and the user is told it stopped. A user may be in more
than one at a time (/aanmelden typed while writing a story): all of them end. Flows kept
outside a ConversationHandler (an organiser's "Voeg toe aan FAQ" waiting for new words) are
given as `others`.
"""

from __future__ import annotations

import logging
from collections.abc import Awaitable, Callable, Sequence

from telegram import Update
from telegram.ext import ApplicationHandlerStop, CommandHandler

from bot.persistence import conversations_going_on, end_conversation_now, persist_now
from core.context import MaoContext
from core.replies import reply

logger = logging.getLogger(__name__)

CANCEL_COMMANDS = ("annuleer", "cancel")
# Ends a flow of its own if the user is in it, says so, and returns whether it did.
FlowEnder = Callable[[Update, MaoContext], Awaitable[bool]]


def build_cancel_handler(others: Sequence[FlowEnder] = ()) -> CommandHandler[MaoContext, None]:
    async def cancel_any_flow(update: Update, context: MaoContext) -> None:
        if context.state_unread:
            # The database away: a flow may be going on, and only the database knows which.
            # Said here, not by raising: the error handler would let group 0 have /annuleer.
            await reply(update, context, context.text("error_database_away"))
            raise ApplicationHandlerStop
        ended = False
        application = context.application
        for ref in conversations_going_on(application, update):
            conversation, name, _key = ref
            check = conversation.check_update(update)
            if check is not None:
                await conversation.handle_update(update, application, check, context)
            else:
                await end_conversation_now(update, context, ref)
                await reply(update, context, context.text("cancel_stopped"))
            logger.info("Conversation %s ended: /annuleer", name)
            ended = True
        for end_flow in others:
            ended = await end_flow(update, context) or ended
        if not ended:
            await reply(update, context, context.text("cancel_nothing"))
        # Stopping here skips the last group, which would have stored the ended state.
        await persist_now(update, context)
        raise ApplicationHandlerStop

    return CommandHandler(list(CANCEL_COMMANDS), cancel_any_flow)
