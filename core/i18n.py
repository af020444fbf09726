"""Message catalogues (nl, en). Every user-facing text comes from here.

Placeholders are filled with str.format, and every value is HTML-escaped unless it is
wrapped in `Html` (text the bot itself composed or trusted content such as FAQ answers).
"""

from __future__ import annotations

import html
import string
from pathlib import Path
from typing import Any

import yaml

LOCALES = Path(__file__).resolve().parent / "locales"
LANGUAGES = ("nl", "en")


class Html(str):
    """A string that is already safe Telegram HTML."""

    __slots__ = ()


def placeholders(template: str) -> set[str]:
    return {name for _, name, _, _ in string.Formatter().parse(template) if name}


class Catalogue:
    def __init__(self, messages: dict[str, dict[str, str]], default: str = "nl") -> None:
        self.messages = messages
        self.default = default

    @classmethod
    def load(cls, default: str = "nl", folder: Path = LOCALES) -> Catalogue:
        messages = {
            language: yaml.safe_load((folder / f"{language}.yaml").read_text(encoding="utf-8"))
            for language in LANGUAGES
        }
        return cls(messages, default)

    def language(self, language: str | None) -> str:
        return language if language in self.messages else self.default

    def text(self, language: str | None, key: str, /, **values: Any) -> str:
        template = self.messages[self.language(language)].get(key)
        if template is None:
            template = self.messages[self.default][key]
        safe = {
            name: value if isinstance(value, Html) else html.escape(str(value), quote=False)
            for name, value in values.items()
        }
        return template.format(**safe)

    def problems(self) -> list[str]:
        """Keys missing in a language, or with different placeholders."""
        found: list[str] = []
        reference = self.messages[LANGUAGES[0]]
        for language in LANGUAGES[1:]:
            other = self.messages[language]
            for key in reference.keys() - other.keys():
                found.append(f"{language}: missing '{key}'")
            for key in other.keys() - reference.keys():
                found.append(f"{LANGUAGES[0]}: missing '{key}'")
            for key in reference.keys() & other.keys():
                if placeholders(reference[key]) != placeholders(other[key]):
                    found.append(f"'{key}': placeholders differ between languages")
        return found
