"""Match a user's free-text question to a FAQ entry, and know when not to.

The matcher is lexical and built once from the FAQ content: every phrasing (question and
alternatives, Dutch and English), the keywords and, with less credit, the answers. A question
is normalised, split into words and stop words are dropped; Dutch compounds are joined or split
against the FAQ's own vocabulary ("inspiratie regio's"), separable verbs are put back together
("meld ... af" -> "afmeld"), typos are corrected onto that vocabulary and the content's synonym
groups are folded onto one term each. Each entry then gets a 0-100 score from

* IDF-weighted coverage of the question's words by everything the entry says,
* the best single phrasing (recall of the question, precision of the phrasing), and
* a fuzzy string similarity with the best phrasing.

Words naming the bot's actions (aanmelden, afmelden, agenda, ...) weigh more, so "ik wil me
aanmelden voor de masterclass" is about signing up. Knowing what it does not know:

* words the FAQ never uses weigh against every entry, so one matching topic word is not enough;
* a question of generic words only ("hoe gaat het met je") has too little evidence to score;
* questions about facts the sources never give (prices, budgets, parking, weather, one child's
  school) are marked down unless the entry itself talks about that very thing.

Every question is analysed with a Dutch and an English stemmer and the better view wins, so
nobody has to guess the language.

A long message is matched as a whole and by the questions found in it (faq/questions.py): a
question cut out of its story counts fully only for the entries the story itself points to, and
a story in which nothing is asked counts less, so it is not answered with a random entry.

Scoring is vectorised: inverted lists (term -> entries, term -> phrasings) and numpy arrays touch
only what shares a term with the question, and the fuzzy similarity with every phrasing is one
rapidfuzz `cdist` call on pre-sorted words. `load_matcher` keeps the built index in an on-disk
cache (faq/cache.py) keyed on the content, the thresholds and this code.
"""

from __future__ import annotations

import functools
import html
import math
import re
import unicodedata
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from enum import StrEnum
from pathlib import Path

import numpy as np
import numpy.typing as npt
import snowballstemmer
from rapidfuzz import process
from rapidfuzz.distance import OSA, Indel

from faq import cache
from faq.content import FaqContent, content_fingerprint, load_faq
from faq.questions import STORY_WORDS, parts_to_match

__all__ = [
    "Band",
    "Candidate",
    "FaqMatcher",
    "MatchResult",
    "Thresholds",
    "normalise",
]

FloatArray = npt.NDArray[np.float64]

# Longer messages are cut before matching: a question never needs more, and it bounds the work.
MAX_QUESTION_CHARS = 1000
# Of a longer message the start (who is asking) and the end (where the question usually is).
_HEAD_CHARS = 300


class Band(StrEnum):
    ANSWER = "answer"
    SUGGEST = "suggest"
    FALLBACK = "fallback"


@dataclass(frozen=True)
class Thresholds:
    answer: float = 52.0
    suggest: float = 35.0
    margin: float = 2.0


@dataclass(frozen=True)
class Candidate:
    entry_id: str
    score: float


@dataclass(frozen=True)
class MatchResult:
    question: str
    band: Band
    best: Candidate | None
    runners_up: tuple[Candidate, ...]
    # The suggest threshold the result was banded with, so `suggestions` needs no matcher.
    suggest_threshold: float = 0.0

    @property
    def answer_id(self) -> str | None:
        if self.band is Band.ANSWER and self.best is not None:
            return self.best.entry_id
        return None

    @property
    def suggestions(self) -> tuple[Candidate, ...]:
        if self.band is not Band.SUGGEST or self.best is None:
            return ()
        ranked = (self.best, *self.runners_up)
        return tuple(c for c in ranked if c.score >= self.suggest_threshold)[:3]


# --- normalisation ----------------------------------------------------------------------------

_APOSTROPHES = re.compile(r"['\u2018\u2019\u02bc`\u00b4]")
_NOT_WORD = re.compile(r"[\W_]+")
_TAG = re.compile(r"<[^>]*>")


def normalise(text: str) -> str:
    """Lowercase, strip accents and punctuation, collapse spaces.

    Apostrophes vanish without a space ("regio's" -> "regios", "IB'er" -> "iber"); every other
    non-letter, non-digit character (hyphens, emoji, symbols) becomes a space.
    """
    decomposed = unicodedata.normalize("NFKD", text.casefold())
    stripped = "".join(ch for ch in decomposed if not unicodedata.combining(ch))
    stripped = _APOSTROPHES.sub("", stripped)
    return " ".join(_NOT_WORD.sub(" ", stripped).split())


# --- word lists ---------------------------------------------------------------------------------


def _word_set(words: str) -> frozenset[str]:
    return frozenset(words.split())


_STOP_WORDS = _word_set(
    """
    aan af al alle allebei alleen allemaal als alsjeblieft alstublieft altijd ander andere anders
    sinds tijdens via per tegen tussen omdat want waarbij ergens alles elk elke ieder iedere
    beetje heel zeer vaak soms nooit wellicht misschien mischien toen daarna eerst
    ben bent best bij binnen bijv bijvoorbeeld d daar daarbij daarin daarom daarvan dan dank dat
    de deze der des die dit doch doe doen doet door dus echt een eens eigenlijk en enzo er erg
    even gedaan geen gewoon graag ha had hadden hallo heb hebben hebt heeft hele hem hen het hey
    hier hij hoe hoi hun iemand iets ik in is ja jaja je jij jou jouw jullie kan kun kunnen kunt
    let maar me meer men met mij mijn mn mag mogen moet moeten mijne na naar natuurlijk nee niet
    niets nog nou nu of oke ok okay om onder ons onze ook op over precies s sowieso t toch toe
    tot u uit uw van veel voor vooral waren was wat we wel welk welke werd wij wil wilt willen
    word worden wordt z zal ze zelf zich zij zijn zo zoals zon zou zouden zullen
    a about above after again against all also am an and any are as at be because been before
    being below between both but by can could did do does doing down during each else few for
    from further had has have having he her here hers herself him himself his i if im in into is
    it its itself ive just lets me more most my myself no nor not now of off on once only or
    other our ours ourselves out over own please pls plz same she should so some such than that
    thats the their theirs them themselves then there these they this those through to too
    under until up very was we were what whats which while whom will with would you your yours
    yourself yourselves youre hi hello thanks thank ok okay hey actually really exactly
    """
)

# Question words and everyday verbs: they count when the FAQ uses them, but a question is not
# "unknown" because it says "vertel" or "waarom".
_SOFT_WORDS = _word_set(
    """
    wie waar wanneer waarom hoeveel hoelang waarvoor waarmee hoezo
    who where when why how many much long
    weten vinden vind zien zie krijgen krijg gaan ga gaat komen kom komt staan staat zitten
    maken maak maakt werken werk werkt helpen help helpt vertellen vertel zeggen zeg vragen
    vraag vragen kijken kijk lezen lees bedoelen bedoel bedoelt houdt houden gebeurt gebeuren
    betekent betekenen snap snappen begrijp begrijpen uitleg uitleggen
    geven geef geeft gegeven hebben heeft hebt krijgt kregen doen doet deed willen wil
    know find see get go come make work help tell say ask look read want need like mean means
    happen happens happening explain understand give gives given gave have has do does did
    end begin start starts started
    mensen iemand people someone something thing things ding dingen laat late weer again
    las lazen gelezen hoorde hoorden gehoord zag zagen gezien noemde noemden genoemd zei zeiden
    vertelde vertelden verteld kreeg kregen gekregen stuurde gestuurd
    read heard saw seen mentioned told said sent
    """
)

# Words that name an action of the bot; they decide between "how do I sign up" and "what is a
# masterclass" when a question mentions both.
_INTENT_WORDS = _word_set(
    """
    aanmelden aanmelding inschrijven inschrijving opgeven registreren afmelden afmelding
    annuleren uitschrijven agenda binnenkort gepland komende herinnering herinneringen
    reminder reminders signup sign register registration cancel unsubscribe upcoming schedule
    events privacy gegevens data contact
    """
)

# Topics the sources never give facts about. When a question asks about one and the best entry
# does not mention it, the entry cannot be the answer, however well the rest matches.
_UNANSWERABLE_WORDS = _word_set(
    """
    kosten kost kostte betalen betaal betaald prijs prijzen geld gratis euro euros budget
    budgetten tarief tarieven vergoeding parkeren parkeerplaats parkeergarage weerbericht
    temperatuur regen parkeer mop moppen grap grappen grapje toeslag kinderopvangtoeslag
    price prices cost costs pay paid paying fee fees free money euro budget parking park
    weather rain temperature joke jokes funny salaris salarissen verdienen verdient loon
    salary salaries earn earns wage wages rolstoel rolstoelen rolstoeltoegankelijk wheelchair
    wheelchairs lunch lunchen catering
    """
)
# Compounds starting with one of these are about the same thing ("parkeergelegenheid").
_UNANSWERABLE_PREFIXES = tuple(sorted(w for w in _UNANSWERABLE_WORDS if len(w) >= 5))
_AMOUNT_WORDS = frozenset({"hoeveel", "much"})
# "Welke school past bij mijn dochter?": advice about one child's school is never in the FAQ.
_WHICH_WORDS = frozenset({"welke", "which", "what"})
_SCHOOL_WORDS = frozenset(
    {"school", "scholen", "schools", "basisschool", "middelbare", "secondary", "primary"}
)
_MONEY_WORDS = frozenset(
    {"geld", "euro", "euros", "budget", "kosten", "kost", "money", "funding", "bedrag", "cost"}
)

# "Wie betaalt MAO?" asks who funds it, while "moet ik betalen?" asks a price the FAQ lacks.
_WHO_WORDS = frozenset({"wie", "who"})
_PAY_WORDS = frozenset(
    {"betaalt", "betalen", "betaald", "financiert", "pays", "paying", "pay", "paid", "funds"}
)
_FUNDER_WORD = "financier"  # a word of the content's synonym group for funders

# Separable-verb particles ("meld je af", "schrijf me in", "zet ze uit").
_PARTICLES = ("aan", "af", "in", "op", "uit", "mee", "terug", "door", "bij", "toe", "weg")

# The programme's own name, however it is written.
_BUILTIN_SYNONYMS: tuple[tuple[str, ...], ...] = (("mao", "met andere ogen", "metandereogen"),)

# --- scoring constants (tuned on faq-dev.yaml and a private sample, never the held-out set) --

_UNKNOWN_WEIGHT = 2.6  # a word the FAQ never uses counts like a rare word that nothing matches
_INTENT_FACTOR = 3.0
_SOFT_FACTOR = 0.4
_TYPO_CREDIT = 0.85
_SPLIT_CREDIT = 0.9
_PART_CREDIT = 0.7  # a query word matching only part of a compound in the entry
_ANSWER_CREDIT = 0.5  # a query word found only in the entry's answer text
_COVERAGE_SHARE = 0.45
_PHRASING_SHARE = 0.40
_FUZZY_SHARE = 0.15
_RECALL_BETA2 = 4.0  # F-beta with beta=2: recall of the question matters more than precision
_UNANSWERABLE_FACTOR = 0.65
_MIN_EVIDENCE = 1.5  # below this much known, specific word weight the score shrinks
_STORY_ANSWER_DISCOUNT = 6.0  # a story-length message is answered from 6 points lower...
_STORY_CLEAR_LEAD = 15.0  # ...when its best entry leads the second by this much
_FUZZY_MAX_WORDS = 12  # content words; longer texts get no fuzzy score
_SUPPORT_FLOOR = 0.6  # share of a cut-out question's score that counts without the story
_PROGRAMME_EVIDENCE = 1.0  # "wat is MAO": the programme's name is in every entry, yet specific


@dataclass(frozen=True)
class _Term:
    term: str
    weight: float
    credit: float = 1.0


@dataclass(frozen=True)
class _Query:
    terms: tuple[_Term, ...]
    text: str  # content words, for the fuzzy score
    unanswerable: frozenset[str]  # terms naming facts the sources never give
    evidence: float  # weight of the specific (not generic) words the FAQ knows


class _Stemmer:
    """A snowball stemmer with a cache (the vocabulary is small and repeats a lot).

    The cache travels with a stored matcher (the disk cache) and is shared by a matcher built
    with organisers' extra phrasings, so neither stems the content's words again."""

    def __init__(self, algorithm: str) -> None:
        self.algorithm = algorithm
        self._stemmer = snowballstemmer.stemmer(algorithm)
        self._cache: dict[str, str] = {}

    def __getstate__(self) -> dict[str, object]:
        return {"algorithm": self.algorithm, "cache": self._cache}

    def __setstate__(self, state: dict[str, object]) -> None:
        algorithm, cache = state["algorithm"], state["cache"]
        assert isinstance(algorithm, str) and isinstance(cache, dict)
        self.algorithm = algorithm
        self._stemmer = snowballstemmer.stemmer(algorithm)
        self._cache = cache

    def __call__(self, word: str) -> str:
        stem = self._cache.get(word)
        if stem is None:
            stem = str(self._stemmer.stemWord(word))
            if len(self._cache) < 50_000:
                self._cache[word] = stem
        return stem


def _words(text: str) -> list[str]:
    return normalise(_TAG.sub(" ", html.unescape(text))).split()


def _rephrase(words: list[str]) -> list[str]:
    """Rewrite idioms whose words mislead on their own ("wie betaalt" -> "wie financier")."""
    if _WHO_WORDS.isdisjoint(words):
        return words
    return [_FUNDER_WORD if word in _PAY_WORDS else word for word in words]


def _asks_which_school(words: list[str]) -> bool:
    return any(
        word in _WHICH_WORDS and not _SCHOOL_WORDS.isdisjoint(words[i + 1 : i + 3])
        for i, word in enumerate(words)
    )


def _verb_variants(word: str) -> list[str]:
    """Infinitive-like forms of a Dutch first-person verb ("schrijf" -> "schrijven")."""
    variants = [word, word + "en"]
    base = word
    if len(base) >= 3 and base[-2] == base[-3] and base[-2] in "aeou":
        base = base[:-2] + base[-1]  # geef -> gef
    if base.endswith("f"):
        base = base[:-1] + "v"
    elif base.endswith("s"):
        base = base[:-1] + "z"
    if base != word:
        variants += [base, base + "en"]
    if len(word) >= 2 and word[-1] not in "aeiou" and word[-2] in "aeiou":
        variants.append(word + word[-1] + "en")  # zet -> zetten
    return variants


def _with_misspellings(words: frozenset[str], surface: frozenset[str]) -> list[str]:
    """`words` plus the FAQ's own misspellings of them (alternatives like "afmleden")."""
    found = set(words)
    for word in words:
        if len(word) >= 6:
            near = process.extract(word, surface, scorer=OSA.distance, score_cutoff=1, limit=None)
            found.update(choice for choice, _, _ in near)
    return sorted(found)


class _Vocabulary:
    """Surface words of the FAQ, shared by every stemmer: typo targets and compound parts."""

    def __init__(self, content: FaqContent) -> None:
        words: set[str] = set()
        joined: set[str] = set()
        texts: list[str] = []
        for entry in content.entries:
            for localised in (entry.nl, entry.en):
                texts += [localised.question, localised.answer, *localised.alternatives]
            texts += entry.keywords
        texts += [member for group in content.synonyms for member in group]
        for text in texts:
            words.update(_words(text))
            # "Doen-dag", "MAO-tafel": also known as one word, so "doendag" matches.
            for hyphenated in re.findall(r"\w+(?:-\w+)+", text):
                joined.update(_words(hyphenated.replace("-", "")))
        self.surface = frozenset(words | joined)
        self.joinable = frozenset(w for w in self.surface if len(w) >= 4)
        self.typo_targets = sorted(w for w in self.surface if len(w) >= 3 and w not in _STOP_WORDS)
        self._corrections: dict[str, str | None] = {}

    def correct(self, word: str) -> str | None:
        """The FAQ word a typo most likely meant, or None."""
        if word in self._corrections:
            return self._corrections[word]
        limit = 1 if len(word) <= 7 else 2
        found = process.extract(
            word, self.typo_targets, scorer=OSA.distance, score_cutoff=limit, limit=8
        )
        best: str | None = None
        best_distance = limit + 1
        for choice, distance, _ in found:
            # A wrong first letter is a rarer typo than a wrong later one: demand more then.
            cost = distance + (0 if choice[0] == word[0] else 1)
            if cost <= limit and cost < best_distance and abs(len(choice) - len(word)) <= limit:
                best, best_distance = choice, int(cost)
        if len(self._corrections) < 10_000:
            self._corrections[word] = best
        return best


def _similarities(query: str, texts: list[str]) -> FloatArray:
    similarity: FloatArray = process.cdist(
        [query], texts, scorer=Indel.normalized_similarity, dtype=np.float64
    )[0]
    return similarity


class _Index:
    """Every lookup table for one stemmer: terms per entry, phrasings, IDF, synonyms."""

    def __init__(self, stem: _Stemmer, content: FaqContent, vocabulary: _Vocabulary) -> None:
        self.stem = stem
        self._surface = vocabulary.surface
        self._joinable_stems = frozenset(stem(w) for w in vocabulary.joinable)
        self._joinable_memo: dict[str, bool] = {}
        self._synonym_single: dict[str, str] = {}
        self._synonym_phrase: dict[tuple[str, ...], str] = {}
        self._build_synonyms((*_BUILTIN_SYNONYMS, *content.synonyms))
        self._phrase_sizes = sorted({len(k) for k in self._synonym_phrase}, reverse=True)
        self._splits = {w: s for w in self._surface if (s := self.split(w)) is not None}
        self.intent_terms = frozenset(self.fold(_with_misspellings(_INTENT_WORDS, self._surface)))
        self.unanswerable_terms = frozenset(self.fold(sorted(_UNANSWERABLE_WORDS)))
        self.money_terms = frozenset(self.fold(sorted(_MONEY_WORDS)))
        self.soft_terms = frozenset(self.fold(sorted(_SOFT_WORDS)))
        self.programme_term = self.fold(["mao"])[0]
        self._index(content)

    # -- building ------------------------------------------------------------------------------

    def _build_synonyms(self, groups: Iterable[Sequence[str]]) -> None:
        """Fold every member of a group (and of groups sharing a member) onto one term."""
        parent: dict[str, str] = {}

        def find(key: str) -> str:
            while parent.setdefault(key, key) != key:
                key = parent[key]
            return key

        members: list[tuple[str, ...]] = []
        for group in groups:
            keys = [tuple(self.stem(w) for w in self._join(_words(m))) for m in group]
            keys = [k for k in keys if k]
            members += keys
            for other in keys[1:]:
                parent[find(" ".join(other))] = find(" ".join(keys[0]))
        for key in members:
            canonical = "~" + find(" ".join(key))
            if len(key) == 1:
                self._synonym_single[key[0]] = canonical
            else:
                self._synonym_phrase[key] = canonical

    def _index(self, content: FaqContent) -> None:
        self.entry_terms: list[dict[str, float]] = []  # term -> credit, per entry
        self.main_terms: list[frozenset[str]] = []  # terms of phrasings and keywords
        phrasings: list[tuple[int, list[str], str]] = []
        for number, entry in enumerate(content.entries):
            credits: dict[str, float] = {}
            for text in (
                entry.nl.question,
                entry.en.question,
                *entry.nl.alternatives,
                *entry.en.alternatives,
            ):
                words = self.content_words(_words(text))
                terms = self.fold(words)
                if terms:
                    phrasings.append((number, terms, " ".join(words)))
                self._credit(credits, words, terms, 1.0)
            for keyword in entry.keywords:
                words = self.content_words(_words(keyword))
                self._credit(credits, words, self.fold(words), 1.0)
            self.main_terms.append(frozenset(t for t, c in credits.items() if c >= 1.0))
            for localised in (entry.nl, entry.en):
                words = self.content_words(_words(localised.answer))
                self._credit(credits, words, self.fold(words), _ANSWER_CREDIT)
            self.entry_terms.append(credits)
        count = len(self.entry_terms)
        frequency: dict[str, float] = {}
        for credits in self.entry_terms:
            for term, credit in credits.items():
                frequency[term] = frequency.get(term, 0.0) + min(1.0, 2 * credit)
        self.idf = {
            term: math.log(1 + (count - df + 0.5) / (df + 0.5)) for term, df in frequency.items()
        }
        self._arrays(count, phrasings)

    def _arrays(self, count: int, phrasings: list[tuple[int, list[str], str]]) -> None:
        """Inverted lists and arrays, so a question is scored with a few numpy operations on
        the entries and phrasings that share its terms instead of a loop over all of them."""
        covered: dict[str, tuple[list[int], list[float]]] = {}
        for number, credits in enumerate(self.entry_terms):
            for term, credit in credits.items():
                entries, values = covered.setdefault(term, ([], []))
                entries.append(number)
                values.append(credit)
        self.coverage = {
            term: (np.array(entries, dtype=np.intp), np.array(values, dtype=np.float64))
            for term, (entries, values) in covered.items()
        }
        mains: dict[str, list[int]] = {}
        for number, terms in enumerate(self.main_terms):
            for term in terms:
                mains.setdefault(term, []).append(number)
        self.main_entries = {t: np.array(e, dtype=np.intp) for t, e in mains.items()}
        by_term: dict[str, list[int]] = {}
        entry_of: list[int] = []
        totals: list[float] = []
        texts: list[str] = []
        for number, phrasing_terms, text in phrasings:
            weights = {t: self.idf[t] for t in phrasing_terms}
            for term in weights:
                by_term.setdefault(term, []).append(len(entry_of))
            entry_of.append(number)
            totals.append(sum(weights.values()))
            # token_sort_ratio sorts both sides' words on every call; sorted once here, the
            # fuzzy score is a plain Indel similarity that rapidfuzz computes for all at once.
            texts.append(" ".join(sorted(text.split())))
        self.phrasing_positions = {t: np.array(p, dtype=np.intp) for t, p in by_term.items()}
        self.phrasing_entry = np.array(entry_of, dtype=np.intp)
        self.phrasing_total = np.array(totals, dtype=np.float64)
        self.phrasing_texts = texts
        # Phrasings are stored entry by entry: the best one per entry is a reduceat.
        self.entries_with_phrasings, self.phrasing_starts = (
            np.unique(self.phrasing_entry, return_index=True)
            if entry_of
            else (np.zeros(0, dtype=np.intp), np.zeros(0, dtype=np.intp))
        )
        self.entry_count = count

    def share_fuzzy_with(self, first: _Index) -> None:
        """The phrasings' texts are nearly the same under every stemmer: where they are, the
        fuzzy similarity computed for `first` is reused (see `similarity`)."""
        if len(first.phrasing_texts) != len(self.phrasing_texts):
            return
        differing = [
            n
            for n, (a, b) in enumerate(zip(first.phrasing_texts, self.phrasing_texts, strict=True))
            if a != b
        ]
        self._differing = np.array(differing, dtype=np.intp)
        self._differing_texts = [self.phrasing_texts[n] for n in differing]

    def similarity(self, query: str, computed: dict[str, FloatArray]) -> FloatArray:
        """Indel similarity (0-1) of `query` (words sorted) with every phrasing; `computed`
        holds the first index's arrays by query, to reuse for the texts both indexes share."""
        shared = computed.get(query)
        differing: npt.NDArray[np.intp] | None = getattr(self, "_differing", None)
        if shared is not None and differing is not None:
            similarity = shared.copy()
            if len(differing):
                similarity[differing] = _similarities(query, self._differing_texts)
            return similarity
        similarity = _similarities(query, self.phrasing_texts)
        computed.setdefault(query, similarity)
        return similarity

    def _credit(
        self, credits: dict[str, float], words: list[str], terms: list[str], credit: float
    ) -> None:
        for term in terms:
            credits[term] = max(credits.get(term, 0.0), credit)
        for word in words:
            parts = self._splits.get(word)
            if parts is not None:
                for term in self.fold(list(parts)):
                    credits[term] = max(credits.get(term, 0.0), credit * _PART_CREDIT)

    # -- analysis ------------------------------------------------------------------------------

    def known(self, term: str) -> bool:
        return term in self.idf

    def generic(self, term: str) -> bool:
        return term in self.soft_terms or term.isdigit()

    def weight(self, term: str) -> float:
        weight = self.idf.get(term, 0.0)
        if term in self.intent_terms:
            return weight * _INTENT_FACTOR
        return weight * _SOFT_FACTOR if self.generic(term) else weight

    def split(self, word: str) -> tuple[str, str] | None:
        """Split a compound into two words the FAQ uses ("ouderbetrokkenheid")."""
        if len(word) < 7 or word.isdigit():
            return None
        surface = self._surface
        best: tuple[str, str] | None = None
        for cut in range(3, len(word) - 2):
            left, right = word[:cut], word[cut:]
            if left not in surface and not (left.endswith("s") and left[:-1] in surface):
                continue
            if right in _STOP_WORDS or left in _STOP_WORDS or right not in surface:
                continue
            if best is None or min(len(left), len(right)) > min(map(len, best)):
                best = (left, right)
        return best

    def content_words(self, words: list[str]) -> list[str]:
        """Join compounds and separable verbs, then drop stop words (surface forms)."""
        words = self._join(words)
        particles = [i for i, w in enumerate(words) if w in _PARTICLES]
        used: set[int] = set()
        for i, word in enumerate(words):
            if not particles or word in _STOP_WORDS or word in _PARTICLES:
                continue
            for p in particles:
                if p not in used and (joined := self._particle_verb(words[p], word)):
                    words[i] = joined
                    used.add(p)
                    break
        in_phrase = set[int]()
        for start, size, _ in self._phrases(words):
            in_phrase.update(range(start, start + size))
        return [
            w
            for i, w in enumerate(words)
            if i in in_phrase or (w not in _STOP_WORDS and i not in used)
        ]

    def fold(self, words: list[str]) -> list[str]:
        """Stem and fold synonyms into one canonical term each."""
        return [term for term, _ in self.fold_words(words)]

    def fold_words(self, words: list[str]) -> list[tuple[str, str]]:
        """(term, the words it came from) for each term: stems, synonyms folded together."""
        phrases = {start: (size, key) for start, size, key in self._phrases(words)}
        terms: list[tuple[str, str]] = []
        i = 0
        while i < len(words):
            if i in phrases:
                size, key = phrases[i]
                terms.append((key, " ".join(words[i : i + size])))
                i += size
            else:
                stem = self.stem(words[i])
                terms.append((self._synonym_single.get(stem, stem), words[i]))
                i += 1
        return terms

    def _phrases(self, words: list[str]) -> list[tuple[int, int, str]]:
        """(start, size, term) of multi-word synonyms ("sign up"), longest first, no overlap."""
        if not self._phrase_sizes or len(words) < 2:
            return []
        stems = [self.stem(w) for w in words]
        found: list[tuple[int, int, str]] = []
        i = 0
        while i < len(stems):
            for size in self._phrase_sizes:
                key = self._synonym_phrase.get(tuple(stems[i : i + size]))
                if key is not None and i + size <= len(stems):
                    found.append((i, size, key))
                    i += size
                    break
            else:
                i += 1
        return found

    def _join(self, words: list[str]) -> list[str]:
        """Join neighbours that the FAQ writes as one word ("inspiratie regio's", "doen-dag")."""
        out: list[str] = []
        i = 0
        while i < len(words):
            for size in (3, 2):
                joined = "".join(words[i : i + size])
                if i + size <= len(words) and self._joinable(joined):
                    out.append(joined)
                    i += size
                    break
            else:
                out.append(words[i])
                i += 1
        return out

    def _joinable(self, word: str) -> bool:
        known = self._joinable_memo.get(word)
        if known is not None:
            return known
        # Stemming is slow (pure Python) and stems are prefixes that drop at most a few letters,
        # so most candidates are ruled out by set lookups alone.
        size = len(word)
        joinable = any(
            word[:n] in self._joinable_stems for n in range(max(1, size - 5), size + 1)
        ) and (self.stem(word) in self._joinable_stems)
        if len(self._joinable_memo) < 100_000:
            self._joinable_memo[word] = joinable
        return joinable

    def _particle_verb(self, particle: str, word: str) -> str | None:
        for variant in _verb_variants(word):
            if self._joinable(candidate := particle + variant):
                return candidate
        return None


class FaqMatcher:
    """Scores a question against every FAQ entry; build once, call `match` many times."""

    def __init__(self, content: FaqContent, thresholds: Thresholds) -> None:
        self._build(content, thresholds, [_Stemmer(a) for a in ("dutch_porter", "english")])

    def _build(
        self, content: FaqContent, thresholds: Thresholds, stemmers: Sequence[_Stemmer]
    ) -> None:
        self._ids = content.ids
        self._thresholds = thresholds
        self._vocabulary = _Vocabulary(content)
        self._indexes = [_Index(stemmer, content, self._vocabulary) for stemmer in stemmers]
        first = self._indexes[0]
        for index in self._indexes[1:]:
            index.share_fuzzy_with(first)

    @property
    def thresholds(self) -> Thresholds:
        return self._thresholds

    def with_phrasings(self, content: FaqContent, extra: Sequence[Phrasing]) -> FaqMatcher:
        """A matcher for `content` plus organisers' additions (stored in the database, see
        "Voeg toe aan FAQ"): each becomes one more way of asking its entry."""
        merged = with_phrasings(content, extra)
        key = cache.cache_key("content", merged.model_dump_json(), repr(self._thresholds))
        cached = cache.load(key, kinds=STORED_KINDS)
        if isinstance(cached, FaqMatcher):
            return cached
        matcher = FaqMatcher.__new__(FaqMatcher)
        # The stemmers' caches already hold nearly every word: stemming is most of a build.
        stemmers = [index.stem for index in self._indexes]
        matcher._build(merged, self._thresholds, stemmers)
        cache.store(key, matcher, kinds=STORED_KINDS)
        return matcher

    def match(self, question: str) -> MatchResult:
        text = question
        if len(text) > MAX_QUESTION_CHARS:
            tail = MAX_QUESTION_CHARS - _HEAD_CHARS
            text = f"{text[:_HEAD_CHARS]}\n{text[-tail:]}"
        words = _rephrase(normalise(text).split())
        if not words or not self._ids:
            return MatchResult(question, Band.FALLBACK, None, (), self._thresholds.suggest)
        scores = np.zeros(len(self._ids))
        story = np.zeros(len(self._ids))  # the parts that carry the story's context
        cut_out = np.zeros(len(self._ids))  # questions cut out of it
        for part in parts_to_match(text):
            part_words = words if part.text == text else _rephrase(normalise(part.text).split())
            target = cut_out if part.needs_support else story
            similarities: dict[str, FloatArray] = {}
            for index in self._indexes:
                score = self._score(index, part_words, similarities)
                np.maximum(target, part.weight * score, out=target)
        if cut_out.any():
            # A question cut out of its story ("hoe heten die en wat doe je daar?") may match an
            # entry on its generic words alone: it counts fully only for the entries the story
            # itself points to most.
            leader = story.max()
            support = _SUPPORT_FLOOR + (1 - _SUPPORT_FLOOR) * (
                story / leader if leader > 0 else np.zeros_like(story)
            )
            np.maximum(story, cut_out * support, out=scores)
        else:
            scores = story
        # Ranked on the rounded scores, ties in content order (a stable sort).
        order = np.argsort(-np.round(scores, 2), kind="stable")[:4]
        ranked = [Candidate(self._ids[n], round(float(scores[n]), 2)) for n in order]
        best, rest = ranked[0], tuple(c for c in ranked[1:4] if c.score > 0)
        band = self._band(best, rest, story=len(words) >= STORY_WORDS)
        return MatchResult(question, band, best, rest, self._thresholds.suggest)

    def _band(self, best: Candidate, rest: tuple[Candidate, ...], story: bool) -> Band:
        limits = self._thresholds
        second = rest[0].score if rest else 0.0
        # A story's words dilute even its question's score; a clear lead still answers it.
        clear = story and best.score - second >= _STORY_CLEAR_LEAD
        answer_at = limits.answer - _STORY_ANSWER_DISCOUNT if clear else limits.answer
        if best.score >= answer_at:
            if second >= limits.suggest and best.score - second < limits.margin:
                return Band.SUGGEST
            return Band.ANSWER
        if best.score >= limits.suggest:
            return Band.SUGGEST
        return Band.FALLBACK

    def _analyse(self, index: _Index, words: list[str]) -> _Query:
        terms: list[_Term] = []
        fuzzy_words: list[str] = []
        unanswerable: set[str] = set()
        evidence = 0.0
        for term, word in index.fold_words(index.content_words(words)):
            if index.known(term):
                known = [_Term(term, index.weight(term))]
            elif word.isdigit() or word in _SOFT_WORDS or term in index.soft_terms:
                continue
            elif term in index.unanswerable_terms or word.startswith(_UNANSWERABLE_PREFIXES):
                known = []
                unanswerable.add(term)
            else:
                known = self._repair(index, word)
            if known:
                terms += known
                evidence += sum(t.weight for t in known if not index.generic(t.term))
            else:
                terms.append(_Term(term, _UNKNOWN_WEIGHT, 0.0))
            fuzzy_words.append(word)
        found = {t.term for t in terms}
        unanswerable |= found & index.unanswerable_terms
        if found & index.money_terms and not _AMOUNT_WORDS.isdisjoint(words):
            unanswerable.add("~amount-of-money")  # budgets are never in the sources
        if _asks_which_school(words):
            unanswerable.add("~school-choice")
        if index.programme_term in found:
            evidence += _PROGRAMME_EVIDENCE
        return _Query(tuple(terms), " ".join(fuzzy_words), frozenset(unanswerable), evidence)

    def _repair(self, index: _Index, word: str) -> list[_Term]:
        """Terms for a word the FAQ does not use: a compound of its words, or a typo."""
        parts = index.split(word)
        if parts is not None:
            terms = index.fold(list(parts))
            if all(index.known(t) for t in terms):
                return [_Term(t, index.weight(t), _SPLIT_CREDIT) for t in terms]
        corrected = self._vocabulary.correct(word) if len(word) >= 5 else None
        if corrected is not None:
            (fixed,) = index.fold([corrected])
            if index.known(fixed):
                return [_Term(fixed, index.weight(fixed), _TYPO_CREDIT)]
        return []

    def _score(
        self, index: _Index, words: list[str], similarities: dict[str, FloatArray]
    ) -> FloatArray:
        """0-100 per entry; only the entries and phrasings sharing a term are touched, and the
        fuzzy similarity with every phrasing is one vectorised rapidfuzz call."""
        query = self._analyse(index, words)
        count = index.entry_count
        total = sum(t.weight for t in query.terms)
        if total <= 0:
            return np.zeros(count)
        coverage = np.zeros(count)
        # Best phrasing per entry: recall of the question, precision of the phrasing.
        matched = np.zeros(len(index.phrasing_entry))
        own = np.zeros(len(index.phrasing_entry))
        for term in query.terms:
            if term.credit <= 0:
                continue
            credit = term.weight * term.credit
            covered = index.coverage.get(term.term)
            if covered is not None:
                entries, credits = covered
                coverage[entries] += credit * credits
            positions = index.phrasing_positions.get(term.term)
            if positions is not None:
                matched[positions] += credit
                own[positions] += index.idf[term.term]
        best_phrasing = np.zeros(count)
        touched = np.flatnonzero(matched)
        if len(touched):
            recall = matched[touched] / total
            precision = own[touched] / index.phrasing_total[touched]
            f = (1 + _RECALL_BETA2) * precision * recall / (_RECALL_BETA2 * precision + recall)
            np.maximum.at(best_phrasing, index.phrasing_entry[touched], f)
        fuzzy = np.zeros(count)
        # A story's words against a one-line phrasing say nothing a fuzzy ratio could add, and
        # comparing long texts is what costs the most: only questions of a few words get it.
        if query.text and index.phrasing_texts and query.text.count(" ") < _FUZZY_MAX_WORDS:
            similarity = index.similarity(" ".join(sorted(query.text.split())), similarities)
            fuzzy[index.entries_with_phrasings] = np.maximum.reduceat(
                similarity, index.phrasing_starts
            )
        # A question made of generic words only ("hoe gaat het met je") proves little.
        confidence = min(1.0, query.evidence / _MIN_EVIDENCE)
        scores: FloatArray = (
            confidence
            * 100
            * (
                _COVERAGE_SHARE * np.minimum(1.0, coverage / total)
                + _PHRASING_SHARE * best_phrasing
                + _FUZZY_SHARE * fuzzy
            )
        )
        if query.unanswerable:
            lacking = np.zeros(count, dtype=bool)
            for unanswerable in query.unanswerable:
                has = np.zeros(count, dtype=bool)
                having = index.main_entries.get(unanswerable)
                if having is not None:
                    has[having] = True
                lacking |= ~has
            scores[lacking] *= _UNANSWERABLE_FACTOR
        return np.clip(scores, 0.0, 100.0)


@dataclass(frozen=True)
class Phrasing:
    """One more way of asking an entry, in a language ("nl" or "en")."""

    entry_id: str
    language: str
    question: str


def with_phrasings(content: FaqContent, extra: Sequence[Phrasing]) -> FaqContent:
    """The content with `extra` as alternatives of their entries (unknown entries skipped)."""
    by_entry: dict[str, list[Phrasing]] = {}
    for phrasing in extra:
        by_entry.setdefault(phrasing.entry_id, []).append(phrasing)
    entries = []
    for entry in content.entries:
        added = by_entry.get(entry.id)
        if not added:
            entries.append(entry)
            continue
        changes = {}
        for language in ("nl", "en"):
            localised = entry.localised(language)
            more = tuple(p.question for p in added if p.language == language)
            if more:
                changes[language] = localised.model_copy(
                    update={"alternatives": localised.alternatives + more}
                )
        entries.append(entry.model_copy(update=changes))
    return content.model_copy(update={"entries": tuple(entries)})


def load_matcher(path: Path, thresholds: Thresholds) -> tuple[FaqContent, FaqMatcher]:
    """The content and its matcher, built once per distinct content and thresholds.

    A process that starts the bot again (tests, the console's restarts) reuses the build while
    the files are unchanged, and a new process reads it from the disk cache (faq/cache.py),
    keyed on the files' hash, the thresholds and the matcher's code."""
    return _build_matcher(content_fingerprint(path), path, thresholds)


@functools.lru_cache(maxsize=4)
def _build_matcher(
    fingerprint: str, path: Path, thresholds: Thresholds
) -> tuple[FaqContent, FaqMatcher]:
    key = cache.cache_key("files", fingerprint, repr(thresholds))
    cached = cache.load(key, kinds=STORED_KINDS)
    if (
        isinstance(cached, tuple)
        and len(cached) == 2
        and isinstance(cached[0], str)
        and isinstance(cached[1], FaqMatcher)
    ):
        try:
            return FaqContent.model_validate_json(cached[0]), cached[1]
        except ValueError:
            pass  # content of another shape: build it again
    content = load_faq(path)
    matcher = FaqMatcher(content, thresholds)
    # The content as its JSON: the cache stores data, and pydantic checks it on the way back.
    cache.store(key, (content.model_dump_json(), matcher), kinds=STORED_KINDS)
    return content, matcher


# The only classes the disk cache may rebuild (faq/cache.py stores data, never code).
STORED_KINDS: dict[str, type] = {
    kind.__name__: kind for kind in (FaqMatcher, Thresholds, _Vocabulary, _Index, _Stemmer)
}
