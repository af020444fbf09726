"""Building the services: the database, the catalogues and the FAQ matcher, once at start."""

from __future__ import annotations

from core.i18n import Catalogue
from core.services import Clock, Services, system_clock
from core.settings import AppConfig
from faq.content import FaqContent
from faq.matching import FaqMatcher, Thresholds, load_matcher
from storage.db import Database


def matcher_thresholds(config: AppConfig) -> Thresholds:
    thresholds = config.faq.thresholds
    return Thresholds(
        answer=thresholds.answer, suggest=thresholds.suggest, margin=thresholds.margin
    )


def build_faq(config: AppConfig) -> tuple[FaqContent, FaqMatcher]:
    return load_matcher(config.faq.content, matcher_thresholds(config))


def build_services(config: AppConfig, clock: Clock = system_clock) -> Services:
    content, matcher = build_faq(config)
    return Services(
        config=config,
        db=Database(config.storage.url, config.storage.timeouts()),
        catalogue=Catalogue.load(config.language.default),
        faq=content,
        matcher=matcher,
        clock=clock,
    )
