"""Drive a conversation as a person would: answer whatever the assistant asks, until it suggests services."""
from __future__ import annotations

from typing import Callable

QUESTIONS = {  # a phrase in the assistant's question → which answer the person gives
    "Who is the support for": "role",
    "Where are you just now": "stage",
    "Where in Scotland are you": "location",
    "What kind of support would suit you": "format",
}


def drive(say: Callable[[str], list[dict]], opener: str, answers: dict[str, str], max_turns: int = 6):
    """Returns (transcript as [(speaker, text)], the services suggested, turns taken)."""
    transcript, turns = [("Person", opener)], 1
    replies = say(opener)
    while True:
        transcript += [("Assistant", _render(r)) for r in replies if r.get("text")]
        services = [s for r in replies for s in (r.get("custom") or {}).get("services", [])]
        if services or turns >= max_turns:
            return transcript, services, turns
        asked = next((slot for phrase, slot in QUESTIONS.items()
                      for r in replies if phrase in (r.get("text") or "")), None)
        if asked is None:
            answer = "I'm looking for support"  # e.g. after a greeting or an answer to a question
        else:
            answer = answers[asked]
        transcript.append(("Person", answer))
        replies = say(answer)
        turns += 1


def _render(reply: dict) -> str:
    text = reply["text"]
    if reply.get("buttons"):
        text += "\n" + " | ".join(f"[{b['title']}]" for b in reply["buttons"])
    return text
