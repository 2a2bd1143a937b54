"""A local append-only file for detections that could not be written to the database.

The delivery worker replays it into the database when the database is back, so a detection made
while the database was down is delayed, never lost.
"""
from __future__ import annotations

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
    with path.open("a", encoding="utf-8") as journal:
        journal.write(json.dumps({**asdict(detection), "detected_at": detected_at.isoformat()}) + "\n")
        journal.flush()
        os.fsync(journal.fileno())


def replay(record_one) -> int:
    """Feed each journalled detection to `record_one(detection_dict, detected_at)`; keep any that fail."""
    path = journal_path()
    if not path.exists():
        return 0
    claimed = path.with_suffix(".replaying")
    path.rename(claimed)  # new detections go to a fresh file while we replay
    replayed, kept = 0, []
    for line in claimed.read_text(encoding="utf-8").splitlines():
        if not line.strip():
            continue
        item = json.loads(line)
        try:
            record_one(item, datetime.fromisoformat(item.pop("detected_at")))
            replayed += 1
        except Exception:
            logger.exception("Replaying a journalled detection failed; keeping it")
            kept.append(line)
    if kept:
        with path.open("a", encoding="utf-8") as journal:
            journal.write("\n".join(kept) + "\n")
    claimed.unlink()
    return replayed
