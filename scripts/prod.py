"""The production profile on one machine, on loopback: `make run-prod`, `make stop-prod`.

    python scripts/prod.py start | stop | status | hold NAME | release NAME | data-dir

PostgreSQL and Redis (Debian packages) with generated passwords, migrated; two Rasa instances and two action
servers behind nginx (deploy/nginx.conf.in: fewest requests in flight for the webhooks, sticky for the chat's socket.io,
static 24/7 numbers when every instance is down); the alert worker and the chat page server. A supervisor
process owns them all and restarts any that stops, with back-off (1 s doubling to 60 s). `hold NAME` stops
one and keeps it stopped until `release NAME` (maintenance, and the resilience tests).

Everything runs with ASSISTANT_ENV=production, so every process refuses a missing or weak secret; the
secrets are generated once into PROD_DIR (default var/prod, mode 0600). Settings (environment):
PROD_DIR, PROD_PORT (the balancer, 8000), PROD_RASA_PORTS (5015,5016), PROD_ACTIONS_PORTS (5065,5066),
PROD_ACTIONS_LB_PORT (5064), PROD_PAGE_PORT (8081), PROD_PG_PORT (55432), PROD_REDIS_PORT (56379), MODEL.
"""
from __future__ import annotations

import hashlib
import json
import os
import shutil
import signal
import subprocess
import sys
import time
import urllib.error
import urllib.request
from dataclasses import dataclass, field
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
PROD_DIR = Path(os.environ.get("PROD_DIR") or ROOT / "var" / "prod").resolve()
os.environ["ASSISTANT_VAR_DIR"] = str(PROD_DIR)  # before bot.config reads it: secrets live here
sys.path.insert(0, str(ROOT))

from bot import config  # noqa: E402

VENV_BIN = ROOT / ".venv" / "bin"
PACKAGES = {"nginx": "nginx-light", "redis-server": "redis-server", "initdb": "postgresql"}
DATABASES = ("assistant", "tracker")  # the directory and everything of ours; Rasa's tracker store


def _ports(name: str, default: str) -> list[int]:
    return [int(port) for port in (os.environ.get(name) or default).split(",")]


@dataclass(frozen=True)
class Layout:
    port: int = _ports("PROD_PORT", "8000")[0]
    rasa_ports: tuple[int, ...] = tuple(_ports("PROD_RASA_PORTS", "5015,5016"))
    actions_ports: tuple[int, ...] = tuple(_ports("PROD_ACTIONS_PORTS", "5065,5066"))
    actions_lb_port: int = _ports("PROD_ACTIONS_LB_PORT", "5064")[0]
    page_port: int = _ports("PROD_PAGE_PORT", "8081")[0]
    pg_port: int = _ports("PROD_PG_PORT", "55432")[0]
    redis_port: int = _ports("PROD_REDIS_PORT", "56379")[0]

    @property
    def public_url(self) -> str:
        return f"http://127.0.0.1:{self.port}"


LAYOUT = Layout()
LOGS = PROD_DIR / "logs"
HOLDS = PROD_DIR / "hold"
SUPERVISOR_PID = PROD_DIR / "supervisor.pid"


# --- set-up ---------------------------------------------------------------------------------------------

def _secret_file(name: str) -> str:
    return config.generated_secret(PROD_DIR / name)


def _binary(name: str) -> str | None:
    if name == "initdb":
        found = sorted(Path("/usr/lib/postgresql").glob("*/bin/initdb"))
        return str(found[-1]) if found else None
    return shutil.which(name) or (f"/usr/sbin/{name}" if Path(f"/usr/sbin/{name}").exists() else None)


def ensure_packages() -> None:
    missing = [package for binary, package in PACKAGES.items() if not _binary(binary)]
    if not missing:
        return
    if os.geteuid() != 0 or not shutil.which("apt-get"):
        sys.exit(f"The production profile needs Debian packages: sudo apt-get install {' '.join(missing)}")
    print(f"Installing {' '.join(missing)} (Debian packages)…", flush=True)
    subprocess.run(["apt-get", "install", "-y", "-qq", *missing], check=True,
                   env={**os.environ, "DEBIAN_FRONTEND": "noninteractive"}, stdout=subprocess.DEVNULL)


def _as_postgres() -> list[str]:
    # PostgreSQL refuses to run as root: it runs as Debian's postgres user then.
    return ["runuser", "-u", "postgres", "--"] if os.geteuid() == 0 else []


def pg_data_dir() -> Path:
    """PROD_DIR/pg, or (as root, where the postgres user cannot reach it) a folder postgres owns."""
    local = PROD_DIR / "pg"
    if os.geteuid() != 0:
        return local
    reachable = subprocess.run(_as_postgres() + ["test", "-x", str(PROD_DIR)], capture_output=True).returncode == 0
    if reachable:
        return local
    digest = hashlib.sha256(str(PROD_DIR).encode()).hexdigest()[:12]
    return Path("/var/lib/postgresql") / f"perinatal-assistant-{digest}"


def init_postgres(data: Path) -> None:
    if (data / "PG_VERSION").exists():
        return
    bin_dir = Path(_binary("initdb")).parent
    data.mkdir(parents=True, exist_ok=True)
    password_file = data.parent / f".{data.name}-initdb-password"
    password_file.write_text(_secret_file("postgres-password") + "\n", encoding="utf-8")
    if os.geteuid() == 0:
        shutil.chown(data, "postgres")
        shutil.chown(password_file, "postgres")
    password_file.chmod(0o600)
    try:
        subprocess.run(_as_postgres() + [str(bin_dir / "initdb"), "-D", str(data), "-U", "postgres",
                                         "--auth=scram-sha-256", f"--pwfile={password_file}", "-E", "UTF8"],
                       check=True, capture_output=True)
    finally:
        password_file.unlink()


def database_urls() -> dict[str, str]:
    password = _secret_file("postgres-password")
    return {name: f"postgresql://postgres:{password}@127.0.0.1:{LAYOUT.pg_port}/{name}" for name in DATABASES}


def redis_url() -> str:
    return f"redis://:{_secret_file('redis-password')}@127.0.0.1:{LAYOUT.redis_port}/1"


def write_redis_config() -> Path:
    path = PROD_DIR / "redis.conf"
    (PROD_DIR / "redis").mkdir(parents=True, exist_ok=True)
    path.write_text(f"bind 127.0.0.1\nport {LAYOUT.redis_port}\nprotected-mode yes\n"
                    f"requirepass {_secret_file('redis-password')}\nsave \"\"\nappendonly no\n"
                    f"dir {PROD_DIR / 'redis'}\n", encoding="utf-8")
    path.chmod(0o600)
    return path


def write_nginx_config() -> Path:
    from bot.channels import outage
    prefix = PROD_DIR / "nginx"
    for sub in ("body", "proxy", "fastcgi", "uwsgi", "scgi"):
        (prefix / "tmp" / sub).mkdir(parents=True, exist_ok=True)

    def quoted(text: str) -> str:  # inside an nginx '…' string
        if "$" in text:
            raise ValueError("nginx would read a '$' in a static reply as a variable")
        return text.replace("\\", "\\\\").replace("'", "\\'").strip()

    servers = lambda ports: "\n".join(f"        server 127.0.0.1:{port} max_fails=1 fail_timeout=5s;"  # noqa: E731
                                      for port in ports)
    values = {"PREFIX": str(prefix), "LISTEN": f"127.0.0.1:{LAYOUT.port}",
              "ACTIONS_LISTEN": f"127.0.0.1:{LAYOUT.actions_lb_port}",
              "MAX_BODY": str(config.settings().max_message_body_bytes),
              "RASA_SERVERS": servers(LAYOUT.rasa_ports), "ACTION_SERVERS": servers(LAYOUT.actions_ports),
              "PAGE_SERVER": f"127.0.0.1:{LAYOUT.page_port}", "TWIML": quoted(outage.twiml()),
              "REST_JSON": quoted(outage.rest_json()), "HELP_HTML": quoted(outage.html_page())}
    text = (ROOT / "deploy" / "nginx.conf.in").read_text(encoding="utf-8")
    for name, value in values.items():
        text = text.replace(f"@{name}@", value)
    path = prefix / "nginx.conf"
    path.write_text(text, encoding="utf-8")
    return path


def environment() -> dict[str, str]:
    """What every assistant process is given: production, loopback, the shared stores."""
    urls = database_urls()
    origins = f"http://127.0.0.1:{LAYOUT.port},http://localhost:{LAYOUT.port}"
    env = {**os.environ, "ASSISTANT_ENV": config.PRODUCTION, "ASSISTANT_VAR_DIR": str(PROD_DIR),
           "PYTHONPATH": str(ROOT), "TF_CPP_MIN_LOG_LEVEL": "3", "SQLALCHEMY_SILENCE_UBER_WARNING": "1",
           "RASA_TELEMETRY_ENABLED": "false", "ASSISTANT_BIND_HOST": "127.0.0.1",
           "DATABASE_URL": urls["assistant"], "TRACKER_STORE_URL": urls["tracker"], "LOCK_STORE_URL": redis_url(),
           "ACTION_SERVER_URL": f"http://127.0.0.1:{LAYOUT.actions_lb_port}/webhook",
           "TRUSTED_PROXIES": "127.0.0.1", "WEBCHAT_ORIGINS": origins,
           "WEBCHAT_SERVER_URL": f"http://localhost:{LAYOUT.port}",
           "LOG_FORMAT": os.environ.get("LOG_FORMAT") or "json"}  # one JSON object a line, for a collector
    for name, spec in config.SECRETS.items():
        env[spec.env] = os.environ.get(spec.env) or _secret_file(spec.file)
    return env


# --- the services ---------------------------------------------------------------------------------------

@dataclass
class Service:
    name: str
    command: list[str]
    health: str | None = None  # a URL answering 2xx when it is up
    stop_signal: int = signal.SIGTERM
    process: subprocess.Popen | None = None
    delay: float = 1.0
    next_start: float = 0.0
    started_at: float = 0.0
    restarts: int = field(default=0)


def services(model: str, env: dict[str, str]) -> list[Service]:
    python = str(VENV_BIN / "python")
    data = pg_data_dir()
    postgres = str(Path(_binary("initdb")).parent / "postgres")
    listed = [
        Service("postgres", _as_postgres() + [postgres, "-D", str(data), "-p", str(LAYOUT.pg_port),
                                              "-h", "127.0.0.1", "-k", str(data)],
                stop_signal=signal.SIGINT),  # "fast" shutdown: SIGTERM would wait for every client to leave
        Service("redis", [_binary("redis-server"), str(PROD_DIR / "redis.conf")]),
    ]
    for index, port in enumerate(LAYOUT.actions_ports, 1):
        listed.append(Service(f"actions-{index}", [python, "-m", "bot.action_server", "--port", str(port)],
                              f"http://127.0.0.1:{port}/health"))
    origins = env["WEBCHAT_ORIGINS"].split(",")
    for index, port in enumerate(LAYOUT.rasa_ports, 1):
        listed.append(Service(f"rasa-{index}", [
            str(VENV_BIN / "rasa"), "run", "--model", model, "--interface", "127.0.0.1", "--port", str(port),
            "--enable-api", f"--auth-token={env['RASA_AUTH_TOKEN']}", "--cors", *origins,
            "--endpoints", "endpoints.prod.yml", "--credentials", "credentials.yml",
            "--logging-config-file", "logging.yml"],
            f"http://127.0.0.1:{port}/"))
    listed += [
        Service("worker", [python, "-m", "bot.escalation", "deliver", "--loop"]),
        Service("page", [python, "-m", "bot.web", "--port", str(LAYOUT.page_port)],
                f"http://127.0.0.1:{LAYOUT.page_port}/help"),
        Service("nginx", [_binary("nginx"), "-p", str(PROD_DIR / "nginx"), "-c",
                          str(PROD_DIR / "nginx" / "nginx.conf"), "-g", "daemon off;"],
                f"{LAYOUT.public_url}/help"),
    ]
    return listed


def healthy(url: str) -> bool:
    try:
        with urllib.request.urlopen(url, timeout=2) as answer:
            return 200 <= answer.status < 300
    except (urllib.error.URLError, OSError):
        return False


def _wait_until(check, seconds: float) -> bool:
    deadline = time.monotonic() + seconds
    while time.monotonic() < deadline:
        if check():
            return True
        time.sleep(0.5)
    return False


def _postgres_ready(env: dict[str, str]) -> bool:
    pg_isready = Path(_binary("initdb")).parent / "pg_isready"
    return subprocess.run([str(pg_isready), "-h", "127.0.0.1", "-p", str(LAYOUT.pg_port), "-q"]).returncode == 0


def migrate(env: dict[str, str]) -> None:
    """Creates the databases, migrates and seeds the directory, and creates Rasa's tracker table once (two
    instances creating it at the same moment would race)."""
    import sqlalchemy as sa
    admin = sa.create_engine(database_urls()["assistant"].rsplit("/", 1)[0] + "/postgres",
                             isolation_level="AUTOCOMMIT")
    with admin.connect() as connection:
        existing = {row[0] for row in connection.execute(sa.text("SELECT datname FROM pg_database"))}
        for name in DATABASES:
            if name not in existing:
                connection.execute(sa.text(f'CREATE DATABASE "{name}"'))
    admin.dispose()
    python = str(VENV_BIN / "python")
    subprocess.run([python, "-m", "bot.directory", "init"], env=env, check=True, cwd=ROOT,
                   stdout=subprocess.DEVNULL)
    subprocess.run([python, "-c", "from bot.rasa_stores import TrackerStoreFromEnv; TrackerStoreFromEnv()"],
                   env=env, check=True, cwd=ROOT, stderr=subprocess.DEVNULL)


class Supervisor:
    def __init__(self, listed: list[Service], env: dict[str, str]) -> None:
        self.services = listed
        self.env = env
        self.stopping = False

    def _start(self, service: Service) -> None:
        log = open(LOGS / f"{service.name}.log", "ab")
        # Its own process group, so stopping it reaches its children too (runuser's postgres, Rasa's workers).
        service.process = subprocess.Popen(service.command, env=self.env, cwd=ROOT, stdout=log,
                                           stderr=subprocess.STDOUT, stdin=subprocess.DEVNULL,
                                           start_new_session=True)
        log.close()
        service.started_at = time.monotonic()

    def _stop(self, service: Service, grace: float = 10.0) -> None:
        process, service.process = service.process, None
        if process is None or process.poll() is not None:
            return
        os.killpg(process.pid, service.stop_signal)
        try:
            process.wait(grace)
        except subprocess.TimeoutExpired:
            os.killpg(process.pid, signal.SIGKILL)
            process.wait()

    def tick(self) -> None:
        now = time.monotonic()
        for service in self.services:
            held = (HOLDS / service.name).exists()
            running = service.process is not None and service.process.poll() is None
            if held:
                self._stop(service)
                continue
            if running:
                if now - service.started_at > 30:
                    service.delay = 1.0  # it ran a while: the next failure starts the back-off again
                continue
            if service.process is not None:  # it stopped by itself
                code = service.process.returncode
                service.process = None
                service.next_start = now + service.delay
                service.restarts += 1
                print(f"{service.name} stopped (exit {code}); restarting in {service.delay:.0f} s", flush=True)
                service.delay = min(service.delay * 2, 60.0)
            if now >= service.next_start:
                self._start(service)
        self._write_state()

    def _write_state(self) -> None:
        state = {service.name: {"pid": service.process.pid if service.process else None,
                                "restarts": service.restarts, "held": (HOLDS / service.name).exists()}
                 for service in self.services}
        partial = PROD_DIR / "state.json.partial"  # replaced whole: a reader never sees half a file
        partial.write_text(json.dumps(state, indent=1), encoding="utf-8")
        partial.replace(PROD_DIR / "state.json")

    def run(self) -> None:
        signal.signal(signal.SIGTERM, lambda *_: setattr(self, "stopping", True))
        signal.signal(signal.SIGINT, lambda *_: setattr(self, "stopping", True))
        by_name = {service.name: service for service in self.services}
        for name in ("postgres", "redis"):  # the stores first, then migrate, then the rest
            if not (HOLDS / name).exists():
                self._start(by_name[name])
        if not _wait_until(lambda: _postgres_ready(self.env), 60):
            print("PostgreSQL did not start: see logs/postgres.log", flush=True)
        migrate(self.env)
        while not self.stopping:
            self.tick()
            time.sleep(0.5)
        for service in reversed(self.services):
            self._stop(service)
        (PROD_DIR / "state.json").unlink(missing_ok=True)


# --- commands -------------------------------------------------------------------------------------------

def _supervisor_pid() -> int | None:
    try:
        pid = int(SUPERVISOR_PID.read_text())
        os.kill(pid, 0)
        return pid
    except (FileNotFoundError, ValueError, ProcessLookupError):
        return None


def model_path() -> str:
    model = os.environ.get("MODEL") or ""
    if not Path(model).exists():
        sys.exit("Set MODEL to a trained model (make run-prod does).")
    return str(Path(model).resolve())


def supervise() -> int:
    env = environment()
    listed = services(model_path(), env)
    SUPERVISOR_PID.write_text(str(os.getpid()))
    try:
        Supervisor(listed, env).run()
    finally:
        SUPERVISOR_PID.unlink(missing_ok=True)
    return 0


def status() -> int:
    state_file = PROD_DIR / "state.json"
    state = json.loads(state_file.read_text()) if state_file.exists() else {}
    listed = services(os.environ.get("MODEL") or "-", environment())
    all_up = True
    for service in listed:
        info = state.get(service.name, {})
        if info.get("held"):
            shown = "held (stopped on purpose)"
        elif service.health:
            up = healthy(service.health)
            all_up &= up
            shown = "up" if up else "DOWN"
        else:
            shown = "running" if info.get("pid") else "DOWN"
            all_up &= bool(info.get("pid"))
        print(f"  {service.name:10} {shown}" + (f" ({info['restarts']} restarts)" if info.get("restarts") else ""))
    return 0 if all_up else 1


def start() -> int:
    if _supervisor_pid():
        print(f"The production profile is already running ({LAYOUT.public_url}).")
        return status()
    ensure_packages()
    model = model_path()
    for folder in (LOGS, HOLDS):
        folder.mkdir(parents=True, exist_ok=True)
    PROD_DIR.chmod(0o711)  # others may pass through (postgres, nginx's workers) but not list; secrets are 0600
    init_postgres(pg_data_dir())
    write_redis_config()
    write_nginx_config()
    env = environment()
    problems = subprocess.run([str(VENV_BIN / "python"), "-m", "bot.config", "check"], env=env, cwd=ROOT)
    if problems.returncode:
        return 1
    nginx_test = subprocess.run([_binary("nginx"), "-t", "-q", "-p", str(PROD_DIR / "nginx"), "-c",
                                 str(PROD_DIR / "nginx" / "nginx.conf")], capture_output=True, text=True)
    if nginx_test.returncode:
        print(nginx_test.stderr, file=sys.stderr)
        return 1
    with open(LOGS / "supervisor.log", "ab") as log:
        subprocess.Popen([str(VENV_BIN / "python"), __file__, "supervise"], env={**os.environ, "MODEL": model},
                         cwd=ROOT, stdout=log, stderr=subprocess.STDOUT, stdin=subprocess.DEVNULL,
                         start_new_session=True)
    print(f"Starting the production profile (logs in {LOGS})…", flush=True)
    listed = services(model, env)
    checks = [service.health for service in listed if service.health]
    if not _wait_until(lambda: all(healthy(url) for url in checks), 300):
        print("Not everything came up within 5 minutes:", file=sys.stderr)
        status()
        return 1
    print(f"The assistant is running in production mode on loopback, behind nginx at {LAYOUT.public_url}:\n"
          f"  REST:      POST {LAYOUT.public_url}/webhooks/rest/webhook\n"
          f"  Twilio:    POST {LAYOUT.public_url}/webhooks/twilio/webhook (TWILIO_* settings: docs/twilio.md)\n"
          f"  Web chat:  {LAYOUT.public_url}/\n"
          f"  Rasa:      {', '.join(f'127.0.0.1:{p}' for p in LAYOUT.rasa_ports)} (API token: {PROD_DIR}/rasa-auth-token)\n"
          f"  Status:    .venv/bin/python scripts/prod.py status    Stop: make stop-prod")
    return 0


def stop() -> int:
    pid = _supervisor_pid()
    if not pid:
        print("The production profile is not running.")
        return 0
    os.kill(pid, signal.SIGTERM)
    if not _wait_until(lambda: _supervisor_pid() is None, 60):
        os.kill(pid, signal.SIGKILL)
    print("Stopped.")
    return 0


def hold(name: str, on: bool) -> int:
    HOLDS.mkdir(parents=True, exist_ok=True)
    if on:
        (HOLDS / name).touch()
    else:
        (HOLDS / name).unlink(missing_ok=True)
    return 0


def main(argv: list[str]) -> int:
    commands = {"start": start, "stop": stop, "status": status, "supervise": supervise,
                "data-dir": lambda: print(pg_data_dir()) or 0}
    if len(argv) == 1 and argv[0] in commands:
        return commands[argv[0]]()
    if len(argv) == 2 and argv[0] in ("hold", "release"):
        return hold(argv[1], argv[0] == "hold")
    print(__doc__.split("\n\n")[1].strip(), file=sys.stderr)
    return 2


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
