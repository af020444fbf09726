"""FAQ content: the YAML schema, loading and validation.

Answers are Telegram HTML (only <b>, <i>, <a href>); they are trusted content written by
organisers, so they are not escaped, but check-config verifies they are well formed. An entry
may add `more`: optional detail, shown only when the user asks for more.
"""

from __future__ import annotations

import hashlib
from collections import Counter
from html.parser import HTMLParser
from pathlib import Path
from typing import Any

import yaml
from pydantic import BaseModel, ConfigDict, Field, ValidationError

LANGUAGES = ("nl", "en")
ALLOWED_ANSWER_TAGS = frozenset({"b", "i", "u", "a", "code"})
# libyaml's parser where PyYAML has it, as storage/yaml_files.py (a neighbour package).
_SafeLoader: type[yaml.SafeLoader] = getattr(yaml, "CSafeLoader", yaml.SafeLoader)


def load_yaml(text: str) -> Any:
    """yaml.safe_load, faster; raises yaml.YAMLError alike."""
    return yaml.load(text, Loader=_SafeLoader)


class LocalisedEntry(BaseModel):
    model_config = ConfigDict(frozen=True, extra="forbid")

    question: str
    answer: str
    # Optional detail behind a "Meer" button; same rules as `answer`, empty when there is none.
    more: str = ""
    alternatives: tuple[str, ...] = ()


class FaqEntry(BaseModel):
    model_config = ConfigDict(frozen=True, extra="forbid")

    id: str = Field(pattern=r"^[a-z0-9][a-z0-9-]*$")
    nl: LocalisedEntry
    en: LocalisedEntry
    keywords: tuple[str, ...] = ()
    related: tuple[str, ...] = ()

    def localised(self, language: str) -> LocalisedEntry:
        return self.en if language == "en" else self.nl


class FaqContent(BaseModel):
    model_config = ConfigDict(frozen=True, extra="forbid")

    entries: tuple[FaqEntry, ...]
    # Groups of words that mean the same thing to a user ("aanmelden ~ inschrijven ~ sign up").
    synonyms: tuple[tuple[str, ...], ...] = ()

    def entry(self, entry_id: str) -> FaqEntry | None:
        for entry in self.entries:
            if entry.id == entry_id:
                return entry
        return None

    @property
    def ids(self) -> tuple[str, ...]:
        return tuple(entry.id for entry in self.entries)


class FaqContentError(Exception):
    """Raised with every problem found, so an organiser can fix them in one go."""

    def __init__(self, path: Path, problems: list[str]) -> None:
        self.path = path
        self.problems = problems
        super().__init__("\n".join(f"{path}: {problem}" for problem in problems))


class _TagChecker(HTMLParser):
    def __init__(self, allowed: frozenset[str]) -> None:
        super().__init__(convert_charrefs=True)
        self.allowed = allowed
        self.problems: list[str] = []
        self._open: list[str] = []

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        if tag not in self.allowed:
            self.problems.append(f"tag <{tag}> is not allowed in Telegram HTML")
        self._open.append(tag)

    def handle_endtag(self, tag: str) -> None:
        if not self._open or self._open[-1] != tag:
            self.problems.append(f"closing tag </{tag}> does not match")
        else:
            self._open.pop()

    def unclosed(self) -> list[str]:
        return self._open


def html_problems(text: str, allowed: frozenset[str] = ALLOWED_ANSWER_TAGS) -> list[str]:
    """Problems that would make Telegram reject `text` as HTML."""
    checker = _TagChecker(allowed)
    checker.feed(text)
    checker.close()
    problems = list(checker.problems)
    if checker.unclosed():
        problems.append(f"unclosed tag <{checker.unclosed()[-1]}>")
    return problems


def _validate(content: FaqContent) -> list[str]:
    problems: list[str] = []
    counts = Counter(content.ids)
    problems += [f"duplicate id '{entry_id}'" for entry_id, n in counts.items() if n > 1]
    known = set(content.ids)
    for entry in content.entries:
        for language in LANGUAGES:
            localised = entry.localised(language)
            if not localised.question.strip():
                problems.append(f"{entry.id}.{language}.question: is empty")
            if not localised.answer.strip():
                problems.append(f"{entry.id}.{language}.answer: is empty")
            for field, text in (("answer", localised.answer), ("more", localised.more)):
                for problem in html_problems(text):
                    problems.append(f"{entry.id}.{language}.{field}: {problem}")
        if bool(entry.nl.more.strip()) != bool(entry.en.more.strip()):
            # The "Meer" button would appear in one language only.
            problems.append(f"{entry.id}.more: given in one language only")
        problems += [
            f"{entry.id}.related: unknown id '{other}'"
            for other in entry.related
            if other not in known
        ]
    return problems


def parse_faq(raw: object, path: Path) -> FaqContent:
    try:
        content = FaqContent.model_validate(raw)
    except ValidationError as error:
        raise FaqContentError(path, [_describe(err) for err in error.errors()]) from None
    problems = _validate(content)
    if problems:
        raise FaqContentError(path, problems)
    return content


def content_files(path: Path) -> list[Path]:
    """The FAQ file, or every *.yaml file of a folder, in a stable order."""
    return sorted(path.glob("*.yaml")) if path.is_dir() else [path]


def content_fingerprint(path: Path) -> str:
    """A hash of the content files' names and bytes: equal hashes mean equal content."""
    digest = hashlib.sha256()
    for file in content_files(path):
        digest.update(file.name.encode("utf-8") + b"\0")
        try:
            digest.update(file.read_bytes())
        except OSError:
            digest.update(b"unreadable")
    return digest.hexdigest()


def load_faq(path: Path) -> FaqContent:
    """Load and validate the FAQ file (or every *.yaml file of a folder, merged)."""
    files = content_files(path)
    merged: dict[str, list[object]] = {"entries": [], "synonyms": []}
    for file in files:
        try:
            raw = load_yaml(file.read_text(encoding="utf-8")) or {}
        except (OSError, yaml.YAMLError) as error:
            raise FaqContentError(file, [f"cannot be read: {error}"]) from None
        if not isinstance(raw, dict):
            raise FaqContentError(file, ["must be a mapping with 'entries'"])
        merged["entries"] += raw.get("entries") or []
        merged["synonyms"] += raw.get("synonyms") or []
    if not files:
        raise FaqContentError(path, ["no FAQ files found"])
    return parse_faq(merged, path)


def _describe(error: object) -> str:
    assert isinstance(error, dict)
    location = ".".join(str(part) for part in error.get("loc", ()))
    return f"{location}: {error.get('msg', 'invalid')}"
