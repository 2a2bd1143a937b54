"""Every emergency and helpline number the code gives, in one place (domain.yml holds the replies).

A wrong crisis number is a safety incident: change one only with its source, here and in the table in
docs/clinical-safety.md. tests/test_helplines.py checks that no other Python file writes a number
itself, and that every number in domain.yml is one of these. Replies lead with lines open 24/7;
time-limited lines are given with their hours.
"""
from __future__ import annotations

from dataclasses import dataclass


@dataclass(frozen=True)
class Helpline:
    name: str
    number: str
    hours: str  # "24/7" or when it is open (UK time)
    source: str


EMERGENCY = Helpline("Emergency services", "999", "24/7", "UK emergency number")
NHS_24 = Helpline("NHS 24", "111", "24/7", "nhs24.scot; project specification")
SAMARITANS = Helpline("Samaritans", "116 123", "24/7", "samaritans.org (free, 24/7)")
SHOUT = Helpline("Shout (text SHOUT)", "85258", "24/7", "giveusashout.org")
BREATHING_SPACE = Helpline("Breathing Space", "0800 83 85 87", "Mon-Thu 6pm-2am, Fri 6pm-Mon 6am",
                           "breathingspace.scot (opening hours, checked 2026-12-03)")
DOMESTIC_ABUSE = Helpline("Scotland's Domestic Abuse and Forced Marriage Helpline", "0800 027 1234", "24/7",
                          "Police Scotland, safer.scot (see data/directory/SOURCES.md)")
RAPE_CRISIS = Helpline("Rape Crisis Scotland helpline", "08088 01 03 02", "evenings", "rapecrisisscotland.org.uk")
SEXUAL_ASSAULT_SELF_REFERRAL = Helpline(
    "NHS Scotland sexual assault self-referral phone service (SARCS)", "0800 148 88 88", "24/7",
    "nhsinform.scot/turn-to-sarcs/7-days-and-under/about-the-sexual-assault-self-referral-phone-service "
    "(checked 2026-12-03)")
SILENT_SOLUTION = "55"  # press 55 after calling 999 from a mobile when you can't speak

ALL = (EMERGENCY, NHS_24, SAMARITANS, SHOUT, BREATHING_SPACE, DOMESTIC_ABUSE, RAPE_CRISIS,
       SEXUAL_ASSAULT_SELF_REFERRAL)

# The line every code-written fallback ends with: 24/7 lines only.
HELP_NOW = (f"If you need help now: call {EMERGENCY.number} in an emergency, {NHS_24.name} on {NHS_24.number}, "
            f"{SAMARITANS.name} on {SAMARITANS.number} or text SHOUT to {SHOUT.number} (all 24/7).")
