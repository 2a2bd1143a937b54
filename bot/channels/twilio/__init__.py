"""SMS and WhatsApp over Twilio: one signed webhook, each message answered once, in few texts, never silent.

    POST /webhooks/twilio/webhook   inbound SMS and WhatsApp (WhatsApp `From` is whatsapp:+44…)
    POST /webhooks/twilio/status    Twilio's delivery status callbacks, into the delivery log
    GET  /webhooks/twilio/          health, with the count of texts that could not be delivered

How a message is handled:
1. The `X-Twilio-Signature` is checked with the auth token against the public URL (PUBLIC_BASE_URL +
   path); anything unsigned or wrongly signed gets 403 and nothing else happens.
2. Its MessageSid is claimed in the database (a retried webhook finds it claimed and stops there),
   the number is kept in `channel_contact` under the conversation's keyed hash (bot/privacy.py),
   and Twilio gets an empty TwiML `<Response/>` straight away (its limit is 15 seconds).
3. The turn then runs as an asyncio task, one at a time per conversation: Twilio's keywords first
   (STOP…, START, HELP); a reply to a numbered menu becomes that button's payload; Rasa answers,
   wrapped in the silence guard (bot/channels/guard.py); the whole turn's replies are composed into
   at most three texts (bot/channels/sms.py) and sent in order through Twilio's REST API, off the
   event loop, retrying 429 and 5xx with backoff. Every text is in the delivery log; one that can't be
   delivered is logged at ERROR — CRITICAL for a crisis reply — and counted.

Opted-out numbers (STOP) are sent nothing until START, but what they write still goes to Rasa, so a
crisis is recorded and the clinical team alerted. WhatsApp messages outside the 24-hour window go
as the template TWILIO_WHATSAPP_TEMPLATE_SID, or not at all (logged). Settings: docs/twilio.md.

Modules: `settings` (constants, ChannelSettings), `store` (its tables), `sender` (Twilio's REST API
with retries), `channel` (the input and output channels), `report` (the CLI below).

    python -m bot.channels.twilio report    delivery counts, and every failed crisis reply
"""
from bot.channels.twilio.channel import (Inbound, TurnCollector, TwilioChannel, TwilioOutput, _form,  # noqa: F401
                                         help_messages, is_crisis_reply)
from bot.channels.twilio.report import main  # noqa: F401
from bot.channels.twilio.sender import DeliveryFailed, TwilioSender  # noqa: F401
from bot.channels.twilio.settings import (CHANNEL, COUNTS, EMPTY_TWIML, RECOVER_AFTER, STATUS_PATH,  # noqa: F401
                                          WEBHOOK_PATH, ChannelSettings)
from bot.channels.twilio.store import claim_inbound, failure_counts, save_menu  # noqa: F401
