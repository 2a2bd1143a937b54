"""Settings and secrets (bot/config.py) and channel identities (bot/privacy.py): closed by default."""
from __future__ import annotations

import logging
import shlex

import pytest

from bot import config, privacy


@pytest.fixture
def development(monkeypatch, tmp_path):
    for spec in config.SECRETS.values():
        monkeypatch.delenv(spec.env, raising=False)
    for name in ("ASSISTANT_ENV", "ASSISTANT_BIND_HOST", "TLS_TERMINATION", "WEBCHAT_ORIGINS", "PUBLIC_BASE_URL"):
        monkeypatch.delenv(name, raising=False)
    monkeypatch.setattr(config, "VAR_DIR", tmp_path)
    return tmp_path


@pytest.fixture
def production(development, monkeypatch):
    monkeypatch.setenv("ASSISTANT_ENV", "production")
    for spec in config.SECRETS.values():
        monkeypatch.setenv(spec.env, "p" * 40)
    return development


def test_defaults_are_loopback_and_the_local_widget(development):
    current = config.settings()
    assert current.bind_host == "127.0.0.1" and config.is_loopback(current.bind_host)
    assert current.webchat_origins == ("http://localhost:8080", "http://127.0.0.1:8080")
    assert current.environment == "development" and current.log_message_text
    assert config.production_problems() == []


def test_development_generates_each_secret_once_private_and_random(development):
    tokens = {name: config.secret(name) for name in config.SECRETS}
    assert len(set(tokens.values())) == len(tokens), "every secret is its own"
    for name, value in tokens.items():
        path = development / config.SECRETS[name].file
        assert path.stat().st_mode & 0o777 == 0o600
        assert len(value) >= config.MIN_SECRET_LENGTH and config.secret(name) == value


def test_an_environment_variable_wins_over_the_file(development, monkeypatch):
    config.secret("rasa-auth-token")
    monkeypatch.setenv("RASA_AUTH_TOKEN", "from-the-operator-" + "x" * 20)
    assert config.secret("rasa-auth-token") == "from-the-operator-" + "x" * 20


def test_production_names_every_missing_secret_and_generates_nothing(development, monkeypatch):
    monkeypatch.setenv("ASSISTANT_ENV", "production")
    problems = " ".join(config.production_problems())
    for spec in config.SECRETS.values():
        assert spec.env in problems
    assert not list(development.iterdir())
    with pytest.raises(config.ConfigError, match="Refusing to start in production"):
        config.enforce()


@pytest.mark.parametrize("setting,value,named", [
    ("ASSISTANT_BIND_HOST", "0.0.0.0", "TLS_TERMINATION"),
    ("WEBCHAT_ORIGINS", "*", "WEBCHAT_ORIGINS"),
    ("PUBLIC_BASE_URL", "http://chat.example.org", "PUBLIC_BASE_URL"),
    ("RASA_AUTH_TOKEN", "short", "RASA_AUTH_TOKEN"),
])
def test_production_refuses_an_unsafe_setting_and_names_it(production, monkeypatch, setting, value, named):
    assert config.production_problems() == []
    monkeypatch.setenv(setting, value)
    problems = config.production_problems()
    assert len(problems) == 1 and named in problems[0]


def test_a_public_bind_is_allowed_behind_named_tls_termination(production, monkeypatch):
    monkeypatch.setenv("ASSISTANT_BIND_HOST", "0.0.0.0")
    monkeypatch.setenv("TLS_TERMINATION", "nginx")
    assert config.production_problems() == []


def test_production_is_chosen_explicitly_and_a_typo_is_refused(development, monkeypatch):
    monkeypatch.setenv("PUBLIC_BASE_URL", "https://chat.example.org")  # a public host does not mean production
    assert not config.is_production()
    monkeypatch.setenv("ASSISTANT_ENV", "prod")
    with pytest.raises(config.ConfigError, match="ASSISTANT_ENV"):
        config.environment()


def test_the_shell_export_round_trips_into_the_same_settings(development, monkeypatch, capsys):
    monkeypatch.setenv("WEBCHAT_ORIGINS", "https://a.example, https://b.example")
    assert config.main(["shell"]) == 0
    exported = dict(line.removeprefix("export ").split("=", 1) for line in capsys.readouterr().out.splitlines())
    assert shlex.split(exported["RASA_AUTH_TOKEN"])[0] == config.secret("rasa-auth-token")
    monkeypatch.setenv("WEBCHAT_ORIGINS", shlex.split(exported["WEBCHAT_ORIGINS"])[0])
    assert config.settings().webchat_origins == ("https://a.example", "https://b.example")


def test_check_exits_non_zero_naming_the_setting(development, monkeypatch, capsys):
    monkeypatch.setenv("ASSISTANT_ENV", "production")
    assert config.main(["check"]) == 1
    assert "RASA_AUTH_TOKEN" in capsys.readouterr().err


# --- identities -----------------------------------------------------------------------------------------
def test_web_ids_are_issued_signed_and_forgeries_refused(development):
    issued = privacy.new_web_id()
    assert issued.startswith("web:") and privacy.verify_web_id(issued)
    token, signature = issued.removeprefix("web:").split(".")
    assert not privacy.verify_web_id(f"web:{token}.{'A' * len(signature)}")
    assert not privacy.verify_web_id(f"web:{'0' * 32}.{signature}")
    for forged in (None, 42, "", "web:", "twilio:" + token, issued + "x", issued.upper()):
        assert not privacy.verify_web_id(forged)
    (development / "web-session-secret").write_text("another-key-" + "k" * 40)
    assert not privacy.verify_web_id(issued), "a new key invalidates old ids"


@pytest.mark.parametrize("sender,reserved", [
    ("twilio:abc", True), ("web:abc", True), (" Twilio:abc", True), ("WEB:x", True),
    ("me", False), ("web-chat-tester", False), ("twilio", False), ("", False),
])
def test_reserved_prefixes_belong_to_their_channels(sender, reserved):
    assert privacy.claims_reserved_prefix(sender) is reserved


def test_log_refs_stay_distinct_after_the_prefix(development):
    a, b = privacy.conversation_id("+447700900001"), privacy.conversation_id("+447700900002")
    assert privacy.ref(a) != privacy.ref(b) and privacy.ref(a).startswith("twilio:")
    assert len(privacy.ref(a)) == len("twilio:") + 12
    web = privacy.new_web_id()
    assert privacy.ref(web) == web[:len("web:") + 12]


def test_production_withholds_debug_records_and_redacts_numbers_at_every_level(development, monkeypatch, caplog):
    privacy.install_log_redaction()
    logger = logging.getLogger("test.redaction")
    with caplog.at_level(logging.DEBUG, logger="test.redaction"):
        logger.debug("user said %s", "hello there")
        logger.error("call %s", "07700 900123")
        monkeypatch.setenv("ASSISTANT_ENV", "production")
        for spec in config.SECRETS.values():
            monkeypatch.setenv(spec.env, "p" * 40)
        logger.debug("user said %s", "secret words")
    text = caplog.text
    assert "hello there" in text, "development keeps DEBUG detail"
    assert "900123" not in text and privacy.REDACTED in text
    assert "secret words" not in text and privacy.WITHHELD in text
