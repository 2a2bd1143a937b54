"""The service directory, modelled on Open Referral UK / HSDS 3.0.

Table and column names follow HSDS so real directory data can come in and go out. Our
extensions are marked: perinatal taxonomy masks for fast matching, the referral route,
quality-and-safety information (seed recommendations 1.1, 2.1), and provenance
(`source`, `last_verified`) on every organisation and service.
"""
from __future__ import annotations

from datetime import date, datetime

from sqlalchemy import (Boolean, Column, Date, DateTime, ForeignKey, Index, Integer, String, Text,
                        UniqueConstraint)
from sqlalchemy.orm import declarative_base, relationship

Base = declarative_base()


class Organization(Base):
    __tablename__ = "organization"
    id = Column(String(100), primary_key=True)
    name = Column(String(300), nullable=False)
    description = Column(Text)
    website = Column(String(500))
    email = Column(String(300))
    source = Column(String(500), nullable=False)
    last_verified = Column(Date, nullable=False)
    services = relationship("Service", back_populates="organization")


class Service(Base):
    __tablename__ = "service"
    id = Column(String(100), primary_key=True)
    organization_id = Column(String(100), ForeignKey("organization.id"), nullable=False, index=True)
    name = Column(String(300), nullable=False)
    description = Column(Text)
    url = Column(String(500))
    email = Column(String(300))
    status = Column(String(20), nullable=False, default="active")  # active | paused | closed (HSDS on export)
    status_since = Column(Date)  # ext: when the status last changed, if known
    status_note = Column(Text)  # ext: why (HSDS `alert` on export)
    kind = Column(String(20), nullable=False, default="peer_support")  # ext: bot.directory.records.KINDS
    application_process = Column(Text)  # HSDS: how to refer / get in touch
    referral_route = Column(String(20), nullable=False, default="self")  # ext: self | professional | both
    volunteer_training = Column(Text)  # ext: quality and safety (seed 1.1, 2.1)
    supervision = Column(Text)
    safeguarding_policy = Column(Text)
    source = Column(String(500), nullable=False)
    source_date = Column(Date)  # ext: when the source page was published or updated, if known
    last_verified = Column(Date, nullable=False)
    # ext: bit masks of the service's taxonomy attributes (bot.vocabulary order). Derived from
    # `attributes` on every write (bot.directory.store) so matching is one indexed query.
    formats_mask = Column(Integer, nullable=False, default=0)
    audiences_mask = Column(Integer, nullable=False, default=0)
    stages_mask = Column(Integer, nullable=False, default=0)
    needs_mask = Column(Integer, nullable=False, default=0)
    # ext: within its council areas, only these postcode areas ("KW"), space-separated; NULL: all of them
    postcode_areas = Column(String(100))
    # ext: the whole record as JSON (ServiceRecord.to_dict), written with the rows above so a search
    # loads its top results in one query. The normalised tables stay the source of truth.
    record_json = Column(Text, nullable=False, default="{}")

    organization = relationship("Organization", back_populates="services")
    phones = relationship("Phone", cascade="all, delete-orphan", order_by="Phone.id")
    contacts = relationship("Contact", cascade="all, delete-orphan")
    schedules = relationship("Schedule", cascade="all, delete-orphan")
    service_areas = relationship("ServiceArea", cascade="all, delete-orphan", order_by="ServiceArea.id")
    languages = relationship("Language", cascade="all, delete-orphan")
    cost_options = relationship("CostOption", cascade="all, delete-orphan")
    attributes = relationship("Attribute", cascade="all, delete-orphan", order_by="Attribute.id")
    service_at_locations = relationship("ServiceAtLocation", cascade="all, delete-orphan")


class Location(Base):
    __tablename__ = "location"
    id = Column(String(100), primary_key=True)
    organization_id = Column(String(100), ForeignKey("organization.id"))
    location_type = Column(String(20), nullable=False)  # HSDS: physical | virtual | postal
    name = Column(String(300))
    url = Column(String(500))  # for virtual locations
    address_1 = Column(String(300))
    city = Column(String(100))
    postal_code = Column(String(10))
    easting = Column(Integer)  # ext: OSGB grid, from the postcode; used for distance ranking
    northing = Column(Integer)


class HeldService(Base):
    """A record from an outside feed that could not be mapped to our directory, kept for a person to review."""
    __tablename__ = "held_service"
    id = Column(Integer, primary_key=True, autoincrement=True)
    feed = Column(String(500), nullable=False)  # the file or URL it came from
    external_id = Column(String(200))
    name = Column(String(300))
    reasons = Column(Text, nullable=False)  # one per line
    record = Column(Text, nullable=False)  # the record as received (JSON)
    held_at = Column(DateTime, nullable=False, default=datetime.utcnow)


class ServiceAtLocation(Base):
    __tablename__ = "service_at_location"
    id = Column(Integer, primary_key=True, autoincrement=True)
    service_id = Column(String(100), ForeignKey("service.id", ondelete="CASCADE"), nullable=False, index=True)
    location_id = Column(String(100), ForeignKey("location.id"), nullable=False)
    location = relationship("Location")


class Phone(Base):
    __tablename__ = "phone"
    id = Column(Integer, primary_key=True, autoincrement=True)
    service_id = Column(String(100), ForeignKey("service.id", ondelete="CASCADE"), nullable=False, index=True)
    number = Column(String(50), nullable=False)
    type = Column(String(20), nullable=False, default="voice")  # HSDS: voice | text | …
    description = Column(String(300))


class Contact(Base):
    __tablename__ = "contact"
    id = Column(Integer, primary_key=True, autoincrement=True)
    service_id = Column(String(100), ForeignKey("service.id", ondelete="CASCADE"), nullable=False, index=True)
    name = Column(String(200))
    title = Column(String(200))
    email = Column(String(300))


class Schedule(Base):
    __tablename__ = "schedule"
    id = Column(Integer, primary_key=True, autoincrement=True)
    service_id = Column(String(100), ForeignKey("service.id", ondelete="CASCADE"), nullable=False, index=True)
    description = Column(Text, nullable=False)


class ServiceArea(Base):
    __tablename__ = "service_area"
    id = Column(Integer, primary_key=True, autoincrement=True)
    service_id = Column(String(100), ForeignKey("service.id", ondelete="CASCADE"), nullable=False)
    code = Column(String(20), nullable=False)  # ext: GSS code (S08…/S12…) or scotland / uk
    name = Column(String(200), nullable=False)
    __table_args__ = (UniqueConstraint("service_id", "code"), Index("ix_service_area_code", "code"))


class Language(Base):
    __tablename__ = "language"
    id = Column(Integer, primary_key=True, autoincrement=True)
    service_id = Column(String(100), ForeignKey("service.id", ondelete="CASCADE"), nullable=False, index=True)
    code = Column(String(10), nullable=False)  # ISO 639-1


class CostOption(Base):
    __tablename__ = "cost_option"
    id = Column(Integer, primary_key=True, autoincrement=True)
    service_id = Column(String(100), ForeignKey("service.id", ondelete="CASCADE"), nullable=False, index=True)
    option = Column(String(300), nullable=False)


class Taxonomy(Base):
    __tablename__ = "taxonomy"
    id = Column(String(50), primary_key=True)  # format | audience | stage | need
    name = Column(String(200), nullable=False)


class TaxonomyTerm(Base):
    __tablename__ = "taxonomy_term"
    id = Column(String(100), primary_key=True)  # "<taxonomy>:<code>"
    taxonomy_id = Column(String(50), ForeignKey("taxonomy.id"), nullable=False)
    code = Column(String(50), nullable=False)
    name = Column(String(200), nullable=False)
    __table_args__ = (UniqueConstraint("taxonomy_id", "code"),)


class Attribute(Base):
    __tablename__ = "attribute"
    id = Column(Integer, primary_key=True, autoincrement=True)
    link_id = Column(String(100), ForeignKey("service.id", ondelete="CASCADE"), nullable=False, index=True)
    link_type = Column(String(50), nullable=False, default="service")
    taxonomy_term_id = Column(String(100), ForeignKey("taxonomy_term.id"), nullable=False)
    term = relationship("TaxonomyTerm", lazy="joined")
    __table_args__ = (UniqueConstraint("link_id", "taxonomy_term_id"),)


class DirectoryRevision(Base):
    """One row whose number goes up on every directory write, so search indexes know to rebuild."""
    __tablename__ = "directory_revision"
    id = Column(Integer, primary_key=True)
    revision = Column(Integer, nullable=False, default=0)
    updated_at = Column(DateTime, nullable=False, default=datetime.utcnow)


class UnmetNeed(Base):
    """A request nothing local could meet. Aggregate facts only: never personal data."""
    __tablename__ = "unmet_need"
    id = Column(Integer, primary_key=True, autoincrement=True)
    recorded_at = Column(DateTime, nullable=False, default=datetime.utcnow)
    area_code = Column(String(20))
    board_code = Column(String(20))
    format = Column(String(20))
    audience = Column(String(30))
    stage = Column(String(20))
    needs = Column(String(300))  # comma-separated need codes


class ClinicalContact(Base):
    """Who is alerted when someone may be in crisis: per health board, or the national default (no board)."""
    __tablename__ = "clinical_contact"
    id = Column(Integer, primary_key=True, autoincrement=True)
    name = Column(String(200), nullable=False)
    role = Column(String(200), nullable=False)
    board_code = Column(String(20), index=True)  # NULL: the national default, used when no board contact is on
    channel = Column(String(20), nullable=False)  # sms | email | webhook
    address = Column(String(500), nullable=False)  # phone number, email address or https URL
    hours = Column(String(100), nullable=False, default="24/7")  # "24/7" or e.g. "Mon-Fri 09:00-17:00"
    active = Column(Boolean, nullable=False, default=True)


class Escalation(Base):
    """One message that was detected as a possible crisis (every one is kept, alerted or not)."""
    __tablename__ = "escalation"
    id = Column(Integer, primary_key=True, autoincrement=True)
    conversation_id = Column(String(100), nullable=False, index=True)  # Rasa sender id (a keyed hash on SMS)
    channel = Column(String(30))
    category = Column(String(30), nullable=False)
    detected_at = Column(DateTime, nullable=False, default=datetime.utcnow)
    area_code = Column(String(20))
    board_code = Column(String(20))
    message = Column(Text, nullable=False)  # the triggering message
    # The language it was written in (bot.language codes), found when it is recorded, in the Rasa process where
    # the detector is loaded: an alert says "may need an interpreter" without loading it (10 s) anywhere else.
    language = Column(String(16))
    alerted = Column(Boolean, nullable=False, default=False)  # False: same episode, not more serious
    callback_consent = Column(Boolean, nullable=False, default=False)
    callback_number = Column(String(40))  # only ever set with consent
    alerts = relationship("Alert", back_populates="escalation", order_by="Alert.id")


class Alert(Base):
    """The outbox: one alert to one clinical contact, delivered or visibly failed, never dropped."""
    __tablename__ = "alert"
    id = Column(Integer, primary_key=True, autoincrement=True)
    escalation_id = Column(Integer, ForeignKey("escalation.id"), nullable=False, index=True)
    contact_id = Column(Integer, ForeignKey("clinical_contact.id"))  # NULL: nobody was configured
    reason = Column(String(30), nullable=False)  # new | more_serious | callback
    body = Column(Text, nullable=False)
    status = Column(String(20), nullable=False, default="pending", index=True)  # pending | delivered | failed
    attempts = Column(Integer, nullable=False, default=0)
    next_attempt_at = Column(DateTime, nullable=False, default=datetime.utcnow)
    last_error = Column(Text)
    created_at = Column(DateTime, nullable=False, default=datetime.utcnow)
    delivered_at = Column(DateTime)
    escalation = relationship("Escalation", back_populates="alerts")
    contact = relationship("ClinicalContact")


class RiskReview(Base):
    """A possible-risk signal (tier 2) or an urgent-help request: not alerted, listed for the service's
    clinical safety lead to review (`python -m bot.escalation review`). A "yes" to the question becomes an
    escalation (tier 1) like any crisis."""
    __tablename__ = "risk_review"
    id = Column(Integer, primary_key=True, autoincrement=True)
    conversation_id = Column(String(100), nullable=False, index=True)
    channel = Column(String(30))
    kind = Column(String(40), nullable=False)  # possible_<category> (crisis_net.QUESTION_CATEGORIES) | urgent_help
    detected_at = Column(DateTime, nullable=False, default=datetime.utcnow, index=True)
    message = Column(Text, nullable=False)
    answer = Column(String(20))  # after the question: yes | unsure | no | none (no answer, or another topic)
    # Why it was asked, not answered: net | ask_rule:<rule> | told_as_over:<rule> | alarm_doubted:<rule> (a lexicon's
    # alarm the languages net read as ordinary, H58) — never message text.
    reason = Column(String(80))


class ChannelContact(Base):
    """The number behind a hashed conversation id: kept only to reply, and for a call-back with consent."""
    __tablename__ = "channel_contact"
    conversation_id = Column(String(100), primary_key=True)
    channel = Column(String(30), nullable=False)
    address = Column(String(60), nullable=False)  # e.g. +447700900123 or whatsapp:+447700900123
    last_inbound_at = Column(DateTime, nullable=False, default=datetime.utcnow)


__all__ = [name for name in dir() if name[0].isupper()] + ["date"]


# --- Twilio channel ---
# SMS and WhatsApp (bot/channels/twilio.py). Conversations are named by their keyed hash
# (bot/privacy.py); the phone number itself lives only in channel_contact above.

class TwilioInbound(Base):
    """Every inbound message Twilio delivered, by MessageSid, so a retried webhook is answered once."""
    __tablename__ = "twilio_inbound"
    message_sid = Column(String(64), primary_key=True)
    conversation_id = Column(String(100), nullable=False, index=True)
    kind = Column(String(10), nullable=False)  # sms | whatsapp
    received_at = Column(DateTime, nullable=False, default=datetime.utcnow, index=True)
    # received → answered | suppressed (opted out, or a STOP) | failed (some reply could not be sent);
    # recovering: being answered after a restart interrupted its turn
    status = Column(String(20), nullable=False, default="received")
    body = Column(Text)  # kept only until answered, so a turn cut short by a restart can still be answered


class TwilioMenu(Base):
    """The numbered options last sent to a conversation, so "2" or "one" maps back to a button."""
    __tablename__ = "twilio_menu"
    conversation_id = Column(String(100), primary_key=True)
    options_json = Column(Text, nullable=False)  # [{"number": 1, "title": "A group", "payload": "/find_support{...}"}]
    sent_at = Column(DateTime, nullable=False, default=datetime.utcnow)


class TwilioOptOut(Base):
    """A conversation that texted STOP (or another opt-out word): nothing is sent to it until START."""
    __tablename__ = "twilio_opt_out"
    conversation_id = Column(String(100), primary_key=True)
    keyword = Column(String(20), nullable=False)
    opted_out_at = Column(DateTime, nullable=False, default=datetime.utcnow)


class TwilioDelivery(Base):
    """The outbound log: one row per text we sent or tried to send, updated by Twilio's status callbacks.

    Holds no message body and no number. Failed crisis replies: crisis is true and status is
    failed or undelivered (`python -m bot.channels.twilio report`).
    """
    __tablename__ = "twilio_delivery"
    id = Column(Integer, primary_key=True, autoincrement=True)
    conversation_id = Column(String(100), nullable=False, index=True)
    in_reply_to = Column(String(64))  # the inbound MessageSid; NULL when the assistant wrote first
    kind = Column(String(10), nullable=False)  # sms | whatsapp
    part = Column(Integer, nullable=False, default=1)  # this text's place in its turn
    parts = Column(Integer, nullable=False, default=1)
    crisis = Column(Boolean, nullable=False, default=False, index=True)
    message_sid = Column(String(64), unique=True)  # Twilio's SM…, once Twilio accepted the text
    # sending (ours) | queued | accepted | sent | delivered | read (Twilio) | undelivered | failed | not_sent
    status = Column(String(20), nullable=False, default="sending", index=True)
    encoding = Column(String(10))  # GSM-7 | UCS-2
    segments = Column(Integer)
    chars = Column(Integer)
    template_sid = Column(String(64))  # a WhatsApp template, when sent outside the 24-hour window
    attempts = Column(Integer, nullable=False, default=0)
    error_code = Column(String(20))
    last_error = Column(Text)
    created_at = Column(DateTime, nullable=False, default=datetime.utcnow)
    updated_at = Column(DateTime, nullable=False, default=datetime.utcnow)


__all__ += ["TwilioInbound", "TwilioMenu", "TwilioOptOut", "TwilioDelivery"]


# --- Data protection and evaluation ---
# bot/privacy (erasure, retention, access) and bot/evaluation (anonymised events, feedback, follow-up).

class PrivacyNotice(Base):
    """When a conversation was first told what is kept and how to delete it (so it is told once)."""
    __tablename__ = "privacy_notice"
    conversation_id = Column(String(100), primary_key=True)
    sent_at = Column(DateTime, nullable=False, default=datetime.utcnow, index=True)


class ErasureRequest(Base):
    """A "delete my data" the person confirmed, until it is complete. `waiting`: an alert about this
    conversation is still being delivered (an escalation is never lost to erasure); the worker finishes it."""
    __tablename__ = "erasure_request"
    conversation_id = Column(String(100), primary_key=True)
    channel = Column(String(30))
    requested_at = Column(DateTime, nullable=False, default=datetime.utcnow)
    status = Column(String(20), nullable=False, default="pending")  # pending | waiting


class FollowUp(Base):
    """A follow-up text the person agreed to ("can I ask in two weeks how it went?"), SMS/WhatsApp only."""
    __tablename__ = "follow_up"
    conversation_id = Column(String(100), primary_key=True)
    channel = Column(String(30), nullable=False)
    agreed_at = Column(DateTime, nullable=False, default=datetime.utcnow)
    due_at = Column(DateTime, nullable=False, index=True)
    # scheduled → sent → answered | cancelled (STOP, erasure, a later crisis) | not_sent (no template, no number)
    status = Column(String(20), nullable=False, default="scheduled", index=True)
    sent_at = Column(DateTime)


class PseudonymKey(Base):
    """The key that pseudonymises conversation ids in evaluation events, one per month. Older keys are
    deleted, so last month's events can't be linked to anyone, even by us."""
    __tablename__ = "pseudonym_key"
    period = Column(String(7), primary_key=True)  # YYYY-MM
    key = Column(String(64), nullable=False)


class EvaluationEvent(Base):
    """One anonymised fact for commissioners (seed 5.1, 5.2): no words, no numbers, no names, no ids."""
    __tablename__ = "evaluation_event"
    id = Column(Integer, primary_key=True, autoincrement=True)
    occurred_on = Column(Date, nullable=False, index=True)  # the day only
    # conversation | request | suggestion | unmet_need | feedback | follow_up | escalation | erasure
    kind = Column(String(20), nullable=False, index=True)
    channel = Column(String(20))  # rest | web | twilio
    person = Column(String(40))  # this month's keyed pseudonym of the conversation (PseudonymKey)
    board_code = Column(String(20))
    area_code = Column(String(20))
    format = Column(String(20))
    audience = Column(String(30))
    stage = Column(String(20))
    needs = Column(String(300))  # comma-separated codes
    service_ids = Column(Text)  # comma-separated directory ids (suggestions)
    outcome = Column(String(40))  # feedback: yes | partly | no; reason; follow-up answer; alert outcome
__all__ += ["PrivacyNotice", "ErasureRequest", "FollowUp", "PseudonymKey", "EvaluationEvent"]
