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
from collections.abc import Awaitable, Callable, Sequence
from datetime import date, datetime, timedelta
from functools import partial
from typing import Any

from sqlalchemy.orm import Session
from telegram import Message, Update
from telegram.ext import CallbackQueryHandler, MessageHandler, filters

from core import callbacks
from core.agenda_answers import AgendaReply, answer_found, places_held, read_agenda
from core.chat_reading import Reading, Route, read_message
from core.context import Handlers, MaoContext
from core.flood_guard import may_store_miss
from core.help import show_help
from core.i18n import Html
from core.inbox_access import anyone_reads, forget_unanswered, handover_button, handover_markup
from core.keyboards import Button, keyboard, one_per_row
from core.pending_questions import keep_question, mark_rejected, pending_question
from core.privacy_terms import fill_terms
from core.replies import close_buttons, pressed, reply
from core.text_limits import clean_text
from faq.language import detect_language
from faq.matching import Band
from faq.misses import is_question_worth_keeping
from faq.smalltalk import Talk
from storage.faq_misses import ANSWERED, REJECTED, count_band, count_topic, record_miss

logger = logging.getLogger(__name__)

# Takes a private text that belongs to a flow of its own; True: taken, not a question.
TextTaker = Callable[[Update, MaoContext], Awaitable[bool]]

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


async def send_answer(
    update: Update, context: MaoContext, entry_id: str, not_it: int | None = None
) -> None:
    """`not_it`: the kept question's number, for "Niet wat ik vroeg" under a straight answer
    (a topic chosen with a button needs none)."""
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
    text = fill_terms(entry.localised(language).answer, services.config, language)
    if related:
        text += "\n\n" + context.text("faq_related")
    rejecting: list[Button] = []
    if not_it is not None:
        rejecting.append((context.text("faq_not_it"), callbacks.FAQ_NOT_IT.data(ref=not_it)))
    sent = await reply(update, context, text, one_per_row(more + related + rejecting))
    if more or related or rejecting:
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
        more = entry.localised(context.language).more
        await reply(update, context, fill_terms(more, context.services.config, context.language))


def _count_answer(session: Session, band: str, entry_id: str | None, today: date) -> None:
    count_band(session, band, today)
    if entry_id is not None:
        count_topic(session, entry_id, ANSWERED, today)


def _count(context: MaoContext, band: Band, entry_id: str | None = None) -> None:
    """The organisers' statistics count answers per band and day, and straight answers per
    topic (no text, no user)."""
    services = context.services
    today = services.now().astimezone(services.config.zone).date()
    # Written after the answer, on the database's threads: nobody waits for a count.
    services.db.write_later(_count_answer, band.value, entry_id, today)


def question_language(question: str, context: MaoContext) -> str | None:
    """The question's language when it is clearly not the user's own (else None)."""
    language = detect_language(question)
    return language if language is not None and language != context.language else None


async def answer_question(
    update: Update, context: MaoContext, takers: Sequence[TextTaker] = ()
) -> None:
    message = update.effective_message
    user = update.effective_user
    assert message is not None and message.text is not None and user is not None
    for take in takers:
        if await take(update, context):
            return  # e.g. an organiser's rewritten FAQ phrasing ("Voeg toe aan FAQ")
    # Cleaned where it enters: a question may be stored (faq_misses), and PostgreSQL
    # refuses NUL characters.
    question = clean_text(message.text)
    with context.answering_in(question_language(question, context)):
        services = context.services
        recent = recent_topic(context)
        agenda = await read_agenda(context, question, recent)
        reading = read_message(
            question,
            services.matcher,
            activities=lambda: agenda.upcoming,
            known_activities=agenda.still_on,
            recent=recent,
            content=services.faq,
            language=context.language,
        )
        if reading.route is Route.SMALL_TALK:
            assert reading.talk is not None
            await answer_small_talk(update, context, reading.talk, question)
            return
        _user_data(context).pop(SUGGESTED_KEY, None)
        if reading.route is Route.AGENDA:
            assert reading.found is not None
            held = await places_held(context, user.id)
            answer = answer_found(reading.found, reading.aspects, context, held)
            await send_agenda_reply(update, context, answer)
            return
        if reading.story:
            await acknowledge_story(update, context, reading)
        await answer_reading(update, context, reading)


async def acknowledge_story(update: Update, context: MaoContext, reading: Reading) -> None:
    """A story is heard first. Where the answer below has no hand-over of its own, a person
    is offered here, with the story itself (shown before anything is sent)."""
    if reading.route in (Route.UNKNOWN, Route.FALLBACK):
        await reply(update, context, context.text("faq_story_heard"))
        return
    markup = await handover_markup(context, reading.question, reading.guesses)
    key = "faq_story_heard_handover" if markup else "faq_story_heard"
    await reply(update, context, context.text(key), markup)


async def answer_small_talk(update: Update, context: MaoContext, talk: Talk, message: str) -> None:
    logger.info("Small talk %s", talk.value)
    if talk is Talk.HELP:
        await show_help(update, context)
        return
    if talk is Talk.HUMAN:
        # Honest: a bot. And a person is one tap away: the hand-over asks for the question
        # ("ben je een mens?" is not one, nor is an older question the person moved on from).
        forget_unanswered(context)
        markup = await handover_markup(context)
        await reply(
            update,
            context,
            context.text(
                "talk_human" if markup else "talk_human_mail",
                email=context.services.config.contact.email,
            ),
            markup,
        )
        return
    await reply(update, context, context.text(f"talk_{talk.value}"))


async def send_agenda_reply(update: Update, context: MaoContext, answer: AgendaReply) -> None:
    logger.info("Agenda answer %s=%s", *answer.topic)
    _count(context, Band.ANSWER)
    remember_topic(context, *answer.topic)
    await reply(update, context, answer.text, keyboard(answer.rows))


async def answer_reading(update: Update, context: MaoContext, reading: Reading) -> None:
    """A straight answer, "Bedoelde je…?", or no answer (a known unknown or the fallback)."""
    services = context.services
    result = reading.match
    best = result.best if result is not None else None
    logger.info(
        "FAQ route=%s best=%s score=%.1f follow_up=%s unknown=%s",
        reading.route,
        best.entry_id if best else None,
        best.score if best else 0.0,
        reading.follow_up,
        reading.unknown,
    )
    if reading.route is Route.ANSWER and reading.entry_id is not None:
        _count(context, Band.ANSWER, reading.entry_id)
        ref = keep_question(
            _user_data(context),
            reading.question,
            language=context.language,
            now=services.now(),
            guesses=reading.guesses,
            answered=reading.entry_id,
            options=reading.options,
            score=best.score if best else 0.0,
        )
        await send_answer(update, context, reading.entry_id, not_it=ref)
        return
    if reading.route is Route.SUGGEST:
        buttons = _topic_buttons(context, reading.options)
        buttons.append((context.text("faq_none_of_these"), callbacks.FAQ_NONE.data()))
        _count(context, Band.SUGGEST)
        sent = await reply(update, context, context.text("faq_did_you_mean"), one_per_row(buttons))
        _user_data(context)[SUGGESTED_KEY] = {
            "question": reading.question,
            "guesses": list(reading.options),
            "language": context.language,
            "message": sent.message_id if sent is not None else None,
        }
        _remember_language(context, sent)
        return
    _count(context, Band.FALLBACK)
    _record_miss(
        update,
        context,
        reading.question,
        best.entry_id if best else None,
        best.score if best else 0.0,
    )
    markup = await handover_markup(context, reading.question, reading.guesses)
    contact = services.config.contact
    key = "faq_known_unknown" if reading.route is Route.UNKNOWN else "faq_fallback"
    await reply(
        update,
        context,
        context.text(
            key if markup else f"{key}_mail", email=contact.email, website=Html(contact.website)
        ),
        markup,
    )


def _topic_buttons(context: MaoContext, entry_ids: Sequence[str]) -> list[Button]:
    buttons: list[Button] = []
    for entry_id in entry_ids:
        entry = context.services.faq.entry(entry_id)
        if entry is not None:
            buttons.append(
                (
                    entry.localised(context.language).question,
                    callbacks.FAQ_PICK.data(entry=entry.id),
                )
            )
    return buttons


def _record_miss(
    update: Update,
    context: MaoContext,
    question: str,
    best_id: str | None,
    score: float,
    rejected_id: str | None = None,
) -> None:
    """Only questions: a name typed after a stopped sign-up also ends up here (faq.misses).
    And only a few per user and hour: misses carry no user id, so nobody must be able to
    fill the list with nonsense (counted in memory, see handlers/flood.py)."""
    services = context.services
    user = update.effective_user
    if user is None or not is_question_worth_keeping(question):
        return
    if not may_store_miss(context, user.id):
        return
    services.db.write_later(
        record_miss, question, context.language, best_id, score, services.now(), rejected_id
    )


async def not_what_i_asked(update: Update, context: MaoContext) -> None:
    """ "Niet wat ik vroeg" under a straight answer: counted for its topic, the question to
    /faqgaps (once), and the next topics and a person one tap away."""
    await pressed(update)
    services = context.services
    data = _user_data(context)
    kept = pending_question(data, int(context.matched("ref")), services.now())
    if kept is None or kept.answered is None:
        await reply(update, context, context.text("stale_button"))
        return
    if kept.rejected:
        return  # a double tap: counted and answered once
    mark_rejected(data, kept.ref)
    with context.answering_in(kept.language):
        today = services.now().astimezone(services.config.zone).date()
        services.db.write_later(count_topic, kept.answered, REJECTED, today)
        if kept.question is not None:
            _record_miss(update, context, kept.question, kept.answered, kept.score, kept.answered)
        buttons = _topic_buttons(context, kept.options)
        key = "faq_not_it_options" if buttons else "faq_not_it_handover"
        if await anyone_reads(services):
            buttons.append(handover_button(context, kept.ref))
        else:
            # Nobody reads a hand-over: the address instead.
            key = "faq_not_it_options_mail" if buttons else "faq_none_chosen"
        email = services.config.contact.email
        sent = await reply(update, context, context.text(key, email=email), one_per_row(buttons))
        _remember_language(context, sent)


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
        markup = await handover_markup(
            context, str(suggested["question"]), [str(g) for g in suggested.get("guesses", [])]
        )
        key = "faq_none_chosen_handover" if markup else "faq_none_chosen"
        await reply(update, context, context.text(key, email=email), markup)


def build_handlers(takers: Sequence[TextTaker] = ()) -> Handlers:
    """`takers` are asked first whether a private text is theirs, not a question (flows kept
    outside a conversation, given by bot/app.py so that handler modules stay apart)."""
    return [
        CallbackQueryHandler(show_topic, pattern=callbacks.FAQ_SHOW.pattern),
        CallbackQueryHandler(show_more, pattern=callbacks.FAQ_MORE.pattern),
        CallbackQueryHandler(pick_topic, pattern=callbacks.FAQ_PICK.pattern),
        CallbackQueryHandler(none_of_these, pattern=callbacks.FAQ_NONE.pattern),
        CallbackQueryHandler(not_what_i_asked, pattern=callbacks.FAQ_NOT_IT.pattern),
        MessageHandler(
            filters.TEXT & ~filters.COMMAND & filters.ChatType.PRIVATE,
            partial(answer_question, takers=tuple(takers)),
        ),
    ]
