"""Languages beyond English: which language a message is in, crisis words in that language, and replies.

Each supported language is one data file, data/i18n/<code>.yml (format in data/i18n/README.md): its
crisis lexicon, its translated replies and who wrote and reviewed them. Adding a language is adding a
file and its labelled test set; nothing here names a language except English, the default.

Two separate questions, answered separately:
* crisis_signals(text): every language's crisis lexicon runs on every message, whatever language was
  detected, so a romanised Urdu or a two-word Polish crisis is still caught.
* identify(text): which language to reply in. English unless the evidence is strong: the script
  (Han, Gurmukhi, Arabic, Cyrillic) or, for Latin letters, a confident detector on a message long enough
  to judge (or with letters English doesn't use), so "aye", "ok ta" or a postcode stay English.
"""
from __future__ import annotations

import logging
import re
import unicodedata
from dataclasses import dataclass, field
from functools import lru_cache
from pathlib import Path
from typing import Any

import yaml

from bot import PROJECT_ROOT
from bot.language.lexicon import OVER_CATEGORIES, Lexicon, is_han, standing, tokenize, uncancelled_unless_back

logger = logging.getLogger(__name__)

I18N_DIR = PROJECT_ROOT / "data" / "i18n"
ENGLISH = "en"
SAFE_LOADER = getattr(yaml, "CSafeLoader", yaml.SafeLoader)  # libyaml: the language files load 10x faster
# A Latin-script message counts as another language only when the detector is at least this confident
# and the message has at least MIN_LATIN_WORDS words (two will do with letters English never uses: "ą", "ș").
# Chosen on tests/data/multilingual/language_id.yml and the English NLU data (bench/language_id.md).
MIN_LATIN_CONFIDENCE = 0.5
MIN_LATIN_WORDS = 3
MAX_ENGLISH_CONFIDENCE = 0.03  # ...and lingua gives English almost no chance
NOT_CONFIDENT = "Latin script, detector not confident"  # English by default, though the detector leaned elsewhere
RESPONSE_KEYS = ("crisis_medical_emergency", "crisis_suicide_self_harm", "crisis_harm_to_baby", "crisis_psychosis",
                 "crisis_abuse_danger", "crisis_sexual_violence", "crisis_followup", "interpreter", "not_english",
                 "in_danger", "possible_suicide_self_harm", "possible_harm_to_baby", "possible_declined",
                 "possible_abuse_danger", "possible_abuse_danger_declined")
# The intents a whole-message yes or no in another language stands for (the `answers` of each data file).
ANSWER_INTENTS = {"yes": "affirm", "no": "deny"}


@dataclass(frozen=True)
class Language:
    code: str
    name: str
    endonym: str
    detector: tuple[str, ...]
    scripts: tuple[str, ...]
    direction: str
    provenance: dict[str, Any]
    responses: dict[str, str]
    lexicon: Lexicon
    path: Path
    # Words of this language that an English crisis rule reads as risk ("od" = overdose in English text-speak,
    # "from" in Polish): in a message identified as this language, an English signal on one of these is dropped.
    english_false_friends: frozenset[str] = frozenset()
    # Whole-message answers ("tak", "ні", "是的"), normalised: the intent each stands for (ANSWER_INTENTS).
    answers: dict[str, str] = field(default_factory=dict)
    # Common words of this language typed in Latin letters that English never uses ("mujhe", "mainu", "3am"):
    # lingua has no model of romanised Urdu or Punjabi, or of Arabizi, and often reads them as English.
    latin_markers: frozenset[str] = frozenset()

    @property
    def reviewed(self) -> bool:
        return bool(self.provenance.get("reviewed")) and bool(self.provenance.get("reviewed_by"))


def _load(path: Path) -> Language:
    from bot.crisis import CATEGORIES
    raw = yaml.load(path.read_text(encoding="utf-8"), Loader=SAFE_LOADER) or {}
    code = str(raw["code"])
    if path.stem != code:
        raise ValueError(f"{path}: code {code!r} does not match the file name")
    characters = raw.get("segmentation", "words") == "characters"
    fold_marks = bool(raw.get("fold_marks", False))
    lexicon = Lexicon(code, raw.get("crisis") or {}, fold_marks, characters, CATEGORIES)
    answers = {_answer_form(str(word), fold_marks): ANSWER_INTENTS[kind]
               for kind, words in (raw.get("answers") or {}).items() for word in words or ()}
    return Language(code=code, name=str(raw["name"]), endonym=str(raw.get("endonym") or raw["name"]),
                    detector=tuple(raw.get("detector") or ()), scripts=tuple(raw.get("scripts") or ()),
                    direction=str(raw.get("direction", "ltr")), provenance=dict(raw.get("provenance") or {}),
                    responses={k: str(v) for k, v in (raw.get("responses") or {}).items()}, lexicon=lexicon, path=path,
                    english_false_friends=frozenset(str(w).lower() for w in raw.get("english_false_friends") or ()),
                    answers=answers, latin_markers=frozenset(str(w).lower() for w in raw.get("latin_markers") or ()))


def _answer_form(text: str, fold_marks: bool) -> str:
    """A message's words, normalised as the lexicons read them, for comparing whole-message answers."""
    return " ".join(t.text for t in tokenize(text, fold_marks, characters=False))


def language_files() -> list[Path]:
    return [p for p in sorted(I18N_DIR.glob("*.yml")) if p.stem != ENGLISH]


@lru_cache(maxsize=1)
def languages() -> dict[str, Language]:
    """Every supported language other than English, by code. A file that fails to load is logged and left
    out, so one bad file never takes the other languages' crisis words down (the tests load each strictly)."""
    loaded = {}
    for path in language_files():
        try:
            lang = _load(path)
        except Exception:  # noqa: BLE001
            logger.exception("Language file %s failed to load; that language is off", path.name)
            continue
        loaded[lang.code] = lang
    return loaded


def get(code: str | None) -> Language | None:
    return languages().get(code or "")


# ---------------------------------------------------------------------------------- crisis words

@dataclass(frozen=True)
class ForeignSignal:
    language: str
    rule: str
    category: str
    start: int
    end: int
    asks: bool = False  # from an ask rule: ask the person (tier 2), never the alarm


def crisis_signals(text: str) -> tuple[ForeignSignal, ...]:
    """Every crisis rule of every language that matches `text` (guards applied), in reading order."""
    return tuple(s for s in _lexicon_hits(text) if not s.asks)


def ask_signals(text: str) -> tuple[ForeignSignal, ...]:
    """Every ask rule of every language that matches `text` (guards applied): wording to ask the person about."""
    return tuple(s for s in _lexicon_hits(text) if s.asks)


def told_as_over(text: str, signals) -> bool:
    """True when every crisis signal in `text` (objects with `language`, `category` and `end`) is one a person can
    be asked about (OVER_CATEGORIES: suicidal or self-harm thoughts, thoughts of harming the baby, abuse); words
    after each one, in a language whose rules read the crisis, the message's language or English, say it is over
    ("... after my first baby. I'm well now"), not as a question ("am I fine now?"); and nothing in the message says
    it may be back or still there ("again", "lately"). An `over` or `not_over` entry that names its categories
    speaks only for those crises ("I'm safe now" says abuse is over, not suicidal thoughts; "the memories come back"
    keeps the alarm for suicidal thoughts, not for abuse long over). Such a message is asked about (tier 2), never
    given the alarm: people write to a peer-support service before a new baby about thoughts they had, or a partner
    they left, years ago, and the alarm answers what they said is past. The question asks about now ("are you safe
    now?" for abuse), and its numbers are there whatever the answer, so a relapse or a danger told quietly is still
    asked (hazards H46, H55). The channels' silence guard keeps the alarm: it can't ask and wait for the answer."""
    if not signals or any(signal.category not in OVER_CATEGORIES for signal in signals):
        return False
    over, not_over = [], []
    for lexicon in _over_lexicons({signal.language for signal in signals} | {identify(text).code}):
        found, against = lexicon.over_hits(text)
        over += found
        not_over += against
    if any(h.speaks_for(signal.category) for h in not_over for signal in signals):
        return False
    return all(any(h.start >= signal.end and h.speaks_for(signal.category) for h in over) for signal in signals)


def _back(text: str, codes: set[str]) -> list:
    """The `not_over` hits (the message says a crisis may be back or still there) of English and of these languages
    (those whose rules or guards read the message, and the one it is written in). Not every language's: the Arabic
    "od" (an overdose) is the Polish "from"."""
    return [hit for lexicon in _over_lexicons(codes) for hit in lexicon.over_hits(text)[1]]


def _over_lexicons(codes: set[str]) -> list[Lexicon]:
    """The `over` words of every language whose rules read the crisis (romanised Urdu is also read by Punjabi
    rules) or the message is written in, and English's (people switch to English for "I'm fine now")."""
    return [english_lexicon()] + [lang.lexicon for code in sorted(codes) if (lang := get(code)) is not None]


@lru_cache(maxsize=1)
def english_lexicon() -> Lexicon:
    """English's `over` and `not_over` words (data/i18n/en.yml); its crisis rules are data/crisis/lexicon.yml."""
    from bot.crisis import CATEGORIES
    raw = yaml.load((I18N_DIR / f"{ENGLISH}.yml").read_text(encoding="utf-8"), Loader=SAFE_LOADER) or {}
    return Lexicon(ENGLISH, raw.get("crisis") or {}, False, False, CATEGORIES)


def guarded_words(text: str) -> frozenset[int]:
    """Where each word the other languages' standing guards matched starts: an English rule hit on one of those
    words is cancelled as theirs are ("college ke zamane mein self-harm karti thi, ab 10 saal ho gaye": the Urdu
    guard for self-harm long over, UR-G-65, reads "self-harm", so SSH-05's hit on it is cancelled; an English hit
    on any other word stands)."""
    return _reading(text)[1] if isinstance(text, str) and text.strip() else frozenset()


def _lexicon_hits(text: str) -> tuple[ForeignSignal, ...]:
    return _reading(text)[0] if isinstance(text, str) and text.strip() else ()


@lru_cache(maxsize=512)  # the crisis component, the language component and the guard read the same text
def _reading(text: str) -> tuple[tuple[ForeignSignal, ...], frozenset[int]]:
    """(every language's rule and ask-rule hits that no guard cancelled, in reading order; where each word the
    standing guards matched starts)."""
    matched, guards, past = [], [], set()
    for lang in languages().values():
        hits, guarding = lang.lexicon.matches(text)
        matched += [(lang.code, h) for h in hits]
        guards += guarding
        if any(g.past for g in guarding):
            past.add(lang.code)
    back = _back(text, past | {code for code, _ in matched} | {identify(text).code}) if past else []
    # Every language's guards apply to every language's hits: romanised Urdu and Punjabi share most words, so a
    # Punjabi message about a film is also read by Urdu rules, and the Punjabi guard for films must cancel those.
    # A guard for a crisis told as over stands down when English or a language that read the message says it may be
    # back (`not_over`), for the hits whose category that phrase speaks for.
    applying = standing(guards, bool(back))  # English hits: any phrase saying it may be back
    kept = set(map(id, uncancelled_unless_back((h for _, h in matched), guards, back)))
    found = [ForeignSignal(code, h.rule, h.category, h.start, h.end, h.asks) for code, h in matched if id(h) in kept]
    return tuple(sorted(found, key=lambda s: s.start)), frozenset(w for g in applying for w in g.words)


def reply_language(text: str) -> str:
    """The language to reply in: the identified one, or, when that is English (or one we have no replies in)
    but another language's crisis words matched, that language ("chce umrzec" is too short to identify)."""
    identified = identify(text).code
    if identified in languages():
        return identified
    try:
        foreign = _lexicon_hits(text) if isinstance(text, str) else ()
    except Exception:  # noqa: BLE001
        logger.exception("Crisis lexicons failed while choosing the reply language")
        foreign = ()
    if not foreign:
        return identified
    # Romanised Urdu and Punjabi share words: the language with the most matching rules answers.
    counts = {code: sum(s.language == code for s in foreign) for code in {s.language for s in foreign}}
    return max(sorted(counts), key=lambda code: counts[code])


def yes_or_no(text: str) -> str | None:
    """"affirm" or "deny" when the whole message is a yes or a no in another language ("tak", "ні", "是的"),
    which is too short to identify; None otherwise, or when languages disagree about it."""
    if not isinstance(text, str) or not text.strip() or len(text) > 40:
        return None
    meanings = {lang.answers.get(_answer_form(text, lang.lexicon.fold_marks)) for lang in languages().values()} - {None}
    return meanings.pop() if len(meanings) == 1 else None


# ---------------------------------------------------------------------------------- identification

@dataclass(frozen=True)
class Identified:
    code: str  # a supported code, "en", or "other" (a language we have no replies in)
    confidence: float
    reason: str  # how it was decided, for the audit log and the tests


def _script_counts(text: str) -> dict[str, int]:
    counts: dict[str, int] = {}
    for ch in text:
        if not ch.isalpha():
            continue
        if is_han(ch):
            script = "Han"
        else:
            name = unicodedata.name(ch, "")
            script = next((s for s in ("LATIN", "CYRILLIC", "ARABIC", "GURMUKHI", "HIRAGANA", "KATAKANA", "HANGUL",
                                       "DEVANAGARI", "BENGALI", "GREEK", "HEBREW", "THAI") if name.startswith(s)),
                          "OTHER")
            script = {"HIRAGANA": "Kana", "KATAKANA": "Kana"}.get(script, script.title())
        counts[script] = counts.get(script, 0) + 1
    return counts


HAN_LETTER_WEIGHT = 5  # a Chinese character is often a word, an English word about five letters


def dominant_script(counts: dict[str, int]) -> str:
    """The script most of the message is written in, a Han character counting as five Latin letters."""
    return max(counts, key=lambda s: counts[s] * (HAN_LETTER_WEIGHT if s == "Han" else 1))


@lru_cache(maxsize=1)
def _detector() -> Any:
    """lingua, limited to the languages we support plus the ones most often confused with them (and English),
    so "other" is a real answer. Built once with every model loaded (about 10 s and 500 MB): lazily, the first
    parent's message in each script would wait for them instead (see warm_up)."""
    from lingua import Language as L, LanguageDetectorBuilder
    wanted = {name for lang in languages().values() for name in lang.detector}
    wanted |= {"ENGLISH", "RUSSIAN", "PERSIAN", "HINDI", "FRENCH", "SPANISH", "GERMAN", "ITALIAN", "PORTUGUESE",
               "DUTCH", "CZECH", "SLOVAK", "BULGARIAN", "BENGALI", "JAPANESE", "KOREAN", "LATIN", "SOMALI", "TURKISH"}
    return (LanguageDetectorBuilder.from_languages(*[getattr(L, name) for name in sorted(wanted)])
            .with_preloaded_language_models().build())


def warm_up() -> None:
    """Loads the language data and the detector now (Rasa calls this while loading the model, before it
    accepts messages), not on a parent's first message."""
    languages()
    _detector()


def _code_for(detector_name: str) -> str:
    if detector_name == "ENGLISH":
        return ENGLISH
    return next((lang.code for lang in languages().values() if detector_name in lang.detector), "other")


def _english_foreign_letters(text: str) -> bool:
    """Latin letters with diacritics English never uses: strong evidence even in a two-word message."""
    return any(ch.isalpha() and not ch.isascii() and unicodedata.name(ch, "").startswith("LATIN") for ch in text)


@lru_cache(maxsize=512)  # the language component, the crisis check and the guard read the same text
def identify(text: str) -> Identified:
    """The language to answer `text` in. Never raises; English when unsure."""
    try:
        return _identify(text)
    except Exception:  # noqa: BLE001 — identification must never stop a reply
        logger.exception("Language identification failed; answering in English")
        return Identified(ENGLISH, 0.0, "error")


def _identify(text: str) -> Identified:
    if not isinstance(text, str) or not text.strip() or text.lstrip().startswith("/"):
        return Identified(ENGLISH, 1.0, "empty or a button")
    sample = text[:2000]
    scripts = _script_counts(sample)
    if not scripts:
        return Identified(ENGLISH, 1.0, "no letters")
    script = dominant_script(scripts)
    by_script = {s: [lang for lang in languages().values() if s in lang.scripts] for s in scripts}
    if script != "Latin":
        candidates = by_script.get(script, [])
        if len(candidates) == 1 and script in ("Han", "Gurmukhi"):
            return Identified(candidates[0].code, 1.0, f"{script} script")
        if not candidates:
            return Identified("other", 1.0, f"{script} script, no supported language")
        # judge only the letters of that script: "زوجتي تحتاج مساعدة، she is not sleeping" is Arabic
        own = "".join(ch if not ch.isalpha() or _script_counts(ch).get(script) else " " for ch in sample)
        values = _detector().compute_language_confidence_values(own)
        best = values[0]
        code = _code_for(best.language.name)
        if code in {c.code for c in candidates}:
            return Identified(code, round(best.value, 3), f"{script} script, detector")
        if len(candidates) == 1:
            return Identified(candidates[0].code, round(best.value, 3), f"{script} script, nearest supported")
        return Identified("other", round(best.value, 3), f"{script} script, detector: {best.language.name}")
    words = [w for w in "".join(c if c.isalpha() else " " for c in sample).split() if len(w) > 1]
    strong_letters = _english_foreign_letters(sample)
    if len(words) < MIN_LATIN_WORDS and not (strong_letters and len(words) >= 2):
        return Identified(ENGLISH, 1.0, "Latin script, too short to judge")
    values = _detector().compute_language_confidence_values(sample)
    best = values[0]
    code = _code_for(best.language.name)
    english = next((v.value for v in values if v.language.name == "ENGLISH"), 0.0)
    if code == ENGLISH:
        return Identified(ENGLISH, round(best.value, 3), "Latin script, detector")
    if best.value < MIN_LATIN_CONFIDENCE or english > MAX_ENGLISH_CONFIDENCE:
        return Identified(ENGLISH, round(english, 3), NOT_CONFIDENT)
    return Identified(code, round(best.value, 3), "Latin script, detector")


def perhaps_other_language(text: str) -> bool:
    """Answered in English, though the detector leaned to another language without being sure (Polish typed
    without accents), or the message has two of one language's Latin-letter markers (romanised Urdu or Punjabi,
    Arabizi, which the detector often takes for English). The crisis net then also reads it as another language
    (bot.nlu.crisis_net)."""
    return identify(text).reason == NOT_CONFIDENT or romanised_language(text) is not None


LATIN_MARKERS_NEEDED = 2  # one word ("ana", "hun") is a name or a typo as often as not


def romanised_language(text: str) -> str | None:
    """The language whose Latin-letter markers the message has most of, if it has at least two distinct ones."""
    if not isinstance(text, str):
        return None
    words = set(re.findall(r"[a-z0-9']+", text[:2000].lower()))
    counts = {code: len(words & lang.latin_markers) for code, lang in languages().items() if lang.latin_markers}
    best = max(sorted(counts), key=lambda code: counts[code], default=None)
    return best if best is not None and counts[best] >= LATIN_MARKERS_NEEDED else None


def status() -> list[dict[str, Any]]:
    """Who wrote each language's words and whether a native speaker has reviewed them (for operators)."""
    return [{"code": lang.code, "name": lang.name, "written_by": lang.provenance.get("written_by"),
             "reviewed": lang.reviewed, "reviewed_by": lang.provenance.get("reviewed_by"),
             "reviewed_on": lang.provenance.get("reviewed_on"), "rules": len(lang.lexicon.rules),
             "ask_rules": len(lang.lexicon.ask_rules), "guards": len(lang.lexicon.guards),
             "responses": sorted(lang.responses)}
            for lang in languages().values()]
