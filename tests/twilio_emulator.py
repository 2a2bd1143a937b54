"""A local stand-in for Twilio's Messages API, and Twilio-shaped signed webhooks, for tests.

    with TwilioEmulator() as twilio:          # a thread serving http://127.0.0.1:<port>
        os.environ["TWILIO_API_BASE_URL"] = twilio.base_url
        ... the real `twilio` client sends to it ...
        twilio.wait_for_messages(1)

POST /2010-04-01/Accounts/{AccountSid}/Messages.json behaves as Twilio's does for what we use:
form-encoded To, From, Body, StatusCallback, ContentSid; HTTP basic auth with the account SID and
auth token (401, Twilio error 20003, if wrong); 400 with Twilio's error codes for a missing To/From/
Body, a body over 1,600 characters, an SMS/WhatsApp mismatch between From and To (21910) and a
blocked (opted-out) recipient (21610); otherwise 201 with a Twilio-shaped message, status "queued".
`fail_next(n, 429|500)` makes the next n requests fail. With `status_callbacks=True`, each accepted
message's StatusCallback gets signed "sent" then "delivered" (or "undelivered", see
`undeliver_next`) callbacks, as Twilio posts them.
"""
from __future__ import annotations

import base64
import json
import threading
import time
import uuid
from dataclasses import dataclass, field
from email.utils import formatdate
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any, Callable
from urllib.parse import parse_qs, urlencode

import requests
from twilio.request_validator import RequestValidator

ACCOUNT_SID = "AC" + "e" * 32
AUTH_TOKEN = "emulator-auth-token-0123456789abcdef"
BODY_LIMIT = 1600
ERRORS = {
    20003: (401, "Authenticate"),
    20404: (404, "The requested resource was not found"),
    20429: (429, "Too Many Requests"),
    20500: (500, "Internal Server Error"),
    20503: (503, "Service Unavailable"),
    21602: (400, "Message body is required."),
    21603: (400, "A 'From' phone number is required."),
    21604: (400, "A 'To' phone number is required."),
    21610: (400, "Attempt to send to unsubscribed recipient"),
    21617: (400, "The concatenated message body exceeds the 1600 character limit."),
    21910: (400, "Invalid 'From' and 'To' pair. 'From' and 'To' should be of the same channel"),
}
CODE_FOR_STATUS = {429: 20429, 500: 20500, 503: 20503}


def sid(prefix: str) -> str:
    return prefix + uuid.uuid4().hex


@dataclass
class SentMessage:
    sid: str
    to: str
    from_: str
    body: str | None
    content_sid: str | None
    status_callback: str | None
    status: str = "queued"
    created: float = field(default_factory=time.time)


class TwilioEmulator:
    def __init__(self, account_sid: str = ACCOUNT_SID, auth_token: str = AUTH_TOKEN,
                 status_callbacks: bool = False) -> None:
        self.account_sid, self.auth_token = account_sid, auth_token
        self.status_callbacks = status_callbacks
        self.messages: list[SentMessage] = []
        self.attempts = 0  # every create request, failed or not
        self.callbacks: list[tuple[str, int]] = []  # (status, HTTP status our server answered)
        self.blocked: set[str] = set()  # numbers that opted out with Twilio: 21610
        self.delay = 0.0  # seconds each create request takes, to play a slow API
        self._failures: list[int] = []
        self._undeliver = 0
        self._lock = threading.Lock()
        self._server: ThreadingHTTPServer | None = None

    # --- running -----------------------------------------------------------------------
    def start(self) -> "TwilioEmulator":
        emulator = self

        class Handler(BaseHTTPRequestHandler):
            def do_POST(self) -> None:  # noqa: N802 - http.server's naming
                length = int(self.headers.get("Content-Length") or 0)
                form = parse_qs(self.rfile.read(length).decode("utf-8"), keep_blank_values=True)
                status, payload = emulator._create(self.path, self.headers.get("Authorization"), form)
                body = json.dumps(payload).encode("utf-8")
                self.send_response(status)
                self.send_header("Content-Type", "application/json")
                self.send_header("Content-Length", str(len(body)))
                self.end_headers()
                self.wfile.write(body)

            def log_message(self, *args: Any) -> None:  # quiet
                pass

        self._server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self._server.daemon_threads = True
        threading.Thread(target=self._server.serve_forever, kwargs={"poll_interval": 0.05}, name="twilio-emulator",
                         daemon=True).start()
        return self

    def stop(self) -> None:
        if self._server:
            self._server.shutdown()
            self._server.server_close()
            self._server = None

    def __enter__(self) -> "TwilioEmulator":
        return self.start()

    def __exit__(self, *exc: Any) -> None:
        self.stop()

    @property
    def base_url(self) -> str:
        assert self._server, "start() first"
        return f"http://127.0.0.1:{self._server.server_address[1]}"

    @property
    def env(self) -> dict[str, str]:
        """The TWILIO_* settings that point our code at this emulator."""
        return {"TWILIO_ACCOUNT_SID": self.account_sid, "TWILIO_AUTH_TOKEN": self.auth_token,
                "TWILIO_API_BASE_URL": self.base_url}

    # --- controlling and inspecting -------------------------------------------------------
    def fail_next(self, count: int, status: int = 500) -> None:
        """The next `count` create requests get `status` (429 or 5xx) with Twilio's error body."""
        with self._lock:
            self._failures.extend([status] * count)

    def undeliver_next(self, count: int = 1) -> None:
        """The next `count` accepted messages are reported "undelivered" (error 30003) by status callback."""
        with self._lock:
            self._undeliver += count

    def reset(self) -> None:
        with self._lock:
            self.messages.clear()
            self.callbacks.clear()
            self._failures.clear()
            self._undeliver = 0
            self.attempts = 0

    def sent_to(self, address: str) -> list[SentMessage]:
        with self._lock:
            return [m for m in self.messages if m.to == address]

    def wait_for_messages(self, count: int, to: str | None = None, timeout: float = 30,
                          settle: float = 0.3) -> list[SentMessage]:
        """Wait until at least `count` messages (to `to`, if given) arrived, then a moment for stragglers."""
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            found = self.sent_to(to) if to else list(self.messages)
            if len(found) >= count:
                time.sleep(settle)
                return self.sent_to(to) if to else list(self.messages)
            time.sleep(0.05)
        found = self.sent_to(to) if to else list(self.messages)
        raise TimeoutError(f"expected {count} message(s){' to ' + to if to else ''} within {timeout}s, "
                           f"got {len(found)}: {[m.body for m in found]}")

    def wait_until(self, predicate: Callable[[], bool], timeout: float = 30) -> None:
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if predicate():
                return
            time.sleep(0.05)
        raise TimeoutError("condition not met in time")

    # --- the API ---------------------------------------------------------------------------
    def _error(self, code: int, status: int | None = None) -> tuple[int, dict]:
        http_status, message = ERRORS[code]
        return status or http_status, {"code": code, "message": message, "status": status or http_status,
                                       "more_info": f"https://www.twilio.com/docs/errors/{code}"}

    def _authorised(self, header: str | None, path_sid: str) -> bool:
        if not header or not header.startswith("Basic "):
            return False
        try:
            user, _, password = base64.b64decode(header[6:]).decode("utf-8").partition(":")
        except ValueError:
            return False
        return user == self.account_sid == path_sid and password == self.auth_token

    def _create(self, path: str, authorization: str | None, form: dict[str, list[str]]) -> tuple[int, dict]:
        parts = path.split("?")[0].strip("/").split("/")
        if len(parts) != 4 or parts[:2] != ["2010-04-01", "Accounts"] or parts[3] != "Messages.json":
            return self._error(20404)
        if not self._authorised(authorization, parts[2]):
            return self._error(20003)
        if self.delay:
            time.sleep(self.delay)
        with self._lock:
            self.attempts += 1
            failure = self._failures.pop(0) if self._failures else None
        if failure:
            return self._error(CODE_FOR_STATUS.get(failure, 20500), failure)
        value = {name: values[0] for name, values in form.items()}
        to, from_, body = value.get("To"), value.get("From"), value.get("Body")
        content_sid = value.get("ContentSid")
        if not to:
            return self._error(21604)
        if not from_:
            return self._error(21603)
        if not (body or content_sid or value.get("MediaUrl")):
            return self._error(21602)
        if body and len(body) > BODY_LIMIT:
            return self._error(21617)
        if to.startswith("whatsapp:") != from_.startswith("whatsapp:"):
            return self._error(21910)
        if to in self.blocked:
            return self._error(21610)
        message = SentMessage(sid=sid("SM"), to=to, from_=from_, body=body, content_sid=content_sid,
                              status_callback=value.get("StatusCallback"))
        with self._lock:
            self.messages.append(message)
            undeliver = self._undeliver > 0
            self._undeliver -= 1 if undeliver else 0
        if self.status_callbacks and message.status_callback:
            threading.Thread(target=self._report, args=(message, undeliver), daemon=True).start()
        now = formatdate(usegmt=True)
        return 201, {
            "account_sid": self.account_sid, "api_version": "2010-04-01", "body": body or "",
            "date_created": now, "date_sent": None, "date_updated": now, "direction": "outbound-api",
            "error_code": None, "error_message": None, "from": from_, "messaging_service_sid": None,
            "num_media": "0", "num_segments": "1", "price": None, "price_unit": "USD", "sid": message.sid,
            "status": "queued", "to": to,
            "subresource_uris": {"media": f"/2010-04-01/Accounts/{self.account_sid}/Messages/{message.sid}/Media.json"},
            "uri": f"/2010-04-01/Accounts/{self.account_sid}/Messages/{message.sid}.json",
        }

    def _report(self, message: SentMessage, undeliver: bool) -> None:
        time.sleep(0.05)
        for status in ("sent", "undelivered" if undeliver else "delivered"):
            params = {"AccountSid": self.account_sid, "ApiVersion": "2010-04-01", "From": message.from_,
                      "To": message.to, "MessageSid": message.sid, "SmsSid": message.sid,
                      "MessageStatus": status, "SmsStatus": status}
            if status == "undelivered":
                params["ErrorCode"] = "30003"
            try:
                answer = requests.post(message.status_callback, data=params, timeout=10, headers={
                    "X-Twilio-Signature": sign(message.status_callback, params, self.auth_token)})
                code = answer.status_code
            except requests.RequestException:
                code = 0
            with self._lock:
                message.status = status
                self.callbacks.append((status, code))


# --- webhooks as Twilio sends them ---------------------------------------------------------

def sign(url: str, params: dict[str, str], auth_token: str = AUTH_TOKEN) -> str:
    """X-Twilio-Signature, exactly as Twilio computes it."""
    return RequestValidator(auth_token).compute_signature(url, params)


def inbound_params(from_: str, to: str, body: str, message_sid: str | None = None,
                   account_sid: str = ACCOUNT_SID) -> dict[str, str]:
    """The form Twilio posts for an incoming SMS or WhatsApp message (with its usual empty fields)."""
    message_sid = message_sid or sid("SM")
    params = {"ToCountry": "GB", "ToState": "", "SmsMessageSid": message_sid, "NumMedia": "0", "ToCity": "",
              "FromZip": "", "SmsSid": message_sid, "FromState": "", "SmsStatus": "received", "FromCity": "",
              "Body": body, "FromCountry": "GB", "To": to, "ToZip": "", "NumSegments": "1",
              "MessageSid": message_sid, "AccountSid": account_sid, "From": from_, "ApiVersion": "2010-04-01"}
    if from_.startswith("whatsapp:"):
        params.update({"ProfileName": "Parent", "WaId": from_.removeprefix("whatsapp:+"), "SmsStatus": "received",
                       "ReferralNumMedia": "0", "MessageType": "text"})
    return params


def post_webhook(url: str, params: dict[str, str], auth_token: str | None = AUTH_TOKEN,
                 signature: str | None = None, timeout: float = 15) -> requests.Response:
    """POST a form as Twilio does: signed with `auth_token` (or the given signature; None: unsigned)."""
    headers = {"Content-Type": "application/x-www-form-urlencoded; charset=UTF-8",
               "User-Agent": "TwilioProxy/1.1", "I-Twilio-Idempotency-Token": uuid.uuid4().hex}
    if signature is None and auth_token is not None:
        signature = sign(url, params, auth_token)
    if signature is not None:
        headers["X-Twilio-Signature"] = signature
    return requests.post(url, data=urlencode(params), headers=headers, timeout=timeout)
