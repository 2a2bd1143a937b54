"""Writes pylock.toml (the PEP 751 lock-file format) from requirements.txt, the pins `make setup` installs.

    python scripts/pylock.py          # rewrite pylock.toml
    python scripts/pylock.py --check  # exit 1 if pylock.toml is out of date (a test runs this)

requirements.txt stays the one list we edit and install from (pip 24, which Rasa 3.6 needs, cannot
install from pylock.toml); pylock.toml records the same pins for tools that read the standard format.
"""
from __future__ import annotations

import re
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent


def render() -> str:
    pins = []
    for line in (ROOT / "requirements.txt").read_text(encoding="utf-8").splitlines():
        line = line.split("#", 1)[0].strip()
        if line:
            name, version = line.split("==")
            pins.append((name.strip(), version.strip()))
    lines = ['lock-version = "1.0"', 'requires-python = "==3.10.*"', 'created-by = "scripts/pylock.py"', ""]
    for name, version in pins:
        lines += ["[[packages]]", f'name = "{re.sub(r"[-_.]+", "-", name).lower()}"', f'version = "{version}"',
                  'index = "https://pypi.org/simple"', ""]
    return "\n".join(lines)


def main(argv: list[str]) -> int:
    target = ROOT / "pylock.toml"
    fresh = render()
    if "--check" in argv:
        if not target.exists() or target.read_text(encoding="utf-8") != fresh:
            print("pylock.toml is out of date with requirements.txt: run `python scripts/pylock.py`")
            return 1
        return 0
    target.write_text(fresh, encoding="utf-8")
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
