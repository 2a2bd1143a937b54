"""Keeping phone numbers out of conversations and logs, and each channel's conversations its own.

- Conversation ids carry their channel's prefix: `twilio:<hex>` for SMS/WhatsApp, `web:<id>.<signature>`
  for the website chat. The REST channel (trusted integrations) refuses a client-chosen id with either
  prefix, so no client can claim another channel's conversation (`claims_reserved_prefix`).
- A Twilio id is an HMAC-SHA256 of the sender's address (`+447700900123` or `whatsapp:+447700900123`)
  keyed with CONVERSATION_ID_SECRET (bot/config.py: generated into var/ in development, required in
  production), so the tracker store, the escalation records and the logs hold no raw numbers, and
  nobody without the key can compute the id of a number. SMS and WhatsApp from one number are two
  conversations.
- A web id is issued by the server (random) and signed with WEB_SESSION_SECRET; the page sends it back
  after a reload, and the socket.io channel checks the signature on every message (`verify_web_id`).
- The number itself is kept only in `channel_contact` (bot.models.ChannelContact): to reply, and for
  a call-back the person agreed to.
- Logs name a conversation by `ref()` (its prefix and the first 12 characters after it, as alerts do)
  and pass any text that might hold a number through `redact()`. `install_log_redaction()` makes every
  log record of the process redacted as it is created, whichever handler writes it; in production it
  also withholds DEBUG records, which in Rasa carry message text.

Changing CONVERSATION_ID_SECRET starts every SMS/WhatsApp conversation afresh (and forgets opt-outs,
which Twilio still enforces for SMS itself). Erasure ("delete my data"), retention and access requests:
bot.privacy.erasure, bot.privacy.retention, bot.privacy.access, and `python -m bot.privacy --help`.
"""
from __future__ import annotations

import base64
import hashlib
import hmac
import logging
import re
import secrets

from bot import config

logger = logging.getLogger(__name__)

WHATSAPP_PREFIX = "whatsapp:"
REDACTED = "[number]"
TWILIO_ID_PREFIX = "twilio:"
WEB_ID_PREFIX = "web:"
RESERVED_PREFIXES = (TWILIO_ID_PREFIX, WEB_ID_PREFIX)
_WEB_ID = re.compile(r"^web:([0-9a-f]{32})\.([A-Za-z0-9_-]{22})$")

# E.164 (+447700900123), international 00 prefix, and UK national numbers (07700 900123, 0131 496 0000),
# with optional single spaces or hyphens between digits, not inside a longer word or hex string.
_NUMBER = re.compile(r"(?<![\w+])(?:\+|\b0)\d(?:[ -]?\d){7,15}(?![\w])")


def normalise_address(address: str) -> str:
    """`From`/`To` as Twilio sends them, made canonical: `whatsapp:+44…` or `+44…`, no spaces."""
    address = (address or "").strip()
    prefix = ""
    if address.lower().startswith(WHATSAPP_PREFIX):
        prefix, address = WHATSAPP_PREFIX, address[len(WHATSAPP_PREFIX):]
    return prefix + re.sub(r"[\s().-]", "", address)


def is_whatsapp(address: str) -> bool:
    return (address or "").strip().lower().startswith(WHATSAPP_PREFIX)


def secret() -> bytes:
    return config.secret("conversation-id-secret").encode("utf-8")


def conversation_id(address: str, key: bytes | None = None) -> str:
    """The Rasa sender id for an SMS/WhatsApp address: `twilio:` and a hex HMAC-SHA256."""
    digest = hmac.new(key or secret(), normalise_address(address).encode("utf-8"), hashlib.sha256).hexdigest()
    return TWILIO_ID_PREFIX + digest


def _web_signature(token: str) -> str:
    key = config.secret("web-session-secret").encode("utf-8")
    mac = hmac.new(key, (WEB_ID_PREFIX + token).encode("ascii"), hashlib.sha256).digest()
    return base64.urlsafe_b64encode(mac[:16]).decode("ascii").rstrip("=")


def new_web_id() -> str:
    """A fresh website-chat conversation id, signed so the server can tell it issued it."""
    token = secrets.token_hex(16)
    return f"{WEB_ID_PREFIX}{token}.{_web_signature(token)}"


def verify_web_id(candidate: object) -> bool:
    match = _WEB_ID.match(candidate) if isinstance(candidate, str) else None
    return bool(match) and hmac.compare_digest(match[2], _web_signature(match[1]))


def claims_reserved_prefix(sender_id: object) -> bool:
    """True for an id only the server may issue (another channel's conversation)."""
    return str(sender_id or "").strip().lower().startswith(RESERVED_PREFIXES)


def ref(conversation: str) -> str:
    """A short, log-safe name for a conversation (matches the `Ref` in crisis alerts): the channel's
    prefix and the first 12 characters after it, so refs stay as distinct as the ids."""
    conversation = conversation or "?"
    for prefix in RESERVED_PREFIXES:
        if conversation.startswith(prefix):
            return prefix + conversation[len(prefix):len(prefix) + 12]
    return conversation[:12]


def redact(text: object) -> str:
    """`text` with anything that looks like a phone number replaced by [number]."""
    return _NUMBER.sub(REDACTED, str(text))


def mask(address: str) -> str:
    """For the rare place a person must tell numbers apart: `whatsapp:+44…123`."""
    address = normalise_address(address)
    prefix = WHATSAPP_PREFIX if is_whatsapp(address) else ""
    digits = address[len(prefix):]
    return f"{prefix}{digits[:3]}…{digits[-3:]}" if len(digits) > 6 else f"{prefix}{REDACTED}"


WITHHELD = "[debug detail withheld in production]"


def _clean(record: logging.LogRecord) -> None:
    """Redact one record in place; in production, withhold DEBUG records (Rasa's carry message text)."""
    if record.levelno <= logging.DEBUG and config.is_production():
        record.msg, record.args, record.exc_info, record.exc_text = WITHHELD, (), None, None
        return
    message = record.getMessage()
    clean = redact(message)
    if clean != message:
        record.msg, record.args = clean, ()
    if record.exc_info and not record.exc_text:
        record.exc_text = redact(logging.Formatter().formatException(record.exc_info))
    elif record.exc_text:
        record.exc_text = redact(record.exc_text)


_base_factory = logging.getLogRecordFactory()


def _redacting_factory(*args, **kwargs) -> logging.LogRecord:
    record = _base_factory(*args, **kwargs)
    try:
        _clean(record)
    except Exception:  # redaction must never lose the record
        pass
    return record


def install_log_redaction() -> None:
    """Redact every log record of this process as it is created (idempotent): whatever logger or handler
    writes it, and handlers added later (Rasa configures its own after start-up) included."""
    if logging.getLogRecordFactory() is not _redacting_factory:
        logging.setLogRecordFactory(_redacting_factory)
