"""The production profile as `make run-prod` starts it (scripts/prod.py): PostgreSQL, Redis, two Rasa
instances and two action servers behind nginx, all on loopback, in production mode.

One profile for the module (about a minute to start): a conversation spread over both instances stays
coherent; the Redis lock keeps one conversation's concurrent turns in order; an instance killed
mid-conversation, Redis or PostgreSQL stopped and restarted, the alert worker stopped: replies meanwhile,
recovery without a restart, nothing lost; and with every Rasa instance down, nginx itself still gives
the 24/7 numbers (REST, and TwiML for SMS and WhatsApp).
"""
from __future__ import annotations

import json
import os
import re
import shutil
import signal
import subprocess
import sys
import tempfile
import time
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from pathlib import Path

import pytest
import requests
import sqlalchemy as sa

from bot.channels import outage
from tests.servers import ROOT, free_port, model_path
from tests.twilio_emulator import TwilioEmulator, inbound_params, post_webhook, sign

pytestmark = pytest.mark.e2e

PROD = [sys.executable, str(ROOT / "scripts" / "prod.py")]
NEEDED = ("nginx", "redis-server")
CLINICIAN = "+447700900999"  # Ofcom's drama range: never a real person
OUR_SMS = "+447700900001"
PUBLIC_BASE_URL = "https://assistant.example"  # what Twilio signs: TLS is terminated in front of nginx


def _missing_packages() -> list[str]:
    missing = [name for name in NEEDED if not (shutil.which(name) or Path(f"/usr/sbin/{name}").exists())]
    if not list(Path("/usr/lib/postgresql").glob("*/bin/initdb")):
        missing.append("postgresql")
    return missing


@dataclass
class Profile:
    env: dict[str, str]
    folder: Path
    url: str
    rasa_ports: tuple[int, int]
    emulator: TwilioEmulator

    def run(self, *args: str, check: bool = True) -> subprocess.CompletedProcess:
        return subprocess.run(PROD + list(args), env=self.env, cwd=ROOT, capture_output=True, text=True,
                              timeout=600, check=check)

    def say(self, sender: str, text: str, base: str | None = None) -> list[dict]:
        answer = requests.post(f"{base or self.url}/webhooks/rest/webhook",
                               json={"sender": sender, "message": text}, timeout=60)
        assert answer.status_code == 200, answer.text[:300]
        return answer.json()

    def instance(self, index: int) -> str:
        return f"http://127.0.0.1:{self.rasa_ports[index]}"

    def tracker(self, sender: str) -> dict:
        token = (self.folder / "rasa-auth-token").read_text().strip()
        for index in (0, 1):  # whichever is up
            try:
                answer = requests.get(f"{self.instance(index)}/conversations/{sender}/tracker",
                                      params={"token": token}, timeout=30)
            except requests.ConnectionError:
                continue
            answer.raise_for_status()
            return answer.json()
        raise AssertionError("no Rasa instance answered")

    def upstreams(self, count: int, path: str = "/webhooks/rest/webhook") -> list[str]:
        lines = (self.folder / "nginx" / "access.log").read_text().splitlines()
        served = [line for line in lines if f" {path} " in line]
        return [re.search(r"upstream=(\S+)", line).group(1) for line in served[-count:]]

    def state(self) -> dict:
        return json.loads((self.folder / "state.json").read_text())

    @property
    def database_url(self) -> str:
        password = (self.folder / "postgres-password").read_text().strip()
        return f"postgresql://postgres:{password}@127.0.0.1:{self.env['PROD_PG_PORT']}/assistant"

    def database(self) -> sa.engine.Engine:
        return sa.create_engine(self.database_url, poolclass=sa.pool.NullPool)


@pytest.fixture(scope="module")
def prod():
    missing = _missing_packages()
    if missing:
        pytest.skip(f"needs Debian packages {missing} (.ci/run installs them)")
    folder = Path(tempfile.mkdtemp(prefix="prod-profile-", dir="/tmp"))
    rasa_ports = (free_port(), free_port())
    with TwilioEmulator() as emulator:
        env = {**os.environ, "MODEL": str(Path(model_path()).resolve()), "PROD_DIR": str(folder),
               "PROD_PORT": str(free_port()), "PROD_RASA_PORTS": ",".join(map(str, rasa_ports)),
               "PROD_ACTIONS_PORTS": f"{free_port()},{free_port()}", "PROD_ACTIONS_LB_PORT": str(free_port()),
               "PROD_PAGE_PORT": str(free_port()), "PROD_PG_PORT": str(free_port()),
               "PROD_REDIS_PORT": str(free_port()), **emulator.env,
               "TWILIO_SMS_NUMBER": OUR_SMS, "PUBLIC_BASE_URL": PUBLIC_BASE_URL}
        profile = Profile(env, folder, f"http://127.0.0.1:{env['PROD_PORT']}", rasa_ports, emulator)
        started = profile.run("start", check=False)
        try:
            assert started.returncode == 0, started.stdout + started.stderr + _logs(folder)
            yield profile
        finally:
            profile.run("stop", check=False)
            data = Path(re.sub(r"\s+", "", profile.run("data-dir", check=False).stdout) or folder / "pg")
            shutil.rmtree(data, ignore_errors=True)
            shutil.rmtree(folder, ignore_errors=True)


def _logs(folder: Path) -> str:
    return "".join(f"\n--- {log.name}\n{log.read_text(errors='replace')[-1500:]}"
                   for log in sorted((folder / "logs").glob("*.log")))


def test_it_runs_in_production_mode_and_exposes_only_the_webhooks_chat_and_page(prod):
    assert prod.run("status").returncode == 0, "every service is up"
    assert requests.get(f"{prod.url}/", timeout=10).status_code == 200
    # Rasa's own API (conversations, model) is not reachable through the balancer, token or not.
    for path in ("/conversations/x/tracker", "/model", "/status", "/webhooks/rest/"):
        assert requests.get(f"{prod.url}{path}", timeout=10).status_code == 404, path
    secrets = [path for path in prod.folder.iterdir() if path.name.endswith(("-token", "-secret", "-password"))]
    assert len(secrets) >= 7 and all(path.stat().st_mode & 0o077 == 0 for path in secrets)


def test_a_conversation_served_alternately_by_both_instances_stays_coherent(prod):
    sender = "alternate-1"
    turns = [("hello", None), ("I'd like to find some support", "role"), ("I'm a dad or partner", "stage"),
             ("Baby's here", "location"), ("Glasgow", "format"), ("either", None)]
    for text, _ in turns:
        assert prod.say(sender, text), text
    served = prod.upstreams(len(turns))
    # least_conn is round robin among instances with nothing in flight, so turns sent one at a time alternate.
    assert len(set(served)) == 2, f"both instances should serve: {served}"
    slots = prod.tracker(sender)["slots"]
    assert (slots["role"], slots["stage"], slots["format"], slots["council_code"]) == \
        ("dad_partner", "postnatal", "any", "S12000049")
    assert slots["shown_service_ids"], "the last turn suggested services"


def _turns_in_order(events: list[dict]) -> bool:
    """Each user message is followed by its own actions up to action_listen before the next one begins."""
    listening = True
    for event in events:
        if event["event"] == "user":
            if not listening:
                return False
            listening = False
        elif event["event"] == "action" and event.get("name") == "action_listen":
            listening = True
    return listening


def test_the_redis_lock_keeps_one_conversations_concurrent_turns_in_order(prod):
    sender = "concurrent-1"
    prod.say(sender, "hello")
    messages = ["is there a group in Dundee", "what about online", "are there dads groups", "thanks",
                "any phone support", "what is peer support"]
    with ThreadPoolExecutor(len(messages)) as pool:
        replies = list(pool.map(lambda pair: prod.say(sender, pair[1], prod.instance(pair[0] % 2)),
                                enumerate(messages)))
    assert all(replies), "every message was answered"
    events = prod.tracker(sender)["events"]
    said = [event["text"] for event in events if event["event"] == "user"]
    assert sorted(said) == sorted(["hello", *messages])
    assert _turns_in_order(events)


def test_signed_texts_through_the_balancer_are_answered_by_either_instance(prod):
    parent = "+447700900123"
    expected = {"hello": lambda body: "automated service" in body, "I can't go on, I want to die": lambda body:
                "116 123" in body}
    for text, answers in expected.items():
        params = inbound_params(parent, OUR_SMS, text)
        answer = post_webhook(f"{prod.url}/webhooks/twilio/webhook", params,
                              signature=sign(f"{PUBLIC_BASE_URL}/webhooks/twilio/webhook", params))
        assert answer.status_code == 200 and "<Response/>" in answer.text
        prod.emulator.wait_until(lambda: any(answers(sent.body) for sent in prod.emulator.sent_to(parent)),
                                 timeout=60)
    assert len(set(prod.upstreams(2, "/webhooks/twilio/webhook"))) == 2, "both instances took a text"


def test_an_instance_killed_mid_conversation_the_other_carries_on(prod):
    sender = "killed-1"
    assert prod.say(sender, "I'd like to find some support")
    os.kill(prod.state()["rasa-1"]["pid"], signal.SIGKILL)
    for text in ("I'm a mum or mum-to-be", "I'm pregnant", "Perth"):
        assert prod.say(sender, text)
    slots = prod.tracker(sender)["slots"]
    assert (slots["role"], slots["stage"]) == ("mum", "pregnancy")
    # The supervisor looks every half second; three turns can now take less than that.
    deadline = time.monotonic() + 10
    while prod.state()["rasa-1"]["restarts"] < 1 and time.monotonic() < deadline:
        time.sleep(0.2)
    assert prod.state()["rasa-1"]["restarts"] >= 1, "the supervisor restarts it (loading, while the rest run)"


def _held(prod: Profile, name: str):
    prod.run("hold", name)
    deadline = time.monotonic() + 30
    while prod.state()[name]["pid"] is not None and time.monotonic() < deadline:
        time.sleep(0.5)
    assert prod.state()[name]["pid"] is None, f"{name} did not stop"


def _released(prod: Profile, name: str, ready) -> None:
    prod.run("release", name)
    deadline = time.monotonic() + 60
    while time.monotonic() < deadline:
        try:
            if ready():
                return
        except Exception:  # noqa: BLE001 - not up yet
            pass
        time.sleep(0.5)
    raise TimeoutError(f"{name} did not come back")


def _escalations(prod: Profile, sender: str) -> list[tuple]:
    with prod.database().connect() as connection:
        return connection.execute(sa.text("SELECT category FROM escalation WHERE conversation_id = :c"),
                                  {"c": sender}).fetchall()


def test_with_redis_stopped_replies_still_come_and_it_recovers_without_a_restart(prod):
    _held(prod, "redis")
    try:
        replies = prod.say("redis-down-1", "I want to end my life")
        assert any("116 123" in reply.get("text", "") for reply in replies), replies
        assert prod.say("redis-down-2", "hello")
    finally:
        _released(prod, "redis", lambda: subprocess.run(["redis-cli", "-p", prod.env["PROD_REDIS_PORT"], "-a",
                                                         (prod.folder / "redis-password").read_text().strip(),
                                                         "--no-auth-warning", "ping"], capture_output=True,
                                                        text=True).stdout.strip() == "PONG")
    assert _escalations(prod, "redis-down-1"), "the detection reached the escalation record"
    replies = prod.say("redis-back-1", "I'd like to find some support")
    assert "Who is the support for?" in replies[0]["text"], "a normal turn again, with no restart"


def test_with_postgresql_stopped_a_crisis_is_answered_journalled_and_recorded_once_it_is_back(prod):
    _held(prod, "postgres")
    try:
        replies = prod.say("pg-down-1", "I'm going to kill myself tonight")
        assert any("116 123" in reply.get("text", "") for reply in replies), replies
        assert any("try again" in reply.get("text", "") or "999" in reply.get("text", "")
                   for reply in prod.say("pg-down-2", "hello"))
    finally:
        _released(prod, "postgres", lambda: prod.database().connect().close() is None)
    deadline = time.monotonic() + 60  # the alert worker replays the journal into the database
    while not _escalations(prod, "pg-down-1") and time.monotonic() < deadline:
        time.sleep(1)
    assert _escalations(prod, "pg-down-1"), "the journalled detection reached the escalation record"
    replies = prod.say("pg-back-1", "I'd like to find some support")
    assert "Who is the support for?" in replies[0]["text"], "a normal turn again, with no restart"


def test_with_the_alert_worker_stopped_alerts_wait_in_the_outbox_and_go_when_it_returns(prod):
    add = subprocess.run([sys.executable, "-m", "bot.escalation", "contacts", "add", "--name", "Duty clinician",
                          "--role", "Perinatal mental health duty clinician", "--channel", "sms",
                          "--address", CLINICIAN], env={**prod.env, "DATABASE_URL": prod.database_url},
                         cwd=ROOT, capture_output=True, text=True)
    assert add.returncode == 0, add.stderr
    _held(prod, "worker")
    try:
        prod.say("worker-down-1", "I want to kill myself")
        time.sleep(3)
        with prod.database().connect() as connection:
            statuses = connection.execute(sa.text(
                "SELECT a.status FROM alert a JOIN escalation e ON e.id = a.escalation_id "
                "WHERE e.conversation_id = 'worker-down-1'")).scalars().all()
        assert statuses and set(statuses) == {"pending"}
        assert not prod.emulator.sent_to(CLINICIAN)
    finally:
        prod.run("release", "worker")
    prod.emulator.wait_for_messages(1, to=CLINICIAN, timeout=60)


def test_with_every_rasa_instance_down_nginx_still_gives_the_24_7_numbers(prod):
    _held(prod, "rasa-1")
    _held(prod, "rasa-2")
    try:
        rest = requests.post(f"{prod.url}/webhooks/rest/webhook", json={"sender": "down", "message": "help"},
                             timeout=30)
        assert rest.status_code == 200 and rest.json() == json.loads(outage.rest_json())
        twiml = requests.post(f"{prod.url}/webhooks/twilio/webhook", data={"Body": "help", "From": "+447700900123"},
                              timeout=30)
        assert twiml.status_code == 200 and twiml.headers["content-type"].startswith("text/xml")
        assert twiml.text.strip() == outage.twiml().strip()
        assert all(number in twiml.text for number in ("999", "111", "116 123"))
    finally:
        prod.run("release", "rasa-1")
        prod.run("release", "rasa-2")


def test_the_committed_twilio_fallback_is_what_the_balancer_serves():
    assert (ROOT / "deploy" / "twilio-fallback.xml").read_text(encoding="utf-8") == outage.twiml()
