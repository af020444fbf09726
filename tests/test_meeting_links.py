"""An online activity's meeting link reaches only people with a seat and organisers: never the
public agenda, agenda answers, the deep link's preview or a group (issue 17, section 6)."""

from __future__ import annotations

from pathlib import Path

import pytest
from conftest import ADMIN_ID, texts

from bot.config import AppConfig
from bot.offline.driver import BotDriver
from bot.offline.standin import ApiCall

PARENT, STRANGER = 4501, 4502
TEAMS = "https://teams.microsoft.com/l/meetup-join/19%3ameeting_Zm9v"
ZOOM = "https://zoom.us/j/5551234567?pwd=geheim"
GROUP_CHAT = {"id": -100777, "type": "supergroup", "title": "Ouders"}
# The clock of the tests is 2027-03-01 10:00 in the Netherlands.
ACTIVITIES = f"""
activities:
  - slug: dialoog-teams
    kind: dialoog
    title: {{nl: "Dialoog online", en: "Online dialogue"}}
    starts_at: 2027-04-06T19:00:00
    ends_at: 2027-04-06T20:30:00
    online_url: "{TEAMS}"
    capacity: 20
  - slug: werksessie-zoom
    kind: werksessie
    title: {{nl: "Werksessie Zoom", en: "Zoom work session"}}
    starts_at: 2027-04-13T14:00:00
    ends_at: 2027-04-13T16:00:00
    location: "{ZOOM}"
"""
LINKS = (TEAMS, ZOOM, "teams.microsoft", "zoom.us")


@pytest.fixture
def config(config: AppConfig, tmp_path: Path) -> AppConfig:
    path = tmp_path / "activiteiten.yaml"
    path.write_text(ACTIVITIES, encoding="utf-8")
    activities = config.activities.model_copy(update={"file": path})
    return config.model_copy(update={"activities": activities})


def shown(calls: list[ApiCall]) -> str:
    """Everything the calls showed: texts, captions and button labels."""
    parts = [str(c.params.get("text", "")) + str(c.params.get("caption", "")) for c in calls]
    parts += [str(c.params.get("reply_markup", "")) for c in calls]
    return "\n".join(parts)


def leaks(text: str) -> list[str]:
    return [link for link in LINKS if link in text]


async def test_the_public_never_sees_a_meeting_link(driver: BotDriver) -> None:
    seen = shown(await driver.say(STRANGER, "/agenda"))
    assert "Dialoog online" in seen and "Werksessie Zoom" in seen
    assert leaks(seen) == []
    assert "Online (de link krijg je na aanmelding)" in seen
    seen += shown(await driver.say(STRANGER, "is de dialoog online?"))
    assert "Ja, deze activiteit is online" in seen
    seen += shown(await driver.say(STRANGER, "wanneer is de werksessie"))
    # The share link's preview: what someone sees who opens t.me/<bot>?start=signup_<slug>.
    seen += shown(await driver.say(STRANGER, "/start signup_dialoog-teams"))
    await driver.say(STRANGER, "/annuleer")
    seen += shown(await driver.say(STRANGER, "/start signup_werksessie-zoom"))
    await driver.say(STRANGER, "/annuleer")
    seen += shown(await driver.say(STRANGER, "/events"))
    group = await driver.say(STRANGER, "/agenda@mao_test_bot", chat=GROUP_CHAT)
    assert group
    seen += shown(group)
    assert leaks(seen) == []


async def test_a_seat_and_the_organiser_get_the_link(driver: BotDriver) -> None:
    await driver.say(PARENT, "/start signup_dialoog-teams")
    await driver.press(PARENT, "Ouder")
    await driver.say(PARENT, "Anna")
    await driver.press(PARENT, "Overslaan")
    await driver.press(PARENT, "Geen vraag")
    await driver.press(PARENT, "akkoord")
    calls = await driver.press(PARENT, "Bevestigen")
    confirmation = texts(calls)
    assert any("Je bent aangemeld" in t and TEAMS in t for t in confirmation)
    assert any(TEAMS in t for t in texts(await driver.say(PARENT, "/mijnaanmeldingen")))
    # Still not in the public listing, also not for someone who has a seat.
    assert leaks(shown(await driver.say(PARENT, "/agenda"))) == []
    # The organiser's card of the activity has it.
    await driver.say(ADMIN_ID, "/activiteiten")
    organiser = shown(await driver.press(ADMIN_ID, "Dialoog online"))
    assert TEAMS in organiser
