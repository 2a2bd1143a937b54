"""The web widget's server side, without a browser: one event per reply, replies replayed after a dropped
connection, resent messages answered once, the page server's headers, and the committed bundle's freshness."""
from __future__ import annotations

import asyncio
import json
import shutil
import subprocess
import threading
from pathlib import Path

import pytest
import requests

from bot import PROJECT_ROOT, helplines
from bot.channels.guard import response_text, with_marker
from bot.channels.rest import ReplyLog, SeenMessages, WidgetOutput
from bot.web import make_server
from tests.servers import free_port


class FakeSio:
    def __init__(self) -> None:
        self.emitted: list[tuple[str, dict, str]] = []

    async def emit(self, event, data=None, room=None, **kwargs):
        self.emitted.append((event, data, room))


def test_a_reply_is_one_event_with_its_text_buttons_and_cards():
    sio, log = FakeSio(), ReplyLog()
    output = WidgetOutput(sio, "bot_uttered", log)
    message = {"text": "First paragraph.\n\nSecond.", "buttons": [{"title": "Yes", "payload": "/affirm"}],
               "custom": {"services": [{"id": "a", "name": "A"}]}}
    asyncio.run(output.send_response("web:x", message))
    [(event, data, room)] = sio.emitted
    assert event == "bot_uttered" and room == "web:x"
    assert data["text"] == "First paragraph.\n\nSecond." and data["quick_replies"] == [{"title": "Yes",
                                                                                       "payload": "/affirm"}]
    assert data["custom"]["services"][0]["id"] == "a" and data["seq"] == 1 and data["epoch"] == log.epoch


def test_the_crisis_answer_carries_its_marker_even_from_the_silence_guard():
    crisis = response_text("utter_crisis_suicide_self_harm")
    assert with_marker(crisis) == {"text": crisis, "custom": {"kind": "crisis"}}
    assert with_marker("Hello") == {"text": "Hello"}


def test_replies_missed_during_a_drop_are_replayed_and_numbering_survives_an_erasure():
    log = ReplyLog()
    for text in ("one", "two", "three"):
        log.add("web:x", {"text": text})
    assert [e["text"] for e in log.since("web:x", 1, log.epoch)] == ["two", "three"]
    assert [e["text"] for e in log.since("web:x", 3, "another-process")] == ["one", "two", "three"]
    log.forget("web:x")
    assert log.since("web:x", 0, log.epoch) == [] and log.add("web:x", {"text": "four"})["seq"] == 4


def test_a_resent_message_is_answered_once():
    seen = SeenMessages(per_conversation=2)
    assert seen.first_time("web:x", "m1") and not seen.first_time("web:x", "m1")
    assert seen.first_time("web:y", "m1")  # per conversation
    assert seen.first_time("web:x", None) and seen.first_time("web:x", None)  # no id: always new
    seen.first_time("web:x", "m2"), seen.first_time("web:x", "m3")
    assert seen.first_time("web:x", "m1")  # long forgotten


@pytest.fixture(scope="module")
def page_server():
    port = free_port()
    server = make_server("127.0.0.1", port, assistant="https://chat.example.org")
    threading.Thread(target=server.serve_forever, daemon=True).start()
    yield f"http://127.0.0.1:{port}"
    server.shutdown()


def test_the_page_server_sends_a_strict_policy_and_serves_only_its_files(page_server):
    page = requests.get(page_server + "/", timeout=10)
    csp = page.headers["Content-Security-Policy"]
    assert "connect-src 'self' https://chat.example.org wss://chat.example.org" in csp
    assert "default-src 'none'" in csp and "unsafe" not in csp and page.headers["X-Frame-Options"] == "DENY"
    assert 'data-server="https://chat.example.org"' in page.text and "<script src=\"/widget.js\"" in page.text
    assert requests.get(page_server + "/widget.js", timeout=10).headers["Content-Type"].startswith("text/javascript")
    for path in ("/../Makefile", "/%2e%2e/Makefile", "/widget.js/../../README.md", "/demo/index.html"):
        assert requests.get(page_server + path, timeout=10).status_code == 404, path


def test_the_urgent_help_page_lists_every_helpline_from_the_one_list(page_server):
    text = requests.get(page_server + "/help", timeout=10).text
    for line in helplines.ALL:
        assert line.number in text and f'href="tel:{line.number.replace(" ", "")}"' in text


def test_the_committed_bundle_is_built_from_the_source():
    web = PROJECT_ROOT / "web"
    if not (web / "node_modules" / ".bin" / "esbuild").exists() or not shutil.which("npm"):
        pytest.skip("web/node_modules is not installed (make web/node_modules)")
    out = Path(subprocess.run(["mktemp", "-d"], capture_output=True, text=True, check=True).stdout.strip())
    build = json.loads((web / "package.json").read_text(encoding="utf-8"))["scripts"]["build"].split(" && ")[0]
    command = build.replace("--outfile=dist/widget.js", f"--outfile={out / 'widget.js'}").split()
    subprocess.run([str(web / "node_modules" / ".bin" / command[0]), *command[1:]], cwd=web, check=True,
                   capture_output=True)
    assert (out / "widget.js").read_bytes() == (web / "dist" / "widget.js").read_bytes(), "run `make web`"
    assert (web / "src" / "widget.css").read_bytes() == (web / "dist" / "widget.css").read_bytes(), "run `make web`"
