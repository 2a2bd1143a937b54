"""Crisis detection: the safety net that runs on every message before anything else.

A rule-based detector, driven by the clinician-reviewable lexicon in data/crisis/lexicon.yml
(categories, rules with plain-English descriptions and examples, text normalisation, and guards
against figurative language). No Rasa import: the NLU component in bot/nlu/crisis_component.py
adapts it, and `python -m bot.crisis evaluate` measures it on tests/data/crisis_labelled.yml.

How a message is read:
1. Normalise the text (data/crisis/lexicon.yml `normalisation`): apostrophe variants, case,
   emoji, repeated letters ("dieeee"), text-speak and Scots ("kms", "wanna", "cannae"), typos
   ("sucide"). Every normalised character keeps its position in the original text, so a match
   is reported as the words the person actually typed.
2. Tokenise with spacy.blank("en") and run one spaCy Matcher holding every rule and guard
   pattern (matched on the token NORM, so "can't", "cant", "cannot" and "cannae" all read
   "can not").
3. Drop a rule's match where a guard applies (figurative idioms, bereavement, pregnancy kicks…).
   A "weak" rule only counts when a second, different weak rule of the same category matches
   too ("I'm a burden" + "there's no way out").
4. Decide who is at risk (third_party) from the words in and before the match.
5. Order the signals most urgent first (CATEGORIES), then by position.
"""
from __future__ import annotations

import argparse
import itertools
import re
import sys
import time
import unicodedata
from dataclasses import dataclass, field
from functools import lru_cache
from pathlib import Path
from typing import Any, Iterable

import yaml

from bot import DATA_DIR, PROJECT_ROOT

LEXICON_FILE = DATA_DIR / "crisis" / "lexicon.yml"
LABELLED_FILE = PROJECT_ROOT / "tests" / "data" / "crisis_labelled.yml"

# Most urgent first. The rationale is in data/crisis/lexicon.yml (`categories`), which must list
# the same codes in the same order (checked when the lexicon loads).
CATEGORIES: tuple[str, ...] = (
    "medical_emergency",
    "suicide_self_harm",
    "harm_to_baby",
    "psychosis",
    "abuse_danger",
    "sexual_violence",
)
_RANK = {code: i for i, code in enumerate(CATEGORIES)}

# Evaluation gates (`python -m bot.crisis evaluate`).
MIN_RECALL = 1.0
MAX_FALSE_POSITIVE_RATE = 0.03


@dataclass(frozen=True)
class CrisisSignal:
    """One piece of evidence that a message is a crisis."""

    category: str  # one of CATEGORIES
    phrase: str  # the matched span, as the person typed it
    rule: str  # the lexicon rule id (for audit), e.g. "SSH-03"
    third_party: bool  # the person at risk is not the writer ("my wife says she wants to die")
    # Character offsets of `phrase` in the original text (not part of equality).
    start: int = field(default=-1, compare=False)
    end: int = field(default=-1, compare=False)


def detect(text: str) -> CrisisSignal | None:
    """The most urgent crisis signal in `text`, or None. Never raises on odd input."""
    signals = detect_all(text)
    return signals[0] if signals else None


def detect_all(text: str) -> list[CrisisSignal]:
    """Every crisis signal in `text`, most urgent category first, then in reading order."""
    if not isinstance(text, str) or not text.strip():
        return []
    return _engine().detect_all(text)


def lexicon() -> dict[str, Any]:
    """The raw lexicon (as loaded from YAML), e.g. for tests and reports."""
    return _engine().raw


def recognised_as_figurative(text: str) -> bool:
    """True when the text holds one of the lexicon's figurative, worry or grief guards ("I had a bad
    dream that the baby stopped breathing"), or a risk phrase that a guard explained away. The
    classifier net defers to this: the lexicon has read those words and judged them."""
    if not isinstance(text, str) or not text.strip():
        return False
    engine = _engine()
    doc, index = engine._read(text)
    _, guard_spans = engine._matches(doc)
    return bool(guard_spans) or bool(engine._signals(text, doc, index)[1])


def explain(text: str) -> dict[str, Any]:
    """What the detector saw: the normalised text, its tokens, every signal and every guard hit."""
    return _engine().explain(text)


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


# --------------------------------------------------------------------------- the engine

@dataclass
class _Rule:
    id: str
    category: str
    description: str
    strength: str  # "strong" | "weak"
    subject_at_risk: bool  # False when the phrase's grammatical subject is the one doing harm
    examples: list[str]
    not_examples: list[str]
    requires: tuple[str, ...] = ()  # list names: the message must contain an entry of one of them


@dataclass
class _Guard:
    id: str
    description: str
    applies_to: frozenset[str]  # categories and/or rule ids; empty = everything
    scope: str  # "overlap" (the guard's words overlap the match) | "message" (anywhere)
    examples: list[str]

    def applies(self, rule: _Rule) -> bool:
        return not self.applies_to or rule.id in self.applies_to or rule.category in self.applies_to


@dataclass
class _PersonWords:
    first: dict[str, frozenset[str]]
    third: dict[str, frozenset[str]]
    person_nouns: frozenset[tuple[str, ...]]
    baby_nouns: frozenset[tuple[str, ...]]
    evidence: dict[str, list[str]]  # category → ordered evidence kinds
    lookback_tokens: int


class _Engine:
    def __init__(self, path: Path):
        import spacy
        from spacy.matcher import Matcher

        self.raw: dict[str, Any] = _yaml(path)
        raw = self.raw
        codes = tuple(c["code"] for c in raw["categories"])
        if codes != CATEGORIES:
            raise ValueError(f"lexicon categories {codes} differ from bot.crisis.CATEGORIES {CATEGORIES}")
        self.nlp = spacy.blank("en")
        lists = {str(k): [_text(w, f"lists.{k}") for w in v] for k, v in raw.get("lists", {}).items()}
        self.normaliser = Normaliser(raw.get("normalisation", {}), _vocabulary(raw))
        compiler = _Compiler(self.nlp, self.normaliser, lists)
        self._matcher_class = Matcher
        # One Matcher per rule/guard, run only when one of its anchor words is in the message: a
        # message then touches a handful of rules instead of ~2,500 token patterns.
        self.matchers: dict[tuple[str, int, int], Any] = {}
        self.by_anchor: dict[str, set[tuple[str, int, int]]] = {}
        self.always: set[tuple[str, int, int]] = set()
        self.rules: dict[str, _Rule] = {}
        self.guards: dict[str, _Guard] = {}
        self.pattern_count = 0
        for n, item in enumerate(raw["rules"]):
            _require(item, ("id", "category", "patterns"), f"rules[{n}] ({item.get('id', '?')})")
            rule = _Rule(
                id=str(item["id"]),
                category=str(item["category"]),
                description=str(item.get("description", "")),
                strength=str(item.get("strength", "strong")),
                subject_at_risk=item.get("at_risk", "subject") != "object",
                examples=[str(e) for e in item.get("examples", [])],
                not_examples=[str(e) for e in item.get("not_examples", [])],
                requires=tuple(str(r) for r in item.get("requires", [])),
            )
            for name in rule.requires:
                if name not in lists:
                    raise ValueError(f"rule {rule.id}: requires unknown list {name!r}")
            if rule.category not in _RANK:
                raise ValueError(f"rule {rule.id}: unknown category {rule.category!r}")
            if rule.id in self.rules:
                raise ValueError(f"duplicate rule id {rule.id}")
            if rule.strength not in ("strong", "weak"):
                raise ValueError(f"rule {rule.id}: strength must be strong or weak")
            self.rules[rule.id] = rule
            self._add(compiler, "R:" + rule.id, item["patterns"])
        for n, item in enumerate(raw.get("guards", [])):
            _require(item, ("id", "patterns"), f"guards[{n}] ({item.get('id', '?')})")
            guard = _Guard(
                id=str(item["id"]),
                description=str(item.get("description", "")),
                applies_to=frozenset(str(a) for a in item.get("applies_to", [])),
                scope=str(item.get("scope", "overlap")),
                examples=[str(e) for e in item.get("examples", [])],
            )
            unknown = guard.applies_to - set(CATEGORIES) - set(self.rules)
            if unknown:
                raise ValueError(f"guard {guard.id}: applies_to names unknown {sorted(unknown)}")
            if guard.id in self.guards or guard.id in self.rules:
                raise ValueError(f"duplicate id {guard.id}")
            self.guards[guard.id] = guard
            self._add(compiler, "G:" + guard.id, item["patterns"])
        self.people = self._people(raw.get("people", {}), raw["categories"], lists, compiler)
        self.context = {name: frozenset(compiler.norms(w) for w in words) for name, words in lists.items()}
        kinds = {"reflexive", "object", "next", "possessive", "baby_owner", "subject", "subject_not_they", "person",
                 "baby", "lookback", "lookback_not_they"}
        for code, evidence in self.people.evidence.items():
            unknown = set(evidence) - kinds
            if unknown:
                raise ValueError(f"category {code}: unknown third_party_evidence {sorted(unknown)}")

    def _add(self, compiler: _Compiler, key: str, patterns: Iterable[str]) -> None:
        for n, p in enumerate(patterns):
            try:
                token_patterns = compiler.compile(_text(p, key[2:]))
            except PatternError as exc:
                raise ValueError(f"{key[2:]}: {exc}") from exc
            self.pattern_count += len(token_patterns)
            # Group this lexicon pattern's token patterns by anchor word set: each group gets a
            # Matcher that runs only when the message holds one of its anchor words.
            groups: dict[frozenset[str] | None, list[list[dict[str, Any]]]] = {}
            for tp in token_patterns:
                groups.setdefault(_anchor(tp), []).append(tp)
            for g, (anchor, tps) in enumerate(groups.items()):
                matcher = self._matcher_class(self.nlp.vocab, validate=False)  # the compiler emits valid specs
                matcher.add(key, tps)
                mkey = (key, n, g)
                self.matchers[mkey] = matcher
                if anchor is None:
                    self.always.add(mkey)
                else:
                    for word in anchor:
                        self.by_anchor.setdefault(word, set()).add(mkey)

    @staticmethod
    def _people(spec: dict[str, Any], categories: list[dict[str, Any]], lists: dict[str, list[str]],
                compiler: _Compiler) -> _PersonWords:
        def group(name: str) -> dict[str, frozenset[str]]:
            return {k: frozenset(str(w) for w in v) for k, v in spec.get(name, {}).items()}

        def nouns(list_name: str) -> frozenset[tuple[str, ...]]:
            return frozenset(compiler.norms(w) for w in lists.get(list_name, []))

        evidence = {str(c["code"]): [str(k) for k in c.get("third_party_evidence", [])] for c in categories}
        return _PersonWords(
            first=group("first_person"),
            third=group("third_person"),
            person_nouns=nouns(spec.get("person_nouns_list", "person")),
            baby_nouns=nouns(spec.get("baby_nouns_list", "baby_only")),
            evidence=evidence,
            lookback_tokens=int(spec.get("lookback_words", 15)),
        )

    # -- detection ---------------------------------------------------------------------------

    def _read(self, text: str) -> tuple[Any, list[int]]:
        norm_text, index = self.normaliser(text)
        return _make_doc(self.nlp, norm_text), index

    def _matches(self, doc: Any) -> tuple[dict[str, list[tuple[int, int]]], dict[str, list[tuple[int, int]]]]:
        rule_spans: dict[str, list[tuple[int, int]]] = {}
        guard_spans: dict[str, list[tuple[int, int]]] = {}
        # Patterns never run across a sentence end (gaps stop at . ! ? ; and new lines; "$" is
        # always last), so each sentence is matched on its own, by the matchers its words call for:
        # a long message costs what its sentences cost.
        for seg_start, seg_end in _sentences(doc):
            keys = set(self.always)
            for token in doc[seg_start:seg_end]:
                found = self.by_anchor.get(token.norm_)
                if found:
                    keys |= found
            if not keys:
                continue
            span = doc[seg_start:seg_end]
            for mkey in keys:
                key = mkey[0]
                target = rule_spans if key.startswith("R:") else guard_spans
                for _, start, end in self.matchers[mkey](span):
                    target.setdefault(key[2:], []).append((seg_start + start, seg_start + end))
        return rule_spans, guard_spans

    def detect_all(self, text: str) -> list[CrisisSignal]:
        doc, index = self._read(text)
        return self._signals(text, doc, index)[0]

    def _signals(self, text: str, doc: Any, index: list[int]
                 ) -> tuple[list[CrisisSignal], list[dict[str, Any]], list[tuple[str, str]]]:
        """(signals, guarded matches, weak matches) — the last two for `explain`."""
        rule_spans, guard_spans = self._matches(doc)
        suppressed: list[dict[str, Any]] = []
        strong: list[tuple[_Rule, int, int]] = []
        weak: dict[str, list[tuple[_Rule, int, int]]] = {}
        grams: set[tuple[str, ...]] | None = None
        for rule_id, spans in rule_spans.items():
            rule = self.rules[rule_id]
            if rule.requires:
                if grams is None:
                    norms = [t.norm_ for t in doc]
                    grams = {tuple(norms[i:i + n]) for n in (1, 2, 3) for i in range(len(norms) - n + 1)}
                if not any(grams & self.context[name] for name in rule.requires):
                    suppressed.append({"rule": rule.id, "guard": f"requires {'/'.join(rule.requires)}",
                                       "phrase": doc[spans[0][0]:spans[0][1]].text})
                    continue
            for start, end in _longest(spans):
                start, end = _trim(doc, start, end)
                guard = self._guarded(rule, start, end, guard_spans)
                if guard:
                    suppressed.append({"rule": rule.id, "guard": guard, "phrase": doc[start:end].text})
                    continue
                if rule.strength == "weak":
                    weak.setdefault(rule.category, []).append((rule, start, end))
                else:
                    strong.append((rule, start, end))
        for category, hits in weak.items():
            # Two different weak signs: distinct wording, not overlapping ("burden" + "no way out").
            if len({doc[s:e].text.lower() for _, s, e in hits}) >= 2 and _disjoint_pair(hits):
                strong += hits
        signals = []
        for rule, start, end in strong:
            span = doc[start:end]
            s, e = index[span.start_char], index[span.end_char - 1] + 1
            signals.append(CrisisSignal(rule.category, text[s:e], rule.id,
                                        self._third_party(rule, doc, start, end), s, e))
        signals.sort(key=lambda sig: (_RANK[sig.category], sig.start, -(sig.end - sig.start), sig.rule))
        weak_matches = [(r.id, doc[s:e].text) for hits in weak.values() for r, s, e in hits]
        return signals, suppressed, weak_matches

    def _guarded(self, rule: _Rule, start: int, end: int,
                 guard_spans: dict[str, list[tuple[int, int]]]) -> str | None:
        for guard_id, spans in guard_spans.items():
            guard = self.guards[guard_id]
            if not guard.applies(rule):
                continue
            if guard.scope == "message" or any(s < end and start < e for s, e in spans):
                return guard_id
        return None

    # -- who is at risk ------------------------------------------------------------------------

    def _third_party(self, rule: _Rule, doc: Any, start: int, end: int) -> bool:
        people = self.people
        norms = [t.norm_ for t in doc]
        evidence = people.evidence.get(rule.category, [])
        with_babies = "baby" in evidence
        for kind in evidence:
            if kind.startswith("lookback") and not rule.subject_at_risk:
                continue
            verdict = self._evidence(kind, norms, start, end, with_babies, rule.subject_at_risk)
            if verdict is not None:
                return verdict
        return False

    def _noun_at(self, nouns: frozenset[tuple[str, ...]], norms: list[str], i: int) -> int:
        """Length of a noun from `nouns` ending at token i (0 if none)."""
        for n in (2, 1):
            if i - n + 1 >= 0 and tuple(norms[i - n + 1:i + 1]) in nouns:
                return n
        return 0

    def _noun_starting(self, nouns: frozenset[tuple[str, ...]], norms: list[str], i: int) -> bool:
        return any(tuple(norms[i:i + n]) in nouns for n in (1, 2))

    def _evidence(self, kind: str, norms: list[str], start: int, end: int, with_babies: bool = False,
                  subject_at_risk: bool = True) -> bool | None:
        p = self.people
        if kind in ("lookback", "lookback_not_they"):
            return self._lookback(norms, start, they=kind == "lookback", babies=with_babies)
        if kind == "next":
            # the object right after the phrase: "raped | me", "hits | her", "assaulted | me"
            for w in norms[end:end + 1]:
                if w in p.first.get("object", ()) or w in p.first.get("reflexive", ()):
                    return False
                if w in p.third.get("object", ()):
                    return True
            return None
        if kind in ("reflexive", "object", "subject", "subject_not_they"):
            group = "subject" if kind == "subject_not_they" else kind
            verdict = None
            for i in range(start, end):
                w = norms[i]
                if w in p.first.get(group, ()):
                    return False
                if w in p.third.get(group, ()) and not (kind == "subject_not_they" and w == "they"):
                    if group == "object" and w == "her" and i + 1 < end and self._noun_starting(
                            p.person_nouns | p.baby_nouns, norms, i + 1):
                        continue  # "her husband", "her baby": a possessive, not the person at risk
                    return True
            if kind == "object" and not subject_at_risk:
                # "controls everything | she | does": after the verb, he/she is the one harmed
                if any(norms[i] in p.third.get("subject", ()) for i in range(start + 1, end)):
                    return True
            return verdict
        if kind == "possessive":
            for i in range(start, end):
                w = norms[i]
                if i + 1 < len(norms) and self._noun_starting(p.person_nouns | p.baby_nouns, norms, i + 1):
                    continue  # "my wife", "her baby": a noun phrase, judged as a noun
                if w in p.first.get("possessive", ()):
                    return False
                if w in p.third.get("possessive", ()):
                    return True
            return None
        if kind == "baby_owner":
            for i in range(start, end - 1):
                if self._noun_starting(p.baby_nouns | p.person_nouns, norms, i + 1):
                    if norms[i] in p.first.get("possessive", ()):
                        return False
                    if norms[i] in p.third.get("possessive", ()):
                        return True
            return None
        if kind in ("person", "baby"):
            nouns = p.person_nouns if kind == "person" else p.baby_nouns
            for i in range(start, end):
                if self._noun_at(nouns, norms, i):
                    return True
            return None
        raise ValueError(f"unknown third_party_evidence kind {kind!r}")

    def _lookback(self, norms: list[str], start: int, they: bool = True, babies: bool = False) -> bool | None:
        """The nearest I / he / she (/ they) or person word before the phrase, in the same sentence."""
        p = self.people
        i = start - 1
        steps = 0
        while i >= 0 and steps < p.lookback_tokens:
            w = norms[i]
            if w in _SENTENCE_END or w.strip() == "":
                break
            if w in p.first.get("subject", ()):
                return False
            if w in p.third.get("subject", ()) and (they or w != "they"):
                return True
            if self._noun_at(p.person_nouns, norms, i) or (babies and self._noun_at(p.baby_nouns, norms, i)):
                return True
            i -= 1
            steps += 1
        return None

    # -- explanation ---------------------------------------------------------------------------

    def explain(self, text: str) -> dict[str, Any]:
        if not isinstance(text, str) or not text.strip():
            return {"text": text, "normalised": "", "tokens": [], "signals": [], "suppressed": [], "weak": []}
        doc, index = self._read(text)
        signals, suppressed, weak = self._signals(text, doc, index)
        return {
            "text": text,
            "normalised": doc.text,
            "tokens": [t.norm_ for t in doc],
            "signals": signals,
            "suppressed": suppressed,
            "weak": weak,  # weak-rule matches, whether or not they were paired into signals
        }


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


def _vocabulary(raw: dict[str, Any]) -> set[str]:
    """Every word the lexicon uses: what repeated letters and dropped g's are collapsed towards."""
    words: set[str] = set()

    def add(text: Any) -> None:
        for w in re.findall(r"[a-z]+", str(text).lower()):
            words.add(w)

    for item in raw.get("rules", []):
        for p in item.get("patterns", []):
            add(p)
    for values in raw.get("lists", {}).values():
        for v in values:
            add(v)
    for item in raw.get("normalisation", {}).get("replacements", []):
        add(item["to"])
    for w in raw.get("normalisation", {}).get("extra_vocabulary", []):
        add(_text(w, "normalisation.extra_vocabulary"))
    return words


# Words too common to be a useful anchor (nearly every message has one).
_COMMON = frozenset("""i me my myself we us our you your he him his she her they them their it its the a an
to of in on at for with about and or but if so not no is am are was were be been being have has had do
does did will would can could should may might 's just what that this all up out like get got""".split())


def _anchor(token_pattern: list[dict[str, Any]]) -> frozenset[str] | None:
    """Words of which the message must contain at least one for this token pattern to match.

    The required position (no OP) whose words are least common; None if no position qualifies.
    """
    best: tuple[tuple[int, int], frozenset[str]] | None = None
    for spec in token_pattern:
        if "OP" in spec or set(spec) != {"NORM"}:
            continue
        value = spec["NORM"]
        if isinstance(value, str):
            words = frozenset([value])
        elif isinstance(value, dict) and set(value) == {"IN"}:
            words = frozenset(value["IN"])
        else:
            continue
        score = (len(words & _COMMON), len(words))
        if best is None or score < best[0]:
            best = (score, words)
    return best[1] if best else None


def _sentences(doc: Any) -> list[tuple[int, int]]:
    """Token ranges of the sentences (each keeps its closing punctuation, for "$")."""
    ranges, start = [], 0
    for i, token in enumerate(doc):
        if token.text in _SENTENCE_END or (token.is_space and "\n" in token.text):
            if i + 1 > start:
                ranges.append((start, i + 1))
            start = i + 1
    if start < len(doc):
        ranges.append((start, len(doc)))
    return ranges


def _disjoint_pair(hits: list[tuple[Any, int, int]]) -> bool:
    return any(e1 <= s2 or e2 <= s1 for (_, s1, e1), (_, s2, e2) in itertools.combinations(hits, 2))


def _longest(spans: list[tuple[int, int]]) -> list[tuple[int, int]]:
    """Longest non-overlapping spans (the same rule often matches a span and its sub-spans)."""
    chosen: list[tuple[int, int]] = []
    for s, e in sorted(set(spans), key=lambda x: (-(x[1] - x[0]), x[0])):
        if all(e <= cs or s >= ce for cs, ce in chosen):
            chosen.append((s, e))
    return sorted(chosen)


def _trim(doc: Any, start: int, end: int) -> tuple[int, int]:
    """Drop punctuation, emoji-free symbols and spaces at the edges of a match (from `$`)."""
    while end - 1 > start and not any(c.isalnum() for c in doc[end - 1].text) and not _has_emoji(doc[end - 1].text):
        end -= 1
    while start < end - 1 and not any(c.isalnum() for c in doc[start].text) and not _has_emoji(doc[start].text):
        start += 1
    return start, end


def _has_emoji(s: str) -> bool:
    return any(_is_emoji(c) for c in s)


@lru_cache(maxsize=4)
def _load(path: str) -> _Engine:
    return _Engine(Path(path))


def _engine(path: Path | None = None) -> _Engine:
    return _load(str(path or LEXICON_FILE))


# --------------------------------------------------------------------------- evaluation

@dataclass
class Evaluation:
    """Results of running the detector over a labelled set."""

    total: int
    per_category: dict[str, tuple[int, int]]  # category → (found with the right category, labelled)
    misses: list[tuple[str, str, CrisisSignal | None]]  # (text, expected, got)
    false_alarms: list[tuple[str, CrisisSignal]]
    third_party_mismatches: list[tuple[str, bool, bool]]  # (text, expected, got)
    negatives: int
    seconds: list[float]

    @property
    def crisis_total(self) -> int:
        return sum(n for _, n in self.per_category.values())

    @property
    def recall(self) -> float:
        """Crisis messages given their exact category, over all crisis messages."""
        found = sum(k for k, _ in self.per_category.values())
        return found / self.crisis_total if self.crisis_total else 1.0

    @property
    def detected_any(self) -> float:
        """Crisis messages detected as some crisis (maybe the wrong category)."""
        if not self.crisis_total:
            return 1.0
        wrong_category = sum(1 for _, _, got in self.misses if got is not None)
        found = sum(k for k, _ in self.per_category.values())
        return (found + wrong_category) / self.crisis_total

    @property
    def false_positive_rate(self) -> float:
        return len(self.false_alarms) / self.negatives if self.negatives else 0.0

    @property
    def passed(self) -> bool:
        return self.recall >= MIN_RECALL and self.false_positive_rate <= MAX_FALSE_POSITIVE_RATE


def load_labelled(path: Path | str | None = None) -> list[dict[str, Any]]:
    """The labelled set: [{text, category (or None), third_party (optional)}]."""
    items = _yaml(Path(path or LABELLED_FILE)) or []
    for item in items:
        if item.get("category") is not None and item["category"] not in _RANK:
            raise ValueError(f"unknown category {item['category']!r} for {item.get('text')!r}")
        item["text"] = "" if item.get("text") is None else str(item["text"])
    return items


def evaluate(path: Path | str | None = None) -> Evaluation:
    items = load_labelled(path)
    for item in items:  # load and warm up outside the timing: report steady-state speed
        detect(item["text"])
    per_category = {c: [0, 0] for c in CATEGORIES}
    misses, false_alarms, mismatches, seconds = [], [], [], []
    negatives = 0
    for item in items:
        text, expected = item["text"], item.get("category")
        t0 = time.perf_counter()
        got = detect(text)
        seconds.append(time.perf_counter() - t0)
        if expected is None:
            negatives += 1
            if got is not None:
                false_alarms.append((text, got))
            continue
        per_category[expected][1] += 1
        if got is not None and got.category == expected:
            per_category[expected][0] += 1
            want_third = bool(item.get("third_party", False))
            if got.third_party != want_third:
                mismatches.append((text, want_third, got.third_party))
        else:
            misses.append((text, expected, got))
    return Evaluation(len(items), {c: (k, n) for c, (k, n) in per_category.items()}, misses, false_alarms,
                      mismatches, negatives, seconds)


def _report(ev: Evaluation, out: Any = None) -> None:
    def p(line: str = "") -> None:
        print(line, file=out or sys.stdout)

    p(f"Crisis detector — {ev.total} labelled messages ({ev.crisis_total} crisis, {ev.negatives} not crisis)")
    p()
    p(f"{'category':<20} {'recall':>8}  found/labelled")
    for code, (k, n) in ev.per_category.items():
        rate = f"{k / n:.1%}" if n else "n/a"
        p(f"{code:<20} {rate:>8}  {k}/{n}")
    p()
    p(f"overall recall (right category): {ev.recall:.1%}   (gate: >= {MIN_RECALL:.0%})")
    p(f"detected as some crisis:         {ev.detected_any:.1%}")
    p(f"false-positive rate:             {ev.false_positive_rate:.1%} "
      f"({len(ev.false_alarms)}/{ev.negatives})   (gate: <= {MAX_FALSE_POSITIVE_RATE:.0%})")
    if ev.seconds:
        ordered = sorted(ev.seconds)
        mean = sum(ordered) / len(ordered) * 1000
        p95 = ordered[int(0.95 * (len(ordered) - 1))] * 1000
        p(f"time per message:                mean {mean:.2f} ms, p95 {p95:.2f} ms, max {ordered[-1] * 1000:.2f} ms")
    p()
    p(f"Misses ({len(ev.misses)}):")
    for text, expected, got in ev.misses:
        seen = f"got {got.category} via {got.rule} ({got.phrase!r})" if got else "got nothing"
        p(f"  - expected {expected}, {seen}: {text!r}")
    p(f"False alarms ({len(ev.false_alarms)}):")
    for text, got in ev.false_alarms:
        p(f"  - {got.category} via {got.rule} ({got.phrase!r}): {text!r}")
    if ev.third_party_mismatches:
        p(f"Third-party flag differs ({len(ev.third_party_mismatches)}) — not gated:")
        for text, want, got_flag in ev.third_party_mismatches:
            p(f"  - expected third_party={want}, got {got_flag}: {text!r}")
    p()
    p("PASS" if ev.passed else "FAIL")


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m bot.crisis", description=__doc__.splitlines()[0])
    sub = parser.add_subparsers(dest="command", required=True)
    ev = sub.add_parser("evaluate", help="recall and false alarms on a labelled set")
    ev.add_argument("path", nargs="?", default=str(LABELLED_FILE))
    ex = sub.add_parser("explain", help="what the detector sees in one message")
    ex.add_argument("text", nargs="+")
    args = parser.parse_args(argv)
    if args.command == "evaluate":
        result = evaluate(args.path)
        _report(result)
        return 0 if result.passed else 1
    text = " ".join(args.text)
    info = explain(text)
    print(f"normalised: {info['normalised']!r}")
    print(f"tokens:     {info['tokens']}")
    for sig in info["signals"]:
        who = "someone else" if sig.third_party else "the writer"
        print(f"SIGNAL  {sig.category:<18} {sig.rule:<8} {sig.phrase!r}  (at risk: {who})")
    for item in info["suppressed"]:
        print(f"guarded {item['rule']:<8} by {item['guard']}: {item['phrase']!r}")
    fired = {(sig.rule, sig.phrase) for sig in info["signals"]}
    for rule_id, phrase in info["weak"]:
        if not any(r == rule_id for r, _ in fired):
            print(f"weak    {rule_id:<8} {phrase!r} (needs a second, different weak sign)")
    if not info["signals"]:
        print("no crisis signal")
    return 0


if __name__ == "__main__":
    sys.exit(main())
