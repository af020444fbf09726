"""The bot's services, built once at start (bot/services.py) and reached through MaoContext."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from datetime import UTC, datetime

from core.i18n import Catalogue
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

    def now(self) -> datetime:
        return self.clock()
