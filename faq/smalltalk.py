"""Small talk and follow-ups: what a chat message is when it is not a question of its own.

`small_talk(text)` names the kind of small talk ("hallo", "dankjewel!", "ben jij een echt
mens?") only when the message is essentially just that: every word must belong to a small-talk
phrase or be filler ("hoor", "even", an emoji). "hoi, wat is een fieldlab?" is a question, so
it is None, and goes to the FAQ.

Phrases are matched on their letters without spaces, so "dank je wel", "dankjewel" and
"dankje wel" are one phrase, with a small typo allowance for longer ones ("bedankr",
"goedemorgn").

`refers_back(text)` tells whether a short message points back at what was just discussed
("en wanneer is die?", "hoe meld ik me daarvoor aan?", "and where is it?").
"""

from __future__ import annotations

import re
import unicodedata
from collections.abc import Sequence
from enum import StrEnum

from rapidfuzz import process
from rapidfuzz.distance import OSA

__all__ = ["BACK_WORDS", "Talk", "refers_back", "small_talk", "tokens"]


class Talk(StrEnum):
    HUMAN = "human"  # "ben je een mens?": say honestly it is a bot, offer a person
    WHO = "who"
    CAPABILITIES = "capabilities"
    HELP = "help"
    ASK = "ask"  # "ik heb een vraag": invite the question
    HOW_ARE_YOU = "how_are_you"
    THANKS = "thanks"
    GOODBYE = "goodbye"
    GREETING = "greeting"
    OK = "ok"


# When a message holds several kinds ("hoi, wie ben jij?"), the first in this order answers.
_PRIORITY = tuple(Talk)

_PHRASES: dict[Talk, tuple[str, ...]] = {
    Talk.HUMAN: (
        "ben jij een mens",
        "ben je een mens",
        "ben jij een echt mens",
        "ben je een echt mens",
        "ben jij een echte mens",
        "ben je een echte mens",
        "ben jij echt",
        "ben je echt",
        "ben jij een echt persoon",
        "ben je een echt persoon",
        "ben jij een robot",
        "ben je een robot",
        "ben jij een bot",
        "ben je een bot",
        "ben jij een computer",
        "ben je een computer",
        "ben jij een chatbot",
        "ben je een chatbot",
        "ben je ai",
        "ben jij ai",
        "ben je chatgpt",
        "is dit een bot",
        "is dit een robot",
        "is dit een mens",
        "is dit een chatbot",
        "is dit automatisch",
        "praat ik met een mens",
        "praat ik met een robot",
        "praat ik met een bot",
        "praat ik met een computer",
        "spreek ik met een mens",
        "chat ik met een mens",
        "ik wil een mens spreken",
        "ik wil iemand spreken",
        "ik wil met een mens praten",
        "kan ik een mens spreken",
        "mag ik een mens spreken",
        "kan ik iemand spreken",
        "kan ik met een mens praten",
        "kan ik met iemand praten",
        "ik wil een medewerker spreken",
        "kan ik een medewerker spreken",
        "am i talking to a human",
        "am i talking to a person",
        "am i talking to a real person",
        "am i talking to a bot",
        "am i talking to a robot",
        "am i chatting with a human",
        "are you a human",
        "are you human",
        "are you a real person",
        "are you a person",
        "are you real",
        "are you a bot",
        "are you a robot",
        "are you ai",
        "are you an ai",
        "is this a bot",
        "is this a human",
        "is this a real person",
        "can i talk to a human",
        "can i talk to a person",
        "can i speak to a human",
        "can i speak to someone",
        "i want to talk to a human",
        "talk to a human",
        "human please",
        "real person",
        "ben jij echt een mens",
        "ben je echt een mens",
        "ben jij een mens of een bot",
        "ben je een mens of een bot",
        "ben je een mens of een robot",
        "is dit een mens of een bot",
        "of een bot",
        "of een robot",
        "of een computer",
        "are you a human or a bot",
        "or a bot",
        "or a robot",
        "mens of bot",
        "mens of robot",
        "human or bot",
        "echt mens",
        "echte mens",
        "mens",
        "robot",
    ),
    Talk.WHO: (
        "wie ben jij",
        "wie ben je",
        "wie bent u",
        "wat ben jij",
        "wat ben je",
        "wie is dit",
        "wat is dit voor bot",
        "wat is dit voor een bot",
        "wat voor bot ben jij",
        "wat voor bot ben je",
        "hoe heet jij",
        "hoe heet je",
        "who are you",
        "what are you",
        "who is this",
        "what is your name",
        "whats your name",
    ),
    Talk.CAPABILITIES: (
        "wat kun jij",
        "wat kun je",
        "wat kan jij",
        "wat kan je",
        "wat kunt u",
        "wat kun jij doen",
        "wat kun je doen",
        "wat kan jij doen",
        "wat kan je doen",
        "wat kun je voor mij doen",
        "wat kan je voor mij doen",
        "wat kun je voor me doen",
        "wat doe jij",
        "wat doe je",
        "waar kun je mee helpen",
        "waarmee kun je helpen",
        "waar kan je mee helpen",
        "waarmee kan je helpen",
        "waar kun je me mee helpen",
        "hoe werkt dit",
        "hoe werk jij",
        "hoe werkt deze bot",
        "what can you do",
        "what do you do",
        "what can you help with",
        "what can you help me with",
        "how does this work",
        "how do you work",
    ),
    Talk.HELP: (
        "help",
        "help me",
        "hulp",
        "helpen",
        "menu",
        "opdrachten",
        "commands",
        "help mij",
        "kun je me helpen",
        "kun je mij helpen",
        "kan je me helpen",
        "kan je mij helpen",
        "kunt u mij helpen",
        "kunt u me helpen",
        "can you help me",
        "can you help",
        "i need help",
    ),
    Talk.ASK: (
        "ik heb een vraag",
        "ik heb een vraagje",
        "ik heb nog een vraag",
        "ik heb een paar vragen",
        "ik heb vragen",
        "mag ik iets vragen",
        "mag ik wat vragen",
        "mag ik je iets vragen",
        "vraagje",
        "een vraag",
        "een vraagje",
        "vraag",
        "i have a question",
        "i have a few questions",
        "can i ask something",
        "can i ask you something",
        "question",
    ),
    Talk.HOW_ARE_YOU: (
        "hoe gaat het",
        "hoe gaat het met je",
        "hoe gaat het met jou",
        "hoe gaat het ermee",
        "hoe is het",
        "hoe is het met je",
        "alles goed",
        "alles oke",
        "how are you",
        "how are you doing",
        "hows it going",
        "how is it going",
    ),
    Talk.THANKS: (
        "dankjewel",
        "dank je",
        "dankuwel",
        "dank u",
        "dank",
        "bedankt",
        "bedankt voor je hulp",
        "bedankt voor de hulp",
        "bedankt voor het antwoord",
        "dank voor je hulp",
        "dankjewel voor je hulp",
        "dankjewel voor de hulp",
        "dankjewel voor het antwoord",
        "merci",
        "thanks",
        "thank you",
        "thanks for the help",
        "thank you for your help",
        "thanks for your help",
        "thx",
        "thnx",
        "thanx",
        "tnx",
        "ty",
        "cheers",
        "many thanks",
        "thanks a lot",
    ),
    Talk.GOODBYE: (
        "doei",
        "doeg",
        "dag dag",
        "daag",
        "tot ziens",
        "tot later",
        "tot de volgende keer",
        "fijne dag",
        "fijne dag nog",
        "fijne avond",
        "fijn weekend",
        "prettige dag",
        "groetjes",
        "houdoe",
        "bye",
        "bye bye",
        "goodbye",
        "see you",
        "see you later",
        "have a nice day",
        "have a good day",
        "ciao",
    ),
    Talk.GREETING: (
        "hallo",
        "hoi",
        "hoihoi",
        "hey",
        "heey",
        "hee",
        "hai",
        "hi",
        "hello",
        "hiya",
        "yo",
        "dag",
        "goedemorgen",
        "goedemiddag",
        "goedenavond",
        "goedendag",
        "goeiemorgen",
        "goeiemiddag",
        "goeienavond",
        "goeiedag",
        "morgen",
        "middag",
        "good morning",
        "good afternoon",
        "good evening",
        "hallo daar",
        "hoi daar",
        "hey there",
        "hi there",
        "hello there",
        "hallo bot",
        "hoi bot",
        "hi bot",
        "hello bot",
    ),
    Talk.OK: (
        "ok",
        "oke",
        "okay",
        "okey",
        "okee",
        "okido",
        "oki",
        "prima",
        "goed",
        "top",
        "fijn",
        "mooi",
        "perfect",
        "duidelijk",
        "helder",
        "begrepen",
        "ik snap het",
        "snap ik",
        "aha",
        "ah",
        "oh",
        "ja",
        "nee",
        "yes",
        "no",
        "alright",
        "great",
        "nice",
        "cool",
        "got it",
        "super",
        "geweldig",
        "check",
        "klopt",
        "tof",
        "ok dan",
        "oke dan",
        "ah zo",
        "ach zo",
        "i see",
    ),
}


def _word_set(words: str) -> frozenset[str]:
    return frozenset(words.split())


# Emoji that carry a meaning in a chat; any other emoji is filler.
_EMOJI_WORDS = {
    "👍": "ok",
    "👌": "ok",
    "✅": "ok",
    "🙏": "thanks",
    "👋": "hallo",
    "🤖": "robot",
}

# Words that change nothing about small talk: "heel erg bedankt hoor", "hoi allemaal".
_FILLER = _word_set(
    """
    hoor even wel nog heel erg zeer hartelijk vriendelijk allemaal jullie maar nou echt
    super veel ok oke bot botje mao so very much a lot again weer nogmaals he hihi haha
    hahaha lol xd x xx xxx hey hi hallo hoi dan alvast nogmaals daar there you all
    jij je u zo
    """
)
# Words a thank-you may carry: "bedankt voor de info", "thanks for your answer".
_THANKS_FILLER = _word_set(
    """
    voor de je het jullie uw hulp info informatie antwoord antwoorden uitleg snelle reactie
    for the your help info answer answers information quick reply
    """
)

# Each phrase as words and as letters joined: "dank je wel" and "dankjewel" are the same.
_JOINED: tuple[tuple[Talk, tuple[str, ...], str], ...] = tuple(
    (talk, tuple(phrase.split()), phrase.replace(" ", ""))
    for talk in _PRIORITY
    for phrase in _PHRASES[talk]
)
_LONGEST = max(len(words) for _, words, _ in _JOINED) + 2
_NOT_WORD = re.compile(r"[\W_]+")


def tokens(text: str) -> list[str]:
    """Lower-case words without accents or punctuation; meaningful emoji become words."""
    for emoji, word in _EMOJI_WORDS.items():
        text = text.replace(emoji, f" {word} ")
    decomposed = unicodedata.normalize("NFKD", text.casefold())
    plain = "".join(ch for ch in decomposed if not unicodedata.combining(ch))
    plain = re.sub(r"['\u2018\u2019`]", "", plain)
    return [w for w in _NOT_WORD.split(plain) if w]


def _allowed_typos(length: int) -> int:
    """Typos a word of this length may have: none in short words ("dat" is not "dit")."""
    if length < 4:
        return 0
    if length < 8:
        return 1
    return 2


def _same_word(typed: str, word: str, in_phrase: bool) -> bool:
    """`in_phrase`: one of three or more words, where the others make a typo safe to
    forgive ("ben je een mnes"); alone, a short word must be exact ("doen" is not "doei")."""
    allowed = _allowed_typos(len(word))
    if len(word) == 4 and not in_phrase:
        allowed = 0
    return typed == word or (
        allowed > 0 and OSA.distance(typed, word, score_cutoff=allowed) <= allowed
    )


def _same_phrase(typed: list[str], words: tuple[str, ...], joined: str) -> bool:
    """Word for word with small typos, or, split or joined differently, letter for letter
    (one typo allowed in long phrases: "dankjewell")."""
    if len(typed) == len(words):
        in_phrase = len(words) >= 3
        return all(_same_word(t, w, in_phrase) for t, w in zip(typed, words, strict=True))
    letters = "".join(typed)
    if letters == joined:
        return True
    return len(joined) >= 9 and OSA.distance(letters, joined, score_cutoff=1) <= 1


def _squash(word: str) -> str:
    """Letters repeated for emphasis count once: "hoiii", "bedanktttt", "okeee"."""
    return re.sub(r"(.)\1{2,}", r"\1", word)


# The same phrases indexed for `_phrase_at`, which runs for every message: rapidfuzz's scans
# (in C) narrow ~300 phrases to the few worth checking word by word in Python.
_FIRST_WORDS = [words[0] for _, words, _ in _JOINED]
# Phrases by their letters (the letter-for-letter path), and the long ones a typo may hide,
# by the lengths of letters typed they may be one typo away from.
_BY_LETTERS: dict[str, tuple[int, ...]] = {
    joined: tuple(i for i, (_, _, other) in enumerate(_JOINED) if other == joined)
    for _, _, joined in _JOINED
}
_NEAR_LENGTH: dict[int, tuple[tuple[int, ...], list[str]]] = {
    length: (
        tuple(i for i, (_, _, joined) in enumerate(_JOINED) if abs(len(joined) - length) <= 1),
        [joined for _, _, joined in _JOINED if abs(len(joined) - length) <= 1],
    )
    for length in range(8, max(len(joined) for _, _, joined in _JOINED) + 2)
}
# Typos no word allows more of (_allowed_typos).
_MOST_TYPOS = 2


def _phrases_matching(typed: list[str], first_word_near: Sequence[int]) -> list[int]:
    """The positions in _JOINED of the phrases `typed` is (_same_phrase), found without
    trying each: a phrase of as many words needs its first word near (`first_word_near`),
    another phrase needs the same letters, or one typo in a long one."""
    count = len(typed)
    found = [
        index
        for index in first_word_near
        if len(_JOINED[index][1]) == count and _same_phrase(typed, *_JOINED[index][1:])
    ]
    letters = "".join(typed)
    candidates = list(_BY_LETTERS.get(letters, ()))
    indices, near = _NEAR_LENGTH.get(len(letters), ((), []))
    if near:
        candidates += (
            indices[position]
            for _phrase, _distance, position in process.extract(
                letters, near, scorer=OSA.distance, score_cutoff=1, limit=None
            )
            if len(_JOINED[indices[position]][2]) >= 9
        )
    for index in candidates:
        if 0 < abs(len(_JOINED[index][1]) - count) <= 2 and _same_phrase(
            typed, *_JOINED[index][1:]
        ):
            found.append(index)
    return found


def _phrase_at(words: list[str], start: int) -> tuple[Talk, int] | None:
    """The longest small-talk phrase starting at `start`: its kind and how many words (of
    phrases as long, the kind first in _PRIORITY, which _JOINED follows)."""
    first_word_near = [
        index
        for first, distance, index in process.extract(
            words[start], _FIRST_WORDS, scorer=OSA.distance, score_cutoff=_MOST_TYPOS, limit=None
        )
        if distance <= _allowed_typos(len(first))
    ]
    for count in range(min(_LONGEST, len(words) - start), 0, -1):
        found = _phrases_matching(words[start : start + count], first_word_near)
        if found:
            return _JOINED[min(found)][0], count
    return None


def small_talk(text: str) -> Talk | None:
    """The kind of small talk a message is, or None when it says more than small talk."""
    words = [_squash(w) for w in tokens(text)]
    if not words or len(words) > 12:
        return None
    found: set[Talk] = set()
    thanks_words = False
    position = 0
    while position < len(words):
        match = _phrase_at(words, position)
        if match is not None:
            found.add(match[0])
            position += match[1]
        elif words[position] in _FILLER:
            position += 1
        elif words[position] in _THANKS_FILLER:
            thanks_words = True
            position += 1
        else:
            return None
    if not found or (thanks_words and Talk.THANKS not in found):
        return None
    return min(found, key=_PRIORITY.index)


# Words that point back at the thing just discussed.
BACK_WORDS = _word_set(
    """
    die dat daar daarvoor daaraan daarheen daarbij daarin daarna daarover ervoor eraan erheen
    erbij deze hem zij ze dit het
    it that there this them those they its
    """
)
_OPENERS = frozenset({"en", "and", "ook", "also", "maar", "but", "dus", "so"})
# A follow-up is a short message: a longer one says what it is about itself.
_FOLLOW_UP_WORDS = 9


def refers_back(text: str) -> bool:
    """Whether a short message refers to what was just discussed ("is dat online?")."""
    words = tokens(text)
    if not words or len(words) > _FOLLOW_UP_WORDS:
        return False
    if words[0] in _OPENERS and len(words) >= 2:
        return True
    return any(word in BACK_WORDS for word in words)
