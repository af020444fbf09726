"""Which unanswered texts are kept as FAQ misses: questions, not what people type for a flow.

A text the bot cannot answer is often not a question at all: a name or an e-mail address
typed just after a sign-up was stopped (/annuleer) or timed out, an answer to a step that is
no longer asked. Those are personal data and say nothing about missing content, so the miss
list keeps only texts that read like a question:

- at least MIN_WORDS words, and
- a question mark, or a question word anywhere (wat, hoe, waarom, what, how…), or a verb
  and its subject that open a question ("kan ik", "is er", "do you"…), or a request as
  first word (vertel, leg uit, tell, explain…);
- never a text with an e-mail address or a phone number in it, whatever it looks like.
"""

from __future__ import annotations

import re

from faq.matching import normalise

MIN_WORDS = 3


def _word_set(words: str) -> frozenset[str]:
    return frozenset(words.split())


# Interrogatives: they make a question wherever they stand ("en hoe zit het met ...").
QUESTION_WORDS = _word_set(
    """
    wat wie wiens waar waarom wanneer hoe hoeveel hoelang hoezo welk welke waarvoor waarmee
    waarover waaraan waarop waarin wats
    what who whom whose where when why how which
    """
)

# A question that opens with its verb has a subject right after it ("Kan ik", "Is er",
# "Do you"). Both are needed: Wil, Ben, Can and Will are also first names ("Wil de Vries").
OPENING_VERBS = _word_set(
    """
    kan kun kunt kunnen mag mogen moet moeten is zijn ben bent heb hebt heeft hebben wil wilt
    willen zal zou zouden gaat gaan doe doet komt komen krijg krijgt weet weten kost kosten
    klopt bestaat
    are am can could do does did is may might must should will would have has shall
    """
)
SUBJECTS = _word_set(
    """
    ik je jij u we wij jullie hij zij ze het er men dat dit mijn ons onze
    i you we they he she it there my our this that
    """
)
# Requests that ask for an answer without a question ("Vertel eens over de fieldlabs").
REQUESTS = _word_set("vertel leg geef zoek tell explain give show")

# An address starts where a word starts (the lookbehind): without it, a long word with no
# "@" was scanned again from each of its characters, quadratic in its length (a message of
# 4,096 "x" cost three normal ones). The local part is possessive: it never gives back.
_EMAIL = re.compile(r"(?<![^\s@])[^\s@]++@[^\s@]+\.[^\s@]+")
# Eight or more digits, spaces and dashes allowed between them: phone numbers, BSN.
_PHONE = re.compile(r"\d(?:[\s-]*\d){7,}")
_LETTER = re.compile(r"[^\W\d_]")


def has_contact_details(text: str) -> bool:
    """An e-mail address or a phone number (or another long run of digits) in the text."""
    return bool(_EMAIL.search(text) or _PHONE.search(text))


def is_question_worth_keeping(text: str) -> bool:
    """Whether an unanswered text may be stored (without who sent it) as a FAQ miss."""
    if has_contact_details(text):
        return False
    words = [word for word in normalise(text).split() if _LETTER.search(word)]
    if len(words) < MIN_WORDS:
        return False
    if "?" in text or words[0] in REQUESTS:
        return True
    if words[0] in OPENING_VERBS and words[1] in SUBJECTS:
        return True
    return any(word in QUESTION_WORDS for word in words)
