"""Perinatal peer-support signposting: the library behind the Rasa assistant.

Nothing in this package imports Rasa; `actions/` and the NLU components adapt it.
"""
from pathlib import Path

PROJECT_ROOT = Path(__file__).resolve().parent.parent
DATA_DIR = PROJECT_ROOT / "data"
