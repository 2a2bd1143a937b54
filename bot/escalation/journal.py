"""A local append-only file for detections that could not be written to the database.

The process that wrote it replays it into the database when the database is back (Rasa's event broker,
every half minute while a journal exists; the delivery worker too, where they share a disk), so a
detection made while the database was down is delayed, never lost.
"""
from __future__ import annotations

import fcntl
import json
import logging
import os
from dataclasses import asdict
from datetime import datetime
from pathlib import Path

from bot import config

logger = logging.getLogger(__name__)


def journal_path() -> Path:
    return Path(config.settings().escalation_journal)


def append(detection, detected_at: datetime) -> None:
    path = journal_path()
    path.parent.mkdir(parents=True, exist_ok=True)
    line = json.dumps({**asdict(detection), "detected_at": detected_at.isoformat()}).encode("utf-8") + b"\n"
    with path.open("a+b") as journal:
        _end_torn_line(journal)
        journal.write(line)
        journal.flush()
        os.fsync(journal.fileno())


def _end_torn_line(journal) -> None:
    """If a crash tore the last line, end it, so the next detection starts on a line of its own."""
    journal.seek(0, os.SEEK_END)
    if journal.tell() > 0:
        journal.seek(-1, os.SEEK_END)
        if journal.read(1) != b"\n":
            journal.write(b"\n")


def replay(record_one) -> int:
    """Feed each journalled detection to `record_one(detection_dict, detected_at)`; keep any that fail.

    The journal is first renamed to `.replaying`, so new detections go to a fresh file meanwhile. A
    `.replaying` file left by an interrupted replay is finished first, never overwritten. A line that
    can't be read (torn by a crash) is moved to `.unreadable` for a person to look at, and logged."""
    path = journal_path()
    if not path.exists() and not path.with_suffix(".replaying").exists():
        return 0
    path.parent.mkdir(parents=True, exist_ok=True)
    with path.with_suffix(".lock").open("a") as lock:
        try:  # one replay at a time (Rasa and the worker may share this file): the other tries again later
            fcntl.flock(lock, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            return 0
        return _replay_claimed(path, record_one)


def _replay_claimed(path: Path, record_one) -> int:
    claimed = path.with_suffix(".replaying")
    if not claimed.exists():
        if not path.exists():
            return 0
        path.rename(claimed)
    replayed, kept, unreadable = 0, [], []
    for line in claimed.read_text(encoding="utf-8", errors="replace").splitlines():
        if not line.strip():
            continue
        try:
            item = json.loads(line)
            detected_at = datetime.fromisoformat(item.pop("detected_at"))
        except (ValueError, KeyError, TypeError, AttributeError):
            unreadable.append(line)
            continue
        try:
            record_one(item, detected_at)
            replayed += 1
        except Exception:
            logger.exception("Replaying a journalled detection failed; keeping it")
            kept.append(line)
    for lines, target in ((kept, path), (unreadable, path.with_suffix(".unreadable"))):
        if lines:
            with target.open("a+b") as file:
                _end_torn_line(file)
                file.write(("\n".join(lines) + "\n").encode("utf-8"))
                file.flush()
                os.fsync(file.fileno())
    if unreadable:
        logger.critical("%s journalled detection(s) could not be read; kept in %s for review", len(unreadable),
                        path.with_suffix(".unreadable"))
    claimed.unlink()
    return replayed
