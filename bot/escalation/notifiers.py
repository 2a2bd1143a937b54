"""How an alert reaches a clinical contact: SMS (Twilio), email (SMTP) or an HTTPS webhook.

Each notifier raises on any failure, so the outbox retries and, in the end, fails visibly. Every one
has a timeout, and nothing travels unencrypted or unauthenticated:

- SMS: TWILIO_* (bot/config.py), Twilio's HTTPS API with a 10-second timeout.
- Email: SMTP_URL, `smtps://user:pass@host:465` (TLS from the start) or `smtp://user:pass@host:587`
  (STARTTLS, required: a server that doesn't offer it is refused). Certificates are always verified
  against the system's trust store (`ssl.create_default_context()`), with or without a username.
- Webhook: HTTPS only, a JSON POST signed with ALERT_WEBHOOK_SECRET. The receiver checks
  `X-Alert-Signature: t=<unix time>,v1=<hex HMAC-SHA256 of "<t>.<raw body>">` and rejects a time more
  than 5 minutes from its clock (`verify_signature` is the reference implementation). 10-second timeout.
"""
from __future__ import annotations

import hashlib
import hmac
import json
import smtplib
import ssl
import time
from email.message import EmailMessage
from urllib.parse import unquote, urlparse

import requests

from bot import config
from bot.models import ClinicalContact
from bot.twilio_rest import TwilioSettings, client

TIMEOUT_SECONDS = 10
SIGNATURE_HEADER = "X-Alert-Signature"
SIGNATURE_TOLERANCE_SECONDS = 300


def send_sms(contact: ClinicalContact, body: str) -> None:
    settings = TwilioSettings.from_env()
    if not settings.sms_number:
        raise RuntimeError("TWILIO_SMS_NUMBER is not set")
    client(settings).messages.create(to=contact.address, from_=settings.sms_number, body=body[:1600])


def send_email(contact: ClinicalContact, body: str) -> None:
    settings = config.settings()
    url = urlparse(settings.smtp_url)
    if not url.hostname or url.scheme not in ("smtp", "smtps"):
        raise RuntimeError("SMTP_URL is not set (smtps://user:pass@host:465 or smtp://user:pass@host:587)")
    message = EmailMessage()
    message["Subject"] = "Perinatal peer support assistant: crisis alert"
    message["From"] = settings.alert_email_from
    message["To"] = contact.address
    message.set_content(body)
    context = ssl.create_default_context()
    if url.scheme == "smtps":
        smtp = smtplib.SMTP_SSL(url.hostname, url.port or 465, timeout=TIMEOUT_SECONDS, context=context)
    else:
        smtp = smtplib.SMTP(url.hostname, url.port or 587, timeout=TIMEOUT_SECONDS)
    with smtp:
        if url.scheme == "smtp":
            smtp.ehlo()
            if not smtp.has_extn("starttls"):
                raise RuntimeError(f"{url.hostname} does not offer STARTTLS: alerts are never sent unencrypted")
            smtp.starttls(context=context)
            smtp.ehlo()
        if url.username:
            smtp.login(unquote(url.username), unquote(url.password or ""))
        smtp.send_message(message)


def check_webhook_address(address: str) -> None:
    """A webhook contact must be an https:// URL (checked when it is added, and again on every send)."""
    parsed = urlparse(address or "")
    if parsed.scheme != "https" or not parsed.hostname:
        raise ValueError(f"webhook contacts must be https:// URLs, not {parsed.scheme or 'no scheme'}")


def sign(body: bytes, key: str, timestamp: int | None = None) -> str:
    timestamp = int(time.time()) if timestamp is None else timestamp
    mac = hmac.new(key.encode("utf-8"), f"{timestamp}.".encode("ascii") + body, hashlib.sha256).hexdigest()
    return f"t={timestamp},v1={mac}"


def verify_signature(body: bytes, header: str, key: str, now: float | None = None) -> bool:
    """What a receiver does with the header: recompute the HMAC and check the time is recent."""
    try:
        fields = dict(part.split("=", 1) for part in header.split(","))
        timestamp = int(fields["t"])
    except (KeyError, ValueError):
        return False
    now = time.time() if now is None else now
    if abs(now - timestamp) > SIGNATURE_TOLERANCE_SECONDS:
        return False
    return hmac.compare_digest(sign(body, key, timestamp), header)


def send_webhook(contact: ClinicalContact, body: str) -> None:
    check_webhook_address(contact.address)
    payload = json.dumps({"text": body, "contact": contact.name}).encode("utf-8")
    signature = sign(payload, config.secret("alert-webhook-secret"))
    response = requests.post(contact.address, data=payload, timeout=TIMEOUT_SECONDS, allow_redirects=False,
                             headers={"Content-Type": "application/json", SIGNATURE_HEADER: signature})
    response.raise_for_status()
    if response.is_redirect:
        raise RuntimeError(f"the webhook answered {response.status_code} (a redirect): alerts don't follow them")


NOTIFIERS = {"sms": send_sms, "email": send_email, "webhook": send_webhook}
