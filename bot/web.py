"""The demo page that embeds the chat widget, its script and stylesheet, and the urgent-help page.

    python -m bot.web [--host 127.0.0.1] [--port 8080]

`make run` starts it (scripts/run.sh). Loopback by default (ASSISTANT_BIND_HOST). Every response carries
the page's security headers: a Content-Security-Policy that allows scripts and styles from this server
only, and connections only to the assistant (WEBCHAT_SERVER_URL); no framing, no referrer, no sniffing.
The urgent-help page is written from bot/helplines.py, the one place the numbers live.
"""
from __future__ import annotations

import argparse
import html
import logging
import os
import sys
from functools import partial
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from urllib.parse import urlsplit

from bot import PROJECT_ROOT, config, helplines, logs

logger = logging.getLogger("bot.web")  # its name under `python -m` too

DIST = PROJECT_ROOT / "web" / "dist"
DEMO = PROJECT_ROOT / "web" / "demo" / "index.html"
TYPES = {".js": "text/javascript; charset=utf-8", ".css": "text/css; charset=utf-8",
         ".html": "text/html; charset=utf-8", ".txt": "text/plain; charset=utf-8"}


def server_url() -> str:
    """Where the widget's socket.io connection goes: Rasa (RASA_PORT on this host in development)."""
    default = f"http://localhost:{os.environ.get('RASA_PORT', '5005')}"
    return (os.environ.get("WEBCHAT_SERVER_URL") or default).rstrip("/")


def security_headers(assistant: str) -> dict[str, str]:
    parts = urlsplit(assistant)
    socket = f"{'wss' if parts.scheme == 'https' else 'ws'}://{parts.netloc}"
    return {
        "Content-Security-Policy": (f"default-src 'none'; script-src 'self'; style-src 'self'; img-src 'self'; "
                                    f"connect-src 'self' {assistant} {socket}; base-uri 'none'; form-action 'none'; "
                                    "frame-ancestors 'none'"),
        "X-Content-Type-Options": "nosniff",
        "Referrer-Policy": "no-referrer",
        "X-Frame-Options": "DENY",
        "Cross-Origin-Opener-Policy": "same-origin",
        "Permissions-Policy": "camera=(), microphone=(), geolocation=(), interest-cohort=()",
        "Cache-Control": "no-store",
    }


def demo_page(assistant: str) -> str:
    return DEMO.read_text(encoding="utf-8").replace("{{SERVER}}", html.escape(assistant, quote=True))


def help_page() -> str:
    emergency = helplines.EMERGENCY.number
    rows = "".join(f"<li><strong>{html.escape(h.name)}</strong>: <a href=\"tel:{h.number.replace(' ', '')}\">"
                   f"{html.escape(h.number)}</a> ({html.escape(h.hours)})</li>" for h in helplines.ALL)
    return ("<!doctype html><html lang=\"en\"><head><meta charset=\"utf-8\"><meta name=\"viewport\" "
            "content=\"width=device-width, initial-scale=1\"><title>Urgent help</title>"
            "<link rel=\"stylesheet\" href=\"/page.css\"></head><body><main><h1>Urgent help</h1>"
            f"<p>If you or someone else is in danger now, call <a href=\"tel:{emergency}\">{emergency}</a>. If you "
            f"can't speak, call {emergency} from a mobile and press {helplines.SILENT_SOLUTION} when asked.</p>"
            f"<ul>{rows}</ul>"
            "<p><a href=\"/\">Back to the chat</a></p></main></body></html>")


class Handler(BaseHTTPRequestHandler):
    server_version = "assistant-web"
    sys_version = ""

    def __init__(self, *args, assistant: str, **kwargs) -> None:
        self.assistant = assistant
        super().__init__(*args, **kwargs)

    def log_message(self, fmt: str, *args) -> None:  # no client addresses or queries in the log
        logger.debug("web: %s", self.path.split("?")[0])

    def _send(self, status: int, body: bytes, content_type: str) -> None:
        self.send_response(status)
        for name, value in {**security_headers(self.assistant), "Content-Type": content_type,
                            "Content-Length": str(len(body))}.items():
            self.send_header(name, value)
        self.end_headers()
        if self.command != "HEAD":
            self.wfile.write(body)

    def do_HEAD(self) -> None:  # noqa: N802
        self.do_GET()

    def do_GET(self) -> None:  # noqa: N802
        path = urlsplit(self.path).path
        if path in ("/", "/index.html"):
            return self._send(200, demo_page(self.assistant).encode("utf-8"), TYPES[".html"])
        if path == "/help":
            return self._send(200, help_page().encode("utf-8"), TYPES[".html"])
        if path == "/page.css":
            return self._send(200, (PROJECT_ROOT / "web" / "demo" / "page.css").read_bytes(), TYPES[".css"])
        name = path.lstrip("/")
        file = DIST / name
        if "/" not in name and file.suffix in TYPES and file.is_file():
            return self._send(200, file.read_bytes(), TYPES[file.suffix])
        return self._send(404, b"Not found", TYPES[".txt"])


def make_server(host: str, port: int, assistant: str | None = None) -> ThreadingHTTPServer:
    return ThreadingHTTPServer((host, port), partial(Handler, assistant=assistant or server_url()))


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m bot.web", description=__doc__,
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--host", default=config.settings().bind_host)
    parser.add_argument("--port", type=int, default=int(os.environ.get("WEB_PORT", "8080")))
    args = parser.parse_args(argv)
    try:
        logs.setup("chat-page")
    except config.ConfigError as error:
        print(f"configuration: {error}", file=sys.stderr)
        return 1
    if not (DIST / "widget.js").exists():
        print("web/dist/widget.js is missing: run `make web`", file=sys.stderr)
        return 1
    server = make_server(args.host, args.port)
    logger.info("Chat page on http://%s:%s/ (the widget talks to %s)", args.host, args.port, server_url())
    try:
        server.serve_forever()
    except KeyboardInterrupt:
        pass
    return 0


if __name__ == "__main__":
    sys.exit(main())
