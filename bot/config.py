"""Settings, read from the environment in one place, closed by default.

Local runs need nothing set: SQLite files under `var/`, every listener on loopback, secrets generated
on first use into `var/` (mode 0600). Production is chosen explicitly (ASSISTANT_ENV=production, never
inferred); there nothing is generated or defaulted that an attacker could know, and
`production_problems()` names every setting that must be fixed before anything starts.

    python -m bot.config check              exit 1, naming each problem, if this environment may not start
    python -m bot.config secret NAME        print a secret (development: created in var/ if missing)
"""
from __future__ import annotations

import ipaddress
import os
import secrets as _secrets
import sys
from dataclasses import dataclass
from pathlib import Path

from bot import PROJECT_ROOT

VAR_DIR = Path(os.environ.get("ASSISTANT_VAR_DIR") or PROJECT_ROOT / "var")

PRODUCTION = "production"
DEVELOPMENT = "development"
LOOPBACK_HOSTS = ("127.0.0.1", "::1", "localhost")
DEFAULT_WEBCHAT_ORIGINS = ("http://localhost:8080", "http://127.0.0.1:8080")
# What earlier versions used when CONVERSATION_ID_SECRET was unset: public, so refused everywhere.
KNOWN_PUBLIC_SECRETS = frozenset({"dev-only-conversation-id-secret-set-CONVERSATION_ID_SECRET-in-production"})
MIN_SECRET_LENGTH = 32


class ConfigError(RuntimeError):
    """A setting that must be fixed before the assistant may start; the message names it."""


@dataclass(frozen=True)
class Secret:
    env: str  # the environment variable an operator sets
    file: str  # where development keeps a generated one, under var/
    purpose: str


SECRETS = {
    "rasa-auth-token": Secret("RASA_AUTH_TOKEN", "rasa-auth-token",
                              "token for Rasa's HTTP API (it can read conversations and send texts)"),
    "action-server-token": Secret("ACTION_SERVER_TOKEN", "action-server-token",
                                  "token Rasa sends to the action server (endpoints.yml action_endpoint.token)"),
    "conversation-id-secret": Secret("CONVERSATION_ID_SECRET", "conversation-id-secret",
                                     "key turning a phone number into its conversation id"),
    "web-session-secret": Secret("WEB_SESSION_SECRET", "web-session-secret",
                                 "key signing the conversation ids the web chat is given"),
    "alert-webhook-secret": Secret("ALERT_WEBHOOK_SECRET", "alert-webhook-secret",
                                   "key signing crisis alerts sent to webhook contacts"),
}


def environment() -> str:
    value = (os.environ.get("ASSISTANT_ENV") or DEVELOPMENT).strip().lower()
    if value not in (PRODUCTION, DEVELOPMENT):
        raise ConfigError(f"ASSISTANT_ENV is {value!r}: use 'production' or 'development'")
    return value


def is_production() -> bool:
    return environment() == PRODUCTION


def secret(name: str) -> str:
    """A secret from its environment variable, else its file in var/. Development creates the file on first
    use (random, 0600); production never does, and refuses a missing, short or publicly known value."""
    spec = SECRETS[name]
    value = (os.environ.get(spec.env) or "").strip()
    path = VAR_DIR / spec.file
    if not value and path.exists():
        value = path.read_text(encoding="utf-8").strip()
    if not value:
        if is_production():
            raise ConfigError(f"{spec.env} is not set ({spec.purpose}): set it to a long random value")
        value = generated_secret(path)
    if value in KNOWN_PUBLIC_SECRETS or (is_production() and len(value) < MIN_SECRET_LENGTH):
        raise ConfigError(f"{spec.env} is a known or short value ({spec.purpose}): set at least "
                          f"{MIN_SECRET_LENGTH} random characters")
    return value


def generated_secret(path: Path) -> str:
    """The secret in this file, created first (random, mode 0600) if missing."""
    path.parent.mkdir(parents=True, exist_ok=True)
    value = _secrets.token_hex(32)
    try:  # O_EXCL: of several processes starting at once, one writes and the others read its value
        descriptor = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
    except FileExistsError:
        return path.read_text(encoding="utf-8").strip()
    with os.fdopen(descriptor, "w", encoding="utf-8") as file:
        file.write(value)
    return value


def _csv(name: str, default: tuple[str, ...] = ()) -> tuple[str, ...]:
    raw = os.environ.get(name)
    if raw is None:
        return default
    return tuple(part.strip() for part in raw.split(",") if part.strip())


def _parsed(name: str, default, parse, what: str):
    raw = os.environ.get(name)
    if not raw:
        return default
    try:
        return parse(raw)
    except ValueError:
        raise ConfigError(f"{name} is {raw!r}: it must be {what}") from None


def _int(name: str, default: int) -> int:
    return _parsed(name, default, int, "a whole number")


def number(name: str, default: float) -> float:
    return _parsed(name, default, float, "a number")


def text(name: str, default: str = "") -> str:
    return os.environ.get(name) or default


def is_loopback(host: str) -> bool:
    if host in LOOPBACK_HOSTS:
        return True
    try:
        return ipaddress.ip_address(host).is_loopback
    except ValueError:
        return False


@dataclass(frozen=True)
class Settings:
    database_url: str
    tracker_store_url: str = ""
    lock_store_url: str = ""
    lock_store_prefix: str = ""
    environment: str = DEVELOPMENT
    # Where every process started by `make run` listens. Anything but loopback needs TLS in front.
    bind_host: str = "127.0.0.1"
    tls_termination: str = ""  # e.g. "nginx": who terminates TLS in front of a non-loopback listener
    webchat_origins: tuple[str, ...] = DEFAULT_WEBCHAT_ORIGINS
    # Proxies whose X-Forwarded-For is believed (addresses or networks); nobody's by default.
    trusted_proxies: tuple[str, ...] = ()
    rate_limit_url: str = ""  # Redis shared by every instance; in memory (one process) when unset
    messages_per_conversation_per_minute: int = 20
    messages_per_client_per_minute: int = 60
    max_message_body_bytes: int = 64 * 1024  # a 4,096-character WhatsApp message in Urdu is ~40 KB encoded
    max_api_body_bytes: int = 4 * 1024 * 1024  # Rasa's authenticated API (training data, model paths)
    alerts_per_hour: int = 30  # beyond this, detections are recorded but alerts are summarised
    smtp_url: str = ""
    alert_email_from: str = "alerts@localhost"
    escalation_journal: str = ""
    public_base_url: str = ""
    log_message_text: bool = True  # DEBUG lines with message text: development only
    # Data protection (docs/data-protection.md): conversations, escalation words and numbers are kept this
    # long, then purged daily by the alert worker; evaluation events (anonymised) for longer.
    retention_days: int = 90
    evaluation_retention_days: int = 730
    privacy_notice_url: str = ""
    follow_up_after_days: int = 14

    @classmethod
    def from_env(cls) -> "Settings":
        env = environment()
        lock_store_url = os.environ.get("LOCK_STORE_URL") or ""
        return cls(
            database_url=os.environ.get("DATABASE_URL") or f"sqlite:///{VAR_DIR / 'directory.db'}",
            tracker_store_url=os.environ.get("TRACKER_STORE_URL") or f"sqlite:///{VAR_DIR / 'tracker.db'}",
            lock_store_url=lock_store_url,
            lock_store_prefix=os.environ.get("LOCK_STORE_PREFIX") or "",
            environment=env,
            bind_host=os.environ.get("ASSISTANT_BIND_HOST") or "127.0.0.1",
            tls_termination=os.environ.get("TLS_TERMINATION") or "",
            webchat_origins=_csv("WEBCHAT_ORIGINS", DEFAULT_WEBCHAT_ORIGINS),
            trusted_proxies=_csv("TRUSTED_PROXIES"),
            rate_limit_url=os.environ.get("RATE_LIMIT_REDIS_URL") or lock_store_url,
            messages_per_conversation_per_minute=_int("RATE_LIMIT_PER_CONVERSATION", 20),
            messages_per_client_per_minute=_int("RATE_LIMIT_PER_CLIENT", 60),
            max_message_body_bytes=_int("MAX_MESSAGE_BODY_BYTES", 64 * 1024),
            max_api_body_bytes=_int("MAX_API_BODY_BYTES", 4 * 1024 * 1024),
            alerts_per_hour=_int("ALERTS_PER_HOUR", 30),
            smtp_url=os.environ.get("SMTP_URL") or "",
            alert_email_from=os.environ.get("ALERT_EMAIL_FROM") or "alerts@localhost",
            escalation_journal=os.environ.get("ESCALATION_JOURNAL") or str(VAR_DIR / "escalation-journal.jsonl"),
            public_base_url=(os.environ.get("PUBLIC_BASE_URL") or "").rstrip("/"),
            log_message_text=env != PRODUCTION,
            retention_days=_int("RETENTION_DAYS", 90),
            evaluation_retention_days=_int("EVALUATION_RETENTION_DAYS", 730),
            privacy_notice_url=os.environ.get("PRIVACY_NOTICE_URL") or "",
            follow_up_after_days=_int("FOLLOW_UP_AFTER_DAYS", 14),
        )


@dataclass(frozen=True)
class TwilioSettings:
    """Twilio's API credentials and numbers (the SMS/WhatsApp channel and SMS alerts share them)."""
    account_sid: str
    auth_token: str
    sms_number: str | None
    whatsapp_number: str | None
    api_base_url: str  # Twilio's API; tests point it at the local emulator

    @classmethod
    def from_env(cls) -> "TwilioSettings":
        return cls(account_sid=text("TWILIO_ACCOUNT_SID"), auth_token=text("TWILIO_AUTH_TOKEN"),
                   sms_number=text("TWILIO_SMS_NUMBER") or None,
                   whatsapp_number=text("TWILIO_WHATSAPP_NUMBER") or None,
                   api_base_url=text("TWILIO_API_BASE_URL", "https://api.twilio.com"))

    @property
    def configured(self) -> bool:
        return bool(self.account_sid and self.auth_token)


def settings() -> Settings:
    # Read on every call (cheap) so tests and CLIs can point DATABASE_URL elsewhere.
    return Settings.from_env()


def production_problems(current: Settings | None = None) -> list[str]:
    """Everything that forbids a production start, each naming the setting to fix; [] if none."""
    try:
        current = current or settings()
    except ConfigError as error:
        return [str(error)]
    if current.environment != PRODUCTION:
        return []
    problems = []
    for name in SECRETS:
        try:
            secret(name)
        except ConfigError as error:
            problems.append(str(error))
    if not is_loopback(current.bind_host) and not current.tls_termination:
        problems.append(f"ASSISTANT_BIND_HOST is {current.bind_host}, beyond loopback, but TLS_TERMINATION is not "
                        "set: put a TLS-terminating proxy in front and name it in TLS_TERMINATION")
    if "*" in current.webchat_origins:
        problems.append("WEBCHAT_ORIGINS contains '*': list the sites that embed the chat widget")
    if current.public_base_url and not current.public_base_url.startswith("https://"):
        problems.append("PUBLIC_BASE_URL must be an https:// URL in production")
    return problems


def enforce() -> None:
    """Called by every process at start: in production, refuse to run with any problem above."""
    problems = production_problems()
    if problems:
        raise ConfigError("Refusing to start in production: " + "; ".join(problems))


def main(argv: list[str] | None = None) -> int:
    argv = sys.argv[1:] if argv is None else argv
    if argv[:1] == ["check"]:
        problems = production_problems()
        for problem in problems:
            print(f"configuration: {problem}", file=sys.stderr)
        return 1 if problems else 0
    if argv[:1] == ["shell"]:
        # For scripts/run.sh: `eval "$(python -m bot.config shell)"` gives it the same settings as Python.
        import shlex
        current = settings()
        try:
            values = {"ASSISTANT_BIND_HOST": current.bind_host, "WEBCHAT_ORIGINS": ",".join(current.webchat_origins),
                      "RASA_AUTH_TOKEN": secret("rasa-auth-token"),
                      "ACTION_SERVER_TOKEN": secret("action-server-token")}
        except ConfigError as error:
            print(f"configuration: {error}", file=sys.stderr)
            return 1
        print("\n".join(f"export {name}={shlex.quote(value)}" for name, value in values.items()))
        return 0
    if len(argv) == 2 and argv[0] == "secret" and argv[1] in SECRETS:
        try:
            print(secret(argv[1]))
        except ConfigError as error:
            print(f"configuration: {error}", file=sys.stderr)
            return 1
        return 0
    print(f"usage: python -m bot.config check | shell | secret {{{','.join(SECRETS)}}}", file=sys.stderr)
    return 2


if __name__ == "__main__":
    sys.exit(main())
