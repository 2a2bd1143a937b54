"""The REST and socket.io channels, each guarded so that no message goes unanswered."""
from __future__ import annotations

from typing import Text

from rasa.core.channels.rest import RestInput
from rasa.core.channels.socketio import SocketIOInput

from bot.channels.guard import never_silent


class GuardedRestInput(RestInput):
    """POST /webhooks/rest/webhook, as Rasa's REST channel."""

    @classmethod
    def name(cls) -> Text:
        return "rest"

    def blueprint(self, on_new_message):
        return super().blueprint(never_silent(on_new_message))


class GuardedSocketIOInput(SocketIOInput):
    """The website widget's socket.io channel, as Rasa's."""

    @classmethod
    def name(cls) -> Text:
        return "socketio"

    def blueprint(self, on_new_message):
        return super().blueprint(never_silent(on_new_message))
