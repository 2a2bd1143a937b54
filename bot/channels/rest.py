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


class GuardedSocketIOInput(SocketIOInput):
    """The website widget's socket.io channel: Rasa's events and payloads, with signed server-issued ids."""

    @classmethod
    def name(cls) -> Text:
        return "socketio"

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self.settings = prepare_process()
        self.limits = Limits.from_settings(self.settings)

    def blueprint(self, on_new_message) -> Blueprint:
        from socketio import AsyncServer

        guarded = never_silent(on_new_message)
        # Rasa passes cors_allowed_origins=[], which turns engine.io's origin check off: name the origins.
        sio = AsyncServer(async_mode="sanic", cors_allowed_origins=list(self.settings.webchat_origins),
                          max_http_buffer_size=self.settings.max_message_body_bytes)
        socket_blueprint = SocketBlueprint(sio, self.socketio_path, "guarded_socketio_webhook", __name__)
        cap_request_bodies(socket_blueprint, self.settings)
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
            output = SocketIOOutput(sio, self.bot_message_evt)
            if not self.limits.admit(session_id, session.get("client")):
                replies, _ = await asyncio.to_thread(refusal, text, session_id, self.name())
                for reply in replies:
                    await output.send_text_message(session_id, reply)
                return
            metadata = data.get(self.metadata_key)
            await guarded(UserMessage(text, output, session_id, input_channel=self.name(),
                                      metadata=metadata if isinstance(metadata, dict) else None))

        return socket_blueprint
