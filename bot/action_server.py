"""The action server: rasa-sdk's app, answering only Rasa.   python -m bot.action_server [--port 5055]

rasa-sdk 3.6 has no authentication of its own, and its server listens on every interface. Here it listens
on ASSISTANT_BIND_HOST (loopback by default) and refuses any call to `/webhook` or `/actions` that lacks
ACTION_SERVER_TOKEN, which Rasa sends as the `token` query parameter (endpoints.yml
`action_endpoint.token`). Without that, anyone who reached the port could run `action_callback_consent`
for a conversation of their choosing. `/health` stays open, for readiness checks.
"""
from __future__ import annotations

import argparse
import hmac
import logging
import sys

from sanic import response

from bot import config, logs

logger = logging.getLogger("bot.action_server")  # its name under `python -m` too

MAX_ACTION_CALL_BYTES = 8 * 1024 * 1024  # Rasa sends the whole tracker; long conversations run to a few MB
OPEN_PATHS = {"/health"}


def create_app(token: str, actions_package: str = "actions"):
    from rasa_sdk.endpoint import create_app as create_sdk_app

    app = create_sdk_app(actions_package, cors_origins=[])  # no browser has any business here
    app.config.REQUEST_MAX_SIZE = MAX_ACTION_CALL_BYTES

    @app.middleware("request")
    async def only_rasa(request):
        if request.path in OPEN_PATHS:
            return None
        presented = request.args.get("token") or ""
        if not presented or not hmac.compare_digest(presented, token):
            logger.warning("Refused a call to %s without the action server token (401)", request.path)
            return response.json({"error": "unauthorised"}, status=401)
        return None

    @app.exception(Exception)
    async def failed(request, exception: Exception):
        # rasa-sdk's own handler echoes the request body (the whole conversation) back and into the log.
        logger.error("An action failed: %s", type(exception).__name__, exc_info=exception)
        return response.json({"error": "the action failed"}, status=500)

    return app


def main(argv: list[str] | None = None) -> int:
    settings = config.settings()
    parser = argparse.ArgumentParser(prog="python -m bot.action_server", description=__doc__.split("\n\n")[1])
    parser.add_argument("--port", type=int, default=int(config.text("ACTIONS_PORT", "5055")))
    parser.add_argument("--host", default=settings.bind_host,
                        help="interface to listen on (default ASSISTANT_BIND_HOST, else 127.0.0.1)")
    parser.add_argument("--actions", default="actions", help="the actions package (default: actions)")
    args = parser.parse_args(argv)
    try:
        logs.setup("action-server")
        config.enforce()
        token = config.secret("action-server-token")
    except config.ConfigError as error:
        print(f"configuration: {error}", file=sys.stderr)
        return 1
    app = create_app(token, args.actions)
    from bot import language
    language.languages()  # the languages' replies and names (1-2 s): now, not inside someone's first turn
    logger.info("Action server on http://%s:%s (calls need the action server token)", args.host, args.port)
    app.run(host=args.host, port=args.port, workers=1, access_log=False)
    return 0


if __name__ == "__main__":
    sys.exit(main())
