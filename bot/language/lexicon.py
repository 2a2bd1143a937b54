"""Crisis lexicons for languages other than English (data/i18n/<code>.yml, syntax in data/i18n/README.md).

Deliberately simpler than the English engine (bot/crisis): word patterns with stems, gaps and guards over
a script-aware normalisation, so a reviewer who reads the language can audit every entry, and adding a
language is adding a data file. Chinese is matched character by character (no spaces between words).
"""
from __future__ import annotations

import re
import unicodedata
from dataclasses import dataclass
from functools import lru_cache
from typing import Any, Iterable

from bot.language.han import simplified

# What an ask rule can be about: the possible-risk questions the assistant has (bot.nlu.crisis_net).
ASK_CATEGORIES = ("suicide_self_harm", "harm_to_baby")
# What a crisis told as past and over can be about, and so asked about rather than alarmed (bot.language.told_as_over):
# the ask categories, and abuse ("my ex hit me; I left him years ago and I'm safe now"), asked "are you safe now?".
OVER_CATEGORIES = ASK_CATEGORIES + ("abuse_danger",)
SENTENCE_BREAKS = set(".!?;\n。！？；؟۔।॥…")  # ।॥: the Gurmukhi (Devanagari) danda ends a sentence
QUESTION_MARKS = set("?？؟")
_WORDS = re.compile(r"[\u3400-\u9fff\uf900-\ufaff]|[^\W_]+")  # a Han character counts as a word
_DROP = {"\u200b", "\u200c", "\u200d", "\u2060", "\ufeff", "\u00ad", "\u0640"}  # invisible, Arabic tatweel
# Arabic-script letters people type interchangeably (Arabic and Urdu keyboards differ): always unified.
_ARABIC_LETTERS = str.maketrans({"أ": "ا", "إ": "ا", "آ": "ا", "ٱ": "ا", "ى": "ي", "ی": "ي", "ې": "ي",
                                 "ئ": "ي", "ك": "ك", "ک": "ك", "ہ": "ه", "ة": "ه", "ۃ": "ه", "ە": "ه",
                                 "ؤ": "و", "ھ": "ه", "ۀ": "ه"})
_LATIN_EXTRA = str.maketrans({"ł": "l", "đ": "d", "ø": "o", "ß": "ss", "ı": "i"})  # letters NFD can't split
_HARAKAT = re.compile("[\u064b-\u065f\u0670\u06d6-\u06ed]")


def is_han(ch: str) -> bool:
    cp = ord(ch)
    return 0x4E00 <= cp <= 0x9FFF or 0x3400 <= cp <= 0x4DBF or 0xF900 <= cp <= 0xFAFF or 0x20000 <= cp <= 0x2EBEF


def _is_word_char(ch: str) -> bool:
    return unicodedata.category(ch)[0] in "LMN"


@lru_cache(maxsize=65536)  # a pure function of one character: each lexicon tokenizes every message
def _fold(ch: str, fold_marks: bool) -> str:
    """One source character → its normalised form (possibly empty)."""
    if ch in _DROP:
        return ""
    if is_han(ch):  # one script, so an entry in either reads both (bot.language.han)
        return simplified(unicodedata.normalize("NFKC", ch))
    out = unicodedata.normalize("NFKC", ch).lower().translate(_ARABIC_LETTERS)
    out = _HARAKAT.sub("", out)
    if fold_marks:
        out = out.translate(_LATIN_EXTRA)
        out = "".join(c for c in unicodedata.normalize("NFD", out) if unicodedata.category(c) != "Mn")
    return out


def fold_for_net(text: str) -> str:
    """`text` in lower case, Latin letters folded as the lexicons fold them (accents dropped: "chce umrzec" reads as
    "chcę umrzeć"). Other scripts are only lower-cased: their marks belong to the word (a Gurmukhi vowel sign), and
    unifying Arabic-script letters for the net cost an Arabic crisis on the read parts (docs/clinical-safety.md, H52)."""
    return "".join(_fold(ch, True) if _is_latin(ch) else ch.lower() for ch in text)


@lru_cache(maxsize=65536)
def _is_latin(ch: str) -> bool:
    return unicodedata.name(ch, "").startswith("LATIN")


@dataclass(frozen=True)
class Token:
    text: str
    start: int  # in the original text
    end: int
    sentence: int
    after_pause: bool = False  # only an ellipsis ("...", "…") lies between this token and the one before


def tokenize(text: str, fold_marks: bool, characters: bool) -> list[Token]:
    """Words (runs of letters, marks and digits) with their positions in `text`; in `characters` mode every
    Han character is a token of its own. Normalisation is per character, so positions stay exact."""
    return list(_tokenize(text, fold_marks, characters))


@lru_cache(maxsize=256)  # the seven lexicons share three ways of tokenizing: each message is tokenized once a way
def _tokenize(text: str, fold_marks: bool, characters: bool) -> tuple[Token, ...]:
    tokens: list[Token] = []
    sentence = 0
    word, word_start = "", -1

    def flush(end: int) -> None:
        nonlocal word, word_start
        if word:
            tokens.append(Token(word, word_start, end, sentence, _after_pause(text, tokens, word_start)))
        word, word_start = "", -1

    for i, ch in enumerate(text):
        if ch in SENTENCE_BREAKS and not _decimal_point(text, i):
            flush(i)
            sentence += 1
            continue
        folded = _fold(ch, fold_marks)
        if characters and is_han(ch):
            flush(i)
            tokens.append(Token(folded, i, i + 1, sentence, _after_pause(text, tokens, i)))
            continue
        if folded and all(_is_word_char(c) for c in folded):
            if not word:
                word_start = i
            word += folded
        elif ch in _DROP or (not folded and unicodedata.category(ch) == "Mn"):
            continue  # a dropped mark inside a word keeps the word whole
        else:
            flush(i)
    flush(len(text))
    return tuple(tokens)


def _after_pause(text: str, tokens: list[Token], start: int) -> bool:
    """Whether only an ellipsis separates text[start:] from the last token: a pause in the middle of a
    thought ("I want to... die"), as people type when the words are hard to write."""
    between = text[tokens[-1].end:start] if tokens else ""
    marks = between.replace(" ", "")
    return bool(marks) and set(marks) <= {".", "…"} and (len(marks) >= 2 or marks == "…")


def in_question(text: str, end: int, within: int = 2) -> bool:
    """Whether text[:end] is asked about: its sentence ends with a question mark at most `within` words later
    ("am I fine now?", "I'm better now, right?"), not "I'm fine now, is there a group in Leith?"."""
    for i in range(end, len(text)):
        if text[i] in SENTENCE_BREAKS and not _decimal_point(text, i):
            return text[i] in QUESTION_MARKS and len(_WORDS.findall(text[end:i])) <= within
    return False


def _decimal_point(text: str, i: int) -> bool:
    """A point between digits ("38.5") separates the parts of a number, not sentences."""
    return text[i] == "." and 0 < i < len(text) - 1 and text[i - 1].isdigit() and text[i + 1].isdigit()


# ------------------------------------------------------------------------------------ patterns

class PatternError(ValueError):
    pass


@dataclass(frozen=True)
class _Word:
    """One token test: exact, prefix (stem*), suffix (*ending) or contains (*part*)."""
    value: str
    prefix: bool
    suffix: bool

    def matches(self, token: str) -> bool:
        if self.prefix and self.suffix:
            return self.value in token
        if self.prefix:
            return token.startswith(self.value)
        if self.suffix:
            return token.endswith(self.value)
        return token == self.value


@dataclass(frozen=True)
class _Element:
    alternatives: tuple[tuple[_Word, ...], ...]  # each alternative is a run of consecutive tokens
    optional: bool = False
    gap: int = 0  # > 0: a gap of up to `gap` tokens (alternatives unused)
    then: bool = False  # a gap written ">>N": it may cross the end of a sentence, and what comes before is context


# In a match's word indices, where a ">>" gap fell: the words before it are the context the crisis follows.
_THEN = -1


@lru_cache(maxsize=None)  # lexicons repeat the same alternatives across many patterns: compiled once each
def _compile_word(raw: str, fold_marks: bool, characters: bool) -> tuple[_Word, ...]:
    """One alternative: usually one token; several in Chinese ("自杀" is two characters in a row). A leading
    or trailing * applies to the first or last token."""
    prefix, suffix = raw.endswith("*"), raw.startswith("*")
    tokens = [t.text for t in tokenize(raw.strip("*"), fold_marks, characters)]
    if not tokens:
        raise PatternError(f"empty word in pattern: {raw!r}")
    last = len(tokens) - 1
    return tuple(_Word(t, prefix and k == last, suffix and k == 0) for k, t in enumerate(tokens))


def compile_pattern(pattern: str, fold_marks: bool, characters: bool) -> tuple[_Element, ...]:
    elements: list[_Element] = []
    for raw in pattern.split():
        gap = re.fullmatch(r"(\.\.\.|>>)(\d*)", raw)
        if gap:
            then = gap.group(1) == ">>"
            elements.append(_Element((), gap=int(gap.group(2) or (8 if then else 3)), then=then))
            continue
        optional = raw.endswith("?")
        raw = raw.rstrip("?")
        alternatives = tuple(_compile_word(alt, fold_marks, characters) for alt in raw.split("|") if alt)
        if not alternatives:
            raise PatternError(f"empty element in pattern: {pattern!r}")
        elements.append(_Element(alternatives, optional=optional))
    if not elements or all(e.gap or e.optional for e in elements):
        raise PatternError(f"pattern matches nothing definite: {pattern!r}")
    if elements[0].gap or elements[-1].gap:
        raise PatternError(f"a pattern can't start or end with a gap: {pattern!r}")
    return tuple(elements)


def _match_from(elements: tuple[_Element, ...], tokens: list[Token], k: int, i: int,
                sentence: int, joined: bool = False) -> tuple[int, ...] | None:
    """The indices of the tokens that the words of elements[k:] match from token i (a gap's tokens are not
    among them), or None; `joined`: token i comes straight after a matched word or gap. A match never crosses the end
    of a sentence, except an ellipsis (a pause: "I want to... die") from one word to the next or from a gap to the
    word after it; a gap's own words are never on both sides of one. A ">>" gap crosses sentence ends ("the
    neighbour killed herself. I want the same"), and its place is marked in the indices with _THEN."""
    if k == len(elements):
        return ()
    element = elements[k]
    if element.gap:
        for j in range(i, min(i + element.gap, len(tokens)) + 1):
            if element.then:
                rest = _match_from(elements, tokens, k + 1, j, tokens[j].sentence, True) if j < len(tokens) else None
                if rest is not None:
                    return (_THEN,) + rest
                continue
            if j > i and tokens[j - 1].sentence != sentence:
                break
            rest = _match_from(elements, tokens, k + 1, j, sentence, True)
            if rest is not None:
                return rest
        return None
    for run in element.alternatives:
        j, in_sentence = i, sentence
        for w in run:
            if j >= len(tokens) or not w.matches(tokens[j].text):
                break
            if tokens[j].sentence != in_sentence:
                if not (tokens[j].after_pause and (j > i or joined)):
                    break
                in_sentence = tokens[j].sentence
            j += 1
        else:
            rest = _match_from(elements, tokens, k + 1, j, in_sentence, True)
            if rest is not None:
                return tuple(range(i, j)) + rest
    if element.optional:
        return _match_from(elements, tokens, k + 1, i, sentence, joined)
    return None


def find(elements: tuple[_Element, ...], tokens: list[Token]) -> Iterable[tuple[int, int]]:
    """(first token, end token) of every match, left to right."""
    for i, token in enumerate(tokens):
        words = _match_from(elements, tokens, 0, i, token.sentence)
        if words and words[0] == i:
            yield i, max(words) + 1


def _context_split(words: tuple[int, ...]) -> tuple[tuple[int, ...], int]:
    """(the matched token indices without _THEN marks, how many of them come before the last mark: the context)."""
    real: list[int] = []
    context = 0
    for w in words:
        if w == _THEN:
            context = len(real)
        else:
            real.append(w)
    return tuple(real), context


# ------------------------------------------------------------------------------------ lexicon

def uncancelled(hits: Iterable[Hit], guards: Iterable[Hit]) -> list[Hit]:
    """The hits no guard cancels. A guard cancels a hit when they matched a word in common; what either only
    spans with a gap doesn't count: "maternity leave ends ...10 say goodbye" must not cancel "I want to die"
    written between the two, and "screams as if someone were killing him" must not cancel a longer "the baby
    ... I want to strangle him" around it. Nor do the words before a ">>" gap, the context a crisis follows: the
    guard for a suicide in a film must not cancel "she killed herself in the film. I want to do the same"."""
    guard_words = {w for g in guards for w in g.words}
    return [h for h in hits if guard_words.isdisjoint(h.words[h.context:])]


def standing(guards: Iterable[Hit], relapse: bool) -> list[Hit]:
    """The guards that apply: all of them, or, when the message says a crisis may be back or still there (a
    `not_over` phrase: "again", "lately", "but now"), all but the guards for a crisis told as over (`past: true`),
    so "years ago I wanted to die, I was fine, but it's back" keeps its alarm."""
    return [g for g in guards if not g.past] if relapse else list(guards)


def uncancelled_unless_back(hits: Iterable[Hit], guards: list[Hit], back: list[Hit]) -> list[Hit]:
    """The hits no standing guard cancels: a guard for a crisis told as over stands down for a hit whose category
    a `not_over` phrase in the message (`back`) speaks for. "The memories come back" speaks for suicidal thoughts,
    so it keeps the alarm there, but it doesn't bring back the alarm for abuse long over."""
    hits = list(hits)
    if not back or not any(g.past for g in guards):
        return uncancelled(hits, guards)
    present = standing(guards, relapse=True)
    return [h for h in hits if uncancelled([h], present if any(n.speaks_for(h.category) for n in back) else guards)]


class _FirstWordIndex:
    """Which patterns could start at a token, by the words that can begin them (exact, prefix or suffix), so
    each message tries a handful of patterns per token rather than every pattern everywhere."""

    def __init__(self, entries: list[tuple[Any, tuple[_Element, ...]]]):
        self.exact: dict[str, list] = {}
        self.prefix: dict[str, list] = {}
        self.suffix: dict[str, list] = {}
        self.contains: list[tuple[str, Any]] = []
        for entry in entries:
            for word in self._first_words(entry[1]):
                if word.prefix and word.suffix:
                    self.contains.append((word.value, entry))
                else:
                    table = self.prefix if word.prefix else self.suffix if word.suffix else self.exact
                    table.setdefault(word.value, []).append(entry)

    @staticmethod
    def _first_words(elements: tuple[_Element, ...]) -> list[_Word]:
        words: list[_Word] = []
        for element in elements:  # an optional element can be skipped: the next one may begin the match too
            words += [run[0] for run in element.alternatives]
            if not element.optional:
                break
        return words

    def candidates(self, token: str) -> list:
        found = list(self.exact.get(token, ()))
        for k in range(1, len(token) + 1):
            found += self.prefix.get(token[:k], ())
            found += self.suffix.get(token[-k:], ())
        found += [entry for value, entry in self.contains if value in token]
        seen: set[int] = set()
        return [e for e in found if not (id(e) in seen or seen.add(id(e)))]


@dataclass(frozen=True)
class Rule:
    id: str
    category: str
    description: str
    patterns: tuple[tuple[_Element, ...], ...]
    sources: tuple[str, ...]
    examples: tuple[str, ...] = ()
    not_examples: tuple[str, ...] = ()
    past: bool = False  # a guard for a crisis told as over: it stands down when the message says it may be back
    # An `over` or `not_over` entry that speaks for some crises only ("I'm safe now" for abuse; "the memories come
    # back" keeps the alarm for suicidal thoughts, not for abuse long over); empty: every one in OVER_CATEGORIES.
    categories: tuple[str, ...] = ()


@dataclass(frozen=True)
class Hit:
    rule: str
    category: str  # "" for a guard
    start: int
    end: int
    asks: bool = False  # an ask rule: the person is asked (tier 2), never the alarm
    words: tuple[int, ...] = ()  # where each matched word starts (a gap's words are not among them)
    past: bool = False  # from a guard for a crisis told as over (Rule.past)
    context: int = 0  # how many of `words` come before a ">>" gap: the context, which guards can't cancel
    categories: tuple[str, ...] = ()  # an `over` or `not_over` hit: the crises it speaks for (Rule.categories)

    def speaks_for(self, category: str) -> bool:
        return not self.categories or category in self.categories


class Lexicon:
    """One language's crisis rules and guards, compiled."""

    def __init__(self, code: str, spec: dict[str, Any], fold_marks: bool, characters: bool,
                 categories: Iterable[str]):
        self.code, self.fold_marks, self.characters = code, fold_marks, characters
        allowed = set(categories)
        self.rules = [self._rule(item, allowed) for item in (spec or {}).get("rules") or []]
        # Ask rules: wording that may be a crisis told indirectly ("I won't be here by then") but is often
        # ordinary; a match asks the person directly (tier 2), in their language and English, and never raises
        # the alarm by itself. Guards cancel them as they cancel rules.
        self.ask_rules = [self._rule(item, set(ASK_CATEGORIES) & allowed)
                          for item in (spec or {}).get("ask_rules") or []]
        self.guards = [self._rule(item, None) for item in (spec or {}).get("guards") or []]
        # Words saying a crisis told before them is over ("now I'm well again", `over`), and words saying it may
        # be back or still here ("again", "lately", `not_over`): see bot.language.told_as_over.
        self.over = [self._rule(item, None, OVER_CATEGORIES) for item in (spec or {}).get("over") or []]
        self.not_over = [self._rule(item, None, OVER_CATEGORIES) for item in (spec or {}).get("not_over") or []]
        ids = [r.id for r in self.rules + self.ask_rules + self.guards + self.over + self.not_over]
        duplicates = {i for i in ids if ids.count(i) > 1}
        if duplicates:
            raise PatternError(f"{code}: duplicate rule ids {sorted(duplicates)}")
        self._asking = {id(rule) for rule in self.ask_rules}
        self._index = _FirstWordIndex([(rule, pattern) for rule in self.guards + self.rules + self.ask_rules
                                       for pattern in rule.patterns])
        self._not_over = {id(rule) for rule in self.not_over}
        self._over_index = _FirstWordIndex([(rule, pattern) for rule in self.over + self.not_over
                                            for pattern in rule.patterns])

    def _rule(self, item: dict[str, Any], allowed: set[str] | None, speaks_for: Iterable[str] = ()) -> Rule:
        rule_id = str(item.get("id") or "")
        category = str(item.get("category") or "")
        if not rule_id:
            raise PatternError(f"{self.code}: a rule without an id")
        if allowed is not None and category not in allowed:
            raise PatternError(f"{self.code} {rule_id}: unknown category {category!r}")
        categories = tuple(map(str, item.get("categories") or ()))
        if set(categories) - set(speaks_for):
            raise PatternError(f"{self.code} {rule_id}: categories {sorted(set(categories) - set(speaks_for))} "
                               f"can't be told as over (only {', '.join(speaks_for) or 'over and not_over entries'})")
        patterns = [str(p) for p in item.get("patterns") or []]
        if not patterns:
            raise PatternError(f"{self.code} {rule_id}: no patterns")
        try:
            compiled = tuple(compile_pattern(p, self.fold_marks, self.characters) for p in patterns)
        except PatternError as error:
            raise PatternError(f"{self.code} {rule_id}: {error}") from None
        return Rule(rule_id, category, str(item.get("description") or ""), compiled, tuple(patterns),
                    tuple(map(str, item.get("examples") or [])), tuple(map(str, item.get("not_examples") or [])),
                    past=bool(item.get("past", False)), categories=categories)

    def tokens(self, text: str) -> list[Token]:
        return tokenize(text, self.fold_marks, self.characters)

    def hits(self, text: str) -> tuple[list[Hit], list[Hit]]:
        """(rule and ask-rule hits that no guard cancelled, guard hits) in `text`."""
        matched, guards = self.matches(text)
        back = self.over_hits(text)[1] if any(g.past for g in guards) else []
        return uncancelled_unless_back(matched, guards, back), standing(guards, relapse=bool(back))

    def matches(self, text: str) -> tuple[list[Hit], list[Hit]]:
        """(every rule and ask-rule hit, guard hits) in `text`, before any guard is applied."""
        matched = [Hit(rule.id, rule.category, start, end, id(rule) in self._asking, words, rule.past, context)
                   for rule, start, end, words, context in self._scan(self._index, text)]
        return [h for h in matched if h.category], [h for h in matched if not h.category]

    def over_hits(self, text: str) -> tuple[list[Hit], list[Hit]]:
        """(`over` hits, `not_over` hits) in `text`. "Am I fine now?" asks, it doesn't say it is over: an `over`
        phrase in a question doesn't count."""
        over: list[Hit] = []
        not_over: list[Hit] = []
        for rule, start, end, words, _ in self._scan(self._over_index, text):
            if id(rule) in self._not_over:
                not_over.append(Hit(rule.id, "", start, end, words=words, categories=rule.categories))
            elif not in_question(text, end):
                over.append(Hit(rule.id, "", start, end, words=words, categories=rule.categories))
        return over, not_over

    def _scan(self, index: _FirstWordIndex, text: str) -> Iterable[tuple[Rule, int, int, tuple[int, ...], int]]:
        """(rule, start, end, where each matched word starts, how many are context) of every match of the indexed
        patterns."""
        tokens = self.tokens(text)
        for i, token in enumerate(tokens):
            for rule, pattern in index.candidates(token.text):
                found = _match_from(pattern, tokens, 0, i, token.sentence)
                if found and found[0] == i:
                    words, context = _context_split(found)
                    yield rule, token.start, tokens[words[-1]].end, tuple(tokens[w].start for w in words), context

    def rule_hits(self, rule: Rule, text: str) -> bool:
        tokens = self.tokens(text)
        return any(True for pattern in rule.patterns for _ in find(pattern, tokens))
