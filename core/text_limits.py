"""Cleaning and shortening text: what users type, and what the bot sends back.

User text is cleaned where it enters (`clean_text`): PostgreSQL refuses NUL, and control
characters only ever cause trouble further on (CSV exports, logs, the chat itself).

Messages are Telegram HTML, and Telegram counts a message's length after parsing it. So a
long user value is shortened as plain text, before it is escaped (`clip`); finished HTML is
never sliced, because a cut inside `&amp;` or before a closing tag makes Telegram refuse the
whole message. `fit_html` is the safety net for a finished message that is still too long.
"""

from __future__ import annotations

import re
import unicodedata

# Telegram's HTML subset for messages (parse_mode HTML): what organisers may type, and what
# the Bot API stand-in accepts.
TELEGRAM_TAGS = frozenset(
    {
        "b",
        "strong",
        "i",
        "em",
        "u",
        "ins",
        "s",
        "strike",
        "del",
        "a",
        "code",
        "pre",
        "tg-spoiler",
        "tg-emoji",
        "span",
        "blockquote",
    }
)

ELLIPSIS = "…"
# Telegram's limit for one message: characters after HTML parsing (tags do not count,
# an entity such as &amp; counts as one). Counted here as UTF-16 code units, as Telegram
# measures text, so an emoji outside the BMP counts twice: on the safe side either way.
TELEGRAM_TEXT_LIMIT = 4096

# A tag, an entity, or one visible character (a bare & or < cannot occur in valid HTML).
_HTML_TOKEN = re.compile(r"<[^>]*>|&#?[A-Za-z0-9]+;|.", re.DOTALL)
_TAG_NAME = re.compile(r"</?\s*([A-Za-z][A-Za-z0-9-]*)")


def clean_text(text: str, *, multiline: bool = True) -> str:
    """`text` without control characters (NUL, escape codes) or broken surrogates.

    Free-form text (`multiline`) keeps its line breaks and tabs; in a one-line value (a
    name, an e-mail address) they become spaces.
    """
    text = text.replace("\r\n", "\n").replace("\r", "\n")
    kept: list[str] = []
    for character in text:
        if multiline and character in "\n\t":
            kept.append(character)
        elif unicodedata.category(character) in {"Cc", "Cs"}:
            if character.isspace():
                kept.append(" ")
        else:
            kept.append(character)
    return "".join(kept)


# Zero-width joiners shape scripts and emoji; every other format character (bidi overrides
# and isolates, zero-width spaces, BOM, invisible operators) only hides or reorders text.
_NAME_FORMAT_KEPT = frozenset("\u200c\u200d")


def plain_name(name: str) -> str:
    """A name as organisers see it: without bidi overrides and invisible characters, which
    could make "Anna" read as someone else or hide text; spaces tidied."""
    kept = (c for c in name if unicodedata.category(c) != "Cf" or c in _NAME_FORMAT_KEPT)
    return " ".join("".join(kept).split())


def clip(value: str, limit: int) -> str:
    """Plain text of at most `limit` characters, ending in "…" when it was cut."""
    if len(value) <= limit:
        return value
    return value[: max(0, limit - 1)].rstrip() + ELLIPSIS


def _units(token: str) -> int:
    if token.startswith("<"):
        return 0
    if token.startswith("&") and len(token) > 1:
        return 1
    return 2 if ord(token) > 0xFFFF else 1


def visible_length(html: str) -> int:
    """How many characters Telegram counts in a message written in Telegram HTML."""
    return sum(_units(token) for token in _HTML_TOKEN.findall(html))


def fit_html(html: str, limit: int = TELEGRAM_TEXT_LIMIT) -> str:
    """`html` shortened to at most `limit` visible characters, without breaking it.

    Cuts only between whole characters and entities, ends with "…", and closes the tags
    that were still open at the cut."""
    if visible_length(html) <= limit:
        return html
    parts: list[str] = []
    open_tags: list[str] = []
    visible = 0
    for token in _HTML_TOKEN.findall(html):
        if token.startswith("<"):
            name = _TAG_NAME.match(token)
            if name is None:
                continue
            if token.startswith("</"):
                if open_tags and open_tags[-1] == name.group(1).lower():
                    open_tags.pop()
            elif not token.endswith("/>"):
                open_tags.append(name.group(1).lower())
            parts.append(token)
            continue
        if visible + _units(token) > limit - 1:
            break
        parts.append(token)
        visible += _units(token)
    parts.append(ELLIPSIS)
    parts.extend(f"</{tag}>" for tag in reversed(open_tags))
    return "".join(parts)
