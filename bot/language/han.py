"""Traditional Chinese characters read as their simplified forms, so a lexicon entry written in one script reads
the other (輕鬆 as 轻松, 殺 as 杀). The table is OpenCC's (opencc-python-reimplemented, Apache-2.0). Traditional to
simplified is nearly always many to one (乾, 幹 and 干 are all 干), so nothing a simplified writer types is lost; a
traditional character with several simplified forms takes the first, the usual one. One whose simplified form lies
outside the Basic Multilingual Plane (a rare character nobody types, such as 𠮶 for the Cantonese 嗰) stays as written."""
from __future__ import annotations

import logging
from functools import lru_cache
from importlib import resources

logger = logging.getLogger(__name__)

# Han characters as a regular-expression class (the CJK blocks people type; is_han in bot.language.lexicon also
# reads the rare supplementary planes).
HAN_CLASS = "[\u3400-\u4dbf\u4e00-\u9fff\uf900-\ufaff]"


@lru_cache(maxsize=1)
def _table() -> dict[str, str]:
    """The table, or none when it can't be read: Chinese is then read as typed (the lexicon lists both scripts'
    forms by hand), rather than the Chinese lexicon failing to load and Chinese crises going unread."""
    try:
        text = resources.files("opencc").joinpath("dictionary/TSCharacters.txt").read_text(encoding="utf-8")
    except Exception:  # noqa: BLE001 — a broken install must not switch Chinese off
        logger.exception("OpenCC's character table could not be read; Chinese is read as typed")
        return {}
    table: dict[str, str] = {}
    for line in text.splitlines():
        traditional, _, simplified = line.partition("\t")
        forms = simplified.split()
        if len(traditional) == 1 and forms and len(forms[0]) == 1 and ord(forms[0]) <= 0xFFFF:
            table[traditional] = forms[0]
    return table


def simplified(character: str) -> str:
    """The simplified form of one Han character; any other character unchanged."""
    return _table().get(character, character)
