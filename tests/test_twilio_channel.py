"""The Twilio channel in-process: signatures, de-duplication, menus, keywords, WhatsApp, privacy, sending.

Rasa is replaced by a small scripted assistant (the real one is in tests/test_e2e_twilio.py); Twilio's
API is the local emulator (tests/twilio_emulator.py), reached through the real `twilio` client.
"""
from __future__ import annotations

import asyncio
import logging
import re
import time
from datetime import datetime, timedelta
from pathlib import Path
from types import SimpleNamespace

import pytest
import yaml
from sanic.request import RequestParameters
from sqlalchemy import select

from bot import privacy
from bot.channels import twilio as channel_module
from bot.channels.twilio import (COUNTS, EMPTY_TWIML, RECOVER_AFTER, ChannelSettings, TurnCollector,
                                 TwilioChannel, TwilioOutput, _form, claim_inbound, failure_counts)
from bot.db import session_scope
from bot.models import ChannelContact, TwilioDelivery, TwilioInbound, TwilioMenu, TwilioOptOut
from bot.twilio_rest import TwilioSettings, client as twilio_client
from tests.twilio_emulator import ACCOUNT_SID, AUTH_TOKEN, TwilioEmulator, inbound_params, sign

DOMAIN = yaml.safe_load((Path(__file__).parent.parent / "domain.yml").read_text(encoding="utf-8"))
RESPONSES = {name: variants[0] for name, variants in DOMAIN["responses"].items()}
PUBLIC = "https://bot.example.org"
WEBHOOK = f"{PUBLIC}/webhooks/twilio/webhook"
STATUS = f"{PUBLIC}/webhooks/twilio/status"
OUR_SMS, OUR_WHATSAPP = "+447700900000", "+447700900001"
PARENT = "+447700900123"
PARENT_WA = "whatsapp:+447700900456"
NUMBER_DIGITS = re.compile(r"7700\s?900\s?(123|456|000|001|789)")


def response(name: str) -> dict:
    return {**RESPONSES[name], "utter_action": name}


class ScriptedAssistant:
    """Stands in for Rasa's agent: answers like the real domain, and records what it was sent."""

    def __init__(self) -> None:
        self.received: list = []
        self.delay = 0.0

    async def __call__(self, message) -> None:
        self.received.append(message)
        out, sender, text = message.output_channel, message.sender_id, message.text or ""
        if self.delay:
            await asyncio.sleep(self.delay)
        if text == "boom" or "explode" in text:
            raise RuntimeError("the model fell over")
        if text == "silence":
            return
        if text == "cards only":
            await out.send_response(sender, {"custom": {"services": [{"id": "x"}]}})
            return
        if "kill myself" in text:
            for name in ("utter_crisis_suicide_self_harm", "utter_crisis_followup", "utter_ask_callback"):
                await out.send_response(sender, response(name))
            return
        if text.startswith('/find_support{"support_for"'):  # "find support for me": who is it for?
            await out.send_response(sender, response("utter_ask_role"))
            return
        if text.startswith("/find_support"):  # an answer: the next question
            await out.send_response(sender, response("utter_ask_location"))
            return
        if text == "long":
            await out.send_response(sender, {"text": "A sentence of about forty characters. " * 150})
            return
        if text == "four":
            for name in ("utter_thanks", "utter_bot_challenge", "utter_goodbye", "utter_ask_format"):
                await out.send_response(sender, response(name))
            return
        await out.send_response(sender, response("utter_greet"))

    @property
    def texts(self) -> list[str]:
        return [m.text for m in self.received]


@pytest.fixture
def emulator():
    with TwilioEmulator() as running:
        yield running


@pytest.fixture
def settings(emulator) -> ChannelSettings:
    return ChannelSettings(
        twilio=TwilioSettings(account_sid=ACCOUNT_SID, auth_token=AUTH_TOKEN, sms_number=OUR_SMS,
                              whatsapp_number=OUR_WHATSAPP, api_base_url=emulator.base_url),
        public_base_url=PUBLIC, send_attempts=4, backoff_seconds=0.01, backoff_cap_seconds=0.05)


@pytest.fixture
def assistant() -> ScriptedAssistant:
    return ScriptedAssistant()


@pytest.fixture
def channel(database_url, settings, assistant, monkeypatch) -> TwilioChannel:
    monkeypatch.setenv("CONVERSATION_ID_SECRET", "test-secret")
    COUNTS.clear()
    twilio = TwilioChannel(settings)
    twilio.blueprint(assistant)
    return twilio


def form(params: dict[str, str]) -> RequestParameters:
    return RequestParameters({name: [value] for name, value in params.items()})


async def post(channel: TwilioChannel, params: dict[str, str], token: str | None = AUTH_TOKEN,
               url: str = WEBHOOK, signature: str | None = None, wait: bool = True):
    if signature is None and token is not None:
        signature = sign(url, params, token)
    result = await channel.receive(url, form(params), signature)
    if wait:
        await channel.drain()
    return result


async def say(channel, text: str, sender: str = PARENT, to: str | None = None, sid: str | None = None):
    to = to or (f"whatsapp:{OUR_WHATSAPP}" if sender.startswith("whatsapp:") else OUR_SMS)
    return await post(channel, inbound_params(sender, to, text, message_sid=sid))


def bodies(emulator, to: str = PARENT) -> list[str]:
    return [m.body for m in emulator.sent_to(to)]


def deliveries() -> list[TwilioDelivery]:
    with session_scope() as session:
        return session.scalars(select(TwilioDelivery).order_by(TwilioDelivery.id)).all()


# --- authenticity ----------------------------------------------------------------------------

async def test_a_signed_webhook_is_acknowledged_with_empty_twiml_and_answered(channel, emulator, assistant):
    status, body, content_type = await say(channel, "hi")
    assert (status, body, content_type) == (200, EMPTY_TWIML, "text/xml")
    assert assistant.texts == ["hi"]
    [sent] = emulator.sent_to(PARENT)
    assert sent.from_ == OUR_SMS and sent.body.startswith("Hi, I'm an automated service")
    assert sent.status_callback == STATUS


@pytest.mark.parametrize("how", ["unsigned", "wrong token", "other url", "tampered body", "garbage"])
async def test_forged_or_unsigned_webhooks_are_refused_and_nothing_happens(channel, emulator, assistant, how):
    params = inbound_params(PARENT, OUR_SMS, "hi")
    signature = {"unsigned": None, "wrong token": sign(WEBHOOK, params, "not-the-token"),
                 "other url": sign("https://evil.example.org/webhooks/twilio/webhook", params),
                 "tampered body": sign(WEBHOOK, {**params, "Body": "something else"}),
                 "garbage": "bm9wZQ=="}[how]
    status, body, _ = await post(channel, params, token=None, signature=signature)
    assert (status, body) == (403, "Forbidden")
    assert assistant.received == [] and emulator.messages == [] and emulator.attempts == 0
    with session_scope() as session:
        assert session.scalars(select(TwilioInbound)).all() == []
        assert session.scalars(select(ChannelContact)).all() == []
    assert COUNTS["refused"] == 1


async def test_without_an_auth_token_every_webhook_is_refused(database_url, settings, assistant, emulator):
    unconfigured = TwilioChannel(ChannelSettings(twilio=TwilioSettings("", "", OUR_SMS, None, emulator.base_url)))
    unconfigured.blueprint(assistant)
    params = inbound_params(PARENT, OUR_SMS, "hi")
    assert (await unconfigured.receive(WEBHOOK, form(params), sign(WEBHOOK, params, "")))[0] == 403
    assert assistant.received == []


def test_the_form_is_read_as_twilio_signed_it_with_empty_fields():
    """Sanic's request.form drops empty values; Twilio signs them, so the channel parses the body itself."""
    from urllib.parse import urlencode
    from twilio.request_validator import RequestValidator
    params = inbound_params(PARENT, OUR_SMS, "café & more = fine")
    request = SimpleNamespace(body=urlencode(params).encode("utf-8"))
    parsed = _form(request)
    assert parsed.get("FromCity") == "" and parsed.get("Body") == "café & more = fine"
    assert RequestValidator(AUTH_TOKEN).validate(WEBHOOK, parsed, sign(WEBHOOK, params))


def test_signatures_are_checked_against_the_public_url(channel):
    request = SimpleNamespace(path="/webhooks/twilio/webhook", query_string="", url="http://10.0.0.5:5005/x")
    assert channel._public_url(request) == WEBHOOK
    request.query_string = "a=1"
    assert channel._public_url(request) == WEBHOOK + "?a=1"
    channel.settings = ChannelSettings(twilio=channel.settings.twilio)  # no PUBLIC_BASE_URL: as received
    assert channel._public_url(request) == "http://10.0.0.5:5005/x"


# --- once per MessageSid, quickly --------------------------------------------------------------

async def test_a_retried_webhook_is_answered_once(channel, emulator, assistant):
    params = inbound_params(PARENT, OUR_SMS, "hi")
    first = await post(channel, params)
    again = await post(channel, params)
    assert first[0] == again[0] == 200 and again[1] == EMPTY_TWIML
    assert len(assistant.received) == 1 and len(emulator.sent_to(PARENT)) == 1
    assert COUNTS["duplicates"] == 1


async def test_de_duplication_is_durable_across_restarts(channel, settings, emulator, assistant):
    params = inbound_params(PARENT, OUR_SMS, "hi")
    await post(channel, params)
    restarted = TwilioChannel(settings)
    restarted.blueprint(assistant)
    await post(restarted, params)
    assert len(assistant.received) == 1 and len(emulator.messages) == 1


async def test_the_webhook_is_acknowledged_before_the_turn_runs(channel, emulator, assistant):
    assistant.delay = 1.5  # a slow turn: Twilio must still hear back at once (its limit is 15 s)
    started = time.monotonic()
    status, _, _ = await post(channel, inbound_params(PARENT, OUR_SMS, "hi"), wait=False)
    acknowledged = time.monotonic() - started
    assert status == 200 and acknowledged < 0.5 and emulator.messages == []
    await channel.drain()
    assert len(emulator.messages) == 1


async def test_the_event_loop_is_not_blocked_while_twilio_is_slow(channel, emulator):
    emulator.delay = 0.5
    ticks = 0

    async def ticker():
        nonlocal ticks
        while True:
            await asyncio.sleep(0.05)
            ticks += 1

    task = asyncio.ensure_future(ticker())
    await say(channel, "hi")
    task.cancel()
    assert len(emulator.messages) == 1 and ticks >= 6


async def test_messages_from_one_person_are_answered_in_order(channel, emulator, assistant):
    assistant.delay = 0.05
    for text in ("hi", "four", "long"):  # one after another, as fast as Twilio can post them
        await post(channel, inbound_params(PARENT, OUR_SMS, text), wait=False)
    await channel.drain()
    assert assistant.texts == ["hi", "four", "long"]
    sent = bodies(emulator)
    assert sent[0].startswith("Hi, I'm") and sent[1].startswith("You're welcome") and sent[2].startswith("A sentence")


# --- conversation ids, contacts, privacy ------------------------------------------------------

async def test_the_conversation_id_is_a_keyed_hash_and_the_number_is_kept_only_as_a_contact(channel, assistant):
    await say(channel, "hi")
    [message] = assistant.received
    assert message.sender_id == privacy.conversation_id(PARENT, b"test-secret")
    assert re.fullmatch(r"twilio:[0-9a-f]{64}", message.sender_id) and "7700" not in message.sender_id
    assert message.input_channel == "twilio"
    assert message.metadata == {"twilio": {"kind": "sms", "message_sid": message.message_id}}
    with session_scope() as session:
        contact = session.get(ChannelContact, message.sender_id)
        assert (contact.channel, contact.address) == ("twilio", PARENT)
        first_seen = contact.last_inbound_at
    await say(channel, "again")
    with session_scope() as session:
        assert session.get(ChannelContact, message.sender_id).last_inbound_at >= first_seen


def test_hmac_ids_are_stable_keyed_and_per_channel(monkeypatch):
    a = privacy.conversation_id("+44 7700 900123", b"k1")
    assert a == privacy.conversation_id("+447700900123", b"k1")
    assert a != privacy.conversation_id("+447700900123", b"k2")
    assert a != privacy.conversation_id("whatsapp:+447700900123", b"k1")
    import hashlib
    import hmac
    assert a == "twilio:" + hmac.new(b"k1", b"+447700900123", hashlib.sha256).hexdigest()
    monkeypatch.setenv("CONVERSATION_ID_SECRET", "k1")
    assert privacy.conversation_id("+447700900123") == a


def test_an_unset_secret_is_generated_once_in_development_and_refused_in_production(monkeypatch, tmp_path):
    from bot import config
    monkeypatch.delenv("CONVERSATION_ID_SECRET", raising=False)
    monkeypatch.setattr(config, "VAR_DIR", tmp_path)
    first = privacy.conversation_id(PARENT)
    assert privacy.conversation_id(PARENT) == first  # the generated key is kept, so conversations continue
    key_file = tmp_path / "conversation-id-secret"
    assert key_file.stat().st_mode & 0o777 == 0o600 and len(key_file.read_text()) == 64
    monkeypatch.setattr(config, "VAR_DIR", tmp_path / "elsewhere")
    monkeypatch.setenv("ASSISTANT_ENV", "production")
    with pytest.raises(config.ConfigError, match="CONVERSATION_ID_SECRET"):
        privacy.conversation_id(PARENT)
    monkeypatch.setenv("CONVERSATION_ID_SECRET", "dev-only-conversation-id-secret-set-CONVERSATION_ID_SECRET-in-production")
    with pytest.raises(config.ConfigError, match="known or short"):
        privacy.conversation_id(PARENT)


@pytest.mark.parametrize("text,expected", [
    ("from +447700900123 to whatsapp:+447700900456", "from [number] to whatsapp:[number]"),
    ("call 07700 900123 or 0131 496 0000", "call [number] or [number]"),
    ("The 'To' number +15005550001 is not a valid phone number.", "The 'To' number [number] is not a valid phone number."),
    ("SM0123456789abcdef0123456789abcdef and 2026-11-26 23:11:12 and 116 123", None),
    ("conversation 0123456789ab", None),
])
def test_redaction(text, expected):
    assert privacy.redact(text) == (expected if expected is not None else text)


def test_log_redaction_covers_messages_arguments_and_tracebacks_of_every_logger(caplog):
    privacy.install_log_redaction()
    try:
        raise ValueError("bad number +447700900123")
    except ValueError:
        with caplog.at_level(logging.ERROR):
            logging.getLogger("any.library.at.all").exception("To %s failed", "+447700900123")
    [record] = caplog.records
    assert "900123" not in record.getMessage() and "900123" not in record.exc_text
    assert "900123" not in caplog.text
    assert privacy.mask("whatsapp:+447700900123") == "whatsapp:+44…123"


async def test_no_phone_number_reaches_the_logs(channel, emulator, assistant, caplog):
    caplog.set_level(logging.DEBUG)
    await say(channel, "hi")
    await say(channel, "I want to kill myself")
    await say(channel, "hi", sender=PARENT_WA)
    emulator.fail_next(4, 500)
    await say(channel, "hi")
    emulator.blocked.add(PARENT)
    await say(channel, "hi")
    await say(channel, "STOP")
    logged = "\n".join(r.getMessage() + (r.exc_text or "") for r in caplog.records)
    assert "Reply not delivered" in logged
    assert not NUMBER_DIGITS.search(logged), NUMBER_DIGITS.search(logged)


# --- menus ------------------------------------------------------------------------------------

async def test_numbered_replies_map_back_to_the_buttons_of_that_conversation(channel, emulator, assistant):
    await say(channel, "hi")
    assert "Reply 1 for find support for me, 2 for support someone I care about" in bodies(emulator)[0]
    await say(channel, "1")
    assert assistant.texts[-1] == '/find_support{"support_for":"self"}'
    assert "Reply 1 for I'm a mum or mum-to-be" in bodies(emulator)[-1]
    await say(channel, "two")
    assert assistant.texts[-1] == '/find_support{"role":"dad_partner"}'
    # the last reply had no buttons, so a number is just text now
    await say(channel, "1")
    assert assistant.texts[-1] == "1"


async def test_a_reply_in_the_options_words_maps_too_and_other_people_have_their_own_menu(channel, assistant):
    await say(channel, "hi")
    await say(channel, "peer support")
    assert assistant.texts[-1] == "/faq/what_is_peer_support"
    await say(channel, "1", sender="+447700900789")  # someone else, with no menu pending
    assert assistant.texts[-1] == "1"


async def test_a_crisis_is_never_mistaken_for_a_menu_choice(channel, assistant):
    from bot.channels.sms import Option
    from bot.channels.twilio import save_menu
    save_menu(privacy.conversation_id(PARENT), [Option(1, "I want it all to end", "/x")], datetime.utcnow())
    await say(channel, "I want it all to end")
    assert assistant.texts[-1] == "I want it all to end"


async def test_a_stale_menu_is_forgotten(channel, assistant):
    await say(channel, "hi")
    with session_scope() as session:
        for menu in session.scalars(select(TwilioMenu)):
            menu.sent_at -= timedelta(hours=5)
    await say(channel, "1")
    assert assistant.texts[-1] == "1"


# --- one turn, few texts ----------------------------------------------------------------------

async def test_a_turn_of_four_messages_is_one_text_in_order(channel, emulator):
    await say(channel, "four")
    [text] = bodies(emulator)
    assert text.index("You're welcome") < text.index("automated service") < text.index("Take care") \
        < text.index("Reply 1 for a group")


async def test_a_long_reply_is_a_few_texts_split_at_sentences(channel, emulator):
    await say(channel, "long")
    texts = bodies(emulator)
    assert 2 <= len(texts) <= 3
    assert all(len(t) <= 1600 and t.endswith("characters.") for t in texts)
    rows = deliveries()
    assert [(r.part, r.parts, r.encoding) for r in rows] == [(i, len(texts), "GSM-7") for i in range(1, len(texts) + 1)]
    assert all(r.segments == -(-r.chars // 153) for r in rows)


async def test_a_crisis_reply_is_one_text_with_999_first_and_marked_crisis(channel, emulator):
    await say(channel, "I want to kill myself")
    [text] = bodies(emulator)
    assert "999" in text and text.index("999") < text.index("Reply 1 for yes, call me")
    assert [r.crisis for r in deliveries()] == [True]


# --- never silent ------------------------------------------------------------------------------

async def test_a_failed_turn_still_gets_a_reply(channel, emulator):
    await say(channel, "boom")
    [text] = bodies(emulator)
    assert "something went wrong" in text and "116 123" in text


async def test_a_failed_turn_on_a_crisis_message_gets_the_crisis_reply(channel, emulator):
    await say(channel, "I want to kill myself and everything will explode")
    [text] = bodies(emulator)
    assert text.startswith("I'm really sorry you're feeling like this") and "999" in text
    assert deliveries()[0].crisis is True


async def test_a_reply_a_phone_cannot_show_is_replaced_by_the_fallback(channel, emulator):
    await say(channel, "cards only")
    [text] = bodies(emulator)
    assert "something went wrong" in text


async def test_no_reply_at_all_gets_the_fallback(channel, emulator):
    await say(channel, "silence")
    assert len(bodies(emulator)) == 1


# --- keywords ---------------------------------------------------------------------------------

async def test_stop_sends_nothing_more_but_messages_still_reach_the_assistant(channel, emulator, assistant):
    await say(channel, "hi")
    await say(channel, "STOP")
    assert len(emulator.sent_to(PARENT)) == 1  # no reply to STOP: Twilio has already confirmed it
    assert assistant.texts == ["hi"]  # STOP itself is not a conversation turn
    await say(channel, "hello?")
    await say(channel, "I want to kill myself")
    assert assistant.texts[-2:] == ["hello?", "I want to kill myself"]  # so a crisis is still recorded
    await say(channel, "HELP")
    assert len(emulator.sent_to(PARENT)) == 1 and emulator.attempts == 1
    with session_scope() as session:
        assert session.scalars(select(TwilioOptOut.keyword)).all() == ["STOP"]
        assert session.scalars(select(TwilioMenu)).all() == []
        statuses = session.scalars(select(TwilioInbound.status).order_by(TwilioInbound.received_at)).all()
    assert statuses == ["answered"] + ["suppressed"] * 4


async def test_stop_on_whatsapp_is_confirmed_once_since_twilio_does_not(channel, emulator, assistant):
    await say(channel, "Stop", sender=PARENT_WA)
    await say(channel, "hello", sender=PARENT_WA)
    [text] = bodies(emulator, PARENT_WA)
    assert "won't get any more messages" in text and "START" in text
    assert assistant.texts == ["hello"]


async def test_a_crisis_on_whatsapp_after_stop_is_still_answered(channel, emulator, assistant):
    """Twilio blocks SMS after STOP, not WhatsApp replies in the window: a crisis there is answered."""
    await say(channel, "Stop", sender=PARENT_WA)
    await say(channel, "hello", sender=PARENT_WA)
    await say(channel, "I want to kill myself", sender=PARENT_WA)
    texts = bodies(emulator, PARENT_WA)
    assert len(texts) == 2 and "999" in texts[1], "the STOP confirmation, then the crisis answer only"
    with session_scope() as session:
        statuses = session.scalars(select(TwilioInbound.status).order_by(TwilioInbound.received_at)).all()
    assert statuses[-1] == "answered"


async def test_start_opts_back_in_and_greets(channel, emulator, assistant):
    await say(channel, "stop")
    await say(channel, "Start")
    assert assistant.texts == ["/greet"]
    assert bodies(emulator)[0].startswith("Hi, I'm an automated service")
    with session_scope() as session:
        assert session.scalars(select(TwilioOptOut)).all() == []


async def test_yes_opts_back_in_only_a_number_that_opted_out(channel, assistant):
    await say(channel, "YES")
    assert assistant.texts == ["YES"]  # an answer ("would you like a call-back?"), not a keyword
    await say(channel, "quit")
    await say(channel, "yes")
    assert assistant.texts[-1] == "/greet"


async def test_help_says_what_this_is_and_gives_the_crisis_numbers_from_the_domain(channel, emulator, assistant):
    await say(channel, "help")
    assert assistant.received == []
    [text] = bodies(emulator)
    assert "automated service" in text and "peer support" in text
    for number in ("999", "111", "116 123", "0800 83 85 87", "85258"):
        assert number in text
    assert "STOP" in text


# --- WhatsApp ---------------------------------------------------------------------------------

async def test_whatsapp_is_answered_from_the_whatsapp_number_and_keeps_its_formatting(channel, emulator, assistant):
    await say(channel, "hi", sender=PARENT_WA)
    [sent] = emulator.sent_to(PARENT_WA)
    assert sent.from_ == f"whatsapp:{OUR_WHATSAPP}"
    assert assistant.received[0].sender_id != privacy.conversation_id(PARENT_WA.removeprefix("whatsapp:"))
    assert assistant.received[0].metadata["twilio"]["kind"] == "whatsapp"
    await say(channel, "1", sender=PARENT_WA)
    assert assistant.texts[-1] == '/find_support{"support_for":"self"}'
    assert deliveries()[0].kind == "whatsapp"


async def test_whatsapp_text_is_not_squeezed_into_gsm7(channel, emulator):
    conversation = privacy.conversation_id(PARENT_WA)
    claim_inbound("SMx", conversation, "whatsapp", PARENT_WA, "hi", datetime.utcnow())
    await channel.send_unprompted(conversation, [{"text": "You\u2019re welcome \U0001F60A"}])
    assert bodies(emulator, PARENT_WA) == ["You\u2019re welcome \U0001F60A"]


def _contact(address: str, hours_ago: float) -> str:
    conversation = privacy.conversation_id(address)
    with session_scope() as session:
        session.merge(ChannelContact(conversation_id=conversation, channel="twilio", address=address,
                                     last_inbound_at=datetime.utcnow() - timedelta(hours=hours_ago)))
    return conversation


async def test_whatsapp_outside_24_hours_without_a_template_is_not_sent_and_logged(channel, emulator, caplog):
    conversation = _contact(PARENT_WA, 25)
    with caplog.at_level(logging.ERROR):
        sent = await TwilioOutput(channel).send_response(conversation, {"text": "Checking in"})
    assert sent is None and emulator.messages == []
    assert "24-hour window" in caplog.text
    [row] = deliveries()
    assert (row.status, row.last_error) == ("not_sent", "outside the WhatsApp 24-hour window, no template")


async def test_whatsapp_outside_24_hours_uses_the_template(channel, settings, emulator):
    channel.settings = ChannelSettings(**{**settings.__dict__, "whatsapp_template_sid": "HX" + "a" * 32})
    conversation = _contact(PARENT_WA, 30)
    await TwilioOutput(channel).send_response(conversation, {"text": "Checking in"})
    [sent] = emulator.sent_to(PARENT_WA)
    assert sent.content_sid == "HX" + "a" * 32 and sent.body is None
    assert deliveries()[0].template_sid == "HX" + "a" * 32


async def test_whatsapp_inside_24_hours_and_sms_at_any_time_are_sent_free_form(channel, emulator):
    await TwilioOutput(channel).send_response(_contact(PARENT_WA, 23), {"text": "Checking in"})
    await TwilioOutput(channel).send_response(_contact(PARENT, 300), {"text": "Checking in"})
    assert [m.body for m in emulator.messages] == ["Checking in", "Checking in"]


async def test_unprompted_messages_respect_opt_outs_and_unknown_conversations(channel, emulator, caplog):
    await say(channel, "STOP")
    await TwilioOutput(channel).send_response(privacy.conversation_id(PARENT), {"text": "Checking in"})
    with caplog.at_level(logging.ERROR):
        await TwilioOutput(channel).send_response("nobody", {"text": "Checking in"})
    assert emulator.messages == [] and "No number is known" in caplog.text


async def test_a_reply_sent_after_the_turn_goes_out_on_its_own(channel, emulator):
    conversation = _contact(PARENT, 0)
    collector = TurnCollector(late=channel.send_unprompted)
    await collector.send_text_message(conversation, "now")
    collector.closed = True
    await collector.send_text_message(conversation, "later")
    assert collector.messages == [{"text": "now"}] and bodies(emulator) == ["later"]


# --- sending: retries, the delivery log, visible failure ----------------------------------------

async def test_429_and_500_are_retried_with_backoff_then_succeed(channel, emulator):
    emulator.fail_next(1, 429)
    emulator.fail_next(1, 500)
    await say(channel, "hi")
    assert emulator.attempts == 3 and len(emulator.messages) == 1
    [row] = deliveries()
    assert (row.status, row.attempts, row.message_sid) == ("queued", 3, emulator.messages[0].sid)


async def test_a_text_that_cannot_be_sent_is_logged_counted_and_visible(channel, emulator, caplog):
    emulator.fail_next(4, 503)
    with caplog.at_level(logging.ERROR):
        await say(channel, "hi")
    assert emulator.attempts == 4 and emulator.messages == []
    [record] = [r for r in caplog.records if "not delivered" in r.getMessage()]
    assert record.levelno == logging.ERROR
    [row] = deliveries()
    assert (row.status, row.attempts, row.error_code, row.crisis) == ("failed", 4, "20503", False)
    assert COUNTS["failed"] == 1 and failure_counts() == {"failed": 1, "crisis_failed": 0}
    with session_scope() as session:
        assert session.scalars(select(TwilioInbound.status)).all() == ["failed"]


async def test_a_failed_crisis_reply_is_an_incident(channel, emulator, caplog):
    emulator.fail_next(4, 500)
    with caplog.at_level(logging.ERROR):
        await say(channel, "I want to kill myself")
    [record] = [r for r in caplog.records if "NOT DELIVERED" in r.getMessage()]
    assert record.levelno == logging.CRITICAL and "CRISIS REPLY" in record.getMessage()
    assert COUNTS["crisis_failed"] == 1 and failure_counts() == {"failed": 1, "crisis_failed": 1}
    assert channel_module.main(["report"]) == 1  # the report exits non-zero while there are incidents


async def test_client_errors_are_not_retried_and_an_unsubscribed_number_is_opted_out(channel, emulator):
    emulator.blocked.add(PARENT)
    await say(channel, "hi")
    assert emulator.attempts == 1
    assert deliveries()[0].error_code == "21610"
    with session_scope() as session:
        assert session.scalars(select(TwilioOptOut.keyword)).all() == ["twilio-21610"]


async def test_wrong_credentials_fail_visibly(channel, settings, emulator, caplog):
    channel.sender.settings = ChannelSettings(**{**settings.__dict__, "twilio": TwilioSettings(
        ACCOUNT_SID, "wrong-token", OUR_SMS, OUR_WHATSAPP, emulator.base_url)})
    with caplog.at_level(logging.ERROR):
        await say(channel, "hi")
    assert deliveries()[0].error_code == "20003" and emulator.messages == []


def test_the_emulator_speaks_twilio_to_the_real_client(emulator):
    from twilio.base.exceptions import TwilioRestException
    twilio = twilio_client(TwilioSettings(ACCOUNT_SID, AUTH_TOKEN, OUR_SMS, None, emulator.base_url))
    message = twilio.messages.create(to=PARENT, from_=OUR_SMS, body="hello", status_callback=STATUS)
    assert message.sid.startswith("SM") and len(message.sid) == 34 and message.status == "queued"
    assert (message.to, message.from_, message.body) == (PARENT, OUR_SMS, "hello")
    assert emulator.messages[0].status_callback == STATUS
    for kwargs, code in [({"to": PARENT, "from_": OUR_SMS, "body": "x" * 1601}, 21617),
                         ({"to": PARENT_WA, "from_": OUR_SMS, "body": "x"}, 21910),
                         ({"to": PARENT, "from_": OUR_SMS}, 21602)]:
        with pytest.raises(TwilioRestException) as error:
            twilio.messages.create(**kwargs)
        assert (error.value.status, error.value.code) == (400, code)
    emulator.fail_next(1, 429)
    with pytest.raises(TwilioRestException) as error:
        twilio.messages.create(to=PARENT, from_=OUR_SMS, body="hi")
    assert error.value.status == 429
    bad = twilio_client(TwilioSettings(ACCOUNT_SID, "nope", OUR_SMS, None, emulator.base_url))
    with pytest.raises(TwilioRestException) as error:
        bad.messages.create(to=PARENT, from_=OUR_SMS, body="hi")
    assert (error.value.status, error.value.code) == (401, 20003)


# --- status callbacks ---------------------------------------------------------------------------

async def _status(channel, sid: str, status: str, error: str | None = None, token: str | None = AUTH_TOKEN):
    params = {"MessageSid": sid, "SmsSid": sid, "MessageStatus": status, "SmsStatus": status,
              "AccountSid": ACCOUNT_SID, "From": OUR_SMS, "To": PARENT, "ApiVersion": "2010-04-01"}
    if error:
        params["ErrorCode"] = error
    signature = sign(STATUS, params, token) if token else None
    return await channel.receive_status(STATUS, form(params), signature)


async def test_status_callbacks_update_the_delivery_log(channel, emulator):
    await say(channel, "hi")
    sid = emulator.messages[0].sid
    assert (await _status(channel, sid, "sent"))[0] == 204
    assert (await _status(channel, sid, "delivered"))[0] == 204
    await _status(channel, sid, "sent")  # callbacks can arrive out of order: never step back
    assert deliveries()[0].status == "delivered"
    assert (await _status(channel, "SMunknown", "delivered"))[0] == 204


async def test_a_status_for_a_text_erased_between_read_and_update_is_unknown_not_a_database_error(channel, emulator):
    """The person asked for their data to be deleted while Twilio's callback for one of our texts was being
    recorded: the row went between the read and the update. That is an unknown text, answered 204, not an error."""
    from sqlalchemy import delete, event
    from sqlalchemy.orm import Session
    await say(channel, "hi")
    sid, errors = emulator.messages[0].sid, COUNTS["database_errors"]

    def erase_after_the_read(state):
        if state.is_select:
            event.remove(Session, "do_orm_execute", erase_after_the_read)
            result = state.invoke_statement()
            with session_scope() as other:  # another connection, as the erasure runs
                other.execute(delete(TwilioDelivery).where(TwilioDelivery.message_sid == sid))
            return result
    event.listen(Session, "do_orm_execute", erase_after_the_read)
    try:
        assert (await _status(channel, sid, "delivered"))[0] == 204
    finally:
        if event.contains(Session, "do_orm_execute", erase_after_the_read):
            event.remove(Session, "do_orm_execute", erase_after_the_read)
    assert COUNTS["database_errors"] == errors and deliveries() == []


async def test_an_undelivered_crisis_reply_reported_later_is_an_incident(channel, emulator, caplog):
    await say(channel, "I want to kill myself")
    with caplog.at_level(logging.ERROR):
        await _status(channel, emulator.messages[0].sid, "undelivered", "30003")
    assert any(r.levelno == logging.CRITICAL for r in caplog.records)
    assert failure_counts() == {"failed": 1, "crisis_failed": 1}
    assert deliveries()[0].error_code == "30003"


async def test_forged_status_callbacks_are_refused(channel, emulator):
    await say(channel, "hi")
    assert (await _status(channel, emulator.messages[0].sid, "failed", token=None))[0] == 403
    assert (await _status(channel, emulator.messages[0].sid, "failed", token="guess"))[0] == 403
    assert deliveries()[0].status == "queued"


# --- restarts ---------------------------------------------------------------------------------

async def test_a_message_cut_off_by_a_restart_is_answered_at_start_up(channel, emulator, assistant):
    conversation = privacy.conversation_id(PARENT)
    received = datetime.utcnow() - RECOVER_AFTER - timedelta(seconds=5)
    claim_inbound("SMinterrupted", conversation, "sms", PARENT, "hi", received)
    claim_inbound("SMancient", conversation, "sms", PARENT, "hi", received - timedelta(hours=2))
    claim_inbound("SMjustnow", conversation, "sms", PARENT, "hi", datetime.utcnow())  # still in progress
    await channel.recover()
    await channel.drain()
    assert assistant.texts == ["hi"] and len(emulator.sent_to(PARENT)) == 1
    with session_scope() as session:
        rows = {r.message_sid: (r.status, r.body) for r in session.scalars(select(TwilioInbound))}
    assert rows == {"SMinterrupted": ("answered", None), "SMancient": ("failed", None), "SMjustnow": ("received", "hi")}


async def test_health_reports_delivery_failures(channel, emulator):
    emulator.fail_next(4, 500)
    await say(channel, "hi")
    health = await channel.health()
    assert health["status"] == "ok" and health["configured"] is True
    assert (health["failed"], health["crisis_failed"], health["since_start"]["failed"]) == (1, 0, 1)
