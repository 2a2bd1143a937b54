"""Sending texts through Twilio's REST API with the real `twilio` client, with retries."""
from __future__ import annotations

import asyncio
import functools
import logging
import random
import threading
from typing import Any, Awaitable, Callable, Optional

from bot import privacy
from bot.channels.twilio.settings import COUNTS, ChannelSettings
from bot.twilio_rest import client as twilio_client

logger = logging.getLogger(__name__)


class DeliveryFailed(Exception):
    def __init__(self, reason: str, status: Optional[int] = None, code: Optional[int] = None, attempts: int = 0):
        super().__init__(reason)
        self.reason, self.status, self.code, self.attempts = reason, status, code, attempts


class TwilioSender:
    """Creates messages with the real `twilio` client (bot/twilio_rest.py) in a worker thread, so the
    event loop never waits on Twilio; retries 429, 5xx and network errors with exponential backoff."""

    def __init__(self, settings: ChannelSettings, sleep: Callable[[float], Awaitable[Any]] = asyncio.sleep):
        self.settings = settings
        self.sleep = sleep
        self._local = threading.local()

    def _client(self):
        client = getattr(self._local, "client", None)
        if client is None:
            client = twilio_client(self.settings.twilio)
            client.http_client.timeout = self.settings.http_timeout_seconds
            self._local.client = client
        return client

    def _create(self, params: dict[str, Any]):
        return self._client().messages.create(**params)

    async def send(self, **params: Any) -> tuple[str, str, int]:
        """(MessageSid, Twilio's status, attempts) or DeliveryFailed. `params` as messages.create takes them."""
        from requests import RequestException
        from twilio.base.exceptions import TwilioRestException

        loop = asyncio.get_running_loop()
        params = {k: v for k, v in params.items() if v is not None}
        attempts = self.settings.send_attempts
        for attempt in range(1, attempts + 1):
            status = code = None
            try:
                message = await loop.run_in_executor(None, functools.partial(self._create, params))
                COUNTS["retries"] += attempt - 1
                return message.sid, message.status or "queued", attempt
            except TwilioRestException as exc:
                status, code = exc.status, exc.code
                retryable = status == 429 or status >= 500
                reason = f"HTTP {status}, Twilio error {code}: {privacy.redact(exc.msg)}"
            except RequestException as exc:  # connection refused, reset, timed out
                retryable = True
                reason = f"{type(exc).__name__}: {privacy.redact(exc)}"
            except Exception as exc:  # misconfiguration: no credentials, bad parameters
                retryable = False
                reason = f"{type(exc).__name__}: {privacy.redact(exc)}"
            if not retryable or attempt == attempts:
                raise DeliveryFailed(reason[:1000], status, code, attempt)
            delay = min(self.settings.backoff_cap_seconds, self.settings.backoff_seconds * 2 ** (attempt - 1))
            delay *= 0.5 + random.random() / 2  # jitter, so retries from many turns don't arrive together
            logger.warning("Twilio send attempt %s of %s failed (%s); retrying in %.1fs", attempt, attempts,
                           reason, delay)
            await self.sleep(delay)
        raise AssertionError("unreachable")

