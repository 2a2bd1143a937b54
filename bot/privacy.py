"""Keeping phone numbers out of conversations and logs.

- The Rasa conversation id of an SMS or WhatsApp conversation is an HMAC-SHA256 of the sender's
  address (`+447700900123` or `whatsapp:+447700900123`) keyed with CONVERSATION_ID_SECRET, so the
  tracker store, the escalation records and the logs hold no raw numbers. The same number always
  gives the same id (the conversation continues); without the secret the id can't be reversed or
  recomputed from a guessed number. SMS and WhatsApp from one number are two conversations.
- The number itself is kept only in `channel_contact` (bot.models.ChannelContact): to reply, and for
  a call-back the person agreed to.
- Logs name a conversation by `ref()` (the first 12 characters of its id, as alerts do) and pass any
  text that might hold a number through `redact()`. `install_log_redaction()` adds a filter to the
  process's log handlers as a second line of defence.

Changing CONVERSATION_ID_SECRET starts every SMS/WhatsApp conversation afresh (and forgets opt-outs,
which Twilio still enforces for SMS itself). Find the conversation of a number, e.g. for a subject
access request:  python -m bot.privacy id +447700900123
"""
from __future__ import annotations

import hashlib
import hmac
import logging
import os
import re
import sys
from urllib.parse import urlparse

logger = logging.getLogger(__name__)

SECRET_ENV = "CONVERSATION_ID_SECRET"
DEV_SECRET = "dev-only-conversation-id-secret-set-CONVERSATION_ID_SECRET-in-production"
WHATSAPP_PREFIX = "whatsapp:"
REDACTED = "[number]"

# E.164 (+447700900123), international 00 prefix, and UK national numbers (07700 900123, 0131 496 0000),
# with optional single spaces or hyphens between digits, not inside a longer word or hex string.
_NUMBER = re.compile(r"(?<![\w+])(?:\+|\b0)\d(?:[ -]?\d){7,15}(?![\w])")
_warned = False


def normalise_address(address: str) -> str:
    """`From`/`To` as Twilio sends them, made canonical: `whatsapp:+44…` or `+44…`, no spaces."""
    address = (address or "").strip()
    prefix = ""
    if address.lower().startswith(WHATSAPP_PREFIX):
        prefix, address = WHATSAPP_PREFIX, address[len(WHATSAPP_PREFIX):]
    return prefix + re.sub(r"[\s().-]", "", address)


def is_whatsapp(address: str) -> bool:
    return (address or "").strip().lower().startswith(WHATSAPP_PREFIX)


def _looks_like_production() -> bool:
    host = urlparse(os.environ.get("PUBLIC_BASE_URL") or "").hostname or ""
    return bool(host) and host not in ("localhost", "127.0.0.1", "::1") and not host.endswith(".local")


def secret() -> bytes:
    """CONVERSATION_ID_SECRET; a fixed development default (with a warning) when it is unset."""
    global _warned
    value = os.environ.get(SECRET_ENV)
    if value:
        return value.encode("utf-8")
    if not _warned:
        _warned = True
        if _looks_like_production():
            logger.error("%s is not set: conversation ids use the public development default, so anyone can "
                         "link a phone number to its conversation. Set a long random secret.", SECRET_ENV)
        else:
            logger.warning("%s is not set: using the development default (never do this in production).",
                           SECRET_ENV)
    return DEV_SECRET.encode("utf-8")


def conversation_id(address: str, key: bytes | None = None) -> str:
    """The Rasa sender id for an SMS/WhatsApp address: hex HMAC-SHA256 (64 characters)."""
    return hmac.new(key or secret(), normalise_address(address).encode("utf-8"), hashlib.sha256).hexdigest()


def ref(conversation: str) -> str:
    """A short, log-safe name for a conversation (matches the `Ref` in crisis alerts)."""
    return (conversation or "?")[:12]


def redact(text: object) -> str:
    """`text` with anything that looks like a phone number replaced by [number]."""
    return _NUMBER.sub(REDACTED, str(text))


def mask(address: str) -> str:
    """For the rare place a person must tell numbers apart: `whatsapp:+44…123`."""
    address = normalise_address(address)
    prefix = WHATSAPP_PREFIX if is_whatsapp(address) else ""
    digits = address[len(prefix):]
    return f"{prefix}{digits[:3]}…{digits[-3:]}" if len(digits) > 6 else f"{prefix}{REDACTED}"


class RedactingFilter(logging.Filter):
    """Rewrites each record's message (and traceback) with numbers redacted."""

    def filter(self, record: logging.LogRecord) -> bool:
        try:
            message = record.getMessage()
            clean = redact(message)
            if clean != message:
                record.msg, record.args = clean, ()
            if record.exc_info and not record.exc_text:
                record.exc_text = redact(logging.Formatter().formatException(record.exc_info))
            elif record.exc_text:
                record.exc_text = redact(record.exc_text)
        except Exception:  # a log filter must never lose the record
            pass
        return True


_FILTER = RedactingFilter()


def install_log_redaction() -> None:
    """Add the redacting filter to every handler of the root logger (idempotent)."""
    for handler in logging.getLogger().handlers:
        if _FILTER not in handler.filters:
            handler.addFilter(_FILTER)


def main(argv: list[str] | None = None) -> int:
    argv = sys.argv[1:] if argv is None else argv
    if len(argv) != 2 or argv[0] != "id":
        print("usage: python -m bot.privacy id <number, e.g. +447700900123 or whatsapp:+447700900123>",
              file=sys.stderr)
        return 2
    print(conversation_id(argv[1]))
    return 0


if __name__ == "__main__":
    sys.exit(main())
