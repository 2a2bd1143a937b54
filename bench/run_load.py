"""Start the bots that bench/load.py and bench/soak.py measure, on loopback, run them, and stop everything.

    MODEL=models/<fingerprint>.tar.gz python -m bench.run_load load [bench.load options, e.g. --duration 20]
    MODEL=models/<fingerprint>.tar.gz python -m bench.run_load soak [bench.soak options, e.g. --turns 12]
    MODEL=models/<fingerprint>.tar.gz python -m bench.run_load load-prod [bench.load options]

load: trains the bare `rasa init` bot (bench/bare/) if its model is missing, into
models/bench-bare-<fingerprint of its training files>.tar.gz (a cold training: a fresh Rasa cache; the wall
time is kept beside the model, in .training.json); starts it (Rasa's REST channel, in-memory stores, no action
server) and the assistant as scripts/run.sh starts it (Rasa, action server, alert worker, chat page; SQLite in a
fresh ASSISTANT_VAR_DIR); runs bench.load against both in the same run; writes bench/load.md.
soak: starts the assistant only and runs bench.soak against it.
load-prod: as load, but the assistant is the production profile (scripts/prod.py: two Rasa instances and two
action servers behind nginx, PostgreSQL and Redis) in a fresh PROD_DIR, measured through nginx.
The assistant's rate limits are raised out of the way: one client address sends every message.
"""
from __future__ import annotations

import argparse
import hashlib
import json
import os
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import time
import urllib.request
from datetime import date
from pathlib import Path

from bench import load, soak

ROOT = Path(__file__).resolve().parent.parent
BARE = ROOT / "bench" / "bare"
RASA = ROOT / ".venv" / "bin" / "rasa"
PYTHON = ROOT / ".venv" / "bin" / "python"
# Inside this bench's port ranges (5100–5199, 8100–8199), clear of the defaults a developer's `make run` uses.
ASSISTANT_PORTS = {"RASA_PORT": 5101, "ACTIONS_PORT": 5102, "WEB_PORT": 8101}
BARE_PORT = 5103
UNLIMITED = "1000000"  # messages a minute: every reply must come from the bot, none from the rate limiter
# Left unset so the assistant runs on its embedded defaults (SQLite under ASSISTANT_VAR_DIR, in-memory locks
# and counters, development secrets), whatever the calling shell has set.
SETTINGS_LEFT_AT_DEFAULT = ("ASSISTANT_ENV", "DATABASE_URL", "TRACKER_STORE_URL", "LOCK_STORE_URL",
                            "RATE_LIMIT_REDIS_URL", "RASA_AUTH_TOKEN", "ACTION_SERVER_TOKEN", "ESCALATION_JOURNAL")
STARTUP_SECONDS = 300


def base_environment() -> dict[str, str]:
    env = {**os.environ, "PYTHONPATH": str(ROOT), "TF_CPP_MIN_LOG_LEVEL": "3", "SQLALCHEMY_SILENCE_UBER_WARNING": "1",
           "RASA_TELEMETRY_ENABLED": "false"}
    for name in SETTINGS_LEFT_AT_DEFAULT:
        env.pop(name, None)
    return env


# --- the bare bot's model ------------------------------------------------------------------------------
def bare_training_files() -> list[Path]:
    return [BARE / "config.yml", BARE / "domain.yml", *sorted((BARE / "data").rglob("*.yml"))]


def bare_model_path() -> Path:
    digest = hashlib.sha256(b"".join(path.read_bytes() for path in bare_training_files())).hexdigest()[:16]
    return ROOT / "models" / f"bench-bare-{digest}.tar.gz"


def training_record_path(model: Path) -> Path:
    return model.with_name(model.name.removesuffix(".tar.gz") + ".training.json")


def train_bare_if_missing(env: dict[str, str]) -> tuple[Path, dict]:
    """The bare model, and its training record: {"seconds", "date", "machine"}."""
    model = bare_model_path()
    record_path = training_record_path(model)
    if model.exists() and record_path.exists():
        return model, json.loads(record_path.read_text(encoding="utf-8"))
    print(f"Training the bare bot into {model.relative_to(ROOT)}…", flush=True)
    with tempfile.TemporaryDirectory(prefix="bench-bare-cache-") as cache:
        started = time.perf_counter()
        # A cold cache, so the time is a whole training, not a cache hit from an earlier one.
        subprocess.run([str(RASA), "train", "--config", str(BARE / "config.yml"), "--domain", str(BARE / "domain.yml"),
                        "--data", str(BARE / "data"), "--out", str(model.parent),
                        "--fixed-model-name", model.name.removesuffix(".tar.gz"), "--quiet"],
                       cwd=ROOT, env={**env, "RASA_CACHE_DIRECTORY": cache}, check=True)
        seconds = time.perf_counter() - started
    record = {"seconds": round(seconds, 1), "date": str(date.today()), "machine": load.machine()}
    record_path.write_text(json.dumps(record, indent=2) + "\n", encoding="utf-8")
    return model, record


# --- processes -------------------------------------------------------------------------------------------
def require_free(port: int) -> None:
    """Refuse a port already taken: its server, not ours, would answer and be measured."""
    with socket.socket() as probe:
        try:
            probe.bind(("127.0.0.1", port))
        except OSError:
            raise SystemExit(f"Port {port} is in use: stop what is listening there first") from None


def wait_until_up(url: str, process: subprocess.Popen, log: Path) -> None:
    deadline = time.monotonic() + STARTUP_SECONDS
    while time.monotonic() < deadline:
        if process.poll() is not None:
            raise SystemExit(f"It stopped before {url} answered; the end of {log}:\n{log.read_text()[-3000:]}")
        try:
            with urllib.request.urlopen(url, timeout=2) as response:
                if response.status == 200:
                    return
        except OSError:
            pass
        time.sleep(1)
    raise SystemExit(f"{url} did not answer within {STARTUP_SECONDS} s; see {log}")


def python_descendants(pid: int) -> list[int]:
    """The Python processes started under `pid` (scripts/run.sh's supervising shells are left out)."""
    children: dict[int, list[int]] = {}
    for stat in Path("/proc").glob("[0-9]*/stat"):
        try:
            parent = int(stat.read_text().rsplit(")", 1)[1].split()[1])
        except (OSError, IndexError, ValueError):
            continue
        children.setdefault(parent, []).append(int(stat.parent.name))
    found, pending = [], [pid]
    while pending:
        for child in children.get(pending.pop(), []):
            pending.append(child)
            try:
                program = Path(f"/proc/{child}/cmdline").read_bytes().split(b"\0")[0]
            except FileNotFoundError:
                continue
            if Path(program.decode(errors="replace")).name.startswith("python"):
                found.append(child)
    return sorted(found)


def signal_group(group: int, signal_number: int) -> bool:
    """Send a signal to a process group; False if no process is left in it (0 only asks)."""
    try:
        os.killpg(group, signal_number)
        return True
    except ProcessLookupError:
        return False


class Started:
    """Processes started in their own session, so every one of them can be stopped by its group."""

    def __init__(self, workdir: Path) -> None:
        self.workdir = workdir
        self.processes: list[subprocess.Popen] = []

    def spawn(self, name: str, command: list[str], env: dict[str, str]) -> tuple[subprocess.Popen, Path]:
        log = self.workdir / f"{name}.log"
        with open(log, "wb") as output:
            process = subprocess.Popen(command, cwd=ROOT, env=env, stdout=output, stderr=subprocess.STDOUT,
                                       start_new_session=True)
        self.processes.append(process)
        return process, log

    def stop(self) -> None:
        for process in self.processes:
            if process.poll() is None:
                process.terminate()  # scripts/run.sh stops its children on TERM
        for process in self.processes:
            try:
                process.wait(timeout=30)
            except subprocess.TimeoutExpired:
                pass
            # Then anything left in the session we started it in (a child still shutting down, or all of it
            # if it did not stop): TERM, then KILL after 10 s.
            for stop_signal in (signal.SIGTERM, signal.SIGKILL):
                if not signal_group(process.pid, stop_signal):
                    break
                deadline = time.monotonic() + 10
                while time.monotonic() < deadline and signal_group(process.pid, 0):
                    time.sleep(0.2)
            process.wait()


def start_assistant(started: Started, model: str, env: dict[str, str]) -> tuple[str, list[int]]:
    """scripts/run.sh on this bench's ports: (its REST base URL, the PIDs of its Python processes)."""
    for port in ASSISTANT_PORTS.values():
        require_free(port)
    var_dir = started.workdir / "var"
    env = {**env, "MODEL": model, "ASSISTANT_VAR_DIR": str(var_dir),
           "RATE_LIMIT_PER_CONVERSATION": UNLIMITED, "RATE_LIMIT_PER_CLIENT": UNLIMITED,
           **{name: str(port) for name, port in ASSISTANT_PORTS.items()}}
    subprocess.run([str(PYTHON), "-m", "bot.directory", "init"], cwd=ROOT, env=env, check=True,
                   stdout=subprocess.DEVNULL)
    process, log = started.spawn("assistant", [str(ROOT / "scripts" / "run.sh")], env)
    url = f"http://127.0.0.1:{ASSISTANT_PORTS['RASA_PORT']}"
    wait_until_up(f"{url}/webhooks/rest/", process, log)
    wait_until_up(f"http://127.0.0.1:{ASSISTANT_PORTS['ACTIONS_PORT']}/health", process, log)
    return url, python_descendants(process.pid)


def start_bare(started: Started, model: Path, env: dict[str, str]) -> tuple[str, subprocess.Popen, Path]:
    require_free(BARE_PORT)
    process, log = started.spawn("bare", [str(RASA), "run", "--model", str(model), "--interface", "127.0.0.1",
                                          "--port", str(BARE_PORT), "--credentials", str(BARE / "credentials.yml"),
                                          "--endpoints", str(BARE / "endpoints.yml")], env)
    return f"http://127.0.0.1:{BARE_PORT}", process, log


# --- the two runs ------------------------------------------------------------------------------------------
def run_load(started: Started, model: str, forwarded: list[str]) -> int:
    env = base_environment()
    bare_model, training = train_bare_if_missing(env)
    print("Starting the bare bot and the assistant…", flush=True)
    bare_url, bare_process, bare_log = start_bare(started, bare_model, env)
    assistant_url, assistant_pids = start_assistant(started, model, env)
    wait_until_up(f"{bare_url}/webhooks/rest/", bare_process, bare_log)
    notes = [f"`assistant`: `{model}`, started by scripts/run.sh (Python processes: Rasa, the action server, "
             "the alert worker, the chat page); SQLite directory and tracker store in a fresh ASSISTANT_VAR_DIR, "
             "in-memory lock store. RATE_LIMIT_PER_CONVERSATION and RATE_LIMIT_PER_CLIENT are set to "
             f"{int(UNLIMITED):,} a minute for the run: one client address sends every message.",
             f"`bare`: bench/bare/ (what `rasa init` creates in Rasa 3.6), `{bare_model.relative_to(ROOT)}`; "
             "Rasa's REST channel, its in-memory tracker and lock stores, no action server.",
             f"Training: the bare bot took {training['seconds']:.0f} s (cold Rasa cache, {training['date']}, "
             f"{training['machine']}). The assistant's model is not retrained here (`make model`)."]
    return load.main(["--target", f"assistant={assistant_url}", "--target", f"bare={bare_url}", "--baseline", "bare",
                      "--pids", f"assistant={','.join(map(str, assistant_pids))}",
                      "--pids", f"bare={bare_process.pid}", *[f"--note={note}" for note in notes], *forwarded])


def run_load_prod(started: Started, model: str, forwarded: list[str]) -> int:
    env = base_environment()
    bare_model, training = train_bare_if_missing(env)
    print("Starting the bare bot and the production profile…", flush=True)
    bare_url, bare_process, bare_log = start_bare(started, bare_model, env)
    prod_dir = started.workdir / "prod"
    prod_env = {**env, "MODEL": model, "PROD_DIR": str(prod_dir), "RATE_LIMIT_PER_CONVERSATION": UNLIMITED,
                "RATE_LIMIT_PER_CLIENT": UNLIMITED}
    prod = [str(PYTHON), str(ROOT / "scripts" / "prod.py")]
    subprocess.run(prod + ["start"], env=prod_env, cwd=ROOT, check=True, stdout=subprocess.DEVNULL)
    try:
        wait_until_up(f"{bare_url}/webhooks/rest/", bare_process, bare_log)
        state = json.loads((prod_dir / "state.json").read_text())
        pids = [str(info["pid"]) for name, info in sorted(state.items())
                if name.startswith(("rasa-", "actions-")) and info.get("pid")]
        notes = [f"`production`: `{model}`, scripts/prod.py in a fresh PROD_DIR: two Rasa instances and two action "
                 "servers behind nginx (least_conn), PostgreSQL tracker store and directory, Redis lock store, "
                 "the alert worker; measured through nginx. RSS is the two Rasa and two action-server processes. "
                 f"Rate limits set to {int(UNLIMITED):,} a minute: one client address sends every message.",
                 f"`bare`: bench/bare/ (what `rasa init` creates in Rasa 3.6), `{bare_model.relative_to(ROOT)}`; "
                 "Rasa's REST channel, its in-memory tracker and lock stores, no action server.",
                 f"Training: the bare bot took {training['seconds']:.0f} s (cold Rasa cache, {training['date']}, "
                 f"{training['machine']})."]
        return load.main(["--target", "production=http://127.0.0.1:8000", "--target", f"bare={bare_url}",
                          "--baseline", "bare", "--pids", f"production={','.join(pids)}",
                          "--pids", f"bare={bare_process.pid}", *[f"--note={note}" for note in notes], *forwarded])
    finally:
        subprocess.run(prod + ["stop"], env=prod_env, cwd=ROOT)


def run_soak(started: Started, model: str, forwarded: list[str]) -> int:
    print("Starting the assistant…", flush=True)
    url, pids = start_assistant(started, model, base_environment())
    return soak.main(["--url", url, "--pids", f"assistant={','.join(map(str, pids))}", *forwarded])


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("mode", choices=("load", "load-prod", "soak"))
    parser.add_argument("--model", default=os.environ.get("MODEL"), help="the assistant's model (default: $MODEL)")
    args, forwarded = parser.parse_known_args()
    if not args.model or not Path(args.model).exists():
        parser.error("set MODEL (or --model) to a trained model: `make model` makes one")
    workdir = Path(tempfile.mkdtemp(prefix=f"bench-{args.mode}-"))
    started, status = Started(workdir), 1
    try:
        run = {"load": run_load, "load-prod": run_load_prod, "soak": run_soak}[args.mode]
        status = run(started, args.model, forwarded)
    finally:
        started.stop()
        if status == 0:
            shutil.rmtree(workdir)
        else:
            print(f"Server logs kept in {workdir}", file=sys.stderr)
    return status


if __name__ == "__main__":
    sys.exit(main())
