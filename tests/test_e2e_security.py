"""Closed by default, end to end: the assistant as `make run` starts it (scripts/run.sh), probed from outside.

Nothing listens beyond loopback; Rasa's HTTP API and the action server refuse calls without their tokens;
no client can claim another channel's conversation; oversized bodies and floods are refused while a crisis
is still answered and recorded; CORS names its origins; and no log line carries a message or a number.
"""
from __future__ import annotations

import asyncio
import os
import signal
import sqlite3
import subprocess
import time
import uuid
from pathlib import Path

import pytest
import requests

from tests.servers import ROOT, free_port, model_path, wait_for

pytestmark = pytest.mark.e2e

PER_CONVERSATION_LIMIT = 6
PHONE = "07700 900461"
MARKER = "quintessentially-lilac"  # a word nobody else says: if it is in a log, a message leaked


class RunningAssistant:
    def __init__(self, workdir: Path) -> None:
        self.workdir = workdir
        self.rasa_port, self.actions_port = free_port(), free_port()
        self.log = workdir / "run.log"
        self.env = {**os.environ, "PYTHONPATH": str(ROOT), "MODEL": model_path(),
                    "RASA_PORT": str(self.rasa_port), "ACTIONS_PORT": str(self.actions_port),
                    "ASSISTANT_VAR_DIR": str(workdir), "DATABASE_URL": f"sqlite:///{workdir / 'directory.db'}",
                    "TRACKER_STORE_URL": f"sqlite:///{workdir / 'tracker.db'}",
                    "RATE_LIMIT_PER_CONVERSATION": str(PER_CONVERSATION_LIMIT)}
        for inherited in ("RASA_AUTH_TOKEN", "ACTION_SERVER_TOKEN", "ASSISTANT_BIND_HOST", "WEBCHAT_ORIGINS"):
            self.env.pop(inherited, None)
        subprocess.run([str(ROOT / ".venv/bin/python"), "-m", "bot.directory", "init"], cwd=ROOT, env=self.env,
                       check=True, capture_output=True)
        self.process = subprocess.Popen(["scripts/run.sh"], cwd=ROOT, env=self.env, stdout=open(self.log, "wb"),
                                        stderr=subprocess.STDOUT, start_new_session=True)
        self.url = f"http://127.0.0.1:{self.rasa_port}"
        deadline = time.monotonic() + 300
        while "The assistant is running" not in self.log.read_text(errors="replace"):
            if self.process.poll() is not None or time.monotonic() > deadline:
                raise RuntimeError("scripts/run.sh did not start:\n" + self.log.read_text()[-3000:])
            time.sleep(1)

    def secret(self, name: str) -> str:
        return (self.workdir / name).read_text().strip()

    def say(self, sender: str, text: str, **kwargs) -> requests.Response:
        return requests.post(f"{self.url}/webhooks/rest/webhook", json={"sender": sender, "message": text},
                             timeout=60, **kwargs)

    def stop(self) -> None:
        if self.process.poll() is None:
            os.killpg(self.process.pid, signal.SIGTERM)
            try:
                self.process.wait(timeout=30)
            except subprocess.TimeoutExpired:
                os.killpg(self.process.pid, signal.SIGKILL)


@pytest.fixture(scope="module")
def assistant(tmp_path_factory):
    running = RunningAssistant(tmp_path_factory.mktemp("e2e-security"))
    yield running
    running.stop()


def new_sender() -> str:
    return f"security-{uuid.uuid4().hex[:10]}"


# --- who listens where --------------------------------------------------------------------------------
def process_tree(root: int) -> set[int]:
    children: dict[int, list[int]] = {}
    for stat in Path("/proc").glob("[0-9]*/stat"):
        try:
            fields = stat.read_text().rsplit(")", 1)[1].split()
        except (OSError, IndexError):
            continue
        children.setdefault(int(fields[1]), []).append(int(stat.parent.name))
    tree, todo = set(), [root]
    while todo:
        pid = todo.pop()
        tree.add(pid)
        todo.extend(children.get(pid, []))
    return tree


def listening_addresses(pids: set[int]) -> list[tuple[str, int]]:
    inodes = set()
    for pid in pids:
        for fd in Path(f"/proc/{pid}/fd").glob("*"):
            try:
                target = os.readlink(fd)
            except OSError:
                continue
            if target.startswith("socket:["):
                inodes.add(target[8:-1])
    listening = []
    for table, width in (("/proc/net/tcp", 8), ("/proc/net/tcp6", 32)):
        for line in Path(table).read_text().splitlines()[1:]:
            fields = line.split()
            if fields[3] == "0A" and fields[9] in inodes:  # 0A: LISTEN
                address, port = fields[1].split(":")
                listening.append((address, int(port, 16)))
    return listening


LOOPBACK = {"0100007F", "00000000000000000000000001000000"}  # 127.0.0.1 and ::1 as /proc/net writes them


def test_everything_listens_on_loopback_only(assistant):
    listening = listening_addresses(process_tree(assistant.process.pid))
    ports = {port for _, port in listening}
    assert {assistant.rasa_port, assistant.actions_port} <= ports
    assert all(address in LOOPBACK for address, _ in listening), listening


# --- Rasa's HTTP API and the action server need their tokens -------------------------------------------
@pytest.mark.parametrize("method,path", [
    ("GET", "/conversations/{id}/tracker"), ("POST", "/conversations/{id}/tracker/events"),
    ("POST", "/conversations/{id}/trigger_intent"), ("POST", "/conversations/{id}/messages"),
    ("DELETE", "/model"), ("GET", "/status"),
])
def test_the_http_api_refuses_calls_without_the_token(assistant, method, path):
    url = assistant.url + path.format(id=new_sender())
    body = {"event": "user", "text": "help"} if method == "POST" else None
    assert requests.request(method, url, json=body, timeout=30).status_code == 401
    assert requests.request(method, url, json=body, params={"token": "guess"}, timeout=30).status_code == 401


def test_the_http_api_answers_with_the_token(assistant):
    sender = new_sender()
    assert assistant.say(sender, "hello").ok
    tracker = requests.get(f"{assistant.url}/conversations/{sender}/tracker",
                           params={"token": assistant.secret("rasa-auth-token")}, timeout=30)
    assert tracker.ok and tracker.json()["sender_id"] == sender


def test_the_action_server_refuses_calls_without_its_token(assistant):
    url = f"http://127.0.0.1:{assistant.actions_port}/webhook"
    call = {"next_action": "action_offer_callback", "sender_id": "twilio:0123", "tracker": {
        "sender_id": "twilio:0123", "slots": {}, "latest_message": {}, "events": [], "paused": False,
        "followup_action": None, "active_loop": {}, "latest_action_name": None}, "domain": {}, "version": "3.6.2"}
    assert requests.post(url, json=call, timeout=30).status_code == 401
    assert requests.post(url, json=call, params={"token": "guess"}, timeout=30).status_code == 401
    assert requests.get(f"http://127.0.0.1:{assistant.actions_port}/health", timeout=30).ok


# --- conversations belong to their channel -------------------------------------------------------------
def test_a_rest_client_cannot_claim_an_sms_or_web_conversation(assistant):
    assert assistant.say("twilio:3b9f0c", "hi").status_code == 403
    assert assistant.say("web:" + "0" * 32 + ".x", "hi").status_code == 403
    crisis = assistant.say("twilio:3b9f0c", "I want to end my life")
    assert crisis.status_code == 403
    assert "999" in " ".join(m.get("text", "") for m in crisis.json())


def test_socketio_gives_its_own_ids_and_refuses_a_forged_one(assistant):
    import socketio

    async def converse():
        client = socketio.AsyncClient(reconnection=False)
        received: list = []
        confirmed: asyncio.Queue = asyncio.Queue()
        client.on("session_confirm", lambda session_id: confirmed.put_nowait(session_id))
        client.on("bot_uttered", lambda message: received.append(message))
        await client.connect(assistant.url, socketio_path="/socket.io", transports=["websocket"],
                             headers={"Origin": "http://localhost:8080"})
        await client.emit("session_request", {"session_id": "twilio:3b9f0c"})
        session_id = await asyncio.wait_for(confirmed.get(), 30)
        await client.emit("user_uttered", {"session_id": "someone-else", "message": "hello"})
        await client.emit("user_uttered", {"session_id": "someone-else", "message": "I want to die"})
        await client.emit("user_uttered", {"session_id": session_id, "message": "hello"})
        for _ in range(120):
            if len(received) >= 3:
                break
            await asyncio.sleep(0.5)
        await client.disconnect()
        return session_id, received

    session_id, received = asyncio.run(converse())
    assert session_id.startswith("web:") and session_id != "twilio:3b9f0c"
    texts = [message.get("text", "") for message in received]
    assert any("999" in text for text in texts), texts  # a crisis under a forged id is still answered
    tracker = requests.get(f"{assistant.url}/conversations/someone-else/tracker",
                           params={"token": assistant.secret("rasa-auth-token")}, timeout=30).json()
    assert not [event for event in tracker["events"] if event["event"] == "user"]


def test_cors_names_its_origins(assistant):
    handshake = f"{assistant.url}/socket.io/?EIO=4&transport=polling"
    assert requests.get(handshake, headers={"Origin": "https://evil.example"}, timeout=30).status_code == 400
    assert requests.get(handshake, headers={"Origin": "http://localhost:8080"}, timeout=30).ok
    preflight = requests.options(f"{assistant.url}/conversations/x/tracker", timeout=30, headers={
        "Origin": "https://evil.example", "Access-Control-Request-Method": "GET"})
    assert preflight.headers.get("Access-Control-Allow-Origin") in (None, "")


# --- size and rate -------------------------------------------------------------------------------------
def test_an_oversized_body_is_refused_before_it_is_read(assistant):
    response = assistant.say(new_sender(), "x" * 200_000)
    assert response.status_code == 413
    assert response.json() and "too long" in response.json()[0]["text"].lower()


def test_a_flood_is_refused_but_a_crisis_inside_it_is_answered_and_recorded(assistant):
    sender = new_sender()
    answers = [assistant.say(sender, "hello") for _ in range(PER_CONVERSATION_LIMIT + 2)]
    assert [a.status_code for a in answers[:PER_CONVERSATION_LIMIT]] == [200] * PER_CONVERSATION_LIMIT
    assert answers[-1].status_code == 429 and answers[-1].headers["Retry-After"] == "60"
    crisis = assistant.say(sender, "I keep thinking about killing myself")
    assert crisis.status_code == 200
    assert "999" in " ".join(m.get("text", "") for m in crisis.json())
    with sqlite3.connect(assistant.workdir / "directory.db") as db:
        categories = [row[0] for row in db.execute("select category from escalation where conversation_id = ?",
                                                   (sender,))]
    assert categories == ["suicide_self_harm"]


# --- logs ----------------------------------------------------------------------------------------------
def test_no_log_line_carries_a_message_or_a_number_even_when_the_database_fails(assistant):
    sender = new_sender()
    assert assistant.say(sender, f"my number is {PHONE}, {MARKER}").ok
    with sqlite3.connect(assistant.workdir / "tracker.db") as db:
        db.execute("drop table events")  # every later save fails with the event (the text) as a parameter
    answer = assistant.say(sender, f"call me on {PHONE} please, {MARKER}")
    assert answer.ok and answer.json(), "a database fault still gets a reply"
    time.sleep(2)
    log = assistant.log.read_text(errors="replace")
    assert "OperationalError" in log or "no such table" in log, "the fault should be logged (by type)"
    for leaked in (MARKER, PHONE, PHONE.replace(" ", ""), "900461"):
        assert leaked not in log


def test_a_dead_action_server_is_restarted_and_never_takes_rasa_down(assistant):
    def action_servers() -> list[int]:
        return [pid for pid in process_tree(assistant.process.pid)
                if b"bot.action_server" in Path(f"/proc/{pid}/cmdline").read_bytes()]

    [first] = [pid for pid in action_servers() if pid != assistant.process.pid][:1] or [None]
    assert first, "the action server runs under scripts/run.sh"
    os.kill(first, signal.SIGKILL)
    crisis = assistant.say(new_sender(), "I want to end my life")
    assert crisis.ok and "999" in crisis.json()[0]["text"], "Rasa answers while the action server is down"
    wait_for(f"http://127.0.0.1:{assistant.actions_port}/health", None, 120, assistant.log)  # restarted
    assert first not in action_servers()
    assert "The action server stopped; restarting" in assistant.log.read_text(errors="replace")


def test_with_the_model_unloaded_a_crisis_is_answered_and_recorded(assistant):
    """Last in this module: it unloads the model. The silence guard answers and records the escalation."""
    unloaded = requests.delete(f"{assistant.url}/model", params={"token": assistant.secret("rasa-auth-token")},
                               timeout=60)
    assert unloaded.status_code == 204
    sender = new_sender()
    answer = assistant.say(sender, "I've sorted out my goodbye letters and I'm going to kill myself tonight")
    assert answer.ok and "999" in " ".join(m.get("text", "") for m in answer.json())
    with sqlite3.connect(assistant.workdir / "directory.db") as db:
        categories = [row[0] for row in db.execute("select category from escalation where conversation_id = ?",
                                                   (sender,))]
    assert categories == ["suicide_self_harm"]


def test_production_refuses_to_start_without_its_secrets(tmp_path):
    env = {**os.environ, "PYTHONPATH": str(ROOT), "MODEL": model_path(), "ASSISTANT_ENV": "production",
           "ASSISTANT_VAR_DIR": str(tmp_path), "RASA_PORT": str(free_port()), "ACTIONS_PORT": str(free_port())}
    for name in ("RASA_AUTH_TOKEN", "ACTION_SERVER_TOKEN", "CONVERSATION_ID_SECRET", "WEB_SESSION_SECRET",
                 "ALERT_WEBHOOK_SECRET"):
        env.pop(name, None)
    started = subprocess.run(["scripts/run.sh"], cwd=ROOT, env=env, capture_output=True, text=True, timeout=120)
    assert started.returncode != 0
    assert "RASA_AUTH_TOKEN" in started.stderr and "configuration:" in started.stderr
    assert not list(tmp_path.iterdir()), "production never generates a secret"
