"""Crisis escalation: record every detected crisis message and alert the right clinical contact.

- Every detection is recorded (conversation, channel, category, time, area, the message).
- An alert goes out for the first detection of an episode (EPISODE after the last alerted one) and
  again whenever the category becomes more serious; repeated messages in an episode add no alert.
- Alerts go to the person's health board contacts that are on duty now, else the national default
  (24/7), through a durable outbox: delivered, or after MAX_ATTEMPTS visibly `failed` — never dropped.
- A call-back number is added only after the person agrees.
- A flood brake (ALERTS_PER_HOUR): beyond that many alerts in an hour — more than any service sees, so most
  likely automated messages — detections are still recorded, and one summary alert says so instead.
"""
from __future__ import annotations

import logging
import re
from dataclasses import dataclass
from datetime import datetime, time, timedelta
from typing import Callable, Protocol
from zoneinfo import ZoneInfo

from sqlalchemy import or_, select
from sqlalchemy.orm import Session

from bot import config, privacy
from bot.crisis import CATEGORIES
from bot.db import session_scope
from bot.models import Alert, ChannelContact, ClinicalContact, Escalation, RiskReview, TwilioInbound
from bot.vocabulary import areas

logger = logging.getLogger(__name__)

EPISODE = timedelta(hours=24)
MAX_ATTEMPTS = 8
BACKOFF_BASE = timedelta(seconds=15)
BACKOFF_CAP = timedelta(minutes=15)
LOCAL_TIME = ZoneInfo("Europe/London")
SEVERITY = {category: len(CATEGORIES) - i for i, category in enumerate(CATEGORIES)}  # higher = more urgent
CATEGORY_NAMES = {
    "medical_emergency": "medical emergency", "suicide_self_harm": "suicidal thoughts or self-harm",
    "harm_to_baby": "thoughts of harming the baby", "psychosis": "possible postpartum psychosis",
    "abuse_danger": "abuse or danger at home", "sexual_violence": "sexual violence",
}
DAYS = ("mon", "tue", "wed", "thu", "fri", "sat", "sun")
HOURS_PATTERN = re.compile(r"^(?P<d1>[a-z]{3})(?:-(?P<d2>[a-z]{3}))?\s+(?P<t1>\d{2}:\d{2})-(?P<t2>\d{2}:\d{2})$")


def utcnow() -> datetime:
    return datetime.utcnow()


def on_duty(hours: str, now_utc: datetime) -> bool:
    """'24/7', or comma-separated 'Mon-Fri 09:00-17:00' style windows in UK local time."""
    if hours.strip().lower() == "24/7":
        return True
    local = now_utc.replace(tzinfo=ZoneInfo("UTC")).astimezone(LOCAL_TIME)
    for window in hours.lower().split(","):
        match = HOURS_PATTERN.match(window.strip())
        if not match:
            raise ValueError(f"hours '{hours}' not understood: use '24/7' or e.g. 'Mon-Fri 09:00-17:00'")
        first, last = DAYS.index(match["d1"]), DAYS.index(match["d2"] or match["d1"])
        opens, closes = time.fromisoformat(match["t1"]), time.fromisoformat(match["t2"])
        if first <= local.weekday() <= last and opens <= local.time() < closes:
            return True
    return False


def contacts_for(session: Session, board_code: str | None, now: datetime) -> list[ClinicalContact]:
    """The board's contacts on duty now; else the national default contacts (out of hours, or no board)."""
    candidates = session.scalars(select(ClinicalContact).where(
        ClinicalContact.active.is_(True),
        or_(ClinicalContact.board_code == board_code, ClinicalContact.board_code.is_(None)))).all()
    local = [c for c in candidates if board_code and c.board_code == board_code and on_duty(c.hours, now)]
    return local or [c for c in candidates if c.board_code is None and on_duty(c.hours, now)]


@dataclass(frozen=True)
class Detection:
    conversation_id: str
    channel: str | None
    category: str
    message: str
    area_code: str | None = None
    board_code: str | None = None


def record(session: Session, detection: Detection, now: datetime | None = None) -> Escalation:
    """Record a detected crisis message and queue alerts when it starts an episode or is more serious."""
    now = now or utcnow()
    if detection.category not in SEVERITY:
        raise ValueError(f"unknown crisis category {detection.category!r}")
    board = detection.board_code or (areas()[detection.area_code].board_code
                                     if detection.area_code in areas() else None)
    previous = session.scalars(select(Escalation).where(
        Escalation.conversation_id == detection.conversation_id, Escalation.alerted.is_(True),
        Escalation.detected_at > now - EPISODE)).all()
    worst_alerted = max((SEVERITY[e.category] for e in previous), default=0)
    escalation = Escalation(conversation_id=detection.conversation_id, channel=detection.channel,
                            category=detection.category, detected_at=now, area_code=detection.area_code,
                            board_code=board, message=detection.message[:4000],
                            language=written_language(detection.message),
                            alerted=SEVERITY[detection.category] > worst_alerted)
    session.add(escalation)
    if escalation.alerted:
        reason = "more_serious" if previous else "new"
        queue_alerts(session, escalation, reason, now)
    session.flush()
    return escalation


def record_safely(detection: Detection, now: datetime | None = None) -> None:
    """Record a detection in its own transaction; if the database can't take it, journal it to disk (the
    delivery worker replays the journal). Never raises: every path that answers a crisis calls this."""
    from bot.escalation import journal
    now = now or utcnow()
    try:
        with session_scope() as session:
            record(session, detection, now)
    except Exception:
        logger.critical("Could not record a crisis detection in the database; journalling it", exc_info=True)
        try:
            journal.append(detection, now)
        except Exception:
            logger.critical("Could not journal a crisis detection either: it is lost", exc_info=True)


def replay_journal() -> int:
    """Records the detections journalled while the database was down (bot/escalation/journal.py)."""
    from bot.escalation import journal

    def record_one(item, detected_at):
        with session_scope() as session:
            record(session, Detection(**item), detected_at)
    return journal.replay(record_one)


def record_review(conversation_id: str, channel: str | None, kind: str, message: str,
                  now: datetime | None = None, reason: str | None = None) -> None:
    """Keep a possible-risk signal (or an urgent-help request) for clinical review, with why it was asked
    (`RiskReview.reason`): no alert. Never raises."""
    try:
        with session_scope() as session:
            session.add(RiskReview(conversation_id=conversation_id, channel=channel, kind=kind,
                                   message=message[:4000], detected_at=now or utcnow(),
                                   reason=reason[:80] if reason else None))
    except Exception:
        logger.error("Could not keep a possible-risk signal for review", exc_info=True)


def record_review_answer(conversation_id: str, answer: str) -> None:
    """The person's answer to the possible-risk question: yes, unsure, no, or none (no answer, another topic)."""
    try:
        with session_scope() as session:
            review = session.scalars(select(RiskReview).where(RiskReview.conversation_id == conversation_id)
                                     .order_by(RiskReview.id.desc())).first()
            if review is not None and review.answer is None:
                review.answer = answer
    except Exception:
        logger.error("Could not record the answer to a possible-risk question", exc_info=True)


FLOOD_WINDOW = timedelta(hours=1)


def over_alert_limit(session: Session, now: datetime) -> tuple[bool, bool]:
    """(limit reached, summary already queued) for the crisis alerts of the last hour."""
    limit = config.settings().alerts_per_hour
    recent = session.scalars(select(Alert.reason).where(Alert.created_at > now - FLOOD_WINDOW,
                                                        Alert.reason.in_(("new", "more_serious", "flood")))).all()
    return len([reason for reason in recent if reason != "flood"]) >= limit, "flood" in recent


def queue_alerts(session: Session, escalation: Escalation, reason: str, now: datetime) -> list[Alert]:
    if reason != "callback":  # a call-back follows a verified phone conversation and is always sent
        flooded, summarised = over_alert_limit(session, now)
        if flooded:
            logger.critical("Alert limit reached (%s an hour): detection recorded, alert %s",
                            config.settings().alerts_per_hour, "already summarised" if summarised else "summarised")
            if summarised:
                return []
            reason = "flood"
    contacts = contacts_for(session, escalation.board_code, now)
    if not contacts:
        # No one configured is a safety gap, not a reason to drop the alert: it is kept, visibly failed.
        logger.critical("No clinical contact configured for board %s; alert recorded as failed",
                        escalation.board_code)
        session.add(Alert(escalation=escalation, contact_id=None, reason=reason, body=alert_body(escalation, reason),
                          status="failed", last_error="no clinical contact configured", next_attempt_at=now,
                          created_at=now))
        return []
    # An SMS/WhatsApp alert waits a little, so its text can say whether the crisis reply reached the phone.
    first_attempt = now + TWILIO_ALERT_DELAY if escalation.channel == "twilio" and reason != "callback" else now
    alerts = [Alert(escalation=escalation, contact=contact, reason=reason, body=alert_body(escalation, reason),
                    next_attempt_at=first_attempt, created_at=now) for contact in contacts]
    session.add_all(alerts)
    return alerts


TWILIO_ALERT_DELAY = timedelta(seconds=20)  # long enough to know whether the crisis reply reached the phone
REPLY_OUTCOMES = {
    "answered": "They were sent emergency numbers by text.",
    "failed": "Our reply with emergency numbers could NOT be delivered to their phone.",
    "suppressed": "They could NOT be answered: this number had opted out of texts (STOP).",
}


def reply_outcome(session: Session | None, escalation: Escalation) -> str:
    """What the person was actually given, as far as the system knows when the alert goes."""
    if escalation.channel in ("rest", "socketio"):
        return "They were shown emergency numbers in the chat."
    if escalation.channel == "twilio" and session is not None:
        status = session.scalars(select(TwilioInbound.status).where(
            TwilioInbound.conversation_id == escalation.conversation_id,
            TwilioInbound.received_at <= escalation.detected_at + timedelta(seconds=5))
            .order_by(TwilioInbound.received_at.desc())).first()
        if status in REPLY_OUTCOMES:
            return REPLY_OUTCOMES[status]
    return "Whether our reply with emergency numbers reached them is not confirmed."


def alert_body(escalation: Escalation, reason: str, session: Session | None = None) -> str:
    if reason == "flood":
        return (f"[Perinatal peer support assistant] Alert limit reached: {config.settings().alerts_per_hour} "
                "possible crises in the last hour, more than this service normally sees (it may be automated "
                "messages). Every detection is still recorded and each person was given emergency numbers; "
                "further alerts are held back for this hour. Review them: python -m bot.escalation report.")
    area = areas().get(escalation.board_code or "")
    lead = {"new": "Possible crisis", "more_serious": "Crisis became more serious",
            "callback": "Call-back requested"}[reason]
    callback = (f"Call-back agreed: {escalation.callback_number}." if escalation.callback_consent
                else "No call-back consent yet.")
    return (f"[Perinatal peer support assistant] {lead}: {CATEGORY_NAMES[escalation.category]}. "
            f"{_written_in(escalation.language)}"
            f"Ref {privacy.ref(escalation.conversation_id)}, via {escalation.channel or 'unknown channel'}, "
            f"{area.name if area else 'area unknown'}, "
            f"{escalation.detected_at:%d %b %H:%M} UTC. {reply_outcome(session, escalation)} "
            f"Message: \"{escalation.message[:300]}\" {callback}")


def written_language(message: str) -> str | None:
    """The language a crisis message was written in, found once, when it is recorded (see Escalation.language).
    None if the language layer fails: the record matters more."""
    try:
        from bot import language
        return language.reply_language(message or "")
    except Exception:  # noqa: BLE001
        logger.exception("Could not tell the language of a crisis message; its alert won't name one")
        return None


def _written_in(code: str | None) -> str:
    """A clinician calling back needs to know the person may need an interpreter. From the language recorded
    with the escalation, never by identifying it here: the action server and the alert worker would load the
    language detector (about 10 s) inside a write transaction, stalling every other writer (hazard log H43)."""
    try:
        from bot import language
        spoken = language.get(code) if code else None
    except Exception:  # noqa: BLE001 — the alert matters more than this line
        return ""
    return f"Written in {spoken.name}: a call-back may need an interpreter. " if spoken else ""


def grant_callback(session: Session, conversation_id: str, now: datetime | None = None) -> Escalation | None:
    """The person agreed to a call-back: add their number to the latest escalation and alert again."""
    now = now or utcnow()
    escalation = session.scalars(select(Escalation).where(Escalation.conversation_id == conversation_id)
                                 .order_by(Escalation.detected_at.desc(), Escalation.id.desc())).first()
    contact = session.get(ChannelContact, conversation_id)
    if escalation is None or contact is None:
        return None
    escalation.callback_consent = True
    escalation.callback_number = contact.address.removeprefix("whatsapp:")
    queue_alerts(session, escalation, "callback", now)
    session.flush()
    return escalation


class Notifier(Protocol):
    def __call__(self, contact: ClinicalContact, body: str) -> None: ...  # raises on failure


CLAIM_LEASE = timedelta(minutes=2)  # an alert being sent is not due again until then (a crash mid-send retries)


@dataclass(frozen=True)
class _Delivery:
    alert_id: int
    attempts: int
    contact: ClinicalContact  # a detached copy: the notifier runs outside any transaction
    body: str


def deliver_due(notifiers: dict[str, Notifier], now: datetime | None = None,
                on_failed: Callable[[Alert], None] | None = None, url: str | None = None) -> dict[str, int]:
    """Try every pending alert that is due; back off on failure; fail visibly after MAX_ATTEMPTS.

    Three short transactions, never one held across a network call: claim what is due, send each alert
    with no transaction open, then write the outcomes. A long write transaction would stall everything
    else that writes (the Rasa process records detections) for as long as a slow contact takes."""
    now = now or utcnow()
    counts = {"delivered": 0, "retrying": 0, "failed": 0}
    with session_scope(url) as session:
        due = session.scalars(select(Alert).where(Alert.status == "pending", Alert.next_attempt_at <= now)
                              .order_by(Alert.id)).all()
        deliveries = []
        for alert in due:
            alert.attempts += 1
            alert.next_attempt_at = now + CLAIM_LEASE
            alert.body = alert_body(alert.escalation, alert.reason, session)  # as things stand now
            contact = ClinicalContact(id=alert.contact.id, name=alert.contact.name, role=alert.contact.role,
                                      channel=alert.contact.channel, address=alert.contact.address,
                                      hours=alert.contact.hours, board_code=alert.contact.board_code)
            deliveries.append(_Delivery(alert.id, alert.attempts, contact, alert.body))
    outcomes: list[tuple[_Delivery, str | None]] = []
    for delivery in deliveries:
        try:
            notifiers[delivery.contact.channel](delivery.contact, delivery.body)
            outcomes.append((delivery, None))
        except Exception as exc:  # any failure: network, 5xx, misconfiguration
            outcomes.append((delivery, f"{type(exc).__name__}: {exc}"[:1000]))
    failed: list[Alert] = []
    with session_scope(url) as session:
        for delivery, error in outcomes:
            alert = session.get(Alert, delivery.alert_id)
            if error is None:
                alert.status, alert.delivered_at, alert.last_error = "delivered", now, None
                counts["delivered"] += 1
            elif delivery.attempts >= MAX_ATTEMPTS:
                alert.status, alert.last_error = "failed", error
                counts["failed"] += 1
                logger.critical("Alert %s to contact %s FAILED after %s attempts: %s", alert.id,
                                alert.contact_id, delivery.attempts, error)
                failed.append(alert)
            else:
                alert.last_error = error
                alert.next_attempt_at = now + min(BACKOFF_BASE * 2 ** (delivery.attempts - 1), BACKOFF_CAP)
                counts["retrying"] += 1
                logger.warning("Alert %s not delivered (attempt %s): %s", alert.id, delivery.attempts, error)
    for alert in failed:
        if on_failed:
            on_failed(alert)
    return counts
