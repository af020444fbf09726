"""Every button's callback data: one builder and one handler pattern per format, side by side.

A format such as `offer:claim:{registration}` builds `offer:claim:42` and matches it with a
pattern whose named groups the handler reads from `context.match`. Builders refuse values
their own pattern would not match and data over Telegram's 64-byte limit, so no button can
be made that Telegram rejects or that no handler answers. Callback data arrives from the
user's client: handlers still check ownership and roles, never trusting it.
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from dataclasses import dataclass, field

from telegram.constants import InlineKeyboardButtonLimit

from storage.vocabulary import Audience, Kind, Recipients, Role, Sector, WaitlistMode

MAX_BYTES = InlineKeyboardButtonLimit.MAX_CALLBACK_DATA  # 64
ID = r"\d{1,12}"
SLUG = r"[a-z0-9][a-z0-9-]{0,62}"
YES_NO = r"yes|no"
_FIELD = re.compile(r"\{(\w+)\}")


@dataclass(frozen=True)
class CallbackFormat:
    """`template` names its fields in braces; `fields` gives each field's regex."""

    template: str
    fields: Mapping[str, str] = field(default_factory=dict)

    def __post_init__(self) -> None:
        named = _FIELD.findall(self.template)
        if sorted(named) != sorted(self.fields):
            raise ValueError(f"{self.template}: fields {named} need a regex each")

    @property
    def pattern(self) -> re.Pattern[str]:
        parts: list[str] = []
        position = 0
        for found in _FIELD.finditer(self.template):
            parts.append(re.escape(self.template[position : found.start()]))
            name = found.group(1)
            parts.append(f"(?P<{name}>{self.fields[name]})")
            position = found.end()
        parts.append(re.escape(self.template[position:]))
        return re.compile("^" + "".join(parts) + "$")

    def data(self, **values: object) -> str:
        """The callback data for these values; ValueError if Telegram or the pattern would
        refuse it."""
        text = self.template.format(**{name: str(value) for name, value in values.items()})
        if len(text.encode("utf-8")) > MAX_BYTES:
            raise ValueError(f"callback data over {MAX_BYTES} bytes: {text!r}")
        if not self.pattern.match(text):
            raise ValueError(f"callback data {text!r} does not match {self.template}")
        return text

    def parse(self, data: str) -> dict[str, str] | None:
        found = self.pattern.match(data)
        return found.groupdict() if found else None


@dataclass(frozen=True)
class OrganiserButton(CallbackFormat):
    """A button only organisers may press: its handler is registered behind
    core.roles.organisers_only (tests/test_organiser_gate.py checks every one)."""


def choice(*options: str) -> str:
    return "|".join(re.escape(option) for option in options)


# -- language ---------------------------------------------------------------------------------
LANGUAGE_SET = CallbackFormat("lang:set:{language}", {"language": choice("nl", "en")})

# -- agenda -----------------------------------------------------------------------------------
AGENDA_PAGE = CallbackFormat(
    "agenda:page:{page}:{kind}", {"page": r"\d{1,3}", "kind": choice("all", *Kind)}
)
AGENDA_FILTERS = CallbackFormat("agenda:filters")

# -- sign-up ----------------------------------------------------------------------------------
# Activities are named by id, not slug: a long slug would not fit in 64 bytes.
SIGNUP_PICK = CallbackFormat("signup:pick:{activity}", {"activity": ID})
SIGNUP_WAITLIST = CallbackFormat("signup:waitlist:{answer}", {"answer": YES_NO})
SIGNUP_PROFILE = CallbackFormat("signup:profile:{answer}", {"answer": YES_NO})
SIGNUP_ROLE = CallbackFormat("signup:role:{role}", {"role": choice(*Role)})
SIGNUP_SECTOR = CallbackFormat("signup:sector:{sector}", {"sector": choice(*Sector)})
SIGNUP_SKIP_EMAIL = CallbackFormat("signup:email:skip")
SIGNUP_SKIP_QUESTION = CallbackFormat("signup:question:skip")
SIGNUP_CONSENT = CallbackFormat("signup:consent:{answer}", {"answer": YES_NO})
SIGNUP_CONFIRM = CallbackFormat("signup:confirm")
SIGNUP_ABORT = CallbackFormat("signup:abort")
# "← Terug" names the step it was shown at: an old message's button does not go back twice.
SIGNUP_STEPS = (
    "waitlist",
    "profile",
    "role",
    "sector",
    "name",
    "email",
    "question",
    "consent",
    "summary",
)
SIGNUP_BACK = CallbackFormat("signup:back:{step}", {"step": choice(*SIGNUP_STEPS)})
# Keep the answer given before (after going back, or when changing it from the summary).
SIGNUP_KEEP = CallbackFormat("signup:keep:{field}", {"field": choice("name", "email", "question")})
# The summary's "Wijzig" buttons: change one answer, then return to the summary.
SIGNUP_EDIT = CallbackFormat(
    "signup:edit:{field}", {"field": choice("name", "role", "email", "question")}
)
# Any sign-up button pressed outside its step (for the "type your answer" hint).
SIGNUP_ANY = re.compile(r"^signup:")

# -- my registrations and seat offers ---------------------------------------------------------
MINE_CALENDAR = CallbackFormat("mine:ics:{registration}", {"registration": ID})
MINE_CANCEL = CallbackFormat("mine:cancel:{registration}", {"registration": ID})
MINE_CANCEL_YES = CallbackFormat("mine:cancelyes:{registration}", {"registration": ID})
MINE_KEEP = CallbackFormat("mine:keep:{registration}", {"registration": ID})
MINE_LEAVE = CallbackFormat("mine:leave:{registration}", {"registration": ID})
OFFER_CLAIM = CallbackFormat("offer:claim:{registration}", {"registration": ID})
OFFER_DECLINE = CallbackFormat("offer:decline:{registration}", {"registration": ID})

# -- reminders --------------------------------------------------------------------------------
REMINDERS_SET = CallbackFormat("remind:set:{state}", {"state": choice("on", "off")})
REMINDER_COMING = CallbackFormat("remind:coming:{registration}", {"registration": ID})

# -- privacy ----------------------------------------------------------------------------------
FORGET = CallbackFormat("forget:{answer}", {"answer": YES_NO})

# -- FAQ --------------------------------------------------------------------------------------
FAQ_ID = r"[a-z0-9][a-z0-9-]{0,50}"
FAQ_SHOW = CallbackFormat("faq:show:{entry}", {"entry": FAQ_ID})
FAQ_PICK = CallbackFormat("faq:pick:{entry}", {"entry": FAQ_ID})
FAQ_NONE = CallbackFormat("faq:none")
FAQ_MORE = CallbackFormat("faq:more:{entry}", {"entry": FAQ_ID})
# "Niet wat ik vroeg" under a straight answer: its question is kept under a short number
# (core/pending_questions.py), never in the data itself.
FAQ_NOT_IT = CallbackFormat("faq:notit:{ref}", {"ref": ID})
# "Voeg toe aan FAQ" (handlers/faq_learning.py): a question from an inbox thread or a group
# of /faqgaps misses becomes a phrasing of the topic the organiser picks.
FAQ_ADD_THREAD = OrganiserButton("faqadd:thread:{thread}", {"thread": ID})
FAQ_ADD_GAP = OrganiserButton("faqadd:gap:{miss}", {"miss": ID})
FAQ_ADD_TOPIC = OrganiserButton("faqadd:topic:{entry}", {"entry": FAQ_ID})
FAQ_ADD_PAGE = OrganiserButton("faqadd:page:{page}", {"page": r"\d{1,3}"})
FAQ_ADD_ABORT = OrganiserButton("faqadd:abort")
FAQ_ADD_REWRITE = OrganiserButton("faqadd:rewrite")
FAQ_GAPS_PAGE = OrganiserButton("faqgaps:page:{page}", {"page": r"\d{1,3}"})

# -- inbox: hand-over to the programme office, stories, bottlenecks (handlers/inbox.py) -------
INBOX_ASK = CallbackFormat("inbox:ask")  # "Stel je vraag aan het programmabureau"
# The same, for the question kept under this number: the one of the message it stands under.
INBOX_ASK_FOR = CallbackFormat("inbox:ask:{ref}", {"ref": ID})
INBOX_SEND = CallbackFormat("inbox:send")  # yes, send what was shown
INBOX_ABORT = CallbackFormat("inbox:abort")
INBOX_ANONYMOUS = CallbackFormat("inbox:anon:{answer}", {"answer": YES_NO})
INBOX_ANSWERED = OrganiserButton("inbox:done:{thread}", {"thread": ID})
# After "Afgehandeld": send the standard closing line, type one, or close without a word.
INBOX_CLOSE = OrganiserButton(
    "inbox:close:{thread}:{how}", {"thread": ID, "how": choice("standard", "type", "quiet")}
)
INBOX_SHOW = OrganiserButton("inbox:show:{thread}", {"thread": ID})
INBOX_PAGE = OrganiserButton("inbox:page:{page}", {"page": r"\d{1,3}"})

# -- organisers -------------------------------------------------------------------------------
BROADCAST_AUDIENCE = OrganiserButton("bc:audience:{audience}", {"audience": choice(*Recipients)})
BROADCAST_ACTIVITY = OrganiserButton("bc:activity:{activity}", {"activity": ID})
BROADCAST_SEND = OrganiserButton("bc:send")
BROADCAST_ABORT = OrganiserButton("bc:abort")
BROADCAST_RETRY = OrganiserButton("bc:retry:{broadcast}", {"broadcast": ID})
# After the preview: change text / audience, send later, attach a sign-up button.
BROADCAST_SKIP_ENGLISH = OrganiserButton("bc:skip-en")
BROADCAST_EDIT_TEXT = OrganiserButton("bc:edit-text")
BROADCAST_EDIT_AUDIENCE = OrganiserButton("bc:edit-audience")
BROADCAST_SCHEDULE = OrganiserButton("bc:schedule")
# "Versturen" during the quiet hours: now after all, or when they end.
BROADCAST_NIGHT_NOW = OrganiserButton("bc:night:now")
BROADCAST_NIGHT_MORNING = OrganiserButton("bc:night:morning")
BROADCAST_ADD_SIGNUP = OrganiserButton("bc:add-signup")
BROADCAST_SIGNUP = OrganiserButton("bc:signup:{activity}", {"activity": ID})
ATTENDEES_OF = OrganiserButton("att:{activity}", {"activity": ID})

# -- feedback after an activity and statistics ------------------------------------------------
FEEDBACK_STARS = CallbackFormat(
    "fb:stars:{activity}:{stars}", {"activity": ID, "stars": choice("1", "2", "3", "4", "5")}
)
FEEDBACK_NO_COMMENT = CallbackFormat("fb:nocomment:{activity}", {"activity": ID})
FEEDBACK_RESULTS = OrganiserButton("fb:results:{activity}", {"activity": ID})

# -- organisers: activities made and managed in chat (handlers/organiser_activities.py) -------
# In the order the questions are asked when a new activity is made.
ORG_FIELDS = (
    "title",
    "kind",
    "when",
    "duration",
    "place",
    "capacity",
    "waitlist",
    "audience",
    "description",
    "description_en",
)
ORG_KIND = OrganiserButton("oa:kind:{kind}", {"kind": choice(*Kind)})
ORG_WHEN_OK = OrganiserButton("oa:when:{answer}", {"answer": YES_NO})
ORG_DURATION = OrganiserButton("oa:dur:{minutes}", {"minutes": r"\d{2,4}"})
ORG_NO_LIMIT = OrganiserButton("oa:nolimit")
ORG_WAITLIST = OrganiserButton("oa:wl:{mode}", {"mode": choice(*WaitlistMode)})
ORG_AUDIENCE = OrganiserButton("oa:aud:{audience}", {"audience": choice(*Audience)})
ORG_SKIP_EN = OrganiserButton("oa:skipen")
ORG_PUBLISH = OrganiserButton("oa:publish")
ORG_DISCARD = OrganiserButton("oa:discard")
ORG_CHANGE_MENU = OrganiserButton("oa:changemenu")
ORG_CHANGE = OrganiserButton("oa:change:{field}", {"field": choice(*ORG_FIELDS)})
ORG_SHOW = OrganiserButton("oa:show:{activity}", {"activity": ID})
ORG_EDIT_MENU = OrganiserButton("oa:fields:{activity}", {"activity": ID})
ORG_EDIT = OrganiserButton(
    "oa:field:{activity}:{field}", {"activity": ID, "field": choice(*ORG_FIELDS)}
)
ORG_MOVE = OrganiserButton("oa:move:{activity}", {"activity": ID})
ORG_REGISTRATION = OrganiserButton(
    "oa:reg:{activity}:{state}", {"activity": ID, "state": choice("open", "closed")}
)
ORG_CANCEL = OrganiserButton("oa:cancel:{activity}", {"activity": ID})
ORG_CANCEL_YES = OrganiserButton("oa:cancelyes:{activity}", {"activity": ID})
ORG_REOPEN = OrganiserButton("oa:reopen:{activity}", {"activity": ID})
ORG_DUPLICATE = OrganiserButton("oa:dup:{activity}", {"activity": ID})
ORG_SHARE = OrganiserButton("oa:share:{activity}", {"activity": ID})
ORG_ABORT = OrganiserButton("oa:abort")
# Any of the above: refused for non-organisers even outside the conversation.
ORG_ANY = re.compile(r"^oa:")
# Write to this activity's people from the attendee view: starts /omroep at the text step.
ATTENDEES_WRITE = OrganiserButton(
    "att:write:{audience}:{activity}",
    {"audience": choice(Recipients.ATTENDEES, Recipients.WAITING), "activity": ID},
)
CHECKIN_OF = OrganiserButton("door:{activity}", {"activity": ID})
CHECKIN_TOGGLE = OrganiserButton(
    "door:{activity}:{registration}", {"activity": ID, "registration": ID}
)
