"""Every package is pinned (Rasa 3.6's loose ranges would pull releases that break it), and pylock.toml
records the same pins as requirements.txt."""
from __future__ import annotations

import re
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent


def test_every_requirement_is_pinned_to_one_version():
    for name in ("requirements.txt", "requirements-bench.txt"):
        lines = [l.split("#", 1)[0].strip() for l in (ROOT / name).read_text().splitlines()]
        assert all(re.fullmatch(r"[A-Za-z0-9_.\-\[\]]+==[\w.+\-]+", l) for l in lines if l), name


def test_pylock_matches_requirements():
    result = subprocess.run([sys.executable, "scripts/pylock.py", "--check"], cwd=ROOT, capture_output=True, text=True)
    assert result.returncode == 0, result.stdout
