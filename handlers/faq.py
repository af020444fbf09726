"""Free text: small talk, answers from the agenda, follow-ups, and the FAQ matcher, whose
three bands become an answer, a choice or a fallback (with the hand-over to a person).

The order of `answer_question` matters:

1. small talk ("hallo", "dankjewel!", "ben je een mens?"), only when the message is just
   that (faq/smalltalk.py);
2. a question about an activity in the agenda ("wanneer is de masterclass netwerkregie"),
   only when it asks when/where/online/seats/for whom/sign-up of an activity it names
   (core/agenda_answers.py), so "wat is een fieldlab" stays with the FAQ;
3. a short follow-up ("en wanneer is die?") on the topic answered in the last ten minutes;
4. the FAQ.

Everything is answered in the language of the question when that is clearly English or
Dutch (faq/language.py), without changing the user's setting.
"""

from __future__ import annotations

import logging
from datetime import datetime, timedelta
from typing import Any

from telegram import Message, Update
from telegram.ext import CallbackQueryHandler, MessageHandler, filters

from core import callbacks
from core.agenda_answers import (
    AgendaReply,
    activity_reply,
    agenda_reply,
    is_about_the_activity,
)
from core.context import Handlers, MaoContext
from core.i18n import Html
from core.keyboards import Button, keyboard, one_per_row
from core.text_limits import clean_text
from faq.language import detect_language
from faq.matching import Band, MatchResult
from faq.misses import is_question_worth_keeping
from faq.smalltalk import Talk, refers_back, small_talk
from handlers.basics import show_help
from handlers.faq_learning import take_rewrite
from handlers.flood import may_store_miss
from handlers.inbox import forget_unanswered, handover_button, remember_unanswered
from handlers.replies import close_buttons, pressed, reply
from storage.faq_misses import count_band, record_miss

logger = logging.getLogger(__name__)

# The topic just answered, for a follow-up: {"type": "faq" | "activity" | "activities" |
# "kind", "id": str, "at": ISO time} (persisted user data: JSON values only).
TOPIC_KEY = "faq_topic"
# The question that led to "Bedoelde je…?" (and that message's id), for "Geen van deze" and
# its hand-over. Dropped at the next question: a question is kept no longer than needed.
SUGGESTED_KEY = "faq_suggested"
# The language of the last answer with buttons, {"message": id, "language": "en"}: its
# buttons ("Meer", related topics, "Bedoelde je…?") answer in the language it was written in.
LANGUAGE_KEY = "faq_buttons_language"
# A follow-up refers to what was said this recently; later, a message stands on its own.
FOLLOW_UP_WITHIN = timedelta(minutes=10)
GUESSES = 3


def _user_data(context: MaoContext) -> dict[Any, Any]:
    data = context.user_data
    return data if data is not None else {}


def remember_topic(context: MaoContext, kind: str, value: str) -> None:
    _user_data(context)[TOPIC_KEY] = {
        "type": kind,
        "id": value,
        "at": context.services.now().isoformat(),
    }


def _remember_language(context: MaoContext, sent: Message | None) -> None:
    if sent is not None:
        _user_data(context)[LANGUAGE_KEY] = {
            "message": sent.message_id,
            "language": context.language,
        }


def language_of_pressed(update: Update, context: MaoContext) -> str | None:
    """The language the message whose button was pressed was written in, when known."""
    query = update.callback_query
    kept = _user_data(context).get(LANGUAGE_KEY)
    if query is None or query.message is None or not isinstance(kept, dict):
        return None
    if kept.get("message") != query.message.message_id:
        return None
    language = kept.get("language")
    return language if isinstance(language, str) else None


def recent_topic(context: MaoContext) -> tuple[str, str] | None:
    """The topic answered within FOLLOW_UP_WITHIN, as (type, id)."""
    topic = _user_data(context).get(TOPIC_KEY)
    if not isinstance(topic, dict):
        return None
    try:
        at = datetime.fromisoformat(str(topic["at"]))
        kind, value = str(topic["type"]), str(topic["id"])
    except (KeyError, ValueError):
        return None
    if context.services.now() - at > FOLLOW_UP_WITHIN:
        return None
    return kind, value


async def send_answer(update: Update, context: MaoContext, entry_id: str) -> None:
    services = context.services
    entry = services.faq.entry(entry_id)
    if entry is None:
        await reply(update, context, context.text("faq_unknown_topic"))
        return
    remember_topic(context, "faq", entry.id)
    language = context.language
    more: list[Button] = []
    if entry.localised(language).more.strip():
        # Answers stay chat-sized; the detail is one tap away.
        more.append((context.text("faq_more"), callbacks.FAQ_MORE.data(entry=entry.id)))
    related: list[Button] = []
    for other_id in entry.related[: services.config.faq.related]:
        other = services.faq.entry(other_id)
        if other is not None:
            related.append(
                (other.localised(language).question, callbacks.FAQ_SHOW.data(entry=other_id))
            )
    text = entry.localised(language).answer
    if related:
        text += "\n\n" + context.text("faq_related")
    sent = await reply(update, context, text, one_per_row(more + related))
    if more or related:
        _remember_language(context, sent)


async def show_more(update: Update, context: MaoContext) -> None:
    """The detail of an answer, asked for with its "Meer" button."""
    await pressed(update)
    with context.answering_in(language_of_pressed(update, context)):
        entry = context.services.faq.entry(context.matched("entry"))
        if entry is None or not entry.localised(context.language).more.strip():
            await reply(update, context, context.text("faq_unknown_topic"))
            return
        await close_buttons(update)
        await reply(update, context, entry.localised(context.language).more)


def _count(context: MaoContext, band: Band) -> None:
    """The organisers' statistics count answers per band and day (no text, no user)."""
    services = context.services
    today = services.now().astimezone(services.config.zone).date()
    with services.db.session() as session:
        count_band(session, band.value, today)


def question_language(question: str, context: MaoContext) -> str | None:
    """The question's language when it is clearly not the user's own (else None)."""
    language = detect_language(question)
    return language if language is not None and language != context.language else None


async def answer_question(update: Update, context: MaoContext) -> None:
    message = update.effective_message
    assert message is not None and message.text is not None
    if await take_rewrite(update, context):
        return  # an organiser's rewritten FAQ phrasing ("Voeg toe aan FAQ"), not a question
    # Cleaned where it enters: a question may be stored (faq_misses), and PostgreSQL
    # refuses NUL characters.
    question = clean_text(message.text)
    with context.answering_in(question_language(question, context)):
        talk = small_talk(question)
        if talk is not None:
            await answer_small_talk(update, context, talk, question)
            return
        _user_data(context).pop(SUGGESTED_KEY, None)
        user = update.effective_user
        assert user is not None
        own = agenda_reply(context, question, user.id)
        if own is not None:
            await send_agenda_reply(update, context, own)
            return
        if await answer_follow_up(update, context, question, user.id):
            return
        await answer_from_faq(update, context, question)


async def answer_small_talk(update: Update, context: MaoContext, talk: Talk, message: str) -> None:
    logger.info("Small talk %s", talk.value)
    if talk is Talk.HELP:
        await show_help(update, context)
        return
    if talk is Talk.HUMAN:
        # Honest: a bot. And a person is one tap away: the hand-over asks for the question
        # ("ben je een mens?" is not one, nor is an older question the person moved on from).
        forget_unanswered(context)
        await reply(
            update,
            context,
            context.text("talk_human", email=context.services.config.contact.email),
            one_per_row([handover_button(context)]),
        )
        return
    await reply(update, context, context.text(f"talk_{talk.value}"))


async def send_agenda_reply(update: Update, context: MaoContext, answer: AgendaReply) -> None:
    logger.info("Agenda answer %s=%s", *answer.topic)
    _count(context, Band.ANSWER)
    remember_topic(context, *answer.topic)
    await reply(update, context, answer.text, keyboard(answer.rows))


async def answer_follow_up(
    update: Update, context: MaoContext, question: str, user_id: int
) -> bool:
    """A short message referring back ("is dat online?") to the topic just answered.
    False: it is not one (or the topic is gone), and the question is answered on its own."""
    topic = recent_topic(context)
    if topic is None or not refers_back(question):
        return False
    kind, value = topic
    if kind != "faq":
        answer = activity_reply(context, (kind, value), question, user_id)
        if answer is None:
            return False
        await send_agenda_reply(update, context, answer)
        return True
    services = context.services
    entry = services.faq.entry(value)
    if entry is None:
        return False
    # The topic's own question put in front: "Wat is een masterclass? En wanneer is die?"
    combined = f"{entry.localised(context.language).question} {question}"
    if is_about_the_activity(question):
        answer = agenda_reply(context, combined, user_id, follow_up=True)
        if answer is not None:
            await send_agenda_reply(update, context, answer)
            return True
    # With the topic's question in front, the topic itself always matches well: only another
    # entry ("en hoe meld ik me weer af?" after aanmelden) is news, and only when the
    # message alone finds no answer ("hoeveel kost dat?" is not answered by repeating).
    if services.matcher.match(question).answer_id is not None:
        return False
    together = services.matcher.match(combined)
    if together.answer_id is None or together.answer_id == entry.id:
        return False
    logger.info("FAQ follow-up on %s: %s", value, together.answer_id)
    _count(context, Band.ANSWER)
    await send_answer(update, context, together.answer_id)
    return True


def _guesses(result: MatchResult) -> list[str]:
    ranked = [result.best, *result.runners_up] if result.best is not None else []
    return [c.entry_id for c in ranked if c is not None and c.score > 0][:GUESSES]


async def answer_from_faq(update: Update, context: MaoContext, question: str) -> None:
    services = context.services
    result = services.matcher.match(question)
    logger.info(
        "FAQ band=%s best=%s score=%.1f",
        result.band,
        result.best.entry_id if result.best else None,
        result.best.score if result.best else 0.0,
    )
    if result.band is Band.ANSWER and result.answer_id is not None:
        _count(context, Band.ANSWER)
        await send_answer(update, context, result.answer_id)
        return
    language = context.language
    if result.band is Band.SUGGEST and result.suggestions:
        buttons: list[Button] = []
        for candidate in result.suggestions:
            entry = services.faq.entry(candidate.entry_id)
            if entry is not None:
                buttons.append(
                    (entry.localised(language).question, callbacks.FAQ_PICK.data(entry=entry.id))
                )
        buttons.append((context.text("faq_none_of_these"), callbacks.FAQ_NONE.data()))
        _count(context, Band.SUGGEST)
        sent = await reply(update, context, context.text("faq_did_you_mean"), one_per_row(buttons))
        _user_data(context)[SUGGESTED_KEY] = {
            "question": question,
            "guesses": [c.entry_id for c in result.suggestions],
            "language": language,
            "message": sent.message_id if sent is not None else None,
        }
        _remember_language(context, sent)
        return
    _count(context, Band.FALLBACK)
    # Only questions: a name typed after a stopped sign-up also ends up here (faq.misses).
    # And only a few per user and hour: misses carry no user id, so nobody must be able to
    # fill the list with nonsense (counted in memory, see handlers/flood.py).
    user = update.effective_user
    worth_keeping = is_question_worth_keeping(question)
    if worth_keeping and user is not None and may_store_miss(context, user.id):
        with services.db.session() as session:
            record_miss(
                session,
                question,
                language,
                result.best.entry_id if result.best else None,
                result.best.score if result.best else 0.0,
                services.now(),
            )
    remember_unanswered(context, question, _guesses(result))
    contact = services.config.contact
    await reply(
        update,
        context,
        context.text("faq_fallback", email=contact.email, website=Html(contact.website)),
        one_per_row([handover_button(context)]),
    )


async def show_topic(update: Update, context: MaoContext) -> None:
    """A related topic: its button stays usable."""
    await pressed(update)
    with context.answering_in(language_of_pressed(update, context)):
        await send_answer(update, context, context.matched("entry"))


async def pick_topic(update: Update, context: MaoContext) -> None:
    """A "did you mean" choice is made once."""
    await pressed(update)
    with context.answering_in(language_of_pressed(update, context)):
        await close_buttons(update)
        await send_answer(update, context, context.matched("entry"))


async def none_of_these(update: Update, context: MaoContext) -> None:
    """None of the suggestions: the question that led to them can go to a person."""
    query = await pressed(update)
    await close_buttons(update)
    email = context.services.config.contact.email
    suggested = _user_data(context).get(SUGGESTED_KEY)
    pressed_on = query.message.message_id if query.message is not None else None
    if (
        not isinstance(suggested, dict)
        or not suggested.get("question")
        or suggested.get("message") != pressed_on
    ):
        # An older suggestion (or after /vergeetmij): its question is not known any more.
        await reply(update, context, context.text("faq_none_chosen", email=email))
        return
    _user_data(context).pop(SUGGESTED_KEY, None)
    language = suggested.get("language")
    with context.answering_in(language if isinstance(language, str) else None):
        remember_unanswered(
            context, str(suggested["question"]), [str(g) for g in suggested.get("guesses", [])]
        )
        await reply(
            update,
            context,
            context.text("faq_none_chosen_handover", email=email),
            one_per_row([handover_button(context)]),
        )


def build_handlers() -> Handlers:
    return [
        CallbackQueryHandler(show_topic, pattern=callbacks.FAQ_SHOW.pattern),
        CallbackQueryHandler(show_more, pattern=callbacks.FAQ_MORE.pattern),
        CallbackQueryHandler(pick_topic, pattern=callbacks.FAQ_PICK.pattern),
        CallbackQueryHandler(none_of_these, pattern=callbacks.FAQ_NONE.pattern),
        MessageHandler(
            filters.TEXT & ~filters.COMMAND & filters.ChatType.PRIVATE, answer_question
        ),
    ]
