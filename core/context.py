"""The typed context of every callback: services, the user's language, matched values."""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any

from telegram import Update
from telegram.ext import Application, BaseHandler, CallbackContext, ExtBot

from core.services import Services
from storage.db import DatabaseUnavailableError, is_outage
from storage.users import get_user

SERVICES_KEY = "services"
# Handlers of any kind and any return value, for one feature's build_handlers().
Handlers = list[BaseHandler[Any, "MaoContext", Any]]


def state_handlers(
    *handlers: BaseHandler[Any, Any, Any],
) -> list[BaseHandler[Update, MaoContext, object]]:
    """A ConversationHandler state's handler list, typed as PTB expects it."""
    return list(handlers)


def services_of(application: Application[Any, Any, Any, Any, Any, Any]) -> Services:
    """The services built at start (bot_data is not persisted, so they live there)."""
    services = application.bot_data[SERVICES_KEY]
    assert isinstance(services, Services)
    return services


class MaoContext(CallbackContext[ExtBot[None], dict[Any, Any], dict[Any, Any], dict[Any, Any]]):
    """The same context object is shared by every handler group of one update."""

    def __init__(
        self,
        application: Application[Any, Any, Any, Any, Any, Any],
        chat_id: int | None = None,
        user_id: int | None = None,
    ) -> None:
        super().__init__(application, chat_id=chat_id, user_id=user_id)
        self.cached_language: str | None = None
        # The user's conversations and data could not be read for this update (the database
        # away): a conversation's button then finds no conversation, yet is not stale.
        self.state_unread = False

    @property
    def services(self) -> Services:
        return services_of(self.application)

    @property
    def language(self) -> str:
        """The language to answer in (fixed per update by the tracking handler)."""
        return self.cached_language or self.services.catalogue.default

    def text(self, key: str, /, **values: Any) -> str:
        return self.services.catalogue.text(self.cached_language, key, **values)

    @contextmanager
    def answering_in(self, language: str | None) -> Iterator[None]:
        """Replies within speak `language` (that of the question just asked, None: the
        user's own), without changing the user's setting."""
        kept = self.cached_language
        if language is not None:
            self.cached_language = language
        try:
            yield
        finally:
            self.cached_language = kept

    def require_state(self) -> None:
        """For an action that works on what the user started earlier (a draft, a pending
        choice): while that could not be read, it fails as an outage (the user hears what did
        not happen) instead of acting as if nothing had been started."""
        if self.state_unread:
            raise DatabaseUnavailableError("the user's stored state was not read")

    def matched(self, name: str) -> str:
        """A named group of the pattern that selected this handler (see core.callbacks)."""
        assert self.match is not None, "handler registered without a regex pattern"
        value = self.match.group(name)
        assert isinstance(value, str)
        return value


def language_from_client(language_code: str | None) -> str:
    """Telegram's language_code en* gets English; anything else Dutch."""
    return "en" if (language_code or "").lower().startswith("en") else "nl"


async def user_language(update: object, context: MaoContext) -> str:
    """The language to answer in, fixed for the update: the user's stored choice, or while
    the database is away the one the user's app reports. Not `read_or`: under load its
    short limit would answer a Dutch speaker with an English app in English."""
    if context.cached_language is None:
        user = update.effective_user if isinstance(update, Update) else None
        stored = None
        database = context.services.db
        if user is not None:
            try:
                database.refuse_while_away(or_slow=True)
                info = await database.run_reading(get_user, user.id)
                stored = info.language if info else None
            except Exception as error:
                if not is_outage(error):
                    raise
        context.cached_language = stored or (
            language_from_client(user.language_code)
            if user
            else context.services.catalogue.default
        )
    return context.cached_language
