"""Rasa event broker that records crisis detections inside the Rasa server process.

Configured in endpoints.yml. Rasa publishes every event of every conversation here as it saves the
tracker, so a crisis message is recorded — and its alert queued — even when the action server is
down. Nothing here can break the conversation: every failure is caught, logged and journalled.
`publish` runs on Rasa's event loop, so the database write is handed to one background thread (in
order); the loop never waits on the database. Rasa closes the broker at shutdown, which waits for it.
"""
from __future__ import annotations

import logging
from collections import OrderedDict
from concurrent.futures import ThreadPoolExecutor
from typing import Any, Dict, Optional, Text

from rasa.core.brokers.broker import EventBroker

from bot.escalation import Detection, record_safely

logger = logging.getLogger(__name__)
CRISIS_PREFIX = "crisis_"
REMEMBERED_CONVERSATIONS = 10_000


def category_of(parse_data: Dict[Text, Any]) -> Optional[str]:
    """The crisis category a parsed message carries: the lexicon's entity, else a crisis intent."""
    for entity in parse_data.get("entities") or []:
        if entity.get("entity") == "crisis_category" and entity.get("value"):
            return str(entity["value"])
    intent = (parse_data.get("intent") or {}).get("name") or ""
    return intent[len(CRISIS_PREFIX):] if intent.startswith(CRISIS_PREFIX) else None


class EscalationEventBroker(EventBroker):
    def __init__(self) -> None:
        # The area a conversation has given, from its slot events (for routing to the right board).
        self._areas: "OrderedDict[str, Dict[str, Optional[str]]]" = OrderedDict()
        self._writer = ThreadPoolExecutor(max_workers=1, thread_name_prefix="escalation-broker")

    @classmethod
    async def from_endpoint_config(cls, broker_config, event_loop=None) -> "EscalationEventBroker":
        return cls()

    def publish(self, event: Dict[Text, Any]) -> None:
        try:
            self._handle(event)
        except Exception:
            logger.exception("Escalation broker failed on an event")

    def _handle(self, event: Dict[Text, Any]) -> None:
        sender = event.get("sender_id") or "unknown"
        if event.get("event") == "slot" and event.get("name") in ("council_code", "board_code"):
            self._areas.setdefault(sender, {})[event["name"]] = event.get("value")
            self._areas.move_to_end(sender)
            while len(self._areas) > REMEMBERED_CONVERSATIONS:
                self._areas.popitem(last=False)
            return
        if event.get("event") != "user":
            return
        category = category_of(event.get("parse_data") or {})
        if not category:
            return
        area = self._areas.get(sender, {})
        detection = Detection(conversation_id=sender, channel=event.get("input_channel"), category=category,
                              message=event.get("text") or "", area_code=area.get("council_code"),
                              board_code=area.get("board_code"))
        self._writer.submit(record_safely, detection)

    def flush(self) -> None:
        """Wait until every detection published so far is recorded (tests, shutdown)."""
        self._writer.submit(lambda: None).result()

    async def close(self) -> None:
        self._writer.shutdown(wait=True)
