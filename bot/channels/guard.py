"""Never silence: every message a person sends gets at least one reply.

Rasa answers nothing when a custom action fails (action server down, database error) or the
turn raises. This wrapper around a channel's `on_new_message` counts what the turn sent and,
if it was nothing, sends a fallback. It checks the text with the crisis lexicon itself (no model,
no action server), so a crisis message still gets its crisis answer if everything else failed — and
records the escalation itself, since a turn that failed may never have reached the event broker.
"""
from __future__ import annotations

import asyncio
import logging
from functools import lru_cache
from typing import Any, Awaitable, Callable, Dict, Text

import yaml
from rasa.core.channels.channel import OutputChannel, UserMessage

from bot import PROJECT_ROOT, helplines

logger = logging.getLogger(__name__)

FALLBACK_TEXT = ("Sorry, something went wrong on our side and I couldn't answer. Please try again in a few "
                 "minutes. " + helplines.HELP_NOW)


@lru_cache(maxsize=1)
def domain_variations() -> dict[str, list[dict[str, Any]]]:
    domain = yaml.safe_load((PROJECT_ROOT / "domain.yml").read_text(encoding="utf-8"))
    return {name: variants for name, variants in domain.get("responses", {}).items() if variants}


def response_text(name: str, language: str | None = None) -> str:
    """A domain response's text as Rasa would pick it: the variation for `language` (the `language` slot's
    conditional variations, data/i18n/), else the one without a condition."""
    variants = domain_variations()[name]
    for variant in variants:
        if any(c.get("name") == "language" and c.get("value") == language for c in variant.get("condition") or []):
            return variant["text"]
    return next(v["text"] for v in variants if not v.get("condition"))


@lru_cache(maxsize=1)
def crisis_texts() -> frozenset[str]:
    """Every wording of every crisis response, in every language."""
    return frozenset(v["text"] for name, variants in domain_variations().items() if name.startswith("utter_crisis")
                     for v in variants if "text" in v)


def with_marker(text: str) -> dict[str, Any]:
    """A reply as the domain would send it: crisis answers carry `custom: {kind: crisis}` for the web widget."""
    return {"text": text, "custom": {"kind": "crisis"}} if text in crisis_texts() else {"text": text}


def domain_responses() -> dict[str, str]:
    """Every domain response's English text (the variation without a condition)."""
    return {name: response_text(name) for name, variants in domain_variations().items()
            if any("text" in v and not v.get("condition") for v in variants)}


def fallback_replies(text: str | None, conversation_id: str | None = None, channel: str | None = None) -> list[str]:
    """What to send when the assistant produced (or may produce) nothing for this text: the crisis reply if
    the lexicon sees a crisis — recorded as an escalation when the conversation is named — else an apology
    with the 24/7 numbers. Blocking (it may write to the database): call it off the event loop."""
    from bot.crisis import detect
    try:
        signal = detect(text or "")
    except Exception:  # the detector must never stop the fallback itself
        logger.exception("Crisis lexicon failed inside the silence guard")
        signal = None
    if not signal:
        return [FALLBACK_TEXT]
    if conversation_id:
        from bot.escalation import Detection, record_safely
        record_safely(Detection(conversation_id=conversation_id, channel=channel, category=signal.category,
                                message=text or ""))
    try:  # the crisis answer must never depend on the language layer: English if it fails
        from bot.language import reply_language
        language = reply_language(text or "")
    except Exception:  # noqa: BLE001
        logger.exception("Choosing the reply language failed inside the silence guard")
        language = None
    return [response_text(f"utter_crisis_{signal.category}", language), response_text("utter_crisis_followup", language)]


class CountingOutputChannel(OutputChannel):
    """Passes every response to the real channel and counts them."""

    def __init__(self, inner: OutputChannel) -> None:
        self.inner = inner
        self.sent = 0

    def name(self) -> Text:
        return self.inner.name()

    async def send_response(self, recipient_id: Text, message: Dict[Text, Any]) -> None:
        self.sent += 1
        await self.inner.send_response(recipient_id, message)

    async def send_text_message(self, recipient_id: Text, text: Text, **kwargs: Any) -> None:
        self.sent += 1
        await self.inner.send_text_message(recipient_id, text, **kwargs)

    def __getattr__(self, item: str) -> Any:  # e.g. CollectingOutputChannel.messages
        return getattr(self.inner, item)


OnNewMessage = Callable[[UserMessage], Awaitable[Any]]


def never_silent(on_new_message: OnNewMessage) -> OnNewMessage:
    """Also carries out privacy around each turn (bot/privacy/turns.py): the notice at first contact, and
    erasure once Rasa has saved the turn. `message.metadata["privacy_erased"]` tells the channel."""
    from bot.privacy import turns

    async def guarded(message: UserMessage) -> None:
        counter = CountingOutputChannel(message.output_channel)
        message.output_channel = counter
        if turns.is_erasure_confirmation(message.text):  # no Rasa turn: nothing of it is stored
            for reply in await asyncio.to_thread(turns.erase_now, message.sender_id, message.input_channel):
                await counter.send_text_message(message.sender_id, reply)
            _mark_erased(message)
            return
        try:
            await on_new_message(message)
        except Exception:
            logger.exception("Handling a message failed; sending the fallback reply")
        extra, erased = await asyncio.to_thread(turns.after_turn, message.sender_id, message.input_channel)
        if erased:
            _mark_erased(message)
        if counter.sent == 0 and not erased:
            logger.error("No reply was produced for a message; sending the fallback reply")
            replies = await asyncio.to_thread(fallback_replies, message.text, message.sender_id,
                                              message.input_channel)
            for reply in replies:
                await counter.inner.send_response(message.sender_id, with_marker(reply))
        for reply in extra:  # marked, so a channel can tell them from the turn's own replies
            await counter.send_response(message.sender_id, {"text": reply, PRIVACY_MARK: True})

    return guarded


PRIVACY_MARK = "privacy"  # on replies the guard adds for privacy (the notice, an erasure's confirmation)


def _mark_erased(message: UserMessage) -> None:
    if isinstance(message.metadata, dict):
        message.metadata["privacy_erased"] = True
    else:
        message.metadata = {"privacy_erased": True}
