"""The bot's services, built once at start and reached from handlers through MaoContext."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from datetime import UTC, datetime

from bot.config import AppConfig
from bot.i18n import Catalogue
from faq.content import FaqContent, load_faq
from faq.matching import FaqMatcher, Thresholds
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

    def now(self) -> datetime:
        return self.clock()


def build_matcher(config: AppConfig, content: FaqContent) -> FaqMatcher:
    thresholds = config.faq.thresholds
    return FaqMatcher(
        content,
        Thresholds(answer=thresholds.answer, suggest=thresholds.suggest, margin=thresholds.margin),
    )


def build_services(config: AppConfig, clock: Clock = system_clock) -> Services:
    content = load_faq(config.faq.content)
    return Services(
        config=config,
        db=Database(config.storage.url),
        catalogue=Catalogue.load(config.language.default),
        faq=content,
        matcher=build_matcher(config, content),
        clock=clock,
    )
