"""Twilio's REST client, configured from the environment (one place for the SMS channel and alerts).

Settings are read in bot/config.py. TWILIO_API_BASE_URL defaults to Twilio's API; tests point it at the
local emulator, and the real `twilio` library talks to it exactly as it would to Twilio.
"""
from __future__ import annotations

from bot.config import TwilioSettings

__all__ = ["TwilioSettings", "client"]

HTTP_TIMEOUT_SECONDS = 10.0


def client(settings: TwilioSettings | None = None):
    from twilio.rest import Client
    settings = settings or TwilioSettings.from_env()
    if not settings.configured:
        raise RuntimeError("Twilio is not configured: set TWILIO_ACCOUNT_SID and TWILIO_AUTH_TOKEN")
    twilio = Client(settings.account_sid, settings.auth_token)
    twilio.api.base_url = settings.api_base_url
    twilio.http_client.timeout = HTTP_TIMEOUT_SECONDS  # never wait on Twilio for ever
    return twilio
