"""Evaluation built in (seed recommendations 5.1, 5.2): anonymised facts about what people asked for, what
they were offered, where nothing local fitted, whether it helped, and how they got on.

An event holds no words, no numbers, no names and no conversation id: only the day, codes (area, format,
audience, stage, needs, service ids, outcome) and `person`, a keyed hash of the conversation under this
month's key (`PseudonymKey`). Keys older than the current month are deleted, so last month's events can't
be linked to a conversation by anyone, us included; and once a conversation is erased nothing holds its
id to hash. `python -m bot.report` turns the events into the commissioners' report.
"""
from __future__ import annotations

import hashlib
import hmac
import logging
import secrets
from datetime import date
from typing import Iterable

from sqlalchemy import delete
from sqlalchemy.orm import Session

from bot.db import session_scope
from bot.models import EvaluationEvent, PseudonymKey

logger = logging.getLogger(__name__)

FEEDBACK = {"yes": "Yes, it helped", "partly": "A bit", "no": "No"}
FEEDBACK_REASONS = {"nothing_near": "Nothing near me", "wrong_kind": "Not the kind of support I wanted",
                    "hard_to_use": "Hard to use", "other": "Something else"}
FOLLOW_UP_OUTCOMES = {"contacted_helped": "Got in touch, it helped",
                      "contacted_not_helped": "Got in touch, it didn't help", "not_yet": "Not yet",
                      "no_longer_needed": "Don't need it now"}


def _key(session: Session, today: date) -> bytes:
    period = today.strftime("%Y-%m")
    row = session.get(PseudonymKey, period)
    if row is None:
        session.execute(delete(PseudonymKey).where(PseudonymKey.period != period))  # rotation: old keys go
        row = PseudonymKey(period=period, key=secrets.token_hex(32))
        session.add(row)
        session.flush()
    return bytes.fromhex(row.key)


def pseudonym(session: Session, conversation_id: str, today: date) -> str:
    digest = hmac.new(_key(session, today), conversation_id.encode("utf-8"), hashlib.sha256).hexdigest()[:16]
    return f"{today:%Y-%m}:{digest}"


def channel_name(input_channel: str | None) -> str | None:
    """The channel as the report groups it (the conversation id's prefix says more than Rasa's name)."""
    return {"socketio": "web", "twilio": "sms/whatsapp"}.get(input_channel or "", input_channel)


def record(session: Session, kind: str, conversation_id: str | None = None, channel: str | None = None,
           today: date | None = None, **facts) -> None:
    today = today or date.today()
    session.add(EvaluationEvent(occurred_on=today, kind=kind, channel=channel_name(channel),
                                person=pseudonym(session, conversation_id, today) if conversation_id else None,
                                **{k: v for k, v in facts.items() if v not in (None, "", ())}))


def record_safely(kind: str, conversation_id: str | None = None, channel: str | None = None, **facts) -> None:
    """For callers whose own work must not fail because evaluation did (a reply, an erasure)."""
    try:
        with session_scope() as session:
            record(session, kind, conversation_id, channel, **facts)
    except Exception:  # noqa: BLE001 - evaluation is never worth a failed turn
        logger.exception("Recording an evaluation event (%s) failed", kind)


def record_search(session: Session, conversation_id: str | None, channel: str | None, request,
                  service_ids: Iterable[str], local_fit: bool) -> None:
    """A first search: what was asked for, what was offered, and whether anything local fitted."""
    facts = dict(board_code=request.board_code, area_code=request.council_code or request.board_code,
                 format=request.format, audience=request.audience, stage=request.stage,
                 needs=",".join(request.needs) or None)
    record(session, "request", conversation_id, channel, **facts)
    record(session, "suggestion", conversation_id, channel, service_ids=",".join(service_ids) or None, **facts)
    if request.council_code or request.board_code:
        if not local_fit:
            record(session, "unmet_need", conversation_id, channel, **facts)


def record_search_safely(conversation_id: str | None, channel: str | None, request, service_ids: Iterable[str],
                         local_fit: bool) -> None:
    try:
        with session_scope() as session:
            record_search(session, conversation_id, channel, request, service_ids, local_fit)
    except Exception:  # noqa: BLE001 - the suggestions matter more than counting them
        logger.exception("Recording a search for evaluation failed")


def record_erasure(channel: str | None) -> None:
    record_safely("erasure", None, channel)

