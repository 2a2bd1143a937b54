"""Start the real servers for end-to-end tests: the action server and Rasa, on free loopback ports."""
from __future__ import annotations

import os
import secrets
import socket
import subprocess
import sys
import time
from dataclasses import dataclass, field
from pathlib import Path

import requests

ROOT = Path(__file__).resolve().parent.parent
VENV_BIN = Path(sys.executable).parent


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def wait_for(url: str, process: subprocess.Popen | None, timeout: float, log: Path) -> None:
    """Until `url` answers 2xx; fails early if `process` (when given) exits."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if process is not None and process.poll() is not None:
            raise RuntimeError(f"{url} exited early:\n{log.read_text()[-3000:]}")
        try:
            if requests.get(url, timeout=2).ok:
                return
        except requests.RequestException:
            pass
        time.sleep(0.5)
    raise TimeoutError(f"{url} not up after {timeout}s:\n{log.read_text()[-3000:]}")


def model_path() -> str:
    model = os.environ.get("MODEL")
    if not model or not Path(model).exists():
        raise RuntimeError("End-to-end tests need a trained model: run them with `make test` (MODEL is set there).")
    return model


@dataclass
class Servers:
    """Rasa (REST + socket.io) and the action server, with their own database and tracker store."""
    workdir: Path
    env: dict[str, str] = field(default_factory=dict)
    rasa_port: int = field(default_factory=free_port)
    actions_port: int = field(default_factory=free_port)
    processes: dict[str, subprocess.Popen] = field(default_factory=dict)
    rasa_token: str = field(default_factory=lambda: secrets.token_urlsafe(32))
    actions_token: str = field(default_factory=lambda: secrets.token_urlsafe(32))

    @property
    def rasa_url(self) -> str:
        return f"http://127.0.0.1:{self.rasa_port}"

    def start(self) -> "Servers":
        self.env = {**os.environ, "PYTHONPATH": str(ROOT), "TF_CPP_MIN_LOG_LEVEL": "2", "RASA_TELEMETRY_ENABLED": "false",
                    "DATABASE_URL": f"sqlite:///{self.workdir / 'directory.db'}",
                    "TRACKER_STORE_URL": f"sqlite:///{self.workdir / 'tracker.db'}",
                    "ASSISTANT_VAR_DIR": str(self.workdir), "ACTIONS_PORT": str(self.actions_port),
                    "RASA_AUTH_TOKEN": self.rasa_token, "ACTION_SERVER_TOKEN": self.actions_token,
                    # Conversations here are many and quick; the rate limit has its own tests.
                    "RATE_LIMIT_PER_CONVERSATION": "1000", "RATE_LIMIT_PER_CLIENT": "1000", **self.env}
        subprocess.run([sys.executable, "-m", "bot.directory", "init"], cwd=ROOT, env=self.env, check=True,
                       capture_output=True)
        self.start_actions()
        self._spawn("rasa", [str(VENV_BIN / "rasa"), "run", "--model", model_path(), "--enable-api",
                             f"--auth-token={self.rasa_token}", "--interface", "127.0.0.1",
                             "--port", str(self.rasa_port), "--endpoints", str(ROOT / "endpoints.yml"),
                             "--credentials", str(ROOT / "credentials.yml")])
        wait_for(f"{self.rasa_url}/webhooks/rest/", self.processes["rasa"], 240, self.workdir / "rasa.log")
        return self

    def start_actions(self) -> None:
        self._spawn("actions", [sys.executable, "-m", "bot.action_server", "--host", "127.0.0.1",
                                "--port", str(self.actions_port)])
        wait_for(f"http://127.0.0.1:{self.actions_port}/health", self.processes["actions"], 120,
                 self.workdir / "actions.log")

    def stop_actions(self) -> None:
        self._stop("actions")

    def _spawn(self, name: str, command: list[str]) -> None:
        log = open(self.workdir / f"{name}.log", "wb")
        self.processes[name] = subprocess.Popen(command, cwd=ROOT, env=self.env, stdout=log,
                                                stderr=subprocess.STDOUT)

    def _stop(self, name: str) -> None:
        process = self.processes.pop(name, None)
        if process and process.poll() is None:
            process.terminate()
            try:
                process.wait(timeout=20)
            except subprocess.TimeoutExpired:
                process.kill()

    def stop(self) -> None:
        for name in list(self.processes):
            self._stop(name)

    # --- talking to it -------------------------------------------------------------------
    def say(self, sender: str, text: str) -> list[dict]:
        response = requests.post(f"{self.rasa_url}/webhooks/rest/webhook",
                                 json={"sender": sender, "message": text}, timeout=60)
        response.raise_for_status()
        return response.json()

    def tracker(self, sender: str) -> dict:
        return requests.get(f"{self.rasa_url}/conversations/{sender}/tracker",
                            params={"token": self.rasa_token}, timeout=30).json()

    def slot(self, sender: str, name: str):
        return self.tracker(sender)["slots"].get(name)
