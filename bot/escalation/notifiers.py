"""How an alert reaches a clinical contact: SMS (Twilio), email (SMTP) or an HTTPS webhook.

Each notifier raises on any failure, so the outbox retries and, in the end, fails visibly.
Settings: TWILIO_* (bot/twilio_rest.py) for SMS; SMTP_URL (smtp://user:pass@host:port) and
ALERT_EMAIL_FROM for email. Webhooks get a JSON POST and must answer 2xx within 10 seconds.
"""
from __future__ import annotations

import os
import smtplib
from email.message import EmailMessage
from urllib.parse import unquote, urlparse

import requests

from bot.models import ClinicalContact
from bot.twilio_rest import TwilioSettings, client


def send_sms(contact: ClinicalContact, body: str) -> None:
    settings = TwilioSettings.from_env()
    if not settings.sms_number:
        raise RuntimeError("TWILIO_SMS_NUMBER is not set")
    client(settings).messages.create(to=contact.address, from_=settings.sms_number, body=body[:1600])


def send_email(contact: ClinicalContact, body: str) -> None:
    url = urlparse(os.environ.get("SMTP_URL") or "")
    if not url.hostname:
        raise RuntimeError("SMTP_URL is not set")
    message = EmailMessage()
    message["Subject"] = "Perinatal peer support assistant: crisis alert"
    message["From"] = os.environ.get("ALERT_EMAIL_FROM", "alerts@localhost")
    message["To"] = contact.address
    message.set_content(body)
    with smtplib.SMTP(url.hostname, url.port or 25, timeout=10) as smtp:
        if url.username:
            smtp.starttls()
            smtp.login(unquote(url.username), unquote(url.password or ""))
        smtp.send_message(message)


def send_webhook(contact: ClinicalContact, body: str) -> None:
    response = requests.post(contact.address, json={"text": body, "contact": contact.name}, timeout=10)
    response.raise_for_status()


NOTIFIERS = {"sms": send_sms, "email": send_email, "webhook": send_webhook}
