"""Text normalisation: apostrophes, emoji, repeated letters, text-speak, Scots and typos, keeping every
character's position in the original text so a match is reported as the person typed it."""
from __future__ import annotations

import itertools
import re
import unicodedata

from dataclasses import dataclass
from typing import Any

from bot.crisis.loading import _text


# --------------------------------------------------------------------------- normalisation

_APOSTROPHES = "\u2019\u2018\u201b\u02bc\u0060\u00b4\u2032\uff07"
_DOUBLE_QUOTES = "\u201c\u201d\u201e\u00ab\u00bb"
_DASHES = "\u2013\u2014\u2212"
# Invisible characters that glue emoji together or hide inside words.
_DROP = {"\ufe0f", "\ufe0e", "\u200d", "\u200b", "\u200c", "\u2060", "\ufeff", "\u00ad"}
_WORD = re.compile(r"[a-z0-9]+")
_TRIPLE = re.compile(r"(.)\1\1")


# Contraction pieces spaCy leaves un-normalised in some words ("it'd", "that'll"): read in full.
_CONTRACTION_NORMS = {"'d": "would", "'ll": "will", "'m": "am", "'re": "are", "'ve": "have", "n't": "not",
                      "nt": "not", "ve": "have", "ll": "will", "re": "are", "did": "did"}


def _make_doc(nlp: Any, text: str) -> Any:
    """Tokenise normalised text, reading contraction pieces the same way everywhere."""
    doc = nlp.make_doc(text)
    for i, token in enumerate(doc):
        norm = _CONTRACTION_NORMS.get(token.lower_)
        if norm and (token.lower_ == "did" or token.lower_.startswith("'") or i > 0 and not doc[i - 1].whitespace_):
            token.norm_ = norm
    return doc


def _is_emoji(ch: str) -> bool:
    cp = ord(ch)
    return (0x1F000 <= cp <= 0x1FAFF) or (0x2600 <= cp <= 0x27BF) or (0x2B00 <= cp <= 0x2BFF)


def _is_skin_tone(ch: str) -> bool:
    return 0x1F3FB <= ord(ch) <= 0x1F3FF


@dataclass(frozen=True)
class _Replacement:
    to: str
    after: frozenset[str] | None  # only when the previous word is one of these
    before: frozenset[str] | None  # only when the next word is one of these


class Normaliser:
    """Text → (normalised text, for each normalised character the index of its source)."""

    def __init__(self, spec: dict[str, Any], vocab: set[str]):
        self.replacements: dict[str, _Replacement] = {}
        for item in spec.get("replacements", []):
            rep = _Replacement(
                to=str(item["to"]).lower(),
                after=frozenset(map(str, item["only_after"])) if item.get("only_after") else None,
                before=frozenset(map(str, item["only_before"])) if item.get("only_before") else None,
            )
            for word in item["from"]:
                self.replacements[_text(word, "normalisation.replacements").lower()] = rep
        self.vocab = set(vocab) | set(self.replacements)
        self.g_dropping = bool(spec.get("g_dropping", True))

    def __call__(self, text: str) -> tuple[str, list[int]]:
        chars: list[str] = []
        index: list[int] = []
        for i, ch in enumerate(text):
            if ch in _DROP or _is_skin_tone(ch):
                continue
            if ch in _APOSTROPHES:
                ch = "'"
            elif ch in _DOUBLE_QUOTES:
                ch = '"'
            elif ch in _DASHES:
                ch = "-"
            elif ch == "\r":
                ch = "\n"
            if _is_emoji(ch):
                for c in (" ", ch, " "):
                    if c != " " or (chars and chars[-1] not in " \n"):
                        chars.append(c)
                        index.append(i)
                continue
            if not ch.isascii():
                ch = unicodedata.normalize("NFKC", ch)
            for c in ch.lower():
                if c in " \t" and (not chars or chars[-1] in " \n"):
                    continue  # one space between words: extra spaces would become tokens
                chars.append(" " if c == "\t" else c)
                index.append(i)
        flat = "".join(chars)
        words = list(_WORD.finditer(flat))
        out: list[str] = []
        out_index: list[int] = []
        pos = 0
        prev = ""
        for k, m in enumerate(words):
            nxt = words[k + 1].group() if k + 1 < len(words) else ""
            word = m.group()
            fixed = self._fix(word, prev, nxt)
            out.append(flat[pos:m.start()])
            out_index += index[pos:m.start()]
            if fixed == word:
                out.append(word)
                out_index += index[m.start():m.end()]
            else:
                src = index[m.start():m.end()]
                out.append(fixed)
                # spread the new characters over the old word; the last one ends where it ended
                out_index += [src[-1] if j == len(fixed) - 1 else src[min(j, len(src) - 1)]
                              for j in range(len(fixed))]
            pos = m.end()
            prev = fixed.split()[-1] if fixed.split() else fixed
        out.append(flat[pos:])
        out_index += index[pos:]
        # A sentinel full stop: "$" in a pattern (end of clause) then also matches at the very end.
        out.append(" .")
        out_index += [len(text), len(text)]
        return "".join(out), out_index

    def _fix(self, word: str, prev: str, nxt: str) -> str:
        if _TRIPLE.search(word):
            word = self._collapse(word)
        rep = self.replacements.get(word)
        if rep is not None:
            if (rep.after is None or prev in rep.after) and (rep.before is None or nxt in rep.before):
                return rep.to
            return word
        if self.g_dropping and word.endswith("in") and word not in self.vocab and word + "g" in self.vocab:
            return word + "g"
        return word

    def _collapse(self, word: str) -> str:
        """'dieeee' → 'die', 'killlll' → 'kill': try each run of 3+ as one or two letters."""
        parts = re.split(r"((.)\2{2,})", word)
        # re.split with two groups yields [text, run, runchar, text, run, runchar, ..., text]
        pieces: list[list[str]] = []
        i = 0
        while i < len(parts):
            pieces.append([parts[i]])
            if i + 2 < len(parts):
                ch = parts[i + 2]
                pieces.append([ch * 2, ch])
            i += 3
        candidates = ["".join(c) for c in itertools.islice(itertools.product(*pieces), 64)]
        for cand in candidates:
            if cand in self.vocab:
                return cand
        return candidates[0]
