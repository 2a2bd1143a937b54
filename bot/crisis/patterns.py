"""The lexicon's pattern language, compiled to spaCy Matcher token patterns (see data/crisis/lexicon.yml)."""
from __future__ import annotations

import re

from dataclasses import dataclass
from typing import Any

from bot.crisis.normalise import Normaliser, _make_doc


# --------------------------------------------------------------------------- pattern language

_SENTENCE_END = {".", "!", "?", ";", "\n"}
_ELEMENT = re.compile(r"(?:\[[^\]]*\]|[^\s\[])+")
_GAP = re.compile(r"^\.\.\.(\d*)$")
_LIST_RUN = re.compile(r"^<([\w-]+)>\*(\d+)$")


class PatternError(ValueError):
    pass


@dataclass(frozen=True)
class _Spec:
    """A ready-made token spec (gap, regex, end of clause), hashable so patterns can be merged."""

    json: str

    def spec(self) -> dict[str, Any]:
        import json

        return json.loads(self.json)


def _special(spec: dict[str, Any]) -> _Spec:
    import json

    return _Spec(json.dumps(spec, sort_keys=True))


# A position is a frozenset of norms (any one of them) or a _Spec; a sequence is a tuple of positions.
_Seq = tuple


class _Compiler:
    """Turns the lexicon's readable patterns into spaCy Matcher token patterns.

    Syntax (documented for reviewers at the top of data/crisis/lexicon.yml):
      word          the word (after normalisation)     a|b|c         any one of these words
      [a b|c d]     any one of these phrases           <list>        any entry of a named list
      x?  [..]?     optional                           <list>*N      up to N words from the list
      ...  ...N     a gap of up to 3 (or N) words, never across . ! ? ; or a new line
      /regex/       one word matching the regular expression
      $             end of a clause: punctuation, an emoji or the end of the message
    Alternatives (a|b and [..]) may name lists: <baby>|he|she, [<det>? <baby>|him].
    """

    MAX_PATTERNS = 4000

    def __init__(self, nlp: Any, normaliser: Normaliser, lists: dict[str, list[str]]):
        self.nlp = nlp
        self.normaliser = normaliser
        self.lists = lists
        self._cache: dict[str, tuple[str, ...]] = {}

    def norms(self, phrase: str) -> tuple[str, ...]:
        """The token norms of a literal phrase, read exactly as a message would be."""
        if phrase not in self._cache:
            text, _ = self.normaliser(phrase)
            doc = _make_doc(self.nlp, text)
            self._cache[phrase] = tuple(t.norm_ for t in doc if not t.is_space)[:-1]  # drop sentinel
        return self._cache[phrase]

    def compile(self, pattern: str) -> list[list[dict[str, Any]]]:
        seqs = self._sequence(pattern, pattern)
        results = []
        for seq in _merge(seqs):
            if not seq or all(isinstance(p, _Spec) and "OP" in p.spec() for p in seq):
                continue  # an all-optional alternative would match nothing at all
            results.append([self._token(p) for p in seq])
        if not results:
            raise PatternError(f"pattern matches nothing: {pattern!r}")
        if len(results) > self.MAX_PATTERNS:
            raise PatternError(f"pattern expands to {len(results)} token patterns: {pattern!r}")
        return results

    def _sequence(self, text: str, pattern: str) -> list[_Seq]:
        elements = _ELEMENT.findall(text)
        if not elements:
            return [()]
        seqs: list[_Seq] = [()]
        for element in elements:
            alts = self._element(element, pattern)
            seqs = [a + b for a in seqs for b in alts]
            if len(seqs) > self.MAX_PATTERNS:
                raise PatternError(f"pattern expands to too many token patterns: {pattern!r}")
        return seqs

    def _element(self, element: str, pattern: str) -> list[_Seq]:
        gap = _GAP.match(element)
        if gap:
            n = int(gap.group(1) or 3)
            return [(_special({"TEXT": {"REGEX": r"^(?![.!?;]+$)(?!\s+$)"}, "OP": f"{{0,{n}}}"}),)]
        if element == "$":
            return [(_special({"NORM": {"REGEX": r"^[^\w]+$"}}),)]
        run = _LIST_RUN.match(element)
        if run:
            name, n = run.group(1), int(run.group(2))
            words = sorted({self.norms(e)[0] for e in self._list(name, pattern) if len(self.norms(e)) == 1})
            return [(_special({"NORM": {"IN": words}, "OP": f"{{0,{n}}}"}),)]
        optional = element.endswith("?") and len(element) > 1 and not _is_regex(element)
        if optional:
            element = element[:-1]
        if _is_regex(element):
            parts = [element]
        elif element.startswith("[") and element.endswith("]") and _split_alternatives(element) == [element]:
            parts = _split_alternatives(element[1:-1])
        else:
            parts = _split_alternatives(element)
        alts: list[_Seq] = []
        for part in parts:
            if not part.strip():
                continue
            if _is_regex(part):
                regex = part[1:-1]
                try:
                    re.compile(regex)
                except re.error as exc:
                    raise PatternError(f"bad regex {regex!r} in {pattern!r}: {exc}") from exc
                alts.append((_special({"NORM": {"REGEX": f"^(?:{regex})$"}}),))
            elif part.startswith("[") and part.endswith("]") and _split_alternatives(part) == [part]:
                for sub in _split_alternatives(part[1:-1]):
                    if sub.strip():
                        alts += self._sequence(sub.strip(), pattern)
            elif " " in part.strip() or part == "$" or _GAP.match(part) or _LIST_RUN.match(part):
                alts += self._sequence(part.strip(), pattern)
            elif part.startswith("<") and part.endswith(">"):
                alts += [self._literal(w, pattern) for w in self._list(part[1:-1], pattern)]
            else:
                alts.append(self._literal(part, pattern))
        alts = _merge(alts)
        if not alts:
            raise PatternError(f"element {element!r} of {pattern!r} reads as nothing")
        if optional:
            singles = [a for a in alts if len(a) == 1 and isinstance(a[0], frozenset)]
            others = [a for a in alts if not (len(a) == 1 and isinstance(a[0], frozenset))]
            result: list[_Seq] = []
            if singles:
                words = sorted(w for a in singles for w in a[0])
                result.append((_special({"NORM": {"IN": words}, "OP": "?"}),))
            result += others
            if others and not singles:
                result.append(())
            return result
        return alts

    def _list(self, name: str, pattern: str) -> list[str]:
        if name not in self.lists:
            raise PatternError(f"unknown list <{name}> in {pattern!r}")
        return self.lists[name]

    def _literal(self, word: str, pattern: str) -> _Seq:
        if any(c in word for c in "$[]<>*") or word.startswith("...") or word.endswith("?"):
            raise PatternError(f"{word!r} in {pattern!r} looks like pattern syntax used as a word")
        norms = self.norms(word)
        if not norms:
            raise PatternError(f"{word!r} in {pattern!r} reads as nothing")
        return tuple(frozenset([n]) for n in norms)

    @staticmethod
    def _token(position: Any) -> dict[str, Any]:
        if isinstance(position, _Spec):
            return position.spec()
        values = sorted(position)
        return {"NORM": values[0]} if len(values) == 1 else {"NORM": {"IN": values}}


def _is_regex(element: str) -> bool:
    return len(element) > 2 and element.startswith("/") and element.endswith("/")


def _split_alternatives(text: str) -> list[str]:
    """Split on | outside [brackets] and /regexes/."""
    parts, depth, current, in_regex = [], 0, [], False
    for i, ch in enumerate(text):
        if ch == "/" and depth == 0 and (not current or in_regex):
            in_regex = not in_regex
        elif ch == "[" and not in_regex:
            depth += 1
        elif ch == "]" and not in_regex:
            depth -= 1
        if ch == "|" and depth == 0 and not in_regex:
            parts.append("".join(current))
            current = []
        else:
            current.append(ch)
    parts.append("".join(current))
    return parts


def _merge(seqs: list[_Seq]) -> list[_Seq]:
    """Merge alternatives that differ in one word position only ("is not" + "'s not" → [is|'s] not).

    Exact: the merged pattern matches precisely the union of the two.
    """
    seqs = list(dict.fromkeys(seqs))
    by_shape: dict[tuple[Any, ...], list[_Seq]] = {}
    for s in seqs:
        shape = tuple(p if isinstance(p, _Spec) else None for p in s)
        by_shape.setdefault(shape, []).append(s)
    out: list[_Seq] = []
    for group in by_shape.values():
        changed = True
        while changed and len(group) > 1:
            changed = False
            index: dict[tuple[int, _Seq], int] = {}
            for k, s in enumerate(group):
                for i, p in enumerate(s):
                    if isinstance(p, frozenset):
                        key = (i, s[:i] + (None,) + s[i + 1:])
                        if key in index:
                            j = index[key]
                            merged = s[:i] + (group[j][i] | p,) + s[i + 1:]
                            group = [g for m, g in enumerate(group) if m not in (j, k)] + [merged]
                            changed = True
                            break
                        index[key] = k
                if changed:
                    break
        out += group
    return out
