"""The retention periods and the address that texts about people and data name.

Every such figure in a message or a FAQ answer is a placeholder filled from the same
settings the retention job uses (`{keep_registrations}`, `{keep_misses}`, `{keep_inbox}`,
`{email}`), so that changing config.yaml changes what people are told (tests/test_promises.py).
"""

from __future__ import annotations

import html
import re

from core.settings import AppConfig

_DAYS = {"nl": ("dag", "dagen"), "en": ("day", "days")}
_TERM = re.compile(r"\{(keep_registrations|keep_misses|keep_inbox|email)\}")


def days(count: int, language: str) -> str:
    one, other = _DAYS.get(language, _DAYS["nl"])
    return f"{count} {one if count == 1 else other}"


def privacy_terms(config: AppConfig, language: str) -> dict[str, str]:
    return {
        "keep_registrations": days(config.privacy.keep_registrations_days, language),
        "keep_misses": days(config.privacy.keep_faq_misses_days, language),
        "keep_inbox": days(config.inbox.retention.days, language),
        "email": config.contact.email,
    }


def fill_terms(text: str, config: AppConfig, language: str) -> str:
    """A FAQ answer (HTML) with its placeholders filled in; other braces are left alone."""
    if "{" not in text:
        return text
    terms = privacy_terms(config, language)
    return _TERM.sub(lambda match: html.escape(terms[match.group(1)]), text)
