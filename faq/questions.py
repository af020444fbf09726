"""Find the question inside a long message.

Parents often tell their story first ("mijn zoon van 13 zit al sinds de herfstvakantie thuis,
hij heeft autisme, school zegt ...") and ask at the end, or ask in the middle and thank at the
end. Matched as a whole, the story's many words drown the question's few and the best entry is
whichever shares the most story words. So a long message is cut into sentences, the asking
ones are found (a question mark, a question word or inverted verb at the start of a clause,
"ik wil weten", "ik vraag me af", "can you tell me"), and the matcher scores those parts, with
the sentence before the last question as context for "wat is dat precies?". The whole message
still counts, with less weight; a story in which nothing is asked counts the least, so it falls
to the suggestions or the fallback instead of being answered with a random entry.
"""

from __future__ import annotations

import re
from dataclasses import dataclass

__all__ = [
    "LONG_MESSAGE_WORDS",
    "Part",
    "asking_sentences",
    "parts_to_match",
    "sentences",
]

# From this many words on, a message is a story with a question in it, not just a question.
LONG_MESSAGE_WORDS = 14
# From this many words on, the whole message counts less than the questions found in it, and a
# message without a question counts less still (a story, or a remark).
STORY_WORDS = 25
WHOLE_WEIGHT = 0.9
STORY_WEIGHT = 0.8
# A sentence this long without punctuation is cut at its commas to find the asking clause.
LONG_SENTENCE_WORDS = 20

_SENTENCE_END = re.compile(r"(?<=[?!;])\s*|(?<=[.…])\s+|\n+")
_CLAUSE_BREAK = re.compile(r",\s*|\s+(?=(?:maar|dus|and|but|so)\s)|\s+-\s+")
_WORD = re.compile(r"[^\W_]+(?:['’][^\W_]+)?")


def _word_set(words: str) -> frozenset[str]:
    return frozenset(words.split())


# Words that may precede the question without being part of it ("maar hoe ...", "ok, wat ...").
_FILLERS = _word_set(
    """
    maar en dus nou oke ok okay ja nee hoi hallo hey hi dag goedemiddag goedemorgen
    goedenavond beste verder ook tot slot ten eerste tweede trouwens eigenlijk even en
    so and but also then well anyway besides secondly finally last lastly oh
    """
)
# A clause starting with one of these asks something ("wat is ...", "kan ik ...").
_QUESTION_STARTS = _word_set(
    """
    wat wie waar wanneer waarom hoe hoeveel hoelang hoezo welke welk waarvoor waarmee waarover
    waarheen
    kan kun kunt kunnen mag mogen moet moeten is zijn heeft hebben hebt heb doet doen zit zitten
    bestaat bestaan krijg krijgt krijgen weet weten wordt worden word zou zouden komt komen
    gaat gaan staat staan werkt werken geldt hoort horen
    what whats who whos where wheres when why how which whom
    can could is are do does did will would should may might have has am was were
    """
)
# Phrases that ask without a question mark ("ik wil weten wat ...", "I'd like to know ...").
_REQUESTS = re.compile(
    r"\b(?:wil(?:de)?\s+(?:ik\s+)?(?:graag\s+)?weten|vraag\s+me\s+af|vroeg\s+me\s+af"
    r"|ben\s+(?:ik\s+)?(?:erg\s+|heel\s+)?benieuwd|graag\s+(?:horen|weten|uitleg)"
    r"|leg\s+(?:eens\s+)?uit|uitleggen|vertel\s+(?:eens|me|mij)|laat\s+(?:me|mij)\s+weten"
    r"|(?:like|want|need)\s+to\s+(?:know|understand)|wonder(?:ing)?\b|tell\s+me|explain"
    r"|let\s+me\s+know|curious|zoek\w*\s+(?:\w+\s+)?(?:informatie|info|uitleg)"
    r"|meer\s+(?:informatie|info|weten)|(?:heb|had)\s+(?:een\s+)?vraag|looking\s+for"
    r"|more\s+(?:information|info)|(?:have|had)\s+a\s+question)",
    re.IGNORECASE,
)


@dataclass(frozen=True)
class Part:
    """A piece of a message to match, and how much its score counts (0-1).

    A part that `needs_support` is a question cut out of its story: its score for an entry
    counts fully only where the story around it points to that entry too (see the matcher)."""

    text: str
    weight: float
    needs_support: bool = False


def sentences(text: str) -> list[str]:
    return [s.strip() for s in _SENTENCE_END.split(text) if s and s.strip()]


def _words(text: str) -> list[str]:
    return [w.casefold() for w in _WORD.findall(text)]


def _asking_start(clause: str) -> bool:
    for word in _words(clause):
        if word in _FILLERS:
            continue
        return word in _QUESTION_STARTS
    return False


def _asking_part(sentence: str) -> str | None:
    """The asking part of a sentence ("..., wat is dat voor iets"), or None if it asks nothing.

    A sentence that ends with a question mark asks from its first asking clause on, or as a
    whole; otherwise it must start a clause with a question word or contain a request."""
    if len(_words(sentence)) < LONG_SENTENCE_WORDS:
        clauses = [sentence]
    else:
        clauses = [c for c in _CLAUSE_BREAK.split(sentence) if c and c.strip()]
    for number, clause in enumerate(clauses):
        if _asking_start(clause) or _REQUESTS.search(clause):
            return " ".join(clauses[number:]) if number else sentence
    return sentence if sentence.rstrip().endswith("?") else None


def asking_sentences(text: str) -> list[str]:
    """The parts of the message that ask something, in order."""
    return [part for s in sentences(text) if (part := _asking_part(s)) is not None]


def parts_to_match(text: str) -> list[Part]:
    """What to match for a message: the whole message and, for a long one, its questions."""
    whole = Part(text, 1.0)
    if len(_words(text)) < LONG_MESSAGE_WORDS:
        return [whole]
    all_sentences = sentences(text)
    asking: list[tuple[int, str]] = []
    for number, sentence in enumerate(all_sentences):
        asked = _asking_part(sentence)
        if asked is not None:
            asking.append((number, asked))
    story = len(_words(text)) >= STORY_WORDS
    if not asking:
        return [Part(text, STORY_WEIGHT if story else 1.0)]
    parts = [Part(text, WHOLE_WEIGHT if story else 1.0)]
    last_number, last = asking[-1]
    if last_number > 0:
        # "Ik las iets over een Doen-dag. Wat is dat precies?": the question needs the sentence
        # before it to say what it is about.
        parts.append(Part(f"{all_sentences[last_number - 1]} {last}", 1.0))
    for _, asked in asking[-3:]:
        parts.append(Part(asked, 1.0, needs_support=True))
    if len(asking) > 1:
        joined = " ".join(asked for _, asked in asking[-3:])
        parts.append(Part(joined, 1.0, needs_support=True))
    unique: dict[str, Part] = {}
    for candidate in parts:  # the first of equal texts wins: it needs no support
        unique.setdefault(candidate.text, candidate)
    return list(unique.values())
