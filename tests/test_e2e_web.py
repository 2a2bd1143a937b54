"""The website chat widget in a real browser (Debian's Chromium driven by Playwright), against the real
assistant: Rasa with the trained model, the action server, the seed directory, the page server.

A loopback proxy sits between the browser and Rasa so a test can drop the network and bring it back.
Screenshots go to results/artifacts/. Run by `make test-e2e` (MODEL set; web/node_modules for axe-core).
"""
from __future__ import annotations

import asyncio
import json
import shutil
import sqlite3
import threading
import time
from pathlib import Path

import pytest
import requests

from bot.web import make_server
from tests.servers import ROOT, Servers, free_port
from tests.tcp_proxy import CuttableProxy

pytestmark = pytest.mark.e2e

ARTEFACTS = ROOT / "results" / "artifacts"
AXE = ROOT / "web" / "node_modules" / "axe-core" / "axe.min.js"
EXIT_URL = "https://www.bbc.co.uk/weather"
TURN = 60_000  # ms: the first turn loads the model's graph
INJECTION = '<img src=x onerror="window.pwned=1"><script>window.pwned=2</script> Kirkcaldy Test Circle'


def chromium() -> str:
    path = shutil.which("chromium") or shutil.which("chromium-browser")
    if not path:
        pytest.fail("Debian's chromium is needed for the browser tests: apt-get install chromium (.ci/run does)")
    return path


@pytest.fixture(scope="module")
def web(tmp_path_factory):
    """Rasa and the action server behind a cuttable proxy, and the page server in a thread."""
    web_port = free_port()
    origin = f"http://127.0.0.1:{web_port}"
    servers = Servers(tmp_path_factory.mktemp("e2e-web"), env={"WEBCHAT_ORIGINS": origin}).start()
    proxy = CuttableProxy(servers.rasa_port)
    page_server = make_server("127.0.0.1", web_port, assistant=f"http://127.0.0.1:{proxy.port}")
    threading.Thread(target=page_server.serve_forever, daemon=True).start()
    from playwright.sync_api import sync_playwright
    playwright = sync_playwright().start()
    browser = playwright.chromium.launch(executable_path=chromium(), args=[
        "--no-sandbox", "--disable-gpu", "--disable-background-networking", "--disable-component-update",
        "--disable-sync"])
    yield {"servers": servers, "proxy": proxy, "origin": origin, "browser": browser}
    browser.close()
    playwright.stop()
    page_server.shutdown()
    proxy.close()
    servers.stop()


@pytest.fixture
def page(web):
    context = web["browser"].new_context(viewport={"width": 1024, "height": 900})
    context.route("https://www.bbc.co.uk/**", lambda route: route.fulfill(
        status=200, content_type="text/html", body="<!doctype html><title>Weather</title><p>Weather</p>"))
    page = context.new_page()
    errors: list[str] = []
    page.on("pageerror", lambda e: errors.append(str(e)))
    yield page
    context.close()
    assert errors == [], errors


def open_chat(page, web) -> None:
    page.goto(web["origin"] + "/")
    page.wait_for_selector(".pcw-bot", timeout=TURN)  # the greeting


def until(check, timeout_ms: int = TURN) -> None:
    """Poll from Python: the page's CSP forbids the string evaluation wait_for_function uses."""
    deadline = time.monotonic() + timeout_ms / 1000
    while not check():
        assert time.monotonic() < deadline, "timed out"
        time.sleep(0.1)


def more_bot_messages(page, before: int) -> None:
    until(lambda: page.locator(".pcw-bot").count() > before)
    page.wait_for_timeout(600)  # the rest of the turn's replies


def say(page, text: str) -> None:
    before = page.locator(".pcw-bot").count()
    page.fill(".pcw-input", text)
    page.press(".pcw-input", "Enter")
    more_bot_messages(page, before)


def session_id(page) -> str:
    return json.loads(page.evaluate("sessionStorage.getItem('perinatal-chat:session')"))


def user_events(web, sender: str, text: str) -> int:
    with sqlite3.connect(web["servers"].workdir / "tracker.db") as db:
        rows = db.execute("select data from events where sender_id = ? and type_name = 'user'", (sender,)).fetchall()
    return sum(json.loads(r[0]).get("text") == text for r in rows)


def test_a_search_ends_in_service_cards_with_tappable_contacts(page, web):
    open_chat(page, web)
    assert "In an emergency call 999" in page.inner_text(".pcw-emergency")
    assert page.locator(".pcw-emergency a").evaluate_all("as => as.map(a => a.href)") == [
        "tel:999", web["origin"] + "/help"]
    say(page, "I'm a mum with a newborn in Dundee, don't mind how, is there any support?")
    page.wait_for_selector(".pcw-card", timeout=TURN)
    cards = page.locator(".pcw-card")
    assert cards.count() >= 1
    first = cards.nth(0)
    assert first.locator(".pcw-card-name").inner_text() and "Why:" in first.inner_text()
    links = page.locator(".pcw-card a").evaluate_all("as => as.map(a => a.href)")
    assert links and all(h.startswith(("tel:", "https://", "http://")) for h in links)
    ARTEFACTS.mkdir(parents=True, exist_ok=True)
    page.screenshot(path=str(ARTEFACTS / "widget-desktop.png"), full_page=True)


def test_a_crisis_message_shows_the_crisis_contacts_apart(page, web):
    open_chat(page, web)
    say(page, "I want to kill myself")
    crisis = page.locator(".pcw-crisis").first
    crisis.wait_for(timeout=TURN)
    text = crisis.inner_text()
    assert "Urgent help" in text and "999" in text and "116 123" in text
    assert crisis.locator("a[href='tel:999']").count() == 1 and crisis.is_visible()


def test_a_reload_keeps_the_conversation_and_a_new_tab_does_not(page, web):
    open_chat(page, web)
    say(page, "what is peer support?")
    before, sender = page.inner_text(".pcw-log"), session_id(page)
    page.reload()
    page.wait_for_selector(".pcw-bot")
    assert "what is peer support?" in page.inner_text(".pcw-log") and session_id(page) == sender
    say(page, "thanks")
    assert user_events(web, sender, "thanks") == 1  # the same conversation carried on at the server
    other = page.context.new_page()
    open_chat(other, web)
    assert "what is peer support?" not in other.inner_text(".pcw-log") and session_id(other) != sender
    assert before


@pytest.mark.parametrize("how", ["button", "escape twice"])
def test_quick_exit_clears_the_chat_and_leaves_no_way_back(page, web, how):
    page.goto("data:text/html,<title>Before</title>before")
    open_chat(page, web)
    say(page, "hello")
    if how == "button":
        page.click(".pcw-exit")
    else:
        page.keyboard.press("Escape")
        page.keyboard.press("Escape")
    page.wait_for_url(EXIT_URL)
    page.go_back()
    assert page.url.startswith("data:text/html")  # back skips the chat: it was replaced, not left behind
    page.goto(web["origin"] + "/")
    page.wait_for_selector(".pcw-bot", timeout=TURN)
    assert "hello" not in page.inner_text(".pcw-log")  # the tab's copy was wiped


def test_the_whole_conversation_works_by_keyboard(page, web):
    open_chat(page, web)
    for _ in range(12):  # Tab from the top of the page to the message box
        page.keyboard.press("Tab")
        if page.evaluate("document.activeElement.className") == "pcw-input":
            break
    assert page.evaluate("document.activeElement.className") == "pcw-input"
    assert page.evaluate("getComputedStyle(document.activeElement).outlineStyle") == "solid"  # focus is visible
    page.keyboard.type("I'd like to find support")
    before = page.locator(".pcw-bot").count()
    page.keyboard.press("Enter")
    more_bot_messages(page, before)
    page.wait_for_selector(".pcw-reply")
    page.wait_for_timeout(500)
    page.keyboard.press("Shift+Tab")  # from the message box back to the last suggested reply
    assert "pcw-reply" in page.evaluate("document.activeElement.className")
    title = page.evaluate("document.activeElement.innerText")
    page.keyboard.press("Enter")
    until(lambda: any(title in t for t in page.locator(".pcw-user").all_inner_texts()))


def test_a_message_typed_while_the_network_is_down_is_sent_once_when_it_is_back(page, web):
    open_chat(page, web)
    sender = session_id(page)
    web["proxy"].cut()
    page.wait_for_selector(".pcw-status:not([hidden])", timeout=20_000)
    status = page.inner_text(".pcw-status")
    assert all(number in status for number in ("999", "NHS 24 on 111", "Samaritans on 116 123")), status
    page.fill(".pcw-input", "is there a group in Fife")
    page.press(".pcw-input", "Enter")
    assert page.locator(".pcw-user").last.inner_text().endswith("is there a group in Fife")  # shown, queued
    time.sleep(2)
    web["proxy"].restore()
    page.wait_for_selector(".pcw-status[hidden]", state="attached", timeout=30_000)
    until(lambda: page.locator(".pcw-bot").count() > 1)
    deadline = time.monotonic() + 20
    while user_events(web, sender, "is there a group in Fife") == 0 and time.monotonic() < deadline:
        time.sleep(0.3)
    time.sleep(2)
    assert user_events(web, sender, "is there a group in Fife") == 1


def test_a_service_name_holding_html_is_shown_as_text(page, web, tmp_path):
    import subprocess
    import sys
    import yaml
    record = {"id": "zz-injection-test", "name": INJECTION, "kind": "peer_support",
              "organization": {"id": "zz-test", "name": "Test", "url": "https://example.org"},
              "formats": ["group"], "audiences": ["mothers"], "stages": ["postnatal"], "areas": ["S12000047"],
              "source": "https://example.org", "last_verified": "2026-12-01"}
    path = tmp_path / "injection.yml"
    path.write_text(yaml.safe_dump({"services": [record]}), encoding="utf-8")
    subprocess.run([sys.executable, "-m", "bot.directory", "import", str(path)], cwd=ROOT,
                   env=web["servers"].env, check=True, capture_output=True)
    open_chat(page, web)
    say(page, "I'm a mum in Kirkcaldy with a 3 month old, looking for a group")
    page.wait_for_selector(".pcw-card", timeout=TURN)
    names = page.locator(".pcw-card-name").all_inner_texts()
    assert INJECTION in names
    assert page.evaluate("window.pwned") is None
    assert page.locator(".pcw img, .pcw script").count() == 0


def test_no_serious_accessibility_violations_at_320px_and_desktop(web):
    if not AXE.exists():
        pytest.fail("axe-core is missing: run `make web/node_modules` (make test-e2e does)")
    results = {}
    for name, width in (("320", 320), ("desktop", 1280)):
        # axe is injected as a script, which the page's CSP forbids: only this context bypasses it.
        context = web["browser"].new_context(viewport={"width": width, "height": 900}, bypass_csp=True)
        page = context.new_page()
        open_chat(page, web)
        say(page, "I want to kill myself")
        page.wait_for_selector(".pcw-crisis")
        page.add_script_tag(path=str(AXE))
        result = page.evaluate("axe.run(document, {runOnly: ['wcag2a', 'wcag2aa', 'wcag21aa', 'wcag22aa']})")
        results[name] = [(v["id"], v["impact"], len(v["nodes"])) for v in result["violations"]]
        ARTEFACTS.mkdir(parents=True, exist_ok=True)
        page.screenshot(path=str(ARTEFACTS / f"widget-{name}.png"), full_page=True)
        assert page.evaluate("document.documentElement.scrollWidth") <= width + 1  # no sideways scrolling
        context.close()
    print(f"\naxe-core: {results}")
    serious = {k: [v for v in vs if v[1] in ("serious", "critical")] for k, vs in results.items()}
    assert serious == {"320": [], "desktop": []}


def test_the_page_sends_its_security_headers(web):
    response = requests.get(web["origin"] + "/", timeout=10)
    csp = response.headers["Content-Security-Policy"]
    assert "script-src 'self'" in csp and "frame-ancestors 'none'" in csp and "unsafe-inline" not in csp
    assert response.headers["X-Content-Type-Options"] == "nosniff"
    assert requests.get(web["origin"] + "/../Makefile", timeout=10).status_code == 404
    help_page = requests.get(web["origin"] + "/help", timeout=10).text
    assert 'href="tel:999"' in help_page and "116 123" in help_page


def test_a_socketio_client_that_drops_mid_conversation_still_gets_every_reply(web):
    import socketio

    async def run() -> list[dict]:
        client = socketio.AsyncClient(reconnection=True, reconnection_delay=0.5)
        received: list[dict] = []
        state = {"session": None, "last": 0, "epoch": None}
        confirmed = asyncio.Event()

        @client.on("connect")
        async def on_connect():
            await client.emit("session_request", {"session_id": state["session"], "last_seq": state["last"],
                                                  "epoch": state["epoch"]})

        @client.on("session_confirm")
        async def on_confirm(session_id):
            state["session"] = session_id
            confirmed.set()

        @client.on("bot_uttered")
        async def on_bot(event):
            if event.get("seq", 0) > state["last"] or event.get("epoch") != state["epoch"]:
                state["last"], state["epoch"] = event.get("seq", 0), event.get("epoch")
                received.append(event)

        await client.connect(f"http://127.0.0.1:{web['proxy'].port}", headers={"Origin": web["origin"]},
                             transports=["websocket"])
        await asyncio.wait_for(confirmed.wait(), 30)
        await client.emit("user_uttered", {"message": "hello", "session_id": state["session"],
                                           "metadata": {"client_message_id": "m1"}})
        await asyncio.sleep(0.05)
        web["proxy"].cut()  # mid-turn: the replies are emitted while nobody is connected
        await asyncio.sleep(8)
        confirmed.clear()
        web["proxy"].restore()
        await asyncio.wait_for(confirmed.wait(), 60)
        await asyncio.sleep(3)
        await client.disconnect()
        return received

    outcome: list = []  # its own thread: the module's sync Playwright already runs an event loop on this one
    worker = threading.Thread(target=lambda: outcome.append(asyncio.run(run())))
    worker.start()
    worker.join(timeout=180)
    [replies] = outcome
    seqs = [r["seq"] for r in replies]
    assert replies and seqs == sorted(set(seqs)) and seqs[0] == 1  # every reply, once, in order
    assert any("automated" in (r.get("text") or "") for r in replies)
