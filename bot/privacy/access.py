"""A subject access request: everything held about one conversation, as JSON
(`python -m bot.privacy export --conversation ID` or `--number +447700900123`)."""
from __future__ import annotations

import json
from datetime import date, datetime
from typing import Any

from sqlalchemy import select, text

from bot import config
from bot.db import engine_for, session_scope, tracker_events
from bot.models import (ChannelContact, ErasureRequest, Escalation, FollowUp, PrivacyNotice, RiskReview,
                        TwilioDelivery, TwilioInbound, TwilioMenu, TwilioOptOut)


def _row(obj) -> dict[str, Any]:
    return {c.name: getattr(obj, c.name) for c in obj.__table__.columns}


def held_about(conversation_id: str) -> dict[str, Any]:
    tracker = tracker_events(config.settings().tracker_store_url)
    with (tracker or engine_for("sqlite://")).connect() as connection:
        events = [] if tracker is None else [{"type": row.type_name, "time": datetime.utcfromtimestamp(row.timestamp),
                   **{k: v for k, v in json.loads(row.data).items()
                      if k in ("text", "name", "value", "parse_data") and v not in (None, "")}}
                  for row in connection.execute(text(
                      "SELECT type_name, timestamp, data FROM events WHERE sender_id = :sender ORDER BY id"),
                      {"sender": conversation_id})
                  if row.type_name in ("user", "bot", "slot")]
    for event in events:  # the words and what was understood, not the model's internals
        parse = event.pop("parse_data", None) or {}
        if parse.get("intent"):
            event["understood_as"] = parse["intent"].get("name")
    held: dict[str, Any] = {"conversation_id": conversation_id, "conversation": events}
    with session_scope() as session:
        escalations = session.scalars(select(Escalation).where(Escalation.conversation_id == conversation_id)).all()
        held["escalations"] = [{**_row(e), "alerts": [{k: v for k, v in _row(a).items() if k != "contact_id"}
                                                       for a in e.alerts]} for e in escalations]
        for name, table in (("risk_reviews", RiskReview), ("phone_number", ChannelContact),
                            ("sms_received", TwilioInbound), ("sms_menu", TwilioMenu), ("sms_sent", TwilioDelivery),
                            ("sms_opt_out", TwilioOptOut), ("privacy_notice", PrivacyNotice),
                            ("follow_up", FollowUp), ("erasure_request", ErasureRequest)):
            held[name] = [_row(r) for r in session.scalars(
                select(table).where(table.conversation_id == conversation_id))]
    held["evaluation_events"] = ("anonymised: held under a monthly pseudonym that is not linked to this "
                                 "conversation id, so they cannot be found or returned")
    return held


def to_json(held: dict[str, Any]) -> str:
    def default(value: Any) -> str:
        if isinstance(value, (datetime, date)):
            return value.isoformat()
        return str(value)
    return json.dumps(held, indent=2, ensure_ascii=False, default=default)
