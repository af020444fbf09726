"""One user cannot slow the bot down for everyone: a limit per user, before anything is stored.

The flood handler runs first for every update (group -3). A user over `flood.updates` per
`flood.per` gets one friendly "even rustig aan" per burst; the rest of the burst is dropped
before the tracking handler, the conversations and the FAQ see it: no user row is touched,
no conversation state or FAQ miss is stored. A person who types or taps quickly never
notices (the setting cannot go below 20 updates per window).

Unanswered questions are stored without a user id (privacy), so what one user can add to
them is capped here too, in memory: at most `flood.misses_per_hour` per user and hour.

Both limits live in this process's memory only, counted in real (monotonic) time, and
forget a user once they have been quiet for the length of the window.
"""

from __future__ import annotations

import logging

from telegram import Update
from telegram.ext import ApplicationHandlerStop, TypeHandler

from core.chats import addressed_to_bot, in_private_chat
from core.context import MaoContext, user_language
from core.flood_guard import Verdict, guard_of
from core.replies import reply

logger = logging.getLogger(__name__)


async def hold_back_floods(update: Update, context: MaoContext) -> None:
    user = update.effective_user
    if user is None or user.is_bot:
        return
    private = in_private_chat(update)
    if not private and not addressed_to_bot(update, context.bot):
        return  # group chatter is not for the bot, and never counts against anyone
    verdict = guard_of(context.application).updates.check(user.id)
    if verdict is Verdict.PASS:
        return
    if verdict is Verdict.FIRST_REFUSAL:
        logger.info("A user went over the flood limit; their next updates are dropped")
        if private:  # never in a group: the rest of the group need not know
            await user_language(update, context)  # reads the stored choice; records nothing
            await reply(update, context, context.text("flood_slow_down"))
    raise ApplicationHandlerStop


def build_handler() -> TypeHandler[Update, MaoContext, None]:
    return TypeHandler(Update, hold_back_floods)
