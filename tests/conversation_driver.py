"""Drive a conversation as a person would: answer whatever the assistant asks, until it suggests services.

The questions are recognised by their exact wording in domain.yml (every variation of `utter_ask_<slot>`),
so rewording a question can't silently break the tests that count how often it was asked.
"""
from __future__ import annotations

from collections import Counter
from dataclasses import dataclass, field
from functools import lru_cache
from pathlib import Path
from typing import Callable

import yaml

DOMAIN_FILE = Path(__file__).resolve().parent.parent / "domain.yml"
SLOTS = ("role", "stage", "location", "format")
FALLBACK_QUESTION = "Did you want to"  # the two-stage fallback's "did you mean…?"


@lru_cache(maxsize=1)
def questions() -> dict[str, str]:
    """Each wording of each form question → the slot it asks for."""
    responses = yaml.safe_load(DOMAIN_FILE.read_text(encoding="utf-8"))["responses"]
    return {variant["text"]: slot for slot in SLOTS for variant in responses[f"utter_ask_{slot}"]}


def asked_slot(replies: list[dict]) -> str | None:
    wording = questions()
    return next((wording[r["text"]] for r in replies if r.get("text") in wording), None)


def suggested(replies: list[dict]) -> list[dict]:
    return [s for r in replies for s in ((r.get("custom") or {}).get("services") or [])]


@dataclass
class Drive:
    transcript: list[tuple[str, str]]
    services: list[dict]
    turns: int
    asked: Counter = field(default_factory=Counter)  # slot → times its question was asked

    @property
    def most_asked(self) -> int:
        return max(self.asked.values(), default=0)


def drive(say: Callable[[str], list[dict]], opener: str, answers: dict[str, str], max_turns: int = 8) -> Drive:
    """Say the opener, then answer each question from `answers` (the same answer if it is asked again)."""
    result = Drive([("Person", opener)], [], 1)
    replies = say(opener)
    while True:
        result.transcript += [("Assistant", render(r)) for r in replies if r.get("text")]
        asked = asked_slot(replies)
        if asked:
            result.asked[asked] += 1
        result.services = suggested(replies)
        if result.services or result.turns >= max_turns:
            return result
        if asked:
            answer = answers[asked]
        elif any(FALLBACK_QUESTION in (r.get("text") or "") for r in replies):
            answer = "yes"
        else:
            answer = "I'm looking for support"  # e.g. after a greeting or an answer to a question
        result.transcript.append(("Person", answer))
        replies = say(answer)
        result.turns += 1


def render(reply: dict) -> str:
    text = reply["text"]
    if reply.get("buttons"):
        text += "\n" + " | ".join(f"[{b['title']}]" for b in reply["buttons"])
    return text
