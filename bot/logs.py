"""Logging for every process: one set-up, two formats, and known-harmless library warnings kept off the console.

    LOG_FORMAT=text (default)   one readable line a record, naming the process (`make run` shares one console)
    LOG_FORMAT=json             one JSON object a line, for a log collector:
        {"time": "2026-12-03T19:05:33.264+00:00", "level": "INFO", "logger": "bot.web",
         "message": "...", "process": "chat-page"}      (and "exception" when there is a traceback)
    LOG_LEVEL=INFO (default)    DEBUG, INFO, WARNING, ERROR or CRITICAL, spelt as Rasa reads it

Privacy is not the formatters' job: `bot.privacy.install_log_redaction()` cleans every record as it is created
(numbers redacted; in production DEBUG text withheld), so either format only ever writes clean records. Both
`setup()` and `rasa_handler()` install it before anything else.

Python prints a warning straight to stderr, outside logging: unformatted, unredacted, several lines long.
Here `show_warning` takes that job (warnings.showwarning, as logging.captureWarnings does): it drops the
warnings in KNOWN_HARMLESS_WARNINGS, each matched by category, the module it points at and its message, and
logs every other one (WARNING, logger `py.warnings`), so an unknown warning still shows, in the chosen format.
Entries in the warnings filter list would not do: Sanic (on import) and Rasa (at start-up) put their own
"once" filters at the front of that list, which shadow any "ignore" added before them.

The action server, the alert worker and the chat page call `setup(name)`; Rasa reads `logging.yml`
(`rasa run --logging-config-file logging.yml`), which calls `rasa_handler()`.

    python -m bot.logs check    exit 1, naming the setting, if LOG_FORMAT or LOG_LEVEL is not valid
"""
from __future__ import annotations

import json
import logging
import os
import re
import sys
import warnings
from dataclasses import dataclass
from datetime import datetime, timezone

from bot import config, privacy

TEXT, JSON = "text", "json"
LEVELS = ("DEBUG", "INFO", "WARNING", "ERROR", "CRITICAL")


def log_format() -> str:
    value = config.text("LOG_FORMAT", TEXT)
    if value not in (TEXT, JSON):
        raise config.ConfigError(f"LOG_FORMAT is {value!r}: use 'text' or 'json'")
    return value


def log_level() -> str:
    value = config.text("LOG_LEVEL", "INFO")
    if value not in LEVELS:  # exactly as Rasa reads it: it fails to start on any other spelling
        raise config.ConfigError(f"LOG_LEVEL is {value!r}: use one of {', '.join(LEVELS)}")
    return value


class TextFormatter(logging.Formatter):
    """`2026-12-03 19:05:33 INFO    action-server bot.action_server: ...` (process names aligned)."""

    def __init__(self, process: str) -> None:
        super().__init__(f"%(asctime)s %(levelname)-7s {process:<13} %(name)s: %(message)s", "%Y-%m-%d %H:%M:%S")


class JsonFormatter(logging.Formatter):
    """One JSON object a line (newlines in a message or a traceback are escaped inside it)."""

    def __init__(self, process: str) -> None:
        super().__init__()
        self.process = process

    def format(self, record: logging.LogRecord) -> str:
        line = {"time": datetime.fromtimestamp(record.created, timezone.utc).isoformat(timespec="milliseconds"),
                "level": record.levelname, "logger": record.name, "message": record.getMessage(),
                "process": self.process}
        if record.exc_info and not record.exc_text:
            record.exc_text = self.formatException(record.exc_info)
        if record.exc_text:
            line["exception"] = record.exc_text
        if record.stack_info:
            line["stack"] = self.formatStack(record.stack_info)
        return json.dumps(line)


class ConsoleHandler(logging.StreamHandler):
    """stderr in the chosen format; a class of its own so `setup()` can tell its handler from a host's."""


def console_handler(process: str) -> ConsoleHandler:
    handler = ConsoleHandler(sys.stderr)
    handler.setFormatter(JsonFormatter(process) if log_format() == JSON else TextFormatter(process))
    return handler


# --- known-harmless warnings ----------------------------------------------------------------------------
@dataclass(frozen=True)
class KnownWarning:
    """A library warning read and judged harmless: its category (or a subclass), the modules it may point at
    (dotted names; a package covers its modules) and the start of its message (a regular expression)."""
    category: type[Warning]
    modules: tuple[str, ...]
    message: str

    def matches(self, category: type[Warning], message: str, filename: str) -> bool:
        path = filename.replace("\\", "/")
        return (issubclass(category, self.category) and re.match(self.message, message) is not None
                and any(_is_in(path, module) for module in self.modules))


def _is_in(path: str, module: str) -> bool:
    fragment = "/" + module.replace(".", "/")
    return fragment + "/" in path or path.endswith(fragment + ".py")


# Each seen under `make run` with the pinned requirements; none is ours to fix, none affects a conversation.
KNOWN_HARMLESS_WARNINGS = (
    # sanic-cors (pinned with Sanic 21.12 by Rasa 3.6) compares versions with distutils.
    KnownWarning(DeprecationWarning, ("sanic_cors.extension",), r"distutils Version classes are deprecated"),
    # Rasa 3.6 and spaCy import pkg_resources, which declares matplotlib's and ruamel's namespace packages.
    KnownWarning(DeprecationWarning, ("rasa.shared.utils.validation", "spacy.cli.info"),
                 r"pkg_resources is deprecated as an API"),
    KnownWarning(DeprecationWarning, ("pkg_resources",), r"Deprecated call to `pkg_resources\.declare_namespace"),
    # TensorFlow Lite (never used here) looks for jax.xla_computation because jax is installed.
    KnownWarning(DeprecationWarning, ("tensorflow.lite.python.util",), r"jax\.xla_computation is deprecated"),
    # pyparsing 3's camelCase names, still called by packaging and matplotlib when they build their grammars.
    KnownWarning(DeprecationWarning, ("packaging.markers", "packaging.requirements", "matplotlib.fontconfig_pattern"),
                 r"'\w+' deprecated - use '\w+'"),
    # Click names going in Click 9, imported by typer and spaCy's command line (neither runs as a CLI here).
    KnownWarning(DeprecationWarning, ("typer", "spacy.cli"), r".*Click 9\.0"),
    # Sanic 21.12's websockets (the chat widget) pass asyncio.wait coroutines: removed in Python 3.11, fine in 3.10.
    KnownWarning(DeprecationWarning, ("sanic.server.websockets",),
                 r"The explicit passing of coroutine objects to asyncio\.wait\(\) is deprecated"),
    # Rasa 3.6's SQL tracker store builds its database URL the SQLAlchemy 1.3 way.
    KnownWarning(DeprecationWarning, ("rasa.core.tracker_store",), r"Calling URL\(\) directly is deprecated"),
    # Training advice about TEDPolicy's settings (config.yml), repeated at every model load: only a retrain can act.
    KnownWarning(UserWarning, ("rasa.utils.train_utils",), r"constrain_similarities is set to `False`"),
)

_python_showwarning = warnings.showwarning


def show_warning(message, category, filename, lineno, file=None, line=None) -> None:
    """warnings.showwarning for our processes: known-harmless warnings dropped, every other one logged."""
    if file is not None:  # written where its caller chose, not to the console: as Python would
        _python_showwarning(message, category, filename, lineno, file, line)
        return
    text = str(message)
    if any(known.matches(category, text, filename) for known in KNOWN_HARMLESS_WARNINGS):
        return
    logging.getLogger("py.warnings").warning("%s: %s (%s:%s)", category.__name__, text, filename, lineno)


# --- start-up chatter -------------------------------------------------------------------------------------
# Lines an operator has no use for at every start, kept out by message; the same loggers' other lines still show.
QUIET_MESSAGES = {
    "alembic.runtime.migration": ("Context impl ", "Will assume "),  # "Running upgrade ..." still shows
    "rasa_sdk.executor": ("Registered function for ",),  # one line an action; the action server says it is up
}
# Sanic's banner and worker start/stop lines, in the action server (Rasa quiets Sanic itself).
QUIET_LOGGERS = {"sanic.root": logging.WARNING}


class DropMessages(logging.Filter):
    def __init__(self, prefixes: tuple[str, ...]) -> None:
        super().__init__()
        self.prefixes = prefixes

    def filter(self, record: logging.LogRecord) -> bool:
        return not str(record.msg).startswith(self.prefixes)


def _quiet_start_up_chatter() -> None:
    for name, prefixes in QUIET_MESSAGES.items():
        target = logging.getLogger(name)
        for old in [f for f in target.filters if isinstance(f, DropMessages)]:
            target.removeFilter(old)
        target.addFilter(DropMessages(prefixes))
    for name, level in QUIET_LOGGERS.items():
        logging.getLogger(name).setLevel(level)


# --- set-up ---------------------------------------------------------------------------------------------
def setup(process: str) -> None:
    """Logging for one of our processes, named `process` in every line. Raises ConfigError for a bad LOG_FORMAT or
    LOG_LEVEL. Like logging.basicConfig, it leaves alone logging that a host configured first (a test runner):
    then only the redaction is installed."""
    privacy.install_log_redaction()
    handler = console_handler(process)
    level = log_level()
    root = logging.getLogger()
    if any(not isinstance(existing, ConsoleHandler) for existing in root.handlers):
        return
    for ours in root.handlers[:]:  # from an earlier call
        root.removeHandler(ours)
    root.addHandler(handler)
    root.setLevel(level)
    _quiet_start_up_chatter()
    warnings.showwarning = show_warning


def rasa_handler() -> ConsoleHandler:
    """Rasa's console handler, made by `logging.yml` (dictConfig) when Rasa starts, before it loads anything else.

    Rasa 3.6 applies that file and then calls coloredlogs.install(), which replaces any console handler on the
    root logger with its own coloured format; and it creates its web app with Sanic's default logging config,
    which gives Sanic's loggers console handlers of their own. So this handler also stands in for Rasa's
    coloured-logging call (doing what that did to levels: the root logger at Rasa's level, from -v, --debug,
    --quiet or LOG_LEVEL) and is what Sanic's default config hands its loggers. Rasa still sets its own logger's
    level and quiets other libraries (LOG_LEVEL_LIBRARIES)."""
    import rasa.utils.io
    from sanic.log import LOGGING_CONFIG_DEFAULTS

    privacy.install_log_redaction()
    handler = console_handler("rasa")
    rasa.utils.io.configure_colored_logging = _set_root_level
    # Rasa sets Sanic's loggers not to propagate before it serves; this keeps it so from their creation.
    LOGGING_CONFIG_DEFAULTS.update(
        handlers={"console": {"()": lambda: handler}}, formatters={},
        loggers={name: {"handlers": ["console"], "propagate": False}
                 for name in ("sanic.root", "sanic.error", "sanic.access")})
    _quiet_start_up_chatter()
    warnings.showwarning = show_warning
    return handler


def _set_root_level(level: int | str | None) -> None:
    logging.getLogger().setLevel(level or os.environ.get("LOG_LEVEL", "INFO"))


def main(argv: list[str] | None = None) -> int:
    argv = sys.argv[1:] if argv is None else argv
    if argv != ["check"]:
        print("usage: python -m bot.logs check", file=sys.stderr)
        return 2
    try:
        log_format()
        log_level()
    except config.ConfigError as error:
        print(f"configuration: {error}", file=sys.stderr)
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main())
