"""Every number the assistant gives comes from one place (bot/helplines.py, or domain.yml's replies), and
fallbacks lead with lines that are open 24/7 (hazard H4)."""
from __future__ import annotations

import ast
import re
from pathlib import Path

import pytest
import yaml

from bot import helplines

ROOT = Path(__file__).resolve().parent.parent
NUMBER = re.compile(r"(?<![\d.])(999|111|116 ?123|85258|0800[ \d]{7,10}\d|0808[ \d]{7,10}\d)(?![\d])")
KNOWN = {line.number for line in helplines.ALL}


def code_files():
    for folder in ("bot", "actions", "scripts"):
        for path in sorted((ROOT / folder).rglob("*.py")):
            if path != ROOT / "bot" / "helplines.py" and "migrations" not in path.parts:
                yield path


@pytest.mark.parametrize("path", list(code_files()), ids=lambda p: str(p.relative_to(ROOT)))
def test_no_code_writes_a_helpline_number_itself(path):
    tree = ast.parse(path.read_text(encoding="utf-8"))
    strings = [node.value for node in ast.walk(tree) if isinstance(node, ast.Constant) and isinstance(node.value, str)]
    docstrings = {ast.get_docstring(node, clean=False) for node in ast.walk(tree)
                  if isinstance(node, (ast.Module, ast.ClassDef, ast.FunctionDef, ast.AsyncFunctionDef))}
    found = [m.group(1) for text in strings if text not in docstrings for m in NUMBER.finditer(text)]
    assert not found, f"{path.name} writes {found}: use bot.helplines"


def replies() -> dict:
    """Every reply Rasa can send itself: domain.yml's, and the retrieval replies kept beside their examples
    in data/nlu/ (FAQ answers, the out-of-scope and health replies)."""
    found = dict(yaml.safe_load((ROOT / "domain.yml").read_text(encoding="utf-8"))["responses"])
    for path in sorted((ROOT / "data" / "nlu").glob("*.yml")):
        found.update(yaml.safe_load(path.read_text(encoding="utf-8")).get("responses") or {})
    return found


def test_replies_include_those_kept_beside_their_examples():
    assert {"utter_faq/cost", "utter_out_of_scope/health", "utter_out_of_scope/other"} <= set(replies())


def test_every_number_in_a_reply_is_a_known_helpline():
    for name, variants in replies().items():
        for variant in variants:
            for number in NUMBER.findall(variant.get("text", "")):
                assert number in KNOWN, f"{name} gives {number}, which bot/helplines.py doesn't list"


def test_code_fallbacks_give_only_lines_open_around_the_clock():
    from bot.channels.guard import FALLBACK_TEXT
    from bot.channels.limits import BUSY_TEXT, TOO_LARGE_TEXT
    from bot.channels.rest import INVALID_SESSION_TEXT
    for text in (FALLBACK_TEXT, BUSY_TEXT, TOO_LARGE_TEXT, INVALID_SESSION_TEXT):
        numbers = NUMBER.findall(text)
        assert "999" in numbers and numbers
        for number in numbers:
            [line] = [h for h in helplines.ALL if h.number == number]
            assert line.hours == "24/7", f"{line.name} is not open at all hours"


def test_time_limited_lines_are_given_with_their_hours():
    for name, variants in replies().items():
        text = variants[0].get("text", "")
        if helplines.BREATHING_SPACE.number in text:
            assert "evenings and weekends" in text, name
        if helplines.RAPE_CRISIS.number in text:
            assert "evenings" in text, name
