"""Message catalogues (nl, en). Every user-facing text comes from here.

Placeholders are filled with str.format, and every value is HTML-escaped unless it is
wrapped in `Html` (text the bot itself composed or trusted content such as FAQ answers).

A message is either a text or, when its wording depends on a number, a mapping of plural
forms chosen with the CLDR plural rules of the language (through Babel):

    seats_left:
      plural: left          # the placeholder whose number chooses the form
      one: "Nog {left} plek vrij"
      other: "Nog {left} plekken vrij"

The forms are CLDR category names (zero, one, two, few, many, other); `other` is required
and is used for every category the mapping does not give. Call sites do not change:
`catalogue.text("nl", "seats_left", left=3)`.
"""

from __future__ import annotations

import html
import string
from collections.abc import Mapping
from decimal import Decimal, InvalidOperation
from functools import cache
from pathlib import Path
from typing import Any

from babel import Locale
from babel.plural import PluralRule

from storage.yaml_files import load_yaml

LOCALES = Path(__file__).resolve().parent / "locales"
LANGUAGES = ("nl", "en")
PLURAL_KEY = "plural"
CATEGORIES = ("zero", "one", "two", "few", "many", "other")

# A plural message: `plural` names the placeholder, the other keys are CLDR categories.
Plural = dict[str, str]
Message = str | Plural


class Html(str):
    """A string that is already safe Telegram HTML."""

    __slots__ = ()


def placeholders(template: str) -> set[str]:
    return {name for _, name, _, _ in string.Formatter().parse(template) if name}


@cache
def plural_rule(language: str) -> PluralRule:
    rule: PluralRule = Locale.parse(language).plural_form
    return rule


def plural_category(language: str, number: object) -> str:
    """The CLDR plural category ("one", "other", …) of `number` in `language`."""
    if isinstance(number, bool) or not isinstance(number, int | float | Decimal | str):
        raise TypeError(f"plural form needs a number, got {number!r}")
    if isinstance(number, str):
        try:
            number = Decimal(number.strip())
        except InvalidOperation:
            raise TypeError(f"plural form needs a number, got {number!r}") from None
    category: str = plural_rule(language)(number)
    return category


def message_placeholders(message: Message) -> set[str]:
    """The placeholders of a text, or of all the forms of a plural message together."""
    if isinstance(message, str):
        return placeholders(message)
    found: set[str] = set()
    for name, form in message.items():
        if name != PLURAL_KEY:
            found |= placeholders(form)
    return found


class Catalogue:
    def __init__(self, messages: dict[str, dict[str, Message]], default: str = "nl") -> None:
        self.messages = messages
        self.default = default

    @classmethod
    def load(cls, default: str = "nl", folder: Path = LOCALES) -> Catalogue:
        messages = {
            language: load_yaml((folder / f"{language}.yaml").read_text(encoding="utf-8"))
            for language in LANGUAGES
        }
        return cls(messages, default)

    def language(self, language: str | None) -> str:
        return language if language in self.messages else self.default

    def text(self, language: str | None, key: str, /, **values: Any) -> str:
        language = self.language(language)
        message = self.messages[language].get(key)
        if message is None:
            language = self.default
            message = self.messages[language][key]
        if isinstance(message, str):
            template = message
        else:
            category = plural_category(language, values[message[PLURAL_KEY]])
            template = message.get(category, message["other"])
        safe = {
            name: value if isinstance(value, Html) else html.escape(str(value), quote=False)
            for name, value in values.items()
        }
        return template.format(**safe)

    def problems(self) -> list[str]:
        """Malformed messages, keys missing in a language, or with different placeholders."""
        found: list[str] = []
        usable: dict[str, dict[str, Message]] = {}
        for language in LANGUAGES:
            usable[language] = {}
            for key, message in self.messages[language].items():
                trouble = _message_problems(language, key, message)
                found.extend(trouble)
                if not trouble:
                    usable[language][key] = message
        reference = self.messages[LANGUAGES[0]]
        for language in LANGUAGES[1:]:
            other = self.messages[language]
            for key in sorted(reference.keys() - other.keys()):
                found.append(f"{language}: missing '{key}'")
            for key in sorted(other.keys() - reference.keys()):
                found.append(f"{LANGUAGES[0]}: missing '{key}'")
            for key in sorted(usable[LANGUAGES[0]].keys() & usable[language].keys()):
                first = message_placeholders(usable[LANGUAGES[0]][key])
                if first != message_placeholders(usable[language][key]):
                    found.append(f"'{key}': placeholders differ between languages")
        return found


def _message_problems(language: str, key: str, message: object) -> list[str]:
    where = f"{language}: '{key}'"
    if isinstance(message, str):
        try:
            placeholders(message)
        except ValueError as error:
            return [f"{where}: bad template ({error})"]
        return []
    if not isinstance(message, Mapping):
        return [f"{where}: is neither a text nor a mapping of plural forms"]
    found: list[str] = []
    if PLURAL_KEY not in message:
        found.append(f"{where}: plural forms without '{PLURAL_KEY}' (the number's placeholder)")
    if "other" not in message:
        found.append(f"{where}: plural forms without 'other'")
    chosen = plural_rule(language).tags | {"other"}
    forms: dict[str, set[str]] = {}
    for name, form in message.items():
        if not isinstance(form, str):
            found.append(f"{where}: '{name}' is not a text")
        elif name == PLURAL_KEY:
            continue
        elif name not in CATEGORIES:
            found.append(
                f"{where}: unknown plural category '{name}' (known: {', '.join(CATEGORIES)})"
            )
        elif name not in chosen:
            found.append(
                f"{where}: plural category '{name}' is never chosen in {language} "
                f"(it has: {', '.join(c for c in CATEGORIES if c in chosen)})"
            )
        else:
            try:
                forms[name] = placeholders(form)
            except ValueError as error:
                found.append(f"{where}: '{name}' is a bad template ({error})")
    if len({frozenset(names) for names in forms.values()}) > 1:
        detail = "; ".join(f"{name}: {sorted(names)}" for name, names in forms.items())
        found.append(f"{where}: plural forms use different placeholders ({detail})")
    number = message.get(PLURAL_KEY)
    if isinstance(number, str) and forms and any(number not in n for n in forms.values()):
        found.append(f"{where}: plural '{number}' is not a placeholder of every form")
    return found
