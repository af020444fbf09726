"""faq/smalltalk.py finds phrases through an index (it runs for every message); it must find
exactly what trying every phrase, as the rules say, finds."""

from __future__ import annotations

import random

from faq import smalltalk
from faq.smalltalk import _JOINED, _LONGEST, _PRIORITY, Talk, _same_phrase


def _every_phrase_tried(words: list[str], start: int) -> tuple[Talk, int] | None:
    """The plain definition: the longest phrase at `start`, the earliest kind on a tie."""
    best: tuple[Talk, int] | None = None
    for count in range(1, min(_LONGEST, len(words) - start) + 1):
        typed = words[start : start + count]
        for talk, phrase_words, joined in _JOINED:
            if abs(len(phrase_words) - count) > 2 or not _same_phrase(typed, phrase_words, joined):
                continue
            if (
                best is None
                or count > best[1]
                or (count == best[1] and _PRIORITY.index(talk) < _PRIORITY.index(best[0]))
            ):
                best = (talk, count)
    return best


def _typo(word: str, rng: random.Random) -> str:
    if not word:
        return word
    at, letter = rng.randrange(len(word)), rng.choice("abdeijklmnoprstu")
    return rng.choice(
        [
            word[:at] + letter + word[at + 1 :],  # replaced
            word[:at] + word[at + 1 :],  # left out
            word[:at] + letter + word[at:],  # added
            word[:at] + word[at + 1 : at + 2] + word[at : at + 1] + word[at + 2 :],  # swapped
        ]
    )


def test_the_index_finds_what_trying_every_phrase_finds() -> None:
    rng = random.Random(20)
    phrases = [list(words) for _, words, _ in _JOINED] + [[joined] for _, _, joined in _JOINED]
    vocabulary = sorted(
        {word for _, words, _ in _JOINED for word in words}
        | {"wat", "is", "een", "fieldlab", "hoe", "meld", "ik", "me", "aan", "hoor", "even"}
    )
    cases = [["wat", "is", "een", "fieldlab"], ["dank", "je", "wel"], ["dankjewell"]]
    for _ in range(600):
        words = list(rng.choice(phrases))
        if rng.random() < 0.5:
            words = [_typo(w, rng) if rng.random() < 0.4 else w for w in words]
        if rng.random() < 0.3:
            words = ["".join(words[:2]), *words[2:]]  # joined differently
        if rng.random() < 0.4:
            words += [rng.choice(vocabulary) for _ in range(rng.randrange(1, 4))]
        if rng.random() < 0.2:
            words = [rng.choice(vocabulary) for _ in range(rng.randrange(1, 9))]
        cases.append([w for w in words if w])
    for words in filter(None, cases):
        for start in range(min(3, len(words))):
            assert smalltalk._phrase_at(words, start) == _every_phrase_tried(words, start), (
                words,
                start,
            )
