"""The REST and socket.io channels: guarded so no message goes unanswered, and closed by default.

REST (`POST /webhooks/rest/webhook`) is for trusted integrations and tests: the conversation id is
exactly the sender id the client sends, except that ids reserved for other channels (`twilio:`, `web:`)
are refused, and `input_channel` is always `rest` (a client can't pass for SMS). socket.io is the
website widget's: the server issues each conversation a signed `web:` id, only the configured
WEBCHAT_ORIGINS may connect, and every message must carry the id its connection was confirmed with.
Both cap body size and rate (bot/channels/limits.py); a refused message that is a crisis still gets
the crisis answer and is recorded.
"""
from __future__ import annotations

import asyncio
import json
import logging
import secrets
from collections import OrderedDict
from typing import Any, Dict, Optional, Text

from rasa.core.channels.channel import CollectingOutputChannel, InputChannel, UserMessage
from rasa.core.channels.socketio import SocketBlueprint, SocketIOInput, SocketIOOutput
from sanic import Blueprint, response
from sanic.exceptions import PayloadTooLarge
from sanic.request import Request
from sanic.response import HTTPResponse

from bot import helplines, privacy
from bot.channels.guard import never_silent
from bot.channels.limits import (TOO_LARGE_TEXT, Limits, cap_request_bodies, client_address, prepare_process,
                                 read_capped, refusal)
from bot.rasa_speed import close_shared_sessions

logger = logging.getLogger(__name__)

INVALID_SESSION_TEXT = ("This chat has expired or isn't valid any more. Please reload the page to start again. "
                        + helplines.HELP_NOW)


def _bot_messages(recipient: str, texts: list[str]) -> list[dict[str, str]]:
    return [{"recipient_id": recipient, "text": text} for text in texts]


class GuardedRestInput(InputChannel):
    """POST /webhooks/rest/webhook with Rasa's REST request and reply format."""

    @classmethod
    def name(cls) -> Text:
        return "rest"

    def __init__(self) -> None:
        self.settings = prepare_process()
        self.limits = Limits.from_settings(self.settings)

    def blueprint(self, on_new_message) -> Blueprint:
        guarded = never_silent(on_new_message)
        webhook = Blueprint("guarded_rest_webhook", __name__)
        cap_request_bodies(webhook, self.settings)
        webhook.listener("after_server_stop")(close_shared_sessions)  # bot/rasa_speed.py's pooled client

        @webhook.route("/", methods=["GET"])
        async def health(_: Request) -> HTTPResponse:
            return response.json({"status": "ok"})

        @webhook.route("/webhook", methods=["POST"], stream=True)
        async def receive(request: Request) -> HTTPResponse:
            try:
                payload = json.loads(await read_capped(request, self.settings.max_message_body_bytes))
            except PayloadTooLarge:
                return response.json(_bot_messages("", [TOO_LARGE_TEXT]), status=413)
            except (ValueError, UnicodeDecodeError):
                return response.json({"error": "the body must be JSON: {\"sender\": \"…\", \"message\": \"…\"}"},
                                     status=400)
            if not isinstance(payload, dict):
                return response.json({"error": "the body must be a JSON object"}, status=400)
            sender, text, metadata = payload.get("sender"), payload.get("message"), payload.get("metadata")
            if not isinstance(sender, str) or not sender.strip() or len(sender) > 200:
                return response.json({"error": "'sender' must be a non-empty string of at most 200 characters"},
                                     status=400)
            if text is not None and not isinstance(text, str):
                return response.json({"error": "'message' must be a string"}, status=400)
            if metadata is not None and not isinstance(metadata, dict):
                return response.json({"error": "'metadata' must be an object"}, status=400)
            if privacy.claims_reserved_prefix(sender):
                logger.warning("Refused a REST message claiming another channel's conversation id")
                replies, crisis = await asyncio.to_thread(refusal, text, "rest:refused-id", self.name())
                body = _bot_messages(sender, replies) if crisis else {
                    "error": "sender ids starting 'twilio:' or 'web:' belong to other channels"}
                return response.json(body, status=403)
            client = client_address(request.ip, request.headers.get("x-forwarded-for"),
                                    self.settings.trusted_proxies)
            if not self.limits.admit(sender, client):
                replies, crisis = await asyncio.to_thread(refusal, text, sender, self.name())
                return response.json(_bot_messages(sender, replies), status=200 if crisis else 429,
                                     headers={"Retry-After": "60"})
            collector = CollectingOutputChannel()
            await guarded(UserMessage(text, collector, sender, input_channel=self.name(), metadata=metadata))
            return response.json(collector.messages)

        return webhook


class ReplyLog:
    """The last replies to each web conversation, numbered, so a widget that reconnects after a dropped
    connection is sent what it missed (socket.io drops what is emitted to a room nobody is in). Numbers
    restart with the process; `epoch` tells the widget so. In memory: with several Rasa processes, the
    proxy keeps a conversation on one (sticky sessions, which socket.io's polling needs anyway)."""

    def __init__(self, per_conversation: int = 50, conversations: int = 10_000) -> None:
        self.epoch = secrets.token_hex(4)
        self.per_conversation, self.conversations = per_conversation, conversations
        self._replies: "OrderedDict[str, list[dict]]" = OrderedDict()
        self._next: dict[str, int] = {}

    def add(self, conversation: str, event: dict) -> dict:
        seq = self._next.get(conversation, 0) + 1
        self._next[conversation] = seq
        event = {**event, "seq": seq, "epoch": self.epoch}
        replies = self._replies.pop(conversation, [])
        replies.append(event)
        self._replies[conversation] = replies[-self.per_conversation:]
        while len(self._replies) > self.conversations:
            oldest, _ = self._replies.popitem(last=False)
            self._next.pop(oldest, None)
        return event

    def since(self, conversation: str, seq: object, epoch: object) -> list[dict]:
        if epoch != self.epoch or not isinstance(seq, int):
            seq = 0
        return [e for e in self._replies.get(conversation, []) if e["seq"] > seq]

    def forget(self, conversation: str) -> None:
        """After an erasure: the words of the replies go too (the numbering carries on)."""
        self._replies.pop(conversation, None)


class WidgetOutput(SocketIOOutput):
    """One socket.io event per reply, with everything the widget needs together: the text (paragraphs kept,
    not split into bubbles), quick replies, and the custom payload (service cards, the crisis marker),
    numbered by the ReplyLog. Rasa's own output splits text on blank lines and passes custom JSON to
    `emit` as keyword arguments, which fails for a payload such as `{"services": [...]}`."""

    def __init__(self, sio, bot_message_evt: Text, replies: ReplyLog) -> None:
        super().__init__(sio, bot_message_evt)
        self.replies = replies

    async def _send_message(self, socket_id: Text, response: Any) -> None:
        await self.sio.emit(self.bot_message_evt, self.replies.add(socket_id, response), room=socket_id)

    async def send_response(self, recipient_id: Text, message: Dict[Text, Any]) -> None:
        event: Dict[Text, Any] = {}
        if message.get("text"):
            event["text"] = message["text"]
        buttons = message.get("quick_replies") or message.get("buttons") or []
        if buttons:
            event["quick_replies"] = [{"title": b.get("title"), "payload": b.get("payload")} for b in buttons
                                      if isinstance(b, dict) and b.get("title") and b.get("payload")]
        for key in ("custom", "image", "attachment"):
            if message.get(key):
                event[key] = message[key]
        if event:
            await self._send_message(recipient_id, event)

    async def send_text_message(self, recipient_id: Text, text: Text, **kwargs: Any) -> None:
        await self._send_message(recipient_id, {"text": text})

    async def send_custom_json(self, recipient_id: Text, json_message: Dict[Text, Any], **kwargs: Any) -> None:
        await self._send_message(recipient_id, {"custom": json_message})


class SeenMessages:
    """The last few client message ids per conversation: a message the widget resends after a dropped
    connection (it can't know whether the first try arrived) is answered once."""

    def __init__(self, per_conversation: int = 50, conversations: int = 10_000) -> None:
        self.per_conversation, self.conversations = per_conversation, conversations
        self._seen: "OrderedDict[str, list[str]]" = OrderedDict()

    def first_time(self, conversation: str, message_id: object) -> bool:
        if not isinstance(message_id, str) or not message_id or len(message_id) > 100:
            return True  # no id: nothing to compare, so it is new
        ids = self._seen.pop(conversation, [])
        self._seen[conversation] = ids
        if message_id in ids:
            return False
        ids.append(message_id)
        del ids[:-self.per_conversation]
        while len(self._seen) > self.conversations:
            self._seen.popitem(last=False)
        return True


class GuardedSocketIOInput(SocketIOInput):
    """The website widget's socket.io channel: Rasa's events and payloads, with signed server-issued ids."""

    @classmethod
    def name(cls) -> Text:
        return "socketio"

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self.settings = prepare_process()
        self.limits = Limits.from_settings(self.settings)
        self.seen = SeenMessages()
        self.replies = ReplyLog()

    def blueprint(self, on_new_message) -> Blueprint:
        from socketio import AsyncServer

        guarded = never_silent(on_new_message)
        # Rasa passes cors_allowed_origins=[], which turns engine.io's origin check off: name the origins.
        sio = AsyncServer(async_mode="sanic", cors_allowed_origins=list(self.settings.webchat_origins),
                          max_http_buffer_size=self.settings.max_message_body_bytes)
        socket_blueprint = SocketBlueprint(sio, self.socketio_path, "guarded_socketio_webhook", __name__)
        cap_request_bodies(socket_blueprint, self.settings)
        socket_blueprint.listener("after_server_stop")(close_shared_sessions)  # bot/rasa_speed.py's pooled client
        self.sio = sio

        @socket_blueprint.route("/", methods=["GET"])
        async def health(_: Request) -> HTTPResponse:
            return response.json({"status": "ok"})

        @sio.on("connect", namespace=self.namespace)
        async def connect(sid: Text, environ: Dict, auth: Optional[Dict] = None) -> bool:
            request = environ.get("sanic.request")
            peer = getattr(request, "ip", "") if request is not None else ""
            forwarded = request.headers.get("x-forwarded-for") if request is not None else None
            await sio.save_session(sid, {"client": client_address(peer, forwarded, self.settings.trusted_proxies)},
                                   namespace=self.namespace)
            return True

        @sio.on("session_request", namespace=self.namespace)
        async def session_request(sid: Text, data: Optional[Dict] = None) -> None:
            requested = (data or {}).get("session_id") if isinstance(data, dict) else None
            session_id = requested if privacy.verify_web_id(requested) else privacy.new_web_id()
            session = await sio.get_session(sid, namespace=self.namespace)
            session["session_id"] = session_id
            await sio.save_session(sid, session, namespace=self.namespace)
            sio.enter_room(sid, session_id, namespace=self.namespace)
            await sio.emit("session_confirm", session_id, room=sid, namespace=self.namespace)
            if session_id == requested:  # a reconnect: what was said while the connection was down
                asked = data or {}
                for event in self.replies.since(session_id, asked.get("last_seq"), asked.get("epoch")):
                    await sio.emit(self.bot_message_evt, event, room=sid, namespace=self.namespace)

        @sio.on(self.user_message_evt, namespace=self.namespace)
        async def handle_message(sid: Text, data: Any) -> None:
            data = data if isinstance(data, dict) else {}
            session = await sio.get_session(sid, namespace=self.namespace)
            session_id, text = data.get("session_id"), data.get("message")
            text = text if isinstance(text, str) else None
            if session_id != session.get("session_id") or not privacy.verify_web_id(session_id):
                logger.warning("Refused a socket.io message whose conversation id this connection wasn't given")
                replies, crisis = await asyncio.to_thread(refusal, text, "web:refused-id", self.name())
                for reply in replies if crisis else [INVALID_SESSION_TEXT]:
                    await sio.emit(self.bot_message_evt, {"text": reply}, room=sid, namespace=self.namespace)
                return
            output = WidgetOutput(sio, self.bot_message_evt, self.replies)
            metadata = data.get(self.metadata_key)
            metadata = metadata if isinstance(metadata, dict) else None
            if not self.seen.first_time(session_id, (metadata or {}).get("client_message_id")):
                logger.info("A resent socket.io message was already answered; not answering it twice")
                return
            if not self.limits.admit(session_id, session.get("client")):
                replies, _ = await asyncio.to_thread(refusal, text, session_id, self.name())
                for reply in replies:
                    await output.send_text_message(session_id, reply)
                return
            message = UserMessage(text, output, session_id, input_channel=self.name(), metadata=metadata)
            await guarded(message)
            if (message.metadata or {}).get("privacy_erased"):
                self.replies.forget(session_id)

        return socket_blueprint
