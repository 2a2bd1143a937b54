"""Rasa event broker that records crisis detections inside the Rasa server process.

Configured in endpoints.yml. Rasa publishes every event of every conversation here as it saves the
tracker, so a crisis message is recorded — and its alert queued — even when the action server is
down. Nothing here can break the conversation: every failure is caught, logged and journalled.
`publish` runs on Rasa's event loop, so database writes are handed to one background thread (in
order); the loop never waits on the database. Rasa closes the broker at shutdown, which waits for it.

What is recorded, from each turn's events (all published together by the instance that ran the turn):
- a user message carrying a crisis category (the crisis component's entity, else a crisis intent):
  an escalation, alerted as the episode rules say;
- a crisis answer (`utter_crisis_<category>`) in a turn whose message carried no category — a "yes" to
  the possible-risk question, or any other path to a crisis answer: an escalation too, so no crisis
  answer is ever given without its record;
- a possible-risk signal (`possible_*` intents) or an urgent-help request: kept for review, no alert,
  with the person's answer to the question when it comes.
"""
from __future__ import annotations

import logging
import time
from collections import OrderedDict
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from typing import Any, Dict, Optional, Text

from rasa.core.brokers.broker import EventBroker

from bot.crisis import CATEGORIES
from bot.escalation import Detection, journal, record_review, record_review_answer, record_safely, replay_journal

logger = logging.getLogger(__name__)
CRISIS_PREFIX = "crisis_"
POSSIBLE_PREFIX = "possible_"
CRISIS_ANSWER_PREFIX = "utter_crisis_"
POSSIBLE_QUESTION_PREFIX = "utter_possible_"
REVIEWED_INTENTS = ("urgent_help",)
REMEMBERED_CONVERSATIONS = 10_000
REPLAY_EVERY_SECONDS = 30  # while this process has journalled detections, how often it tries the database


def category_of(parse_data: Dict[Text, Any]) -> Optional[str]:
    """The crisis category a parsed message carries: the lexicon's entity, else a crisis intent."""
    for entity in parse_data.get("entities") or []:
        if entity.get("entity") == "crisis_category" and entity.get("value"):
            return str(entity["value"])
    intent = (parse_data.get("intent") or {}).get("name") or ""
    category = intent[len(CRISIS_PREFIX):] if intent.startswith(CRISIS_PREFIX) else None
    return category if category in CATEGORIES else None


def review_reason(parse_data: Dict[Text, Any]) -> Optional[str]:
    """Why the crisis component asked rather than answered, with the lexicon rule when one decided (its id, never
    the words): "net", "ask_rule:PL-A-03", "alarm_doubted:UR-S-21", "told_as_over:EN-S-02"."""
    details = parse_data.get("crisis")
    if not isinstance(details, dict) or not details.get("asked_because"):
        return None
    because, rule = str(details["asked_because"]), details.get("rule")
    return f"{because}:{rule}" if rule and because != "net" else because


def answer_to_question(intent: str) -> str:
    if intent == "affirm" or intent.startswith((CRISIS_PREFIX, POSSIBLE_PREFIX)):
        return "yes"
    if intent == "unsure":  # answered as a yes (data/rules/crisis.yml), recorded as what was said
        return "unsure"
    return "no" if intent == "deny" else "none"


@dataclass
class _Turn:
    text: str
    channel: Optional[str]
    recorded: bool  # an escalation was recorded for this message


class _Recent(OrderedDict):
    """Per-conversation memory, bounded (the oldest conversations are forgotten first)."""

    def remember(self, key: str, value: Any) -> None:
        self[key] = value
        self.move_to_end(key)
        while len(self) > REMEMBERED_CONVERSATIONS:
            self.popitem(last=False)


class EscalationEventBroker(EventBroker):
    def __init__(self) -> None:
        # The area a conversation has given, from its slot events (for routing to the right board).
        self._areas = _Recent()
        self._turns = _Recent()  # each conversation's latest user message
        self._asked = _Recent()  # conversations whose last bot message was the possible-risk question
        self._writer = ThreadPoolExecutor(max_workers=1, thread_name_prefix="escalation-broker")
        self._last_replay = 0.0

    @classmethod
    async def from_endpoint_config(cls, broker_config, event_loop=None) -> "EscalationEventBroker":
        return cls()

    def publish(self, event: Dict[Text, Any]) -> None:
        try:
            self._handle(event)
            self._replay_when_due()
        except Exception:
            logger.exception("Escalation broker failed on an event")

    def _replay_when_due(self) -> None:
        """Detections this process journalled while the database was down are recorded from here, on the
        writer thread, once it is back: the journal is on this process's own disk (a Kubernetes pod's),
        where no other process may see it."""
        now = time.monotonic()
        if now - self._last_replay >= REPLAY_EVERY_SECONDS and journal.journal_path().exists():
            self._last_replay = now
            self._writer.submit(replay_journal)

    def _handle(self, event: Dict[Text, Any]) -> None:
        sender = event.get("sender_id") or "unknown"
        kind = event.get("event")
        if kind == "slot" and event.get("name") in ("council_code", "board_code"):
            self._areas.remember(sender, {**self._areas.get(sender, {}), event["name"]: event.get("value")})
        elif kind == "user":
            self._user(sender, event)
        elif kind == "bot":
            self._bot(sender, (event.get("metadata") or {}).get("utter_action") or "")

    def _user(self, sender: str, event: Dict[Text, Any]) -> None:
        parse_data = event.get("parse_data") or {}
        intent = (parse_data.get("intent") or {}).get("name") or ""
        text, channel = event.get("text") or "", event.get("input_channel")
        if self._asked.pop(sender, None):
            self._writer.submit(record_review_answer, sender, answer_to_question(intent))
        category = category_of(parse_data)
        self._turns.remember(sender, _Turn(text, channel, recorded=bool(category)))
        if category:
            self._record(sender, category, text, channel)
        elif intent.startswith(POSSIBLE_PREFIX) or intent in REVIEWED_INTENTS:
            self._writer.submit(record_review, sender, channel, intent, text, None, review_reason(parse_data))

    def _bot(self, sender: str, utter_action: str) -> None:
        if utter_action.startswith(POSSIBLE_QUESTION_PREFIX):
            self._asked.remember(sender, True)
        category = utter_action.removeprefix(CRISIS_ANSWER_PREFIX)
        turn = self._turns.get(sender)
        if utter_action.startswith(CRISIS_ANSWER_PREFIX) and category in CATEGORIES and turn and not turn.recorded:
            turn.recorded = True
            self._record(sender, category, turn.text, turn.channel)

    def _record(self, sender: str, category: str, text: str, channel: Optional[str]) -> None:
        area = self._areas.get(sender, {})
        self._writer.submit(record_safely, Detection(conversation_id=sender, channel=channel, category=category,
                                                     message=text, area_code=area.get("council_code"),
                                                     board_code=area.get("board_code")))

    def flush(self) -> None:
        """Wait until every event published so far is written (tests, shutdown)."""
        self._writer.submit(lambda: None).result()

    async def close(self) -> None:
        self._writer.shutdown(wait=True)
