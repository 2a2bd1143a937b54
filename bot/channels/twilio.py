"""SMS and WhatsApp over Twilio: one signed webhook, each message answered once, in few texts, never silent.

    POST /webhooks/twilio/webhook   inbound SMS and WhatsApp (WhatsApp `From` is whatsapp:+44…)
    POST /webhooks/twilio/status    Twilio's delivery status callbacks, into the delivery log
    GET  /webhooks/twilio/          health, with the count of texts that could not be delivered

How a message is handled:
1. The `X-Twilio-Signature` is checked with the auth token against the public URL (PUBLIC_BASE_URL +
   path); anything unsigned or wrongly signed gets 403 and nothing else happens.
2. Its MessageSid is claimed in the database (a retried webhook finds it claimed and stops there),
   the number is kept in `channel_contact` under the conversation's keyed hash (bot/privacy.py),
   and Twilio gets an empty TwiML `<Response/>` straight away (its limit is 15 seconds).
3. The turn then runs as an asyncio task, one at a time per conversation: Twilio's keywords first
   (STOP…, START, HELP); a reply to a numbered menu becomes that button's payload; Rasa answers,
   wrapped in the silence guard (bot/channels/guard.py); the whole turn's replies are composed into
   at most three texts (bot/channels/sms.py) and sent in order through Twilio's REST API, off the
   event loop, retrying 429 and 5xx with backoff. Every text is in the delivery log; one that can't be
   delivered is logged at ERROR — CRITICAL for a crisis reply — and counted.

Opted-out numbers (STOP) are sent nothing until START, but what they write still goes to Rasa, so a
crisis is recorded and the clinical team alerted. WhatsApp messages outside the 24-hour window go
as the template TWILIO_WHATSAPP_TEMPLATE_SID, or not at all (logged). Settings: docs/twilio.md.

    python -m bot.channels.twilio report    delivery counts, and every failed crisis reply
"""
from __future__ import annotations

import asyncio
import functools
import json
import logging
import os
import random
import sys
import threading
from collections import Counter
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any, Awaitable, Callable, Dict, Iterable, List, Optional, Text
from urllib.parse import parse_qs

from rasa.core.channels.channel import InputChannel, OutputChannel, UserMessage
from sanic import Blueprint, response
from sanic.request import Request, RequestParameters
from sanic.response import HTTPResponse
from sqlalchemy import delete, func, select, update
from sqlalchemy.exc import IntegrityError

from bot import privacy
from bot.channels import sms
from bot.channels.guard import domain_responses, fallback_replies, never_silent
from bot.db import session_scope
from bot.models import ChannelContact, TwilioDelivery, TwilioInbound, TwilioMenu, TwilioOptOut
from bot.twilio_rest import TwilioSettings
from bot.twilio_rest import client as twilio_client

logger = logging.getLogger(__name__)

CHANNEL = "twilio"
WEBHOOK_PATH = "/webhooks/twilio/webhook"
STATUS_PATH = "/webhooks/twilio/status"
EMPTY_TWIML = '<?xml version="1.0" encoding="UTF-8"?><Response/>'
WHATSAPP_WINDOW = timedelta(hours=24)
MENU_TTL = timedelta(hours=4)  # the domain's session expiry: a "1" after that is just text
INBOUND_RETENTION = timedelta(days=7)  # Twilio retries within hours; older claims are pruned at start
RECOVER_AFTER = timedelta(minutes=2)  # a claimed message still unanswered after this was interrupted
RECOVER_WITHIN = timedelta(minutes=30)  # …and is answered at start-up if it is no older than this
FAILED_STATUSES = ("failed", "undelivered")
# Twilio error codes that mean "this number won't take messages from us": stop sending to it.
UNSUBSCRIBED_CODES = {21610}
_STATUS_RANK = {"sending": 0, "accepted": 1, "scheduled": 1, "queued": 1, "sent": 2, "delivered": 3,
                "undelivered": 3, "failed": 3, "not_sent": 3, "read": 4}
HELP_FOOTER = "Reply STOP to stop these texts."
STOP_CONFIRMATION = "You won't get any more messages from this service. Reply START to start again. In an emergency call 999."

# Since this process started (the database has the totals: failure_counts()).
COUNTS: Counter = Counter()


# --------------------------------------------------------------------------- settings

def _env_number(name: str, default: float) -> float:
    try:
        return float(os.environ.get(name) or default)
    except ValueError:
        logger.error("%s is not a number; using %s", name, default)
        return default


@dataclass(frozen=True)
class ChannelSettings:
    twilio: TwilioSettings
    public_base_url: Optional[str] = None  # the URL Twilio calls (scheme, host, any proxy prefix)
    whatsapp_template_sid: Optional[str] = None  # Content SID sent outside WhatsApp's 24-hour window
    send_attempts: int = 4
    backoff_seconds: float = 1.0  # first retry after about this long, doubling
    backoff_cap_seconds: float = 8.0
    http_timeout_seconds: float = 10.0

    @classmethod
    def from_env(cls) -> "ChannelSettings":
        return cls(twilio=TwilioSettings.from_env(),
                   public_base_url=(os.environ.get("PUBLIC_BASE_URL") or "").rstrip("/") or None,
                   whatsapp_template_sid=os.environ.get("TWILIO_WHATSAPP_TEMPLATE_SID") or None,
                   send_attempts=max(1, int(_env_number("TWILIO_SEND_ATTEMPTS", 4))),
                   backoff_seconds=_env_number("TWILIO_SEND_BACKOFF_SECONDS", 1.0),
                   backoff_cap_seconds=_env_number("TWILIO_SEND_BACKOFF_CAP_SECONDS", 8.0),
                   http_timeout_seconds=_env_number("TWILIO_HTTP_TIMEOUT_SECONDS", 10.0))

    @property
    def status_callback_url(self) -> Optional[str]:
        return f"{self.public_base_url}{STATUS_PATH}" if self.public_base_url else None

    def sender_for(self, kind: str) -> Optional[str]:
        if kind == "whatsapp":
            number = self.twilio.whatsapp_number
            return None if not number else (number if privacy.is_whatsapp(number) else f"whatsapp:{number}")
        return self.twilio.sms_number


def utcnow() -> datetime:
    return datetime.utcnow()


# --------------------------------------------------------------------------- storage (blocking)

def claim_inbound(message_sid: str, conversation_id: str, kind: str, address: str, body: str,
                  now: datetime, retry: bool = True) -> bool:
    """Record an inbound message and the number behind its conversation; False if it was seen before."""
    try:
        with session_scope() as session:
            session.add(TwilioInbound(message_sid=message_sid, conversation_id=conversation_id, kind=kind,
                                      received_at=now, status="received", body=body))
            session.flush()  # a retried webhook stops here, with IntegrityError
            contact = session.get(ChannelContact, conversation_id)
            if contact is None:
                session.add(ChannelContact(conversation_id=conversation_id, channel=CHANNEL, address=address,
                                           last_inbound_at=now))
            else:
                contact.channel, contact.address, contact.last_inbound_at = CHANNEL, address, now
        return True
    except IntegrityError:
        with session_scope() as session:
            if session.get(TwilioInbound, message_sid) is not None:
                return False
        if not retry:
            raise
        # Not this message: two first messages from one new number raced to add its contact. Once more.
        return claim_inbound(message_sid, conversation_id, kind, address, body, now, retry=False)


def finish_inbound(message_sid: str, status: str) -> None:
    with session_scope() as session:
        session.execute(update(TwilioInbound).where(TwilioInbound.message_sid == message_sid)
                        .values(status=status, body=None))


def is_opted_out(conversation_id: str) -> bool:
    with session_scope() as session:
        return session.get(TwilioOptOut, conversation_id) is not None


def opt_out(conversation_id: str, keyword: str, now: datetime) -> None:
    with session_scope() as session:
        if session.get(TwilioOptOut, conversation_id) is None:
            session.add(TwilioOptOut(conversation_id=conversation_id, keyword=keyword[:20], opted_out_at=now))
        session.execute(delete(TwilioMenu).where(TwilioMenu.conversation_id == conversation_id))


def opt_in(conversation_id: str) -> bool:
    with session_scope() as session:
        return session.execute(delete(TwilioOptOut).where(TwilioOptOut.conversation_id == conversation_id)
                               ).rowcount > 0


def pending_menu(conversation_id: str, now: datetime) -> list[sms.Option]:
    with session_scope() as session:
        menu = session.get(TwilioMenu, conversation_id)
        if menu is None or now - menu.sent_at > MENU_TTL:
            return []
        return [sms.Option.from_dict(o) for o in json.loads(menu.options_json)]


def save_menu(conversation_id: str, options: list[sms.Option], now: datetime) -> None:
    """The menu just sent replaces the last one; a turn without buttons leaves no menu pending."""
    with session_scope() as session:
        menu = session.get(TwilioMenu, conversation_id)
        if not options:
            if menu is not None:
                session.delete(menu)
            return
        options_json = json.dumps([o.as_dict() for o in options])
        if menu is None:
            session.add(TwilioMenu(conversation_id=conversation_id, options_json=options_json, sent_at=now))
        else:
            menu.options_json, menu.sent_at = options_json, now


def contact_of(conversation_id: str) -> Optional[tuple[str, datetime]]:
    with session_scope() as session:
        contact = session.get(ChannelContact, conversation_id)
        return (contact.address, contact.last_inbound_at) if contact else None


def log_delivery(**values: Any) -> int:
    now = utcnow()
    with session_scope() as session:
        row = TwilioDelivery(created_at=now, updated_at=now, **values)
        session.add(row)
        session.flush()
        return row.id


def update_delivery(delivery_id: int, **values: Any) -> None:
    with session_scope() as session:
        session.execute(update(TwilioDelivery).where(TwilioDelivery.id == delivery_id)
                        .values(updated_at=utcnow(), **values))


def record_status(message_sid: str, status: str, error_code: Optional[str]) -> Optional[dict[str, Any]]:
    """A status callback: update the text's row (never back to an earlier status). None if unknown."""
    with session_scope() as session:
        row = session.scalars(select(TwilioDelivery).where(TwilioDelivery.message_sid == message_sid)).first()
        if row is None:
            return None
        changed = _STATUS_RANK.get(status, 2) >= _STATUS_RANK.get(row.status, 0) and status != row.status
        if changed:
            row.status, row.updated_at = status, utcnow()
            if error_code:
                row.error_code = error_code
        return {"conversation_id": row.conversation_id, "crisis": row.crisis, "part": row.part,
                "changed": changed, "id": row.id}


def failure_counts(since: Optional[datetime] = None) -> dict[str, int]:
    """Texts that could not be delivered: all, and crisis replies (an incident each)."""
    with session_scope() as session:
        query = select(TwilioDelivery.crisis, func.count()).where(TwilioDelivery.status.in_(FAILED_STATUSES))
        if since is not None:
            query = query.where(TwilioDelivery.created_at >= since)
        rows = dict(session.execute(query.group_by(TwilioDelivery.crisis)).all())
    return {"failed": sum(rows.values()), "crisis_failed": rows.get(True, 0)}


def claim_interrupted(now: datetime) -> list[tuple[str, str, str, str]]:
    """Messages claimed but never answered (the process stopped mid-turn): claim them again to answer
    now if recent, give up on older ones (visibly). Prunes old claims. Returns (sid, conversation, kind, body)."""
    recovered = []
    with session_scope() as session:
        session.execute(delete(TwilioInbound).where(TwilioInbound.received_at < now - INBOUND_RETENTION))
        stuck = session.scalars(select(TwilioInbound).where(TwilioInbound.status == "received",
                                                            TwilioInbound.received_at < now - RECOVER_AFTER)).all()
        for row in stuck:
            claimed = session.execute(update(TwilioInbound).where(TwilioInbound.message_sid == row.message_sid,
                                                                  TwilioInbound.status == "received")
                                      .values(status="recovering")).rowcount
            if not claimed:
                continue  # another process took it
            if row.received_at >= now - RECOVER_WITHIN and row.body is not None:
                recovered.append((row.message_sid, row.conversation_id, row.kind, row.body))
            else:
                row.status, row.body = "failed", None
                logger.error("Message %s in conversation %s was never answered (the server stopped mid-turn)",
                             row.message_sid, privacy.ref(row.conversation_id))
    return recovered


# --------------------------------------------------------------------------- sending

class DeliveryFailed(Exception):
    def __init__(self, reason: str, status: Optional[int] = None, code: Optional[int] = None, attempts: int = 0):
        super().__init__(reason)
        self.reason, self.status, self.code, self.attempts = reason, status, code, attempts


class TwilioSender:
    """Creates messages with the real `twilio` client (bot/twilio_rest.py) in a worker thread, so the
    event loop never waits on Twilio; retries 429, 5xx and network errors with exponential backoff."""

    def __init__(self, settings: ChannelSettings, sleep: Callable[[float], Awaitable[Any]] = asyncio.sleep):
        self.settings = settings
        self.sleep = sleep
        self._local = threading.local()

    def _client(self):
        client = getattr(self._local, "client", None)
        if client is None:
            client = twilio_client(self.settings.twilio)
            client.http_client.timeout = self.settings.http_timeout_seconds
            self._local.client = client
        return client

    def _create(self, params: dict[str, Any]):
        return self._client().messages.create(**params)

    async def send(self, **params: Any) -> tuple[str, str, int]:
        """(MessageSid, Twilio's status, attempts) or DeliveryFailed. `params` as messages.create takes them."""
        from requests import RequestException
        from twilio.base.exceptions import TwilioRestException

        loop = asyncio.get_running_loop()
        params = {k: v for k, v in params.items() if v is not None}
        attempts = self.settings.send_attempts
        for attempt in range(1, attempts + 1):
            status = code = None
            try:
                message = await loop.run_in_executor(None, functools.partial(self._create, params))
                COUNTS["retries"] += attempt - 1
                return message.sid, message.status or "queued", attempt
            except TwilioRestException as exc:
                status, code = exc.status, exc.code
                retryable = status == 429 or status >= 500
                reason = f"HTTP {status}, Twilio error {code}: {privacy.redact(exc.msg)}"
            except RequestException as exc:  # connection refused, reset, timed out
                retryable = True
                reason = f"{type(exc).__name__}: {privacy.redact(exc)}"
            except Exception as exc:  # misconfiguration: no credentials, bad parameters
                retryable = False
                reason = f"{type(exc).__name__}: {privacy.redact(exc)}"
            if not retryable or attempt == attempts:
                raise DeliveryFailed(reason[:1000], status, code, attempt)
            delay = min(self.settings.backoff_cap_seconds, self.settings.backoff_seconds * 2 ** (attempt - 1))
            delay *= 0.5 + random.random() / 2  # jitter, so retries from many turns don't arrive together
            logger.warning("Twilio send attempt %s of %s failed (%s); retrying in %.1fs", attempt, attempts,
                           reason, delay)
            await self.sleep(delay)
        raise AssertionError("unreachable")


# --------------------------------------------------------------------------- output channels

class TurnCollector(OutputChannel):
    """Collects one turn's replies so they go out together; anything sent after the turn (a reminder)
    goes straight out through `late`."""

    def __init__(self, late: Optional[Callable[[str, list[dict]], Awaitable[None]]] = None) -> None:
        self.messages: list[dict[str, Any]] = []
        self.closed = False
        self.late = late

    @classmethod
    def name(cls) -> Text:
        return CHANNEL

    async def send_response(self, recipient_id: Text, message: Dict[Text, Any]) -> None:
        if self.closed and self.late is not None:
            await self.late(recipient_id, [dict(message)])
        else:
            self.messages.append(dict(message))

    async def send_text_message(self, recipient_id: Text, text: Text, **kwargs: Any) -> None:
        await self.send_response(recipient_id, {"text": text})


class TwilioOutput(OutputChannel):
    """For messages the assistant starts (Rasa's trigger_intent API with output_channel=twilio):
    the recipient is the conversation id; each message goes out as it comes."""

    def __init__(self, channel: "TwilioChannel") -> None:
        self.channel = channel

    @classmethod
    def name(cls) -> Text:
        return CHANNEL

    async def send_response(self, recipient_id: Text, message: Dict[Text, Any]) -> None:
        await self.channel.send_unprompted(recipient_id, [dict(message)])

    async def send_text_message(self, recipient_id: Text, text: Text, **kwargs: Any) -> None:
        await self.send_response(recipient_id, {"text": text})


# --------------------------------------------------------------------------- the channel

@dataclass(frozen=True)
class Inbound:
    message_sid: str
    address: str  # whatsapp:+44… or +44…
    to: str
    body: str
    kind: str  # sms | whatsapp
    conversation_id: str
    received_at: datetime


OnNewMessage = Callable[[UserMessage], Awaitable[Any]]


@functools.lru_cache(maxsize=1)
def _crisis_texts() -> frozenset[str]:
    responses = domain_responses()
    return frozenset(text for name, text in responses.items()
                     if name.startswith("utter_crisis_") or name == "utter_urgent_help")


def is_crisis_reply(message: dict[str, Any]) -> bool:
    action = str(message.get("utter_action") or "")
    return (action.startswith("utter_crisis_") or action == "utter_urgent_help"
            or (message.get("text") or "") in _crisis_texts())


def help_messages() -> list[dict[str, Any]]:
    """HELP/INFO: what this service is and where to get help now, from the domain's own words."""
    responses = domain_responses()
    return [{"text": responses["utter_greet"]}, {"text": responses["utter_urgent_help"]}, {"text": HELP_FOOTER}]


class TwilioChannel(InputChannel):
    """SMS and WhatsApp through Twilio (see the module docstring). credentials.yml:

        bot.channels.twilio.TwilioChannel:

    Everything else comes from the environment (docs/twilio.md).
    """

    @classmethod
    def name(cls) -> Text:
        return CHANNEL

    @classmethod
    def from_credentials(cls, credentials: Optional[Dict[Text, Any]]) -> "TwilioChannel":
        return cls(ChannelSettings.from_env())

    def __init__(self, settings: Optional[ChannelSettings] = None, sender: Optional[TwilioSender] = None) -> None:
        self.settings = settings or ChannelSettings.from_env()
        self.sender = sender or TwilioSender(self.settings)
        self._locks: dict[str, asyncio.Lock] = {}
        self._lock_users: Counter = Counter()
        self._tasks: set[asyncio.Task] = set()
        self._guarded: Optional[OnNewMessage] = None
        privacy.install_log_redaction()
        if not self.settings.twilio.configured:
            logger.warning("Twilio is not configured (TWILIO_ACCOUNT_SID, TWILIO_AUTH_TOKEN): the SMS/WhatsApp "
                           "webhook refuses every request (403)")
            return
        privacy.secret()  # warns now, not on the first message, when CONVERSATION_ID_SECRET is unset
        if not self.settings.public_base_url:
            logger.warning("PUBLIC_BASE_URL is not set: signatures are checked against the URL as received "
                           "(wrong behind a proxy) and no delivery status callbacks are requested")
        for kind in ("sms", "whatsapp"):
            if not self.settings.sender_for(kind):
                logger.warning("TWILIO_%s_NUMBER is not set: %s replies come from the number the person wrote to",
                               kind.upper(), kind.upper() if kind == "sms" else "WhatsApp")

    # --- Rasa ---------------------------------------------------------------------------
    def get_output_channel(self) -> OutputChannel:
        return TwilioOutput(self)

    def blueprint(self, on_new_message: OnNewMessage) -> Blueprint:
        self._guarded = never_silent(on_new_message)
        blueprint = Blueprint("twilio_sms_whatsapp", __name__)

        @blueprint.route("/", methods=["GET"])
        async def health(_: Request) -> HTTPResponse:
            return response.json(await self.health())

        @blueprint.route("/webhook", methods=["POST"])
        async def webhook(request: Request) -> HTTPResponse:
            status, body, content_type = await self.receive(self._public_url(request), _form(request),
                                                            request.headers.get("X-Twilio-Signature"))
            return response.text(body, status=status, content_type=content_type)

        @blueprint.route("/status", methods=["POST"])
        async def status_callback(request: Request) -> HTTPResponse:
            status, body, content_type = await self.receive_status(
                self._public_url(request), _form(request), request.headers.get("X-Twilio-Signature"))
            return response.text(body, status=status, content_type=content_type)

        @blueprint.listener("after_server_start")
        async def start(app, loop) -> None:
            from bot.crisis import detect
            await asyncio.to_thread(detect, "warm up")  # builds the lexicon now, not on someone's message
            self.spawn(self.recover())
            if self.settings.twilio.configured:
                logger.info("Twilio channel ready: webhooks are checked against %s",
                            self.settings.public_base_url or "the URL as received")

        return blueprint

    async def health(self) -> dict[str, Any]:
        """Texts not delivered, ever (failed, crisis_failed: from the delivery log) and since this start."""
        counts = await self._db(failure_counts, default={"failed": None, "crisis_failed": None},
                                what="count failed deliveries")
        return {"status": "ok", "configured": self.settings.twilio.configured, **counts,
                "since_start": dict(COUNTS)}

    def _public_url(self, request: Request) -> str:
        if not self.settings.public_base_url:
            return request.url
        query = f"?{request.query_string}" if request.query_string else ""
        return f"{self.settings.public_base_url}{request.path}{query}"

    # --- inbound ------------------------------------------------------------------------
    def authentic(self, url: str, params: RequestParameters, signature: Optional[str]) -> bool:
        from twilio.request_validator import RequestValidator
        token = self.settings.twilio.auth_token
        if not token or not signature:
            return False
        try:
            return RequestValidator(token).validate(url, params, signature)
        except Exception:
            logger.exception("Checking a Twilio signature failed")
            return False

    async def receive(self, url: str, params: RequestParameters, signature: Optional[str]) -> tuple[int, str, str]:
        """Webhook → (HTTP status, body, content type). Returns at once; the turn runs as a task."""
        if not self.authentic(url, params, signature):
            COUNTS["refused"] += 1
            logger.warning("Refused a Twilio webhook with a %s signature (403)", "wrong" if signature else "missing")
            return 403, "Forbidden", "text/plain"
        sid, sender = params.get("MessageSid") or params.get("SmsSid"), params.get("From")
        if not sid or not sender:
            return 400, "MessageSid and From are required", "text/plain"
        address = privacy.normalise_address(sender)
        inbound = Inbound(message_sid=sid, address=address, to=privacy.normalise_address(params.get("To") or ""),
                          body=params.get("Body") or "", kind="whatsapp" if privacy.is_whatsapp(address) else "sms",
                          conversation_id=privacy.conversation_id(address), received_at=utcnow())
        fresh = await self._db(claim_inbound, sid, inbound.conversation_id, inbound.kind, address, inbound.body[:4000],
                               inbound.received_at, default=True, what="record an inbound message")
        if not fresh:
            COUNTS["duplicates"] += 1
            logger.info("Twilio retried message %s; it is already being answered", sid)
        else:
            self.spawn(self.handle(inbound))
        return 200, EMPTY_TWIML, "text/xml"

    def spawn(self, coroutine: Awaitable[Any]) -> asyncio.Task:
        task = asyncio.ensure_future(coroutine)
        self._tasks.add(task)
        task.add_done_callback(self._task_done)
        return task

    def _task_done(self, task: asyncio.Task) -> None:
        self._tasks.discard(task)
        if not task.cancelled() and task.exception() is not None:
            logger.error("A Twilio turn failed", exc_info=task.exception())

    async def drain(self, timeout: float = 60) -> None:
        """Wait (at most `timeout` seconds) for the turns in progress, and those they start."""
        deadline = asyncio.get_running_loop().time() + timeout
        while self._tasks:
            remaining = deadline - asyncio.get_running_loop().time()
            if remaining <= 0:
                break
            await asyncio.wait(set(self._tasks), timeout=remaining)

    async def handle(self, inbound: Inbound) -> None:
        """One turn, one at a time per conversation, so replies go out in the order messages came in."""
        conversation = inbound.conversation_id
        lock = self._locks.setdefault(conversation, asyncio.Lock())
        self._lock_users[conversation] += 1
        try:
            async with lock:
                status = await self._turn(inbound)
        except Exception:
            status = "failed"
            logger.exception("Handling Twilio message %s failed", inbound.message_sid)
        finally:
            self._lock_users[conversation] -= 1
            if self._lock_users[conversation] <= 0:
                del self._lock_users[conversation]
                self._locks.pop(conversation, None)
        await self._db(finish_inbound, inbound.message_sid, status, what="mark a message answered")

    async def _turn(self, inbound: Inbound) -> str:
        from bot.crisis import detect

        conversation, ref = inbound.conversation_id, privacy.ref(inbound.conversation_id)
        now = utcnow()
        opted_out = await self._db(is_opted_out, conversation, default=False, what="check an opt-out")
        word = sms.keyword(inbound.body)
        text: Optional[str] = inbound.body

        if word == "opt_out":
            await self._db(opt_out, conversation, inbound.body.strip().upper(), now, what="record an opt-out")
            logger.info("Conversation %s (%s) opted out: nothing more is sent until START", ref, inbound.kind)
            if inbound.kind != "whatsapp":
                return "suppressed"  # Twilio has blocked the number and told the person; a reply would bounce
            # Twilio's opt-out handling is for SMS: on WhatsApp no one else confirms it, so we do, once.
            ok = await self.send_turn(conversation, inbound.kind, inbound.address, [{"text": STOP_CONFIRMATION}],
                                      in_reply_to=inbound.message_sid, crisis=False, to=inbound.to)
            return "answered" if ok else "failed"
        if word == "opt_in" and (opted_out or inbound.body.strip().upper().rstrip(".!") != "YES"):
            if await self._db(opt_in, conversation, default=False, what="record an opt-in"):
                logger.info("Conversation %s (%s) opted back in", ref, inbound.kind)
            opted_out = False
            text = "/greet"
        elif word == "help" and not opted_out:
            await self._db(save_menu, conversation, [], now, what="clear the menu")
            ok = await self.send_turn(inbound.conversation_id, inbound.kind, inbound.address, help_messages(),
                                      in_reply_to=inbound.message_sid, crisis=False, to=inbound.to)
            return "answered" if ok else "failed"

        crisis = text != "/greet" and detect(text or "") is not None
        if text != "/greet" and not crisis:
            menu = await self._db(pending_menu, conversation, now, default=[], what="read the pending menu")
            option = sms.match_reply(text or "", menu)
            if option is not None:
                text = option.payload

        collector = TurnCollector(late=self.send_unprompted)
        message = UserMessage(text, collector, conversation, input_channel=CHANNEL, message_id=inbound.message_sid,
                              metadata={"twilio": {"kind": inbound.kind, "message_sid": inbound.message_sid}})
        assert self._guarded is not None, "blueprint() sets the Rasa handler"
        await self._guarded(message)
        collector.closed = True
        crisis = crisis or any(is_crisis_reply(m) for m in collector.messages)
        replies = collector.messages
        if not sms.compose(replies).texts:  # e.g. only a custom payload, which SMS doesn't carry: never silent
            logger.error("The reply to conversation %s had nothing a phone can show; sending the fallback", ref)
            replies = [{"text": t} for t in fallback_replies(inbound.body)]

        if opted_out:
            (logger.warning if crisis else logger.info)(
                "Conversation %s has opted out: %s repl%s not sent%s", ref, len(collector.messages),
                "y" if len(collector.messages) == 1 else "ies",
                " (a crisis message: the event broker records it and alerts the clinical team; this number asked "
                "for no texts)" if crisis else "")
            await self._db(save_menu, conversation, [], now, what="clear the menu")
            return "suppressed"
        ok = await self.send_turn(conversation, inbound.kind, inbound.address, replies,
                                  in_reply_to=inbound.message_sid, crisis=crisis, to=inbound.to)
        return "answered" if ok else "failed"

    async def recover(self) -> None:
        """At start-up: answer messages a stopped server had claimed but not answered."""
        recovered = await self._db(claim_interrupted, utcnow(), default=[], what="recover interrupted messages")
        for sid, conversation, kind, body in recovered:
            contact = await self._db(contact_of, conversation, what="find a number")
            if contact is None:
                continue
            logger.warning("Answering message %s in conversation %s, interrupted by a restart", sid,
                           privacy.ref(conversation))
            self.spawn(self.handle(Inbound(message_sid=sid, address=contact[0], to="", body=body, kind=kind,
                                           conversation_id=conversation, received_at=contact[1])))

    # --- outbound -----------------------------------------------------------------------
    async def send_turn(self, conversation: str, kind: str, address: str, messages: Iterable[dict[str, Any]],
                        in_reply_to: Optional[str], crisis: bool, to: str = "",
                        template_sid: Optional[str] = None) -> bool:
        """Compose a turn's replies into at most three texts and send them in order. True if all were accepted."""
        ref = privacy.ref(conversation)
        turn = sms.compose(list(messages), whatsapp=kind == "whatsapp")
        if turn.truncated:
            logger.warning("A reply to conversation %s was longer than %s texts; the end was dropped", ref,
                           sms.MAX_TEXTS_PER_TURN)
        await self._db(save_menu, conversation, [] if template_sid else turn.options, utcnow(), what="save the menu")
        texts: list[Optional[str]] = [None] if template_sid else list(turn.texts)
        sender = self.settings.sender_for(kind) or to or None
        ok = True
        for part, body in enumerate(texts, 1):
            segments = sms.segments(body) if body else None
            delivery_id = await self._db(
                log_delivery, conversation_id=conversation, in_reply_to=in_reply_to, kind=kind, part=part,
                parts=len(texts), crisis=crisis, encoding=segments.encoding if segments else None,
                segments=segments.count if segments else None, chars=len(body) if body else None,
                template_sid=template_sid, status="sending", what="log a delivery")
            try:
                if not sender:
                    raise DeliveryFailed(f"no number to send {kind} from: set TWILIO_"
                                         f"{'WHATSAPP' if kind == 'whatsapp' else 'SMS'}_NUMBER")
                if not self.settings.twilio.configured:
                    raise DeliveryFailed("Twilio is not configured: set TWILIO_ACCOUNT_SID and TWILIO_AUTH_TOKEN")
                sid, status, attempts = await self.sender.send(
                    to=address, from_=sender, body=body, content_sid=template_sid,
                    status_callback=self.settings.status_callback_url)
            except DeliveryFailed as failure:
                ok = False
                await self._failed(conversation, kind, crisis, part, len(texts), failure, delivery_id)
                continue
            COUNTS["sent"] += 1
            if delivery_id is not None:
                await self._db(update_delivery, delivery_id, message_sid=sid, status=status, attempts=attempts,
                               what="log a delivery")
        return ok

    async def _failed(self, conversation: str, kind: str, crisis: bool, part: int, parts: int,
                      failure: DeliveryFailed, delivery_id: Optional[int]) -> None:
        COUNTS["failed"] += 1
        if crisis:
            COUNTS["crisis_failed"] += 1
        (logger.critical if crisis else logger.error)(
            "%s %s text %s of %s to conversation %s could not be sent after %s attempt(s): %s",
            "CRISIS REPLY NOT DELIVERED:" if crisis else "Reply not delivered:", kind.upper(), part, parts,
            privacy.ref(conversation), failure.attempts, failure.reason)
        if delivery_id is not None:
            await self._db(update_delivery, delivery_id, status="failed", attempts=failure.attempts,
                           error_code=str(failure.code) if failure.code else None, last_error=failure.reason,
                           what="log a failed delivery")
        if failure.code in UNSUBSCRIBED_CODES:  # Twilio says this number opted out: agree with it
            await self._db(opt_out, conversation, f"twilio-{failure.code}", utcnow(), what="record an opt-out")

    async def send_unprompted(self, conversation: str, messages: list[dict[str, Any]]) -> bool:
        """A message the person didn't just ask for: checks opt-out and WhatsApp's 24-hour window first."""
        ref = privacy.ref(conversation)
        contact = await self._db(contact_of, conversation, what="find a number")
        if contact is None:
            logger.error("No number is known for conversation %s: message not sent", ref)
            return False
        address, last_inbound = contact
        kind = "whatsapp" if privacy.is_whatsapp(address) else "sms"
        crisis = any(is_crisis_reply(m) for m in messages)
        if await self._db(is_opted_out, conversation, default=False, what="check an opt-out"):
            logger.info("Conversation %s has opted out: message not sent", ref)
            await self._not_sent(conversation, kind, crisis, "opted out")
            return False
        template = None
        if kind == "whatsapp" and utcnow() - last_inbound > WHATSAPP_WINDOW:
            template = self.settings.whatsapp_template_sid
            if not template:
                (logger.critical if crisis else logger.error)(
                    "WhatsApp message to conversation %s not sent: it is outside the 24-hour window and "
                    "TWILIO_WHATSAPP_TEMPLATE_SID is not set", ref)
                await self._not_sent(conversation, kind, crisis, "outside the WhatsApp 24-hour window, no template")
                return False
            logger.info("Conversation %s is outside the WhatsApp 24-hour window: sending the template", ref)
        return await self.send_turn(conversation, kind, address, messages, in_reply_to=None, crisis=crisis,
                                    template_sid=template)

    async def _not_sent(self, conversation: str, kind: str, crisis: bool, reason: str) -> None:
        COUNTS["not_sent"] += 1
        await self._db(log_delivery, conversation_id=conversation, in_reply_to=None, kind=kind, part=1, parts=1,
                       crisis=crisis, status="not_sent", last_error=reason, what="log a delivery")

    # --- status callbacks ---------------------------------------------------------------
    async def receive_status(self, url: str, params: RequestParameters,
                             signature: Optional[str]) -> tuple[int, str, str]:
        if not self.authentic(url, params, signature):
            COUNTS["refused"] += 1
            logger.warning("Refused a Twilio status callback with a %s signature (403)",
                           "wrong" if signature else "missing")
            return 403, "Forbidden", "text/plain"
        sid = params.get("MessageSid") or params.get("SmsSid")
        status = (params.get("MessageStatus") or params.get("SmsStatus") or "").lower()
        if not sid or not status:
            return 400, "MessageSid and MessageStatus are required", "text/plain"
        error_code = params.get("ErrorCode") or None
        row = await self._db(record_status, sid, status, error_code, what="record a delivery status")
        if row and row["changed"] and status in FAILED_STATUSES:
            COUNTS["failed"] += 1
            if row["crisis"]:
                COUNTS["crisis_failed"] += 1
            (logger.critical if row["crisis"] else logger.error)(
                "%s text %s to conversation %s was %s by the network (Twilio error %s)",
                "CRISIS REPLY NOT DELIVERED:" if row["crisis"] else "Reply not delivered:", row["part"],
                privacy.ref(row["conversation_id"]), status, error_code or "none")
            if error_code and error_code.isdigit() and int(error_code) in UNSUBSCRIBED_CODES:
                await self._db(opt_out, row["conversation_id"], f"twilio-{error_code}", utcnow(),
                               what="record an opt-out")
        return 204, "", "text/plain"

    # --- helpers ------------------------------------------------------------------------
    async def _db(self, function: Callable[..., Any], *args: Any, default: Any = None, what: str = "",
                  **kwargs: Any) -> Any:
        """Run a blocking database call in a worker thread. A database failure is logged, never fatal:
        the person still gets an answer (perhaps twice, if Twilio retries while the database is down)."""
        try:
            return await asyncio.to_thread(function, *args, **kwargs)
        except Exception as exc:
            COUNTS["database_errors"] += 1
            logger.error("Twilio channel could not %s: %s", what or function.__name__,
                         privacy.redact(f"{type(exc).__name__}: {exc}")[:500])
            return default


def _form(request: Request) -> RequestParameters:
    """The form as Twilio signed it: Sanic's `request.form` drops empty values, Twilio signs them."""
    try:
        body = request.body.decode("utf-8")
    except UnicodeDecodeError:
        body = ""
    return RequestParameters(parse_qs(body, keep_blank_values=True))


# --------------------------------------------------------------------------- report

def main(argv: Optional[List[str]] = None) -> int:
    import argparse

    parser = argparse.ArgumentParser(prog="python -m bot.channels.twilio", description=(
        "The Twilio channel's delivery log (DATABASE_URL). A failed crisis reply is an incident: "
        "someone in crisis may not have received the emergency numbers."))
    parser.add_argument("command", choices=["report"])
    parser.add_argument("--days", type=float, default=7, help="how far back to look (default 7)")
    args = parser.parse_args(argv)
    since = utcnow() - timedelta(days=args.days)
    with session_scope() as session:
        by_status = session.execute(select(TwilioDelivery.kind, TwilioDelivery.status, func.count())
                                    .where(TwilioDelivery.created_at >= since)
                                    .group_by(TwilioDelivery.kind, TwilioDelivery.status)).all()
        crisis_failures = session.scalars(select(TwilioDelivery).where(
            TwilioDelivery.crisis.is_(True), TwilioDelivery.status.in_(FAILED_STATUSES + ("not_sent",)),
            TwilioDelivery.created_at >= since).order_by(TwilioDelivery.id)).all()
        print(f"Texts in the last {args.days:g} days, by channel and status:")
        for kind, status, count in sorted(by_status):
            print(f"  {kind}\t{status}\t{count}")
        counts = failure_counts(since)
        print(f"Not delivered: {counts['failed']}, of which crisis replies: {counts['crisis_failed']}")
        for row in crisis_failures:
            print(f"  INCIDENT {row.created_at:%Y-%m-%d %H:%M} UTC  conversation {privacy.ref(row.conversation_id)}"
                  f"  {row.kind} text {row.part}/{row.parts}  {row.status}  {row.error_code or ''} "
                  f"{row.last_error or ''}".rstrip())
    return 1 if crisis_failures else 0


if __name__ == "__main__":
    sys.exit(main())
