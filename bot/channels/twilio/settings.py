"""The Twilio channel's constants and settings (read from the environment in bot/config.py)."""
from __future__ import annotations

from collections import Counter
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Optional

from bot import config, helplines, privacy
from bot.config import TwilioSettings

CHANNEL = "twilio"
WEBHOOK_PATH = "/webhooks/twilio/webhook"
STATUS_PATH = "/webhooks/twilio/status"
EMPTY_TWIML = '<?xml version="1.0" encoding="UTF-8"?><Response/>'
WHATSAPP_WINDOW = timedelta(hours=24)
MENU_TTL = timedelta(hours=4)  # the domain's session expiry: a "1" after that is just text
FOLLOW_UP_MENU_TTL = timedelta(days=7)  # the answer to a follow-up text may come days later
INBOUND_RETENTION = timedelta(days=7)  # Twilio retries within hours; older claims are pruned at start
RECOVER_AFTER = timedelta(minutes=2)  # a claimed message still unanswered after this was interrupted
RECOVER_WITHIN = timedelta(minutes=30)  # …and is answered at start-up if it is no older than this
FAILED_STATUSES = ("failed", "undelivered")
# Twilio error codes that mean "this number won't take messages from us": stop sending to it.
UNSUBSCRIBED_CODES = {21610}
_STATUS_RANK = {"sending": 0, "accepted": 1, "scheduled": 1, "queued": 1, "sent": 2, "delivered": 3,
                "undelivered": 3, "failed": 3, "not_sent": 3, "read": 4}
HELP_FOOTER = "Reply STOP to stop these texts."
STOP_CONFIRMATION = ("You won't get any more messages from this service. Reply START to start again. "
                     f"In an emergency call {helplines.EMERGENCY.number}.")

# Since this process started (the database has the totals: failure_counts()).
COUNTS: Counter = Counter()


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
                   public_base_url=config.settings().public_base_url or None,
                   whatsapp_template_sid=config.text("TWILIO_WHATSAPP_TEMPLATE_SID") or None,
                   send_attempts=max(1, int(config.number("TWILIO_SEND_ATTEMPTS", 4))),
                   backoff_seconds=config.number("TWILIO_SEND_BACKOFF_SECONDS", 1.0),
                   backoff_cap_seconds=config.number("TWILIO_SEND_BACKOFF_CAP_SECONDS", 8.0),
                   http_timeout_seconds=config.number("TWILIO_HTTP_TIMEOUT_SECONDS", 10.0))

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
