"""SMS and WhatsApp end to end over real HTTP: Twilio-signed webhooks into the real Rasa server (trained
model, action server, seed directory), replies out through the real `twilio` client to the local Twilio
emulator, and the emulator's signed status callbacks back into Rasa.

Run by `make test-e2e` (MODEL set). Prints what it measured (run with -s to see it).
"""
from __future__ import annotations

import os
import re
import sqlite3
import statistics
import time
import uuid

import pytest

from bot import privacy
from bot.channels.sms import for_sms, is_gsm7, segments, to_gsm7
from tests.servers import ROOT, Servers, free_port
from tests.twilio_emulator import TwilioEmulator, inbound_params, post_webhook, sign

pytestmark = pytest.mark.e2e

OUR_SMS, OUR_WHATSAPP = "+447700900000", "+447700900001"
SECRET = "e2e-conversation-secret"
TURN_TIMEOUT = 90  # seconds: the first turn loads the model's graph
TIMINGS: dict[str, list[float]] = {"ack": [], "reply": []}


@pytest.fixture(scope="module")
def twilio():
    with TwilioEmulator(status_callbacks=True) as emulator:
        yield emulator


@pytest.fixture(scope="module")
def servers(tmp_path_factory, twilio):
    port = free_port()
    env = {**twilio.env, "TWILIO_SMS_NUMBER": OUR_SMS, "TWILIO_WHATSAPP_NUMBER": OUR_WHATSAPP,
           "PUBLIC_BASE_URL": f"http://127.0.0.1:{port}", "CONVERSATION_ID_SECRET": SECRET,
           "TWILIO_SEND_BACKOFF_SECONDS": "0.2", "PYTHONPATH": os.environ.get("PYTHONPATH") or str(ROOT)}
    running = Servers(tmp_path_factory.mktemp("e2e-twilio"), env=env, rasa_port=port).start()
    yield running
    running.stop()
    if TIMINGS["ack"]:
        print(f"\nTwilio e2e: webhook acknowledged in median {statistics.median(TIMINGS['ack']) * 1000:.0f} ms, "
              f"max {max(TIMINGS['ack']) * 1000:.0f} ms over {len(TIMINGS['ack'])} webhooks; first reply "
              f"at the emulator median {statistics.median(TIMINGS['reply']) * 1000:.0f} ms, "
              f"max {max(TIMINGS['reply']) * 1000:.0f} ms")


def new_number() -> str:
    return f"+4477009{uuid.uuid4().int % 10**5:05d}"


def webhook_url(servers) -> str:
    return f"{servers.rasa_url}/webhooks/twilio/webhook"


def db(servers, name: str = "directory.db") -> sqlite3.Connection:
    return sqlite3.connect(servers.workdir / name)


def escalations(servers, conversation: str, expected: list, columns: str = "category, channel") -> list:
    """The conversation's escalation rows, polled briefly: the event broker writes them in the background."""
    deadline = time.monotonic() + 10
    while True:
        with db(servers) as conn:
            rows = conn.execute(f"select {columns} from escalation where conversation_id = ?",
                                (conversation,)).fetchall()
        if rows == expected or time.monotonic() > deadline:
            return rows
        time.sleep(0.2)


def inbound_status(servers, sid: str) -> str | None:
    with db(servers) as conn:
        row = conn.execute("select status from twilio_inbound where message_sid = ?", (sid,)).fetchone()
    return row[0] if row else None


def text(servers, twilio, sender: str, body: str, params: dict | None = None) -> list[str]:
    """Send one signed message as Twilio would; wait for its turn to finish; the texts it produced."""
    to = f"whatsapp:{OUR_WHATSAPP}" if sender.startswith("whatsapp:") else OUR_SMS
    params = params or inbound_params(sender, to, body)
    before = len(twilio.sent_to(sender))
    started = time.monotonic()
    answer = post_webhook(webhook_url(servers), params)
    TIMINGS["ack"].append(time.monotonic() - started)
    assert answer.status_code == 200 and "<Response/>" in answer.text
    assert answer.headers["Content-Type"].startswith("text/xml")
    deadline = time.monotonic() + TURN_TIMEOUT
    first_reply = None
    while inbound_status(servers, params["MessageSid"]) in (None, "received", "recovering"):
        if first_reply is None and len(twilio.sent_to(sender)) > before:
            first_reply = time.monotonic() - started
        assert time.monotonic() < deadline, f"no answer to {body!r} within {TURN_TIMEOUT}s"
        time.sleep(0.05)
    if len(twilio.sent_to(sender)) > before:
        TIMINGS["reply"].append(first_reply or time.monotonic() - started)
    return [m.body for m in twilio.sent_to(sender)[before:]]


def check_sms(texts: list[str]) -> None:
    assert len(texts) <= 3
    for body in texts:
        assert len(body) <= 1600 and is_gsm7(body), body
        assert "/find_support" not in body and "{" not in body and '"services"' not in body


# --- a whole conversation by SMS ------------------------------------------------------------------

def test_a_parent_finds_support_by_sms_with_numbered_replies(servers, twilio):
    parent = new_number()
    replies = text(servers, twilio, parent, "Hi")
    check_sms(replies)
    assert len(replies) == 1 and "automated service" in replies[0] and "999" in replies[0]
    assert "Reply 1 for find support for me" in replies[0]
    answers = {"Who is the support for": "1", "Is the baby on the way": "2",
               "Where in Scotland": "Kirkcaldy", "What kind of support": "six"}
    replies, numbered = text(servers, twilio, parent, "1"), 1
    for _ in range(6):
        check_sms(replies)
        joined = "\n".join(replies)
        if "for more about one of them" in joined:
            break
        question = next((q for q in answers if q in joined), None)
        assert question, joined
        numbered += answers[question] != "Kirkcaldy"
        replies = text(servers, twilio, parent, answers[question])
    joined = "\n".join(replies)
    # Compact suggestions: numbered services, "reply 1, 2 or 3 for more", then the follow-up menu numbered on.
    assert "1. " in joined and "Reply 1, 2 or 3 for more about one of them." in joined, joined
    assert "Reply 4 for more options" in joined, joined
    assert "Why:" not in joined  # the long form is for the web widget
    assert len(replies) == 1  # suggestions and the follow-up menu in one text
    assert sum(segments(body).count for body in replies) <= 5
    assert numbered >= 4
    first = joined.split("\n1. ", 1)[1].split("\n", 1)[0]
    details = "\n".join(text(servers, twilio, parent, "1"))  # "reply 1 for more": the first service in full
    check_sms([details])
    assert first in details and "How:" in details, details
    # The conversation is kept under the keyed hash; the number only as the channel contact.
    conversation = privacy.conversation_id(parent, SECRET.encode())
    tracker = servers.tracker(conversation)
    assert tracker["slots"]["council_code"] == "S12000047"  # Fife
    assert tracker["latest_input_channel"] == "twilio"
    with db(servers, "tracker.db") as conn:
        senders = {row[0] for row in conn.execute("select distinct sender_id from events")}
    assert conversation in senders and not any(parent[1:] in s or parent[-6:] in s for s in senders)
    with db(servers) as conn:
        assert conn.execute("select address from channel_contact where conversation_id = ?",
                            (conversation,)).fetchone() == (parent,)


# --- crisis ----------------------------------------------------------------------------------------

def test_a_crisis_by_sms_is_answered_first_recorded_and_a_call_back_can_be_agreed(servers, twilio):
    parent = new_number()
    replies = text(servers, twilio, parent, "I want to kill myself")
    check_sms(replies)
    assert "999" in replies[0] and "116 123" in replies[0]
    conversation = privacy.conversation_id(parent, SECRET.encode())
    escalation = escalations(servers, conversation, [("suicide_self_harm", "twilio")])
    with db(servers) as conn:
        crisis_rows = conn.execute("select crisis from twilio_delivery where conversation_id = ?",
                                   (conversation,)).fetchall()
    assert escalation == [("suicide_self_harm", "twilio")]
    assert crisis_rows and all(row == (1,) for row in crisis_rows)
    # The channel stored the number (channel_contact), so a call-back is offered, and agreed by number.
    options = re.search(r"Reply (\d) for yes, call me", "\n".join(replies))
    assert options, replies
    consent = text(servers, twilio, parent, options.group(1))
    assert "passed your number" in "\n".join(consent)
    with db(servers) as conn:
        assert conn.execute("select callback_number from escalation where conversation_id = ? and "
                            "callback_consent", (conversation,)).fetchone() == (parent,)


# Written for these tests (not from the labelled sets).
CRISIS_IN = {"pl": "nie chce juz zyc", "uk": "Я хочу померти", "ro": "vreau sa mor", "ar": "بدي موت",
             "ur": "mera dil karta hai mar jaun", "pa": "ਮੈਂ ਮਰ ਜਾਣਾ ਚਾਹੁੰਦੀ ਹਾਂ", "zh": "我想死"}


@pytest.mark.parametrize("code", sorted(CRISIS_IN))
def test_a_crisis_by_sms_in_another_language_is_answered_in_it_and_in_english(servers, twilio, code):
    from bot import language
    parent = new_number()
    replies = text(servers, twilio, parent, CRISIS_IN[code])
    joined = "\n".join(replies)
    own = language.get(code).responses["crisis_suicide_self_harm"]
    opening = own.split("\n")[0][:25]
    assert opening in joined or to_gsm7(opening) in joined, joined  # as written (UCS-2) unless GSM-7 loses nothing
    assert "116 123" in joined and "999" in joined and "deserve support right now" in joined
    if not is_gsm7(for_sms(own)):  # letters GSM-7 would lose (Urdu, Chinese…): sent as written, in UCS-2
        assert any(segments(body).encoding == "UCS-2" for body in replies)
    conversation = privacy.conversation_id(parent, SECRET.encode())
    assert escalations(servers, conversation, [("suicide_self_harm", "twilio")]) == [("suicide_self_harm", "twilio")]


def test_a_possible_risk_by_sms_in_another_language_is_asked_in_it_and_a_typed_yes_is_a_crisis(servers, twilio):
    """No lexicon knows this wording ("sometimes I think everyone would have it easier if I weren't here"); the
    crisis net asks, in Polish and English, and "tak" typed back is a yes."""
    from bot import language
    parent = new_number()
    question = "\n".join(text(servers, twilio, parent, "Czasem mysle, ze wszystkim byloby lzej, gdyby mnie tu nie bylo"))
    own = language.get("pl").responses["possible_suicide_self_harm"]
    assert to_gsm7(own.split("\n")[0][:25]) in question or own.split("\n")[0][:25] in question, question
    assert "Is that happening for you?" in question and "116 123" in question
    answer = "\n".join(text(servers, twilio, parent, "tak"))
    assert "deserve support right now" in answer and "999" in answer
    conversation = privacy.conversation_id(parent, SECRET.encode())
    assert escalations(servers, conversation, [("suicide_self_harm", "twilio")]) == [("suicide_self_harm", "twilio")]


def test_help_gives_the_crisis_numbers(servers, twilio):
    replies = text(servers, twilio, new_number(), "HELP")
    check_sms(replies)
    joined = "\n".join(replies)
    assert "automated service" in joined and "999" in joined and "116 123" in joined


# --- WhatsApp ---------------------------------------------------------------------------------------

def test_whatsapp_is_answered_from_the_whatsapp_number(servers, twilio):
    parent = f"whatsapp:{new_number()}"
    replies = text(servers, twilio, parent, "hello")
    assert replies and all(m.from_ == f"whatsapp:{OUR_WHATSAPP}" for m in twilio.sent_to(parent))
    assert "Reply 1 for find support for me" in replies[0]
    replies = text(servers, twilio, parent, "1")
    assert "Who is the support for" in "\n".join(replies)


# --- Twilio's retries, forgeries, keywords ---------------------------------------------------------

def test_a_retried_webhook_is_answered_once(servers, twilio):
    parent = new_number()
    params = inbound_params(parent, OUR_SMS, "hello")
    first = text(servers, twilio, parent, "hello", params=params)
    assert post_webhook(webhook_url(servers), params).status_code == 200
    assert post_webhook(webhook_url(servers), params).status_code == 200
    time.sleep(2)
    assert len(twilio.sent_to(parent)) == len(first) == 1


@pytest.mark.parametrize("how", ["forged", "unsigned"])
def test_forged_and_unsigned_webhooks_are_refused_and_nothing_is_sent(servers, twilio, how):
    parent = new_number()
    params = inbound_params(parent, OUR_SMS, "hello")
    attempts = twilio.attempts
    answer = post_webhook(webhook_url(servers), params, auth_token="a-guess" if how == "forged" else None)
    assert answer.status_code == 403
    time.sleep(2)
    assert twilio.sent_to(parent) == [] and twilio.attempts == attempts
    assert inbound_status(servers, params["MessageSid"]) is None


def test_after_stop_nothing_is_sent_but_a_crisis_is_still_recorded(servers, twilio):
    parent = new_number()
    assert len(text(servers, twilio, parent, "hi")) == 1
    assert text(servers, twilio, parent, "STOP") == []
    assert text(servers, twilio, parent, "hello again") == []
    assert text(servers, twilio, parent, "I want to kill myself") == []
    conversation = privacy.conversation_id(parent, SECRET.encode())
    assert escalations(servers, conversation, [("suicide_self_harm",)], "category") == [("suicide_self_harm",)]
    replies = text(servers, twilio, parent, "START")
    assert replies and "automated service" in replies[0]


# --- sending fails, then recovers; status callbacks ----------------------------------------------------

def test_a_send_that_fails_twice_is_retried_and_delivered(servers, twilio):
    parent = new_number()
    twilio.fail_next(2, 500)
    attempts = twilio.attempts
    replies = text(servers, twilio, parent, "hi")
    assert len(replies) == 1 and twilio.attempts - attempts == 3
    conversation = privacy.conversation_id(parent, SECRET.encode())
    with db(servers) as conn:
        assert conn.execute("select attempts from twilio_delivery where conversation_id = ?",
                            (conversation,)).fetchall() == [(3,)]


def test_status_callbacks_reach_the_delivery_log_and_an_undelivered_text_is_counted(servers, twilio):
    parent = new_number()
    text(servers, twilio, parent, "hi")
    twilio.undeliver_next(1)
    text(servers, twilio, parent, "thanks")
    conversation = privacy.conversation_id(parent, SECRET.encode())

    def statuses():
        with db(servers) as conn:
            return [row[0] for row in conn.execute(
                "select status from twilio_delivery where conversation_id = ? order by id", (conversation,))]

    twilio.wait_until(lambda: statuses() == ["delivered", "undelivered"], timeout=20)
    assert all(code == 204 for _, code in twilio.callbacks)
    health = __import__("requests").get(f"{servers.rasa_url}/webhooks/twilio/", timeout=10,
                                        headers={"Authorization": f"Bearer {servers.rasa_token}"}).json()
    assert health["failed"] >= 1


def test_forged_status_callbacks_are_refused(servers, twilio):
    import requests
    params = {"MessageSid": "SM" + "0" * 32, "MessageStatus": "delivered"}
    url = f"{servers.rasa_url}/webhooks/twilio/status"
    assert requests.post(url, data=params, timeout=10).status_code == 403
    assert requests.post(url, data=params, headers={"X-Twilio-Signature": sign(url, params, "guess")},
                         timeout=10).status_code == 403


# --- privacy -----------------------------------------------------------------------------------------

def test_delete_my_data_by_sms_leaves_neither_words_nor_number_anywhere(servers, twilio):
    parent, secret = new_number(), f"capybara{uuid.uuid4().hex[:8]}"
    conversation = privacy.conversation_id(parent, SECRET.encode())
    text(servers, twilio, parent, "Hi")
    crisis = text(servers, twilio, parent, f"I want to kill myself {secret}")
    options = re.search(r"Reply (\d) for yes, call me", "\n".join(crisis))
    text(servers, twilio, parent, options.group(1))  # a call-back: the number is in the escalation too
    assert escalations(servers, conversation, [("suicide_self_harm", "twilio")])
    question = text(servers, twilio, parent, "delete my data please")
    choice = re.search(r"Reply (\d+) for yes, delete it", "\n".join(question))
    assert choice, question
    before = len(twilio.sent_to(parent))
    post_webhook(webhook_url(servers), inbound_params(parent, OUR_SMS, choice.group(1)))
    done = twilio.wait_for_messages(before + 1, to=parent)[before:]
    assert done[0].body.startswith("Done: I've deleted this conversation")
    deadline = time.monotonic() + 20  # the channel removes what sending the confirmation wrote, just after
    digits = parent.lstrip("+")
    while time.monotonic() < deadline:
        leftovers = [str(p.name) for p in servers.workdir.rglob("*") if p.is_file() and (
            secret.encode() in p.read_bytes() or digits.encode() in p.read_bytes())]
        with db(servers) as conn:
            rows = sum(conn.execute(f"select count(*) from {table} where conversation_id = ?",
                                    (conversation,)).fetchone()[0]
                       for table in ("channel_contact", "twilio_inbound", "twilio_menu", "twilio_delivery"))
        if not leftovers and rows == 0:
            break
        time.sleep(0.3)
    assert leftovers == [] and rows == 0
    assert escalations(servers, conversation, []) == []


def test_no_phone_number_in_the_rasa_log(servers, twilio):
    log = (servers.workdir / "rasa.log").read_text(errors="replace")
    assert "/webhooks/twilio" in log or "twilio" in log.lower()
    assert not re.search(r"\+?447700\d{6}|whatsapp:\+44", log)
