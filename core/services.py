"""The bot's services, built once at start (bot/services.py) and reached through MaoContext."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import UTC, datetime

from core.faq_live import AdditionsState
from core.i18n import Catalogue
from core.inbox_limits import InboxLimiter
from core.settings import AppConfig
from faq.content import FaqContent
from faq.matching import FaqMatcher
from storage.db import Database

Clock = Callable[[], datetime]


def system_clock() -> datetime:
    return datetime.now(UTC)


@dataclass
class Services:
    config: AppConfig
    db: Database
    catalogue: Catalogue
    faq: FaqContent
    matcher: FaqMatcher
    clock: Clock
    # The offline console (`mao-bot console`) is a demo: there, and only there, example
    # activities take (demo) sign-ups. A real bot refuses them.
    demo: bool = False
    # Organisers' additions to the FAQ ("Voeg toe aan FAQ"): core/faq_live.py swaps `matcher`
    # for one that includes them whenever they change in the database (on every instance).
    faq_additions: AdditionsState = field(default_factory=AdditionsState)
    # Threads each person started lately, in memory only (see core/inbox_limits.py).
    inbox_limiter: InboxLimiter = field(default_factory=InboxLimiter)
    # Called with a person's Telegram id once /vergeetmij erased them: the console removes
    # the files it saved from their chat (`mao-bot console --files`).
    on_erased: list[Callable[[int], None]] = field(default_factory=list)

    def now(self) -> datetime:
        return self.clock()
