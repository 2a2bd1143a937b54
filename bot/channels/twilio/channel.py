"""The Twilio input channel (webhooks, turns, keywords, menus) and its output channels."""
from __future__ import annotations

import asyncio
import functools
import logging
from collections import Counter
from dataclasses import dataclass
from datetime import datetime
from typing import Any, Awaitable, Callable, Dict, Iterable, Optional, Text
from urllib.parse import parse_qs

from rasa.core.channels.channel import InputChannel, OutputChannel, UserMessage
from sanic import Blueprint, response
from sanic.exceptions import PayloadTooLarge
from sanic.request import Request, RequestParameters
from sanic.response import HTTPResponse

from bot import config, privacy
from bot.channels import sms
from bot.channels.guard import PRIVACY_MARK, domain_responses, domain_variations, fallback_replies, never_silent
from bot.channels.limits import Limits, cap_request_bodies, prepare_process, read_capped, refusal
from bot.channels.twilio.sender import DeliveryFailed, TwilioSender
from bot.privacy import erasure
from bot.channels.twilio.settings import (CHANNEL, COUNTS, EMPTY_TWIML, FAILED_STATUSES, HELP_FOOTER,
                                          STOP_CONFIRMATION, UNSUBSCRIBED_CODES, WHATSAPP_WINDOW, ChannelSettings,
                                          utcnow)
from bot.channels.twilio.store import (claim_inbound, claim_interrupted, contact_of, failure_counts, finish_inbound,
                                       is_opted_out, log_delivery, opt_in, opt_out, pending_menu, record_status,
                                       save_menu, update_delivery)
from bot.rasa_speed import close_shared_sessions

logger = logging.getLogger(__name__)


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
    """Every wording of every crisis reply, in every language."""
    return frozenset(variant["text"] for name, variants in domain_variations().items()
                     if name.startswith("utter_crisis_") or name == "utter_urgent_help"
                     for variant in variants if "text" in variant)


def is_crisis_reply(message: dict[str, Any]) -> bool:
    action = str(message.get("utter_action") or "")
    return (action.startswith("utter_crisis_") or action == "utter_urgent_help"
            or (message.get("text") or "") in _crisis_texts())


def operator_authorised(request: Request) -> bool:
    """A request carrying Rasa's API token (Authorization: Bearer …), as an operator's tools send it."""
    import hmac
    presented = (request.headers.get("authorization") or "").removeprefix("Bearer ").strip()
    return bool(presented) and hmac.compare_digest(presented, config.secret("rasa-auth-token"))


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
        self._erased: set[str] = set()  # conversations erased in the turn now being sent
        self._lock_users: Counter = Counter()
        self._tasks: set[asyncio.Task] = set()
        self._guarded: Optional[OnNewMessage] = None
        self.process_settings = prepare_process()
        self.limits = Limits.from_settings(self.process_settings)
        if not self.settings.twilio.configured:
            logger.warning("Twilio is not configured (TWILIO_ACCOUNT_SID, TWILIO_AUTH_TOKEN): the SMS/WhatsApp "
                           "webhook refuses every request (403)")
            return
        privacy.secret()  # fails now, not on the first message, if CONVERSATION_ID_SECRET is unusable
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
        cap_request_bodies(blueprint, self.process_settings)
        blueprint.listener("after_server_stop")(close_shared_sessions)  # bot/rasa_speed.py's pooled client
        cap = self.process_settings.max_message_body_bytes

        @blueprint.route("/", methods=["GET"])
        async def health(request: Request) -> HTTPResponse:
            # Failure counts are for operators (Rasa's API token as a bearer token); anyone else: up or not.
            if operator_authorised(request):
                return response.json(await self.health())
            return response.json({"status": "ok"})

        @blueprint.route("/webhook", methods=["POST"], stream=True)
        async def webhook(request: Request) -> HTTPResponse:
            try:
                await read_capped(request, cap)  # before the body is parsed or the signature checked
            except PayloadTooLarge:
                COUNTS["too_large"] += 1
                return response.text("Payload Too Large", status=413)
            status, body, content_type = await self.receive(self._public_url(request), _form(request),
                                                            request.headers.get("X-Twilio-Signature"))
            return response.text(body, status=status, content_type=content_type)

        @blueprint.route("/status", methods=["POST"], stream=True)
        async def status_callback(request: Request) -> HTTPResponse:
            try:
                await read_capped(request, cap)
            except PayloadTooLarge:
                return response.text("Payload Too Large", status=413)
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
        if conversation in self._erased:  # the confirmation went out: what sending it wrote goes too
            self._erased.discard(conversation)
            await self._db(erasure.erase_traces, conversation, what="finish an erasure")

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
        if text != "/greet" and not self.limits.admit(conversation):
            replies, crisis = await asyncio.to_thread(refusal, text, conversation, CHANNEL)
            if opted_out and not (crisis and inbound.kind == "whatsapp"):
                return "suppressed"
            ok = await self.send_turn(conversation, inbound.kind, inbound.address, [{"text": t} for t in replies],
                                      in_reply_to=inbound.message_sid, crisis=crisis, to=inbound.to)
            return "answered" if ok else "failed"
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
        if (message.metadata or {}).get("privacy_erased"):
            self._erased.add(conversation)
        crisis = crisis or any(is_crisis_reply(m) for m in collector.messages)
        replies = collector.messages
        own = [m for m in replies if not m.get(PRIVACY_MARK)]
        if own and not sms.compose(own).texts:  # e.g. only a custom payload, which SMS doesn't carry: never silent
            logger.error("The reply to conversation %s had nothing a phone can show; sending the fallback", ref)
            replies = [{"text": t} for t in fallback_replies(inbound.body)] + \
                [m for m in replies if m.get(PRIVACY_MARK)]

        if opted_out and crisis and inbound.kind == "whatsapp":
            # Twilio blocks SMS after STOP but not WhatsApp replies inside the window: a crisis is answered.
            logger.warning("Conversation %s has opted out, but wrote a crisis message on WhatsApp: answering it", ref)
            replies = [m for m in replies if is_crisis_reply(m)] or replies
        elif opted_out:
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

