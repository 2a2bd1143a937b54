"""Erasing one person's data when they ask ("delete my data"), on every channel.

What goes: the conversation in Rasa's tracker store (every word both ways), the words of any escalation
and risk review, alert bodies (they quote the words and any call-back number), the phone number
(`channel_contact`), the SMS menus, delivery log and received-message log, the privacy-notice and
follow-up rows, and the person's lines in the escalation journal. What stays, with nothing that leads
back to the person: an escalation's category, time, board and alert outcome under a random reference
(a clinical audit needs them), and an SMS opt-out (a suppression list: keeping a STOP is honouring it).

Two rules keep it safe:
- It runs after Rasa has saved the turn (the channel guard, bot/privacy/turns.py): Rasa's SQL tracker store
  re-inserts a whole session whose rows vanish in the middle of a turn.
- An escalation is never lost to erasure: a detection still in the journal, or an alert still waiting
  to be delivered, is kept until the alert worker has delivered it; the request waits (`status =
  waiting`) and the worker finishes it (`finish_waiting`).

SQLite: every connection has `secure_delete` on (bot/db.py), and the write-ahead logs are checkpointed
and truncated afterwards, so the words can't be read back from the database files. PostgreSQL: see
docs/data-protection.md.
"""
from __future__ import annotations

import json
import logging
import os
import secrets
from dataclasses import dataclass, field
from datetime import datetime
from pathlib import Path

from sqlalchemy import delete, select, text, update

from bot import config
from bot.db import checkpoint, session_scope, tracker_events
from bot.escalation import journal
from bot.models import (Alert, ChannelContact, ErasureRequest, Escalation, FollowUp, PrivacyNotice, RiskReview,
                        TwilioDelivery, TwilioInbound, TwilioMenu)

logger = logging.getLogger(__name__)

ERASED = "[erased at the person's request]"
CONFIRM_PAYLOAD = "/confirm_erasure"


@dataclass
class Erasure:
    """What one erasure removed (counts only) and whether part of it waits for an alert to be delivered."""
    removed: dict[str, int] = field(default_factory=dict)
    waiting: bool = False


def request(conversation_id: str, channel: str | None, now: datetime | None = None) -> None:
    """Record a confirmed request (the action server does this for a typed "yes"); `finish` carries it out."""
    with session_scope() as session:
        if session.get(ErasureRequest, conversation_id) is None:
            session.add(ErasureRequest(conversation_id=conversation_id, channel=channel,
                                       requested_at=now or datetime.utcnow()))


def erase(conversation_id: str, channel: str | None = None) -> Erasure:
    """Erase everything held about one conversation, except what must first reach a clinician."""
    result = Erasure()
    waiting_escalations = _waiting_escalations(conversation_id)
    journalled = _journal_mentions(conversation_id)
    result.waiting = bool(waiting_escalations or journalled)
    tracker_url = config.settings().tracker_store_url
    tracker = tracker_events(tracker_url)
    if tracker is not None:
        with tracker.begin() as connection:
            result.removed["tracker events"] = connection.execute(
                text("DELETE FROM events WHERE sender_id = :sender"), {"sender": conversation_id}).rowcount
    with session_scope() as session:
        escalations = session.scalars(select(Escalation).where(Escalation.conversation_id == conversation_id,
                                                               Escalation.id.not_in(waiting_escalations))).all()
        for escalation in escalations:
            # The audit keeps category, time, board and outcome, under a reference nobody can link back.
            escalation.conversation_id = "erased:" + secrets.token_hex(8)
            escalation.message, escalation.callback_number, escalation.language = ERASED, None, None
            for alert in escalation.alerts:
                alert.body = ERASED
        result.removed["escalations anonymised"] = len(escalations)
        reviews = session.execute(update(RiskReview).where(RiskReview.conversation_id == conversation_id).values(
            conversation_id="erased:" + secrets.token_hex(8), message=ERASED)).rowcount
        result.removed["risk reviews anonymised"] = reviews
        for table in (ChannelContact, TwilioMenu, TwilioDelivery, TwilioInbound, PrivacyNotice, FollowUp):
            result.removed[table.__tablename__] = session.execute(
                delete(table).where(table.conversation_id == conversation_id)).rowcount
        request_row = session.get(ErasureRequest, conversation_id)
        if result.waiting:
            if request_row is None:
                session.add(ErasureRequest(conversation_id=conversation_id, channel=channel, status="waiting"))
            else:
                request_row.status = "waiting"
        elif request_row is not None:
            session.delete(request_row)
    if not journalled:
        _rewrite_journals_without(conversation_id)
    for url in (tracker_url, config.settings().database_url):
        checkpoint(url)
    if not result.waiting:
        from bot.evaluation import record_erasure  # counted, never linked
        record_erasure(channel)
    logger.info("Erased a conversation (%s): %s%s", channel or "?",
                ", ".join(f"{k} {v}" for k, v in result.removed.items() if v) or "nothing held",
                "; waiting for an alert to be delivered before erasing the rest" if result.waiting else "")
    return result


def erase_traces(conversation_id: str) -> None:
    """After the erasure's own confirmation has been sent by SMS/WhatsApp: the rows that sending wrote
    (delivery log, menu, received-message log) go too."""
    with session_scope() as session:
        for table in (ChannelContact, TwilioMenu, TwilioDelivery, TwilioInbound):
            session.execute(delete(table).where(table.conversation_id == conversation_id))
    checkpoint(config.settings().database_url)


def finish_waiting() -> int:
    """Finish requests that waited for an alert (the alert worker, after each delivery round)."""
    with session_scope() as session:
        waiting = [(r.conversation_id, r.channel) for r in session.scalars(
            select(ErasureRequest).where(ErasureRequest.status == "waiting"))]
    done = 0
    for conversation_id, channel in waiting:
        if not erase(conversation_id, channel).waiting:
            done += 1
    return done


def _waiting_escalations(conversation_id: str) -> list[int]:
    with session_scope() as session:
        return list(session.scalars(select(Alert.escalation_id).join(Escalation).where(
            Escalation.conversation_id == conversation_id, Alert.status == "pending")).unique())


def _journal_files() -> list[Path]:
    path = journal.journal_path()
    return [p for p in (path, path.with_suffix(".replaying"), path.with_suffix(".unreadable")) if p.exists()]


def _journal_mentions(conversation_id: str) -> bool:
    """A journalled detection of this conversation not yet in the database (not counting unreadable lines,
    which a person reviews): it must be recorded and alerted before it can be erased."""
    path = journal.journal_path()
    for p in (path, path.with_suffix(".replaying")):
        if p.exists() and conversation_id in p.read_text(encoding="utf-8", errors="replace"):
            return True
    return False


def _rewrite_journals_without(conversation_id: str) -> None:
    """Rewrite the journal files (atomically) without the person. Only the unreadable-lines file can still
    hold them here: a readable journalled detection makes the request wait until it is recorded."""
    for path in _journal_files():
        lines = path.read_text(encoding="utf-8", errors="replace").splitlines(keepends=True)
        kept = [line for line in lines if conversation_id not in line and not _is_about(line, conversation_id)]
        if len(kept) == len(lines):
            continue
        logger.critical("%s unreadable journal line(s) of an erased conversation were removed from %s: a "
                        "detection may never have been recorded; check the escalation records",
                        len(lines) - len(kept), path)
        temporary = path.with_suffix(path.suffix + ".tmp")
        with temporary.open("wb") as file:
            file.write("".join(kept).encode("utf-8"))
            file.flush()
            os.fsync(file.fileno())
        os.replace(temporary, path)


def _is_about(line: str, conversation_id: str) -> bool:
    try:
        return json.loads(line).get("conversation_id") == conversation_id
    except (ValueError, AttributeError):
        return False
