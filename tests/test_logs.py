"""Logging (bot/logs.py): JSON lines that parse, redaction in either format, known-harmless warnings dropped at
their source while any other warning still shows, and Rasa's start-up keeping our handler.

Most of these run a fresh Python process, as the servers do: set-up changes process-wide state (the root
logger, warnings.showwarning) that pytest has configured for itself here.
"""
from __future__ import annotations

import json
import logging
import os
import subprocess
import sys
import textwrap
import warnings
from datetime import datetime

import pytest

from bot import logs, privacy
from tests.servers import ROOT

FIELDS = {"time", "level", "logger", "message", "process"}


def python_stderr(code: str, **env: str) -> list[str]:
    """The stderr lines of a fresh Python process running `code` with these settings (and no inherited ones)."""
    inherited = {k: v for k, v in os.environ.items() if k not in ("LOG_FORMAT", "LOG_LEVEL", "ASSISTANT_ENV")}
    completed = subprocess.run([sys.executable, "-c", code], cwd=ROOT, capture_output=True, text=True, timeout=300,
                               env={**inherited, "PYTHONPATH": str(ROOT), **env})
    assert completed.returncode == 0, completed.stderr
    return completed.stderr.splitlines()


def stderr_of(script: str, **env: str) -> list[str]:
    """The stderr lines of a fresh process that runs `script` after `logs.setup("test-process")`."""
    return python_stderr("from bot import logs\nlogs.setup('test-process')\n" + textwrap.dedent(script), **env)


def parsed(lines: list[str]) -> list[dict]:
    entries = [json.loads(line) for line in lines]  # every line, or this fails
    for entry in entries:
        assert FIELDS <= set(entry), entry
        assert datetime.fromisoformat(entry["time"]).utcoffset().total_seconds() == 0
    return entries


def test_json_format_writes_one_parseable_object_a_line():
    lines = stderr_of("""
        import logging
        log = logging.getLogger("bot.example")
        log.info("Loaded %d services", 53)
        log.debug("not at the default level")
        try:
            raise ValueError("line one\\nline two")
        except ValueError:
            log.exception("A round failed")
    """, LOG_FORMAT="json")
    first, failure = parsed(lines)
    assert (first["level"], first["logger"], first["message"], first["process"]) == (
        "INFO", "bot.example", "Loaded 53 services", "test-process")
    assert failure["level"] == "ERROR" and failure["message"] == "A round failed"
    assert "ValueError: line one\nline two" in failure["exception"]


def test_text_format_names_the_process_and_the_logger():
    [line] = stderr_of("import logging; logging.getLogger('bot.example').warning('Twilio is not configured')")
    assert line.endswith("WARNING test-process  bot.example: Twilio is not configured")


def test_redaction_still_applies_in_json_and_production_withholds_debug_text():
    lines = stderr_of("""
        import logging
        log = logging.getLogger("rasa.core.processor")
        log.debug("Received user message '%s'", "I feel lost")
        log.info("Sending a text to %s", "07700 900123")
        try:
            raise RuntimeError("Twilio refused +447700900123")
        except RuntimeError:
            log.exception("Reply to %s not delivered", "whatsapp:+447700900123")
    """, LOG_FORMAT="json", LOG_LEVEL="DEBUG", ASSISTANT_ENV="production")
    withheld, sent, failed = parsed(lines)
    assert withheld["message"] == privacy.WITHHELD
    assert sent["message"] == f"Sending a text to {privacy.REDACTED}"
    assert failed["message"] == f"Reply to whatsapp:{privacy.REDACTED} not delivered"
    assert f"Twilio refused {privacy.REDACTED}" in failed["exception"]
    output = "\n".join(lines)
    assert "I feel lost" not in output and "900123" not in output


def test_a_known_warning_is_dropped_at_its_source_and_an_unknown_one_is_logged():
    lines = stderr_of("""
        import warnings
        import sanic_cors  # sanic-cors warns on import that distutils is deprecated: known, dropped
        warnings.warn("a setting nobody has seen before, from 07700 900123")
    """, LOG_FORMAT="json")
    [unknown] = parsed(lines)
    assert (unknown["level"], unknown["logger"]) == ("WARNING", "py.warnings")
    assert unknown["message"].startswith("UserWarning: a setting nobody has seen before, from [number] (")


@pytest.mark.parametrize("category,message,filename,known", [
    (DeprecationWarning, "distutils Version classes are deprecated. Use packaging.version instead.",
     "/venv/site-packages/sanic_cors/extension.py", True),
    # the same words from another module, or other words from the same module: not known
    (DeprecationWarning, "distutils Version classes are deprecated. Use packaging.version instead.",
     "/work/bot/directory/store.py", False),
    (DeprecationWarning, "Something else is deprecated", "/venv/site-packages/sanic_cors/extension.py", False),
    # a subclass of the category counts (pyparsing's and SQLAlchemy's own deprecation warnings)
    (type("PyparsingDeprecationWarning", (DeprecationWarning,), {}), "'setParseAction' deprecated - use "
     "'set_parse_action'", "/venv/site-packages/packaging/requirements.py", True),
    # another category with the same words: not known
    (RuntimeWarning, "'setParseAction' deprecated - use 'set_parse_action'",
     "/venv/site-packages/packaging/requirements.py", False),
    (UserWarning, "constrain_similarities is set to `False`. It is recommended to set it to `True` when using "
     "cross-entropy loss.", "/venv/site-packages/rasa/utils/train_utils.py", True),
    (UserWarning, "Slot 'crisis_tier' is not used", "/venv/site-packages/rasa/utils/train_utils.py", False),
    (DeprecationWarning, "'BaseCommand' is deprecated and will be removed in Click 9.0.",
     "/venv/site-packages/typer/completion.py", True),
    (DeprecationWarning, "'BaseCommand' is deprecated and will be removed in Click 9.0.",
     "/venv/site-packages/typerx/completion.py", False),
])
def test_only_warnings_matching_category_module_and_message_are_dropped(caplog, category, message, filename, known):
    with caplog.at_level(logging.WARNING, logger="py.warnings"):
        logs.show_warning(category(message), category, filename, 1)
    logged = [record.getMessage() for record in caplog.records]
    assert logged == ([] if known else [f"{category.__name__}: {message} ({filename}:1)"])


def test_start_up_chatter_is_quiet_but_the_same_loggers_other_lines_show():
    lines = stderr_of("""
        import logging
        migration = logging.getLogger("alembic.runtime.migration")
        migration.info("Context impl %s.", "SQLiteImpl")
        migration.info("Running upgrade %s -> %s", "0007", "0008")
        logging.getLogger("rasa_sdk.executor").info("Registered function for 'action_suggest_services'.")
        logging.getLogger("sanic.root").info("Goin' Fast @ http://127.0.0.1:5055")
        logging.getLogger("sanic.root").error("Experienced exception while trying to serve")
    """, LOG_FORMAT="json")
    assert [entry["message"] for entry in parsed(lines)] == [
        "Running upgrade 0007 -> 0008", "Experienced exception while trying to serve"]


def test_rasa_keeps_our_handler_through_its_own_start_up():
    """Rasa applies logging.yml, then installs coloredlogs, then builds a Sanic app with Sanic's default logging
    config and quiets Sanic: every line must still be ours, in JSON."""
    script = """
        import logging, warnings
        import rasa.utils.common, rasa.utils.io
        from sanic import Sanic
        rasa.utils.common.configure_logging_and_warnings(None, "logging.yml", warn_only_once=True)
        rasa.utils.io.configure_colored_logging(None)
        Sanic("rasa_server")
        rasa.utils.common.update_sanic_log_level()
        logging.getLogger("rasa.core.processor").info("Loading model %s", "models/x.tar.gz")
        logging.getLogger("rasa.core.processor").debug("not at Rasa's default level")
        logging.getLogger("sanic.error").error("Exception occurred while handling uri for 07700 900123")
        logging.getLogger("socketio.server").error("socket.io handler failed")
        warnings.warn("constrain_similarities is set to `False`.")  # from here, not Rasa: not the known one
    """
    entries = parsed(python_stderr(textwrap.dedent(script), LOG_FORMAT="json"))
    assert {entry["process"] for entry in entries} == {"rasa"}
    assert [(entry["logger"], entry["message"]) for entry in entries[:-1]] == [
        ("rasa.core.processor", "Loading model models/x.tar.gz"),
        ("sanic.error", "Exception occurred while handling uri for [number]"),
        ("socketio.server", "socket.io handler failed"),
    ]
    assert entries[-1]["logger"] == "py.warnings" and entries[-1]["message"].startswith(
        "UserWarning: constrain_similarities is set to `False`. (<string>:")


def test_set_up_leaves_logging_a_host_configured_alone():
    root = logging.getLogger()
    handlers, level, shown = list(root.handlers), root.level, warnings.showwarning
    assert handlers, "pytest has configured logging here"
    logs.setup("test-process")
    assert (root.handlers, root.level, warnings.showwarning) == (handlers, level, shown)


@pytest.mark.parametrize("name,value,problem", [
    ("LOG_FORMAT", "jsonl", "LOG_FORMAT is 'jsonl'"), ("LOG_FORMAT", "JSON", "LOG_FORMAT is 'JSON'"),
    ("LOG_LEVEL", "info", "LOG_LEVEL is 'info'"), ("LOG_FORMAT", "json", None), ("LOG_LEVEL", "DEBUG", None),
])
def test_check_names_a_setting_every_process_would_misread(monkeypatch, capsys, name, value, problem):
    monkeypatch.setenv(name, value)
    assert logs.main(["check"]) == (1 if problem else 0)
    error = capsys.readouterr().err
    if problem:
        assert error.startswith("configuration: ") and problem in error
    else:
        assert error == ""
