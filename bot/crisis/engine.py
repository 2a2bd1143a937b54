"""The matching engine: one spaCy Matcher for every rule and guard, guards applied, weak rules paired,
and who is at risk (third-party heuristics) decided from the words in and before a match."""
from __future__ import annotations

import itertools
import re

from dataclasses import dataclass
from functools import lru_cache
from pathlib import Path
from typing import Any, Iterable

from bot.crisis.loading import LEXICON_FILE, _require, _text, _yaml
from bot.crisis.normalise import Normaliser, _is_emoji, _make_doc
from bot.crisis.patterns import PatternError, _Compiler, _SENTENCE_END
from bot.crisis.signals import CATEGORIES, Analysis, CrisisSignal, _RANK

# An ellipsis between two words, typed as a pause where the words are hard to write ("i can't... go on").
_PAUSE = re.compile(r"(?<=\w)[ \t]*(?:\.{2,}|…+)[ \t]*(?=\w)")


def _urgent_first(sig: CrisisSignal) -> tuple:
    """Signals' order: most urgent category, then reading order, the longer phrase first."""
    return _RANK[sig.category], sig.start, -(sig.end - sig.start), sig.rule


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


def _splitting_han(nlp):
    """spaCy's English tokenizer, with every Han character a token of its own: Chinese has no spaces, so an English
    word typed straight after or before it ("我想suicide", "我被rape了") would otherwise be one unknown token with
    the characters, and no rule would read it. English text has no Han characters, so it is tokenised as before."""
    from spacy.util import compile_infix_regex, compile_prefix_regex, compile_suffix_regex

    from bot.language.han import HAN_CLASS
    nlp.tokenizer.prefix_search = compile_prefix_regex([*nlp.Defaults.prefixes, HAN_CLASS]).search
    nlp.tokenizer.suffix_search = compile_suffix_regex([*nlp.Defaults.suffixes, HAN_CLASS]).search
    nlp.tokenizer.infix_finditer = compile_infix_regex([*nlp.Defaults.infixes, HAN_CLASS]).finditer
    return nlp


class _Engine:
    def __init__(self, path: Path):
        import spacy
        from spacy.matcher import Matcher

        self.raw: dict[str, Any] = _yaml(path)
        raw = self.raw
        codes = tuple(c["code"] for c in raw["categories"])
        if codes != CATEGORIES:
            raise ValueError(f"lexicon categories {codes} differ from bot.crisis.CATEGORIES {CATEGORIES}")
        self.nlp = _splitting_han(spacy.blank("en"))
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
        return self.analyse(text).signals

    def analyse(self, text: str) -> Analysis:
        """The text's signals, the guards that matched, and risk phrases they explained away. A text with an
        ellipsis typed as a pause ("i can't... go on") is read twice, as typed and with the pause blanked, and
        the two readings are joined: the pause must not hide a crisis, and the first reading keeps every clause
        end that a pattern's `$` needs ("i'm going to end it... sorry")."""
        signals, guards, suppressed = self._one_reading(text, text)
        paused = _PAUSE.sub(lambda m: " " * len(m.group()), text)
        if paused != text:
            more, more_guards, more_suppressed = self._one_reading(text, paused)
            seen = {(s.rule, s.start, s.end) for s in signals}
            signals = sorted(signals + [s for s in more if (s.rule, s.start, s.end) not in seen], key=_urgent_first)
            guards, suppressed = guards | more_guards, suppressed + [x for x in more_suppressed if x not in suppressed]
        return Analysis(signals=signals, guards=tuple(sorted(guards)), explained_away=tuple(suppressed))

    def _one_reading(self, text: str, read: str) -> tuple[list[CrisisSignal], set[str], list[dict[str, Any]]]:
        """Signals, guard ids and explained-away phrases of `read`, a copy of `text` with the same positions."""
        doc, index = self._read(read)
        matches = self._matches(doc)
        signals, suppressed, _ = self._signals(text, doc, index, matches)
        return signals, set(matches[1]), suppressed

    def _signals(self, text: str, doc: Any, index: list[int], matches=None
                 ) -> tuple[list[CrisisSignal], list[dict[str, Any]], list[tuple[str, str]]]:
        """(signals, guarded matches, weak matches) — the last two for `explain`."""
        rule_spans, guard_spans = matches or self._matches(doc)
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
        signals.sort(key=_urgent_first)
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
