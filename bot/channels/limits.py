"""What any client may send: a body-size cap per route, and message rates per conversation and client.

- Bodies are read as a stream and refused (413) past the route's cap, before anything is parsed.
- Each conversation may send `messages_per_conversation_per_minute`; each client address may talk in
  `messages_per_client_per_minute` distinct conversations a minute (a flood of new sender ids is what
  could bury clinical contacts in alerts). The client address is the socket's peer, or the
  X-Forwarded-For hop just before the first configured TRUSTED_PROXIES — nobody's by default. Channels
  whose every client is one party (Twilio) limit by conversation only.
- Counters are shared by every instance through Redis (RATE_LIMIT_REDIS_URL, else LOCK_STORE_URL), or
  kept in this process when neither is set.
- A refused message is still read by the crisis lexicon: a crisis gets its crisis answer and is recorded
  (`refusal`), so no limit can silence someone in crisis.
"""
from __future__ import annotations

import ipaddress
import logging
import threading
import time
from collections import OrderedDict
from dataclasses import dataclass
from functools import lru_cache
from typing import Iterable, Optional

from sanic.exceptions import PayloadTooLarge

from bot import config, helplines, privacy

logger = logging.getLogger(__name__)

WINDOW_SECONDS = 60
BUSY_TEXT = ("You're sending messages faster than I can answer, so I've paused for a moment. Please wait a "
             "minute and send it again. " + helplines.HELP_NOW)
TOO_LARGE_TEXT = "That message is too long for me to read. Please send a shorter one. " + helplines.HELP_NOW


class MemoryCounters:
    """Fixed-window counters in this process (bounded: old windows are dropped)."""

    def __init__(self, max_keys: int = 100_000) -> None:
        self._counts: "OrderedDict[str, set | int]" = OrderedDict()
        self._lock = threading.Lock()
        self._max_keys = max_keys

    def incr(self, key: str) -> int:
        with self._lock:
            count = int(self._counts.pop(key, 0)) + 1
            self._remember(key, count)
            return count

    def admit_member(self, key: str, member: str, limit: int) -> bool:
        """True if `member` is in the set under `key` or the set has room for it (then it is added)."""
        with self._lock:
            members = self._counts.pop(key, None) or set()
            admitted = member in members or len(members) < limit
            if admitted:
                members.add(member)
            self._remember(key, members)
            return admitted

    def _remember(self, key: str, value) -> None:
        self._counts[key] = value
        while len(self._counts) > self._max_keys:
            self._counts.popitem(last=False)


class RedisCounters:
    """The same counters in Redis, so every Rasa instance shares them."""

    def __init__(self, url: str) -> None:
        import redis
        self._redis = redis.Redis.from_url(url, socket_timeout=2, socket_connect_timeout=2)

    def incr(self, key: str) -> int:
        pipe = self._redis.pipeline()
        pipe.incr(key)
        pipe.expire(key, WINDOW_SECONDS * 2)
        return int(pipe.execute()[0])

    # Atomic, so two instances can't both take the last place.
    _ADMIT_MEMBER = """
    if redis.call('SISMEMBER', KEYS[1], ARGV[1]) == 1 then return 1 end
    if redis.call('SCARD', KEYS[1]) >= tonumber(ARGV[2]) then return 0 end
    redis.call('SADD', KEYS[1], ARGV[1])
    redis.call('EXPIRE', KEYS[1], ARGV[3])
    return 1
    """

    def admit_member(self, key: str, member: str, limit: int) -> bool:
        return bool(self._redis.eval(self._ADMIT_MEMBER, 1, key, member, limit, WINDOW_SECONDS * 2))


@lru_cache(maxsize=4)
def counters(url: str = ""):
    return RedisCounters(url) if url else MemoryCounters()


@dataclass(frozen=True)
class Limits:
    per_conversation: int
    per_client: int
    counters: object

    @classmethod
    def from_settings(cls, settings: Optional[config.Settings] = None) -> "Limits":
        settings = settings or config.settings()
        return cls(settings.messages_per_conversation_per_minute, settings.messages_per_client_per_minute,
                   counters(settings.rate_limit_url))

    def admit(self, conversation_id: str, client: Optional[str] = None, now: Optional[float] = None) -> bool:
        """Count this message; False when its conversation or its client is over the limit. A counter that
        can't be reached admits the message (a limit must never be why someone goes unanswered)."""
        window = int((now if now is not None else time.time()) // WINDOW_SECONDS)
        try:
            if self.counters.incr(f"rl:c:{conversation_id}:{window}") > self.per_conversation:
                return False
            if client and not self.counters.admit_member(f"rl:a:{client}:{window}", conversation_id,
                                                         self.per_client):
                return False
        except Exception as error:
            logger.error("Rate-limit counters unavailable (%s); admitting the message", type(error).__name__)
        return True


def _networks(entries: Iterable[str]) -> list:
    networks = []
    for entry in entries:
        try:
            networks.append(ipaddress.ip_network(entry, strict=False))
        except ValueError:
            logger.error("TRUSTED_PROXIES entry %r is not an address or network; ignored", entry)
    return networks


def client_address(peer: str, forwarded_for: Optional[str], trusted_proxies: Iterable[str]) -> str:
    """The real client: the peer, unless the peer is a trusted proxy, then the last untrusted hop."""
    trusted = _networks(trusted_proxies)

    def is_trusted(address: str) -> bool:
        try:
            ip = ipaddress.ip_address(address)
        except ValueError:
            return False
        return any(ip in network for network in trusted)

    address = peer
    hops = [hop.strip() for hop in (forwarded_for or "").split(",") if hop.strip()]
    while is_trusted(address) and hops:
        address = hops.pop()
    return address


def prepare_process() -> config.Settings:
    """Every channel calls this at start-up: refuse a production start that isn't safe, redact logs."""
    config.enforce()
    privacy.install_log_redaction()
    return config.settings()


def cap_request_bodies(blueprint, settings: config.Settings) -> None:
    """Sanic accepts 100 MB bodies by default; Rasa's authenticated API gets MAX_API_BODY_BYTES, and each
    channel route reads its own smaller cap as a stream."""
    @blueprint.listener("before_server_start")
    async def _cap(app, _loop) -> None:
        app.config.REQUEST_MAX_SIZE = min(app.config.REQUEST_MAX_SIZE, settings.max_api_body_bytes)


async def read_capped(request, cap: int) -> bytes:
    """The request body, read as a stream; PayloadTooLarge (413) past `cap` bytes, before any parsing."""
    declared = request.headers.get("content-length")
    if declared and declared.isdigit() and int(declared) > cap:
        raise PayloadTooLarge(TOO_LARGE_TEXT)
    body = bytearray()
    if request.stream is None:  # Sanic preloaded it (a test client): still enforce the cap
        body.extend(request.body or b"")
    else:
        while True:
            chunk = await request.stream.read()
            if chunk is None:
                break
            body.extend(chunk)
            if len(body) > cap:
                raise PayloadTooLarge(TOO_LARGE_TEXT)
    if len(body) > cap:
        raise PayloadTooLarge(TOO_LARGE_TEXT)
    request.body = bytes(body)
    return request.body


def refusal(text: Optional[str], conversation_id: str, channel: str) -> tuple[list[str], bool]:
    """What to answer a message refused by a limit: the crisis answer (recorded as an escalation) if the
    lexicon sees a crisis, else the busy text. Returns (replies, crisis). Blocking: call it off the loop."""
    from bot.channels.guard import FALLBACK_TEXT, fallback_replies
    replies = fallback_replies(text, conversation_id, channel)
    if replies == [FALLBACK_TEXT]:
        return [BUSY_TEXT], False
    logger.warning("A refused message in conversation %s was a crisis: answered and recorded",
                   privacy.ref(conversation_id))
    return replies, True
