"""Crisis alerts in transit: HTTPS-only signed webhooks, email only over verified TLS, timeouts."""
from __future__ import annotations

import json
import socket
import ssl
import threading
import time
from datetime import datetime
from http.server import BaseHTTPRequestHandler, HTTPServer

import pytest

from bot.db import session_scope
from bot.escalation import Detection, record
from bot.escalation.__main__ import main as cli
from bot.escalation.notifiers import (SIGNATURE_HEADER, check_webhook_address, send_email, send_webhook, sign,
                                      verify_signature)
from bot.models import ClinicalContact
from tests.tls import self_signed

KEY = "test-alert-webhook-secret-0123456789abcdef"


class _Hook(BaseHTTPRequestHandler):
    received: list = []
    status = 200

    def do_POST(self):  # noqa: N802
        body = self.rfile.read(int(self.headers["Content-Length"]))
        _Hook.received.append((body, self.headers.get(SIGNATURE_HEADER)))
        self.send_response(_Hook.status)
        self.end_headers()

    def log_message(self, *args):
        pass


@pytest.fixture
def https_hook(tmp_path, monkeypatch):
    """A real HTTPS server on loopback whose certificate the client trusts (REQUESTS_CA_BUNDLE)."""
    cert, key = self_signed(tmp_path)
    server = HTTPServer(("127.0.0.1", 0), _Hook)
    context = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
    context.load_cert_chain(cert, key)
    server.socket = context.wrap_socket(server.socket, server_side=True)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    _Hook.received, _Hook.status = [], 200
    monkeypatch.setenv("REQUESTS_CA_BUNDLE", str(cert))
    monkeypatch.setenv("ALERT_WEBHOOK_SECRET", KEY)
    yield f"https://127.0.0.1:{server.server_port}/alert"
    server.shutdown()


def contact(address: str, channel: str = "webhook") -> ClinicalContact:
    return ClinicalContact(name="Team", role="r", channel=channel, address=address, hours="24/7")


def test_webhook_alerts_are_signed_and_the_receiver_can_verify_them(https_hook):
    send_webhook(contact(https_hook), "hello")
    [(body, header)] = _Hook.received
    assert json.loads(body) == {"text": "hello", "contact": "Team"}
    assert verify_signature(body, header, KEY)
    assert not verify_signature(body.replace(b"hello", b"hellO"), header, KEY)  # tampered body
    assert not verify_signature(body, header, "another key")
    assert not verify_signature(body, header, KEY, now=time.time() + 3600)  # replayed an hour later
    _Hook.status = 500
    with pytest.raises(Exception):
        send_webhook(contact(https_hook), "again")


def test_signature_format_is_stable():
    assert sign(b"{}", "k", 1700000000) == ("t=1700000000,v1=" + __import__("hmac").new(
        b"k", b"1700000000.{}", "sha256").hexdigest())


@pytest.mark.parametrize("address", ["http://127.0.0.1/alert", "ftp://example.org/x", "file:///etc/passwd",
                                     "javascript:alert(1)", "example.org/hook"])
def test_webhooks_must_be_https(address):
    with pytest.raises(ValueError, match="https"):
        check_webhook_address(address)
    with pytest.raises(ValueError):
        send_webhook(contact(address), "hello")


def test_an_untrusted_certificate_is_refused(https_hook, monkeypatch):
    monkeypatch.delenv("REQUESTS_CA_BUNDLE")
    with pytest.raises(Exception, match="(?i)certificate"):
        send_webhook(contact(https_hook), "hello")
    assert _Hook.received == []


def test_the_cli_refuses_a_plain_http_webhook_and_delivers_to_https(database_url, https_hook, capsys):
    assert cli(["contacts", "add", "--name", "x", "--role", "r", "--channel", "webhook",
                "--address", "http://127.0.0.1:9/alert"]) == 2
    assert cli(["contacts", "add", "--name", "On call", "--role", "Clinician", "--channel", "webhook",
                "--address", https_hook]) == 0
    with session_scope(database_url) as session:
        record(session, Detection("conv-1", "rest", "suicide_self_harm", "I want to die"), datetime.utcnow())
    assert cli(["deliver"]) == 0
    [(body, header)] = _Hook.received
    assert "Possible crisis" in json.loads(body)["text"] and verify_signature(body, header, KEY)


# --- email ---------------------------------------------------------------------------------------

def _serve_once(handler) -> int:
    listener = socket.socket()
    listener.bind(("127.0.0.1", 0))
    listener.listen(1)

    def run():
        connection, _ = listener.accept()
        with connection:
            handler(connection)
        listener.close()
    threading.Thread(target=run, daemon=True).start()
    return listener.getsockname()[1]


def _plain_smtp(connection):
    """An SMTP server that never offers STARTTLS."""
    connection.sendall(b"220 plain ESMTP\r\n")
    stream = connection.makefile("rb")
    while line := stream.readline():
        verb = line[:4].upper()
        if verb in (b"EHLO", b"HELO"):
            connection.sendall(b"250-plain\r\n250 AUTH PLAIN\r\n")
        elif verb == b"QUIT":
            connection.sendall(b"221 bye\r\n")
            return
        else:
            connection.sendall(b"250 ok\r\n")


def test_email_is_never_sent_without_starttls(monkeypatch):
    port = _serve_once(_plain_smtp)
    monkeypatch.setenv("SMTP_URL", f"smtp://127.0.0.1:{port}")  # no username: still TLS or nothing
    with pytest.raises(RuntimeError, match="STARTTLS"):
        send_email(contact("duty@example.org", "email"), "hello")


def test_email_over_smtps_verifies_the_certificate(tmp_path, monkeypatch):
    cert, key = self_signed(tmp_path)
    context = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
    context.load_cert_chain(cert, key)

    def tls_server(connection):
        try:
            with context.wrap_socket(connection, server_side=True):
                pass
        except (ssl.SSLError, OSError):
            pass  # the client refused our certificate, as it must
    port = _serve_once(tls_server)
    monkeypatch.setenv("SMTP_URL", f"smtps://alerts:pw@127.0.0.1:{port}")
    with pytest.raises(ssl.SSLCertVerificationError):
        send_email(contact("duty@example.org", "email"), "hello")


def test_an_sms_alert_to_a_twilio_api_that_never_answers_times_out(monkeypatch):
    """A hung API must fail the attempt (the outbox retries), never hold the worker for ever."""
    import socket
    import threading

    from bot import twilio_rest
    from bot.escalation.notifiers import send_sms
    from bot.models import ClinicalContact

    listener = socket.socket()
    listener.bind(("127.0.0.1", 0))
    listener.listen(5)
    held = []
    threading.Thread(target=lambda: held.append(listener.accept()), daemon=True).start()  # accept, never answer
    monkeypatch.setenv("TWILIO_ACCOUNT_SID", "AC" + "0" * 32)
    monkeypatch.setenv("TWILIO_AUTH_TOKEN", "token")
    monkeypatch.setenv("TWILIO_SMS_NUMBER", "+447700900000")
    monkeypatch.setenv("TWILIO_API_BASE_URL", f"http://127.0.0.1:{listener.getsockname()[1]}")
    monkeypatch.setattr(twilio_rest, "HTTP_TIMEOUT_SECONDS", 1.0)
    started = time.monotonic()
    with pytest.raises(Exception):
        send_sms(ClinicalContact(name="On call", role="r", channel="sms", address="+447700900111", hours="24/7"), "x")
    assert time.monotonic() - started < 10
    listener.close()
