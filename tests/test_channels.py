"""The never-silent guard on every channel (hazard H3)."""
from __future__ import annotations

from pathlib import Path

import pytest
import yaml
from rasa.core.channels.channel import CollectingOutputChannel, UserMessage
from sqlalchemy import select

from bot.channels.guard import FALLBACK_TEXT, never_silent
from bot.db import session_scope
from bot.models import Escalation

DOMAIN = yaml.safe_load((Path(__file__).parent.parent / "domain.yml").read_text(encoding="utf-8"))


@pytest.fixture(autouse=True)
def no_privacy_extras(monkeypatch):
    """The notice and erasure around a turn have their own tests (tests/test_privacy.py); here, only the turn."""
    monkeypatch.setattr("bot.privacy.turns.after_turn", lambda *args, **kwargs: ([], False))


def message(text: str) -> UserMessage:
    return UserMessage(text, CollectingOutputChannel(), sender_id="guard-test", input_channel="rest")


async def say_nothing(msg):
    return None


async def crash(msg):
    raise ConnectionError("action server down")


async def answer(msg):
    await msg.output_channel.send_text_message(msg.sender_id, "hello")


async def test_a_turn_that_says_nothing_gets_the_fallback():
    msg = message("is there a group in Fife")
    await never_silent(say_nothing)(msg)
    assert [m["text"] for m in msg.output_channel.inner.messages] == [FALLBACK_TEXT]
    assert "111" in FALLBACK_TEXT and "116 123" in FALLBACK_TEXT and "999" in FALLBACK_TEXT


async def test_a_turn_that_raises_gets_the_fallback():
    msg = message("hello")
    await never_silent(crash)(msg)
    assert msg.output_channel.inner.messages[0]["text"] == FALLBACK_TEXT


@pytest.mark.parametrize("text,category", [
    ("I want to kill myself", "suicide_self_harm"),
    ("my husband beats me and I'm scared", "abuse_danger"),
])
async def test_a_crisis_in_a_failed_turn_still_gets_its_crisis_reply_and_is_recorded(text, category, database_url):
    msg = message(text)
    await never_silent(crash)(msg)
    first = msg.output_channel.inner.messages[0]["text"]
    assert first == DOMAIN["responses"][f"utter_crisis_{category}"][0]["text"].split("\n\n")[0]
    with session_scope(database_url) as session:
        recorded = [(e.conversation_id, e.channel, e.category, e.message) for e in session.scalars(select(Escalation))]
    assert recorded == [("guard-test", "rest", category, text)], "an answer without an alert is a lost escalation"


async def test_a_failed_turn_that_is_not_a_crisis_records_nothing(database_url):
    await never_silent(crash)(message("is there a group in Fife"))
    with session_scope(database_url) as session:
        assert session.scalars(select(Escalation)).all() == []


async def test_a_turn_that_answered_gets_nothing_extra():
    msg = message("hi")
    await never_silent(answer)(msg)
    assert [m["text"] for m in msg.output_channel.inner.messages] == ["hello"]
