"""Rasa input channels: REST and socket.io (website widget) guarded against silence; Twilio (SMS/WhatsApp)."""
