"""Twilio's REST client, configured from the environment (one place for the SMS channel and alerts).

TWILIO_API_BASE_URL defaults to Twilio's API; tests point it at the local emulator, and the real
`twilio` library talks to it exactly as it would to Twilio.
"""
from __future__ import annotations

import os
from dataclasses import dataclass


@dataclass(frozen=True)
class TwilioSettings:
    account_sid: str
    auth_token: str
    sms_number: str | None
    whatsapp_number: str | None
    api_base_url: str

    @classmethod
    def from_env(cls) -> "TwilioSettings":
        return cls(account_sid=os.environ.get("TWILIO_ACCOUNT_SID", ""),
                   auth_token=os.environ.get("TWILIO_AUTH_TOKEN", ""),
                   sms_number=os.environ.get("TWILIO_SMS_NUMBER") or None,
                   whatsapp_number=os.environ.get("TWILIO_WHATSAPP_NUMBER") or None,
                   api_base_url=os.environ.get("TWILIO_API_BASE_URL") or "https://api.twilio.com")

    @property
    def configured(self) -> bool:
        return bool(self.account_sid and self.auth_token)


def client(settings: TwilioSettings | None = None):
    from twilio.rest import Client
    settings = settings or TwilioSettings.from_env()
    if not settings.configured:
        raise RuntimeError("Twilio is not configured: set TWILIO_ACCOUNT_SID and TWILIO_AUTH_TOKEN")
    twilio = Client(settings.account_sid, settings.auth_token)
    twilio.api.base_url = settings.api_base_url
    return twilio
