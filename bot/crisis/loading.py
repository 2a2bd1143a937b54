"""Reading the lexicon file: YAML, required keys, and words that must be text."""
from __future__ import annotations

from pathlib import Path
from typing import Any

import yaml

from bot import DATA_DIR


LEXICON_FILE = DATA_DIR / "crisis" / "lexicon.yml"


def _require(item: Any, keys: tuple[str, ...], where: str) -> None:
    if not isinstance(item, dict):
        raise ValueError(f"{where}: expected a mapping")
    missing = [k for k in keys if k not in item]
    if missing:
        raise ValueError(f"{where}: missing {', '.join(missing)}")
    if not isinstance(item["patterns"], list) or not item["patterns"]:
        raise ValueError(f"{where}: patterns must be a non-empty list")


def _yaml(path: Path) -> Any:
    loader = getattr(yaml, "CSafeLoader", yaml.SafeLoader)
    return yaml.load(path.read_text(encoding="utf-8"), Loader=loader)  # noqa: S506 (a safe loader)


def _text(value: Any, where: str) -> str:
    """A lexicon word or phrase; YAML reads unquoted no/off/yes/on as booleans, which we refuse."""
    if isinstance(value, bool) or not isinstance(value, (str, int, float)):
        raise ValueError(f"{where}: {value!r} is not text (quote it in the YAML)")
    return str(value)
