"""Languages beyond English (bot/language, data/i18n/): the data files, the translated replies, language
identification and the crisis lexicons, measured on labelled sets written by a different writer."""
from __future__ import annotations

import re
import subprocess
import sys
from pathlib import Path

import pytest
import yaml

from bot import helplines, language
from bot.language import evaluation
from bot.language.__main__ import check

ROOT = Path(__file__).resolve().parent.parent
FILES = language.language_files()
CODES = [p.stem for p in FILES]
ENGLISH = yaml.safe_load((ROOT / "data/i18n/en.yml").read_text(encoding="utf-8"))["responses"]
LANGUAGE_ID = yaml.safe_load((ROOT / "tests/data/multilingual/language_id.yml").read_text(encoding="utf-8"))["messages"]
REQUIRED_LANGUAGES = {"pl", "ur", "pa", "ar", "zh", "ro", "uk"}
REQUIRED_CATEGORIES = {"suicide_self_harm", "harm_to_baby", "abuse_danger", "medical_emergency"}
NUMBERS = sorted({line.number for line in vars(helplines).values() if isinstance(line, helplines.Helpline)} | {"55"},
                 key=len, reverse=True)


def test_every_required_language_has_a_data_file_and_a_labelled_set():
    assert REQUIRED_LANGUAGES <= set(CODES)
    for code in CODES:
        assert len(evaluation.labelled(code)) >= 60, code


@pytest.mark.parametrize("path", FILES, ids=CODES)
def test_each_file_loads_and_its_examples_hold(path):
    loaded = language._load(path)  # strictly: a broken file fails here, not silently at run time
    assert {r.category for r in loaded.lexicon.rules} >= REQUIRED_CATEGORIES
    assert check([loaded.code]) == []


@pytest.mark.parametrize("path", FILES, ids=CODES)
def test_provenance_is_stated_and_no_review_is_claimed_without_a_reviewer(path):
    provenance = yaml.safe_load(path.read_text(encoding="utf-8"))["provenance"]
    assert provenance["written_by"]
    if provenance["reviewed"]:
        assert provenance["reviewed_by"] and provenance["reviewed_on"]
    else:
        assert not provenance.get("reviewed_by")


def _numbers(text: str) -> list[str]:
    text = text.replace("NHS 24", "NHS")  # a name, not a number
    found = []
    for number in NUMBERS:  # longest first, so "116 123" is not also read as "123"
        found += [number] * text.count(number)
        text = text.replace(number, " ")
    assert not re.search(r"\d", text), f"a number that is not one of our helplines: {text!r}"
    return sorted(found)


@pytest.mark.parametrize("path", FILES, ids=CODES)
def test_numbers_are_never_translated(path):
    translated = language._load(path).responses
    for key, english in ENGLISH.items():
        assert key in translated, key
        # the same numbers (a reply written in two scripts, like Chinese, may give each twice), and no others
        assert set(_numbers(translated[key])) == set(_numbers(english)), key


def test_the_domain_holds_every_translation():
    result = subprocess.run([sys.executable, "scripts/i18n_domain.py", "--check"], cwd=ROOT, capture_output=True,
                            text=True)
    assert result.returncode == 0, result.stdout


def test_a_translated_crisis_reply_is_followed_by_the_english_one():
    from bot.channels.guard import response_text
    for code in CODES:
        for category in ("suicide_self_harm", "abuse_danger"):
            text = response_text(f"utter_crisis_{category}", code)
            own = language.get(code).responses[f"crisis_{category}"]
            assert text.startswith(own) and ENGLISH[f"crisis_{category}"] in text, code
    assert response_text("utter_crisis_suicide_self_harm", None) == ENGLISH["crisis_suicide_self_harm"]


# --------------------------------------------------------------------------- identification

def test_short_english_and_scots_are_never_taken_for_another_language():
    english = [m["text"] for m in LANGUAGE_ID if m["language"] == "en" and len(m["text"].split()) <= 4]
    assert len(english) >= 60  # (longer mixed messages are measured in bench/language_id.md)
    wrong = [(text, language.identify(text)) for text in english if language.identify(text).code != "en"]
    assert wrong == []


def _english_nlu_messages() -> list[str]:
    texts = []
    for path in list((ROOT / "data/nlu").glob("*.yml")) + [ROOT / "tests/data/nlu_heldout.yml"]:
        for block in yaml.safe_load(path.read_text(encoding="utf-8")).get("nlu") or []:
            texts += [re.sub(r"\[([^\]]+)\]\([^)]+\)", r"\1", line[2:]) for line in
                      str(block.get("examples", "")).splitlines() if line.startswith("- ")]
    return texts


def test_none_of_the_english_training_or_crisis_corpus_is_taken_for_another_language():
    texts = _english_nlu_messages()
    assert len(texts) > 2000
    wrong = [t for t in texts if language.identify(t).code != "en"]
    assert wrong == []


def test_no_english_message_has_two_latin_markers_of_another_language():
    """Two markers send a message to the crisis net for other languages as well; English must never look so."""
    from bot.nlu import crisis_net
    texts = _english_nlu_messages() + [item.text for item in crisis_net.read_corpus()]
    assert len(texts) > 5000
    assert [(t, language.romanised_language(t)) for t in texts if language.romanised_language(t)] == []


@pytest.mark.parametrize("text,code", [
    ("mujhe koi group chahiye Glasgow mein, bahut akeli hoon", "ur"),
    ("meri wife bahut pareshan rehti hai, kya koi madad hai", "ur"),
    ("mainu koi group dasso, ghar vich kalli haan", "pa"),
    ("ohnu kuch samajh nahi aunda, baby bahut ronda", "pa"),
    ("ana ta3baneh kteer w ma fini nam", "ar"),
    ("ya3ni ma fi 7ada y7ki ma3i bil 3arabi?", "ar"),
])
def test_romanised_urdu_punjabi_and_arabizi_are_also_read_as_another_language(text, code):
    assert language.identify(text).code == "en", "the detector has no model of them: it answers in English"
    assert language.romanised_language(text) == code
    assert language.perhaps_other_language(text), "so the crisis net for other languages reads it too"


@pytest.mark.parametrize("text", ["thanks hun x", "a ton of nappies and no sleep", "EH7 5QR", "see ya at the group",
                                  "me and my mere wee one", "nahi", "Ana said the group is on Tuesday"])
def test_one_marker_or_english_look_alikes_are_not_another_language(text):
    assert language.romanised_language(text) is None


def _identified(scripts: set[str]) -> tuple[int, int, list]:
    items = [m for m in LANGUAGE_ID if m["language"] in REQUIRED_LANGUAGES
             and (_script_of(m["text"]) in scripts)]
    wrong = [(m["text"], m["language"], language.identify(m["text"]).code) for m in items
             if language.identify(m["text"]).code != m["language"]]
    return len(items) - len(wrong), len(items), wrong


def _script_of(text: str) -> str:
    counts = language._script_counts(text)
    return language.dominant_script(counts) if counts else "none"


def test_messages_in_a_non_latin_script_are_identified():
    right, total, wrong = _identified({"Han", "Gurmukhi", "Arabic", "Cyrillic"})
    # Shahmukhi Punjabi is read as Urdu (same script, close language; the Urdu reply is readable to its writers)
    wrong = [w for w in wrong if not (w[1] == "pa" and w[2] == "ur")]
    assert total >= 40 and wrong == []


def test_latin_script_messages_fall_back_to_english_never_to_a_wrong_language():
    """Polish and Romanian typed on a phone are identified when the message is long enough; romanised Urdu and
    Punjabi can't be told from English by any detector, and fall back to English, or to "other" (answered in
    English); their crisis words are still caught by their lexicons, which run on every message."""
    items = [m for m in LANGUAGE_ID if m["language"] in REQUIRED_LANGUAGES and _script_of(m["text"]) == "Latin"]
    results = [(m["text"], m["language"], language.identify(m["text"]).code) for m in items]
    wrong_language = [r for r in results if r[2] not in (r[1], "en", "other")]  # "other" is answered in English
    assert wrong_language == []
    identified = [r for r in results if r[1] in ("pl", "ro") and r[2] == r[1]]
    assert len(identified) >= 0.6 * len([r for r in results if r[1] in ("pl", "ro")])


def test_a_decimal_point_joins_a_number_and_a_full_stop_still_ends_a_sentence():
    """A fever written "38.5" must stay in the sentence that gives the baby's age (lexicon patterns stop at a
    sentence's end)."""
    from bot.language.lexicon import tokenize
    tokens = tokenize("ma 3 tyg. temp 38.5 i nie je. 7.", fold_marks=True, characters=False)
    assert [(t.text, t.sentence) for t in tokens] == [("ma", 0), ("3", 0), ("tyg", 0), ("temp", 1), ("38", 1),
                                                      ("5", 1), ("i", 1), ("nie", 1), ("je", 1), ("7", 2)]
    assert language.crisis_signals("Dziecko ma 3 tygodnie i gorączkę 38.5")[0].category == "medical_emergency"


def test_a_danda_or_an_ellipsis_ends_a_sentence_as_a_full_stop_does():
    """Gurmukhi ends a sentence with a danda (।); "…" is the one-character "...". A gap in a pattern must not run
    across either, as it never runs across a full stop."""
    from bot.language.lexicon import tokenize
    for text in ("ਮੈਂ ਠੀਕ ਹਾਂ। ਬੱਚਾ ਸੌਂ ਗਿਆ", "ਮੈਂ ਠੀਕ ਹਾਂ॥ ਬੱਚਾ ਸੌਂ ਗਿਆ", "jestem już ok… mała śpi dziś"):
        tokens = tokenize(text, fold_marks=False, characters=False)
        assert [t.sentence for t in tokens] == [0, 0, 0, 1, 1, 1], text


def test_a_pattern_steps_over_an_ellipsis_typed_as_a_pause_but_a_gap_never_straddles_one():
    """People type "..." where the words are hard to write ("I want to... die"): the words either side stay next to
    each other for a pattern. A gap's own words are never on both sides of an ellipsis, and a full stop still ends the
    match."""
    from bot.language.lexicon import compile_pattern, find, tokenize

    def matched(pattern: str, text: str) -> bool:
        return any(find(compile_pattern(pattern, True, False), tokenize(text, fold_marks=True, characters=False)))

    assert matched("vreau sa mor", "vreau să... mor") and matched("vreau sa mor", "vreau să…mor")
    assert matched("nie chce ... zyc", "nie chcę już... żyć")  # a gap may end at the pause
    assert not matched("nie chce ... zyc", "nie chcę... już żyć")  # but not run across it
    assert not matched("vreau sa mor", "vreau să. mor") and not matched("vreau sa mor", "vreau să! mor")
    assert language.crisis_signals("я хочу... померти")[0].category == "suicide_self_harm"


def test_a_phrase_is_asked_about_when_a_question_mark_closes_its_sentence_a_few_words_later():
    from bot.language.lexicon import in_question
    asked = [("am I fine now?", "fine now"), ("I'm better now, right?", "better now"), ("我现在好了吗？", "好了"),
             ("ana mni7a daba؟", "mni7a daba")]
    said = [("I'm fine now. Is there a group?", "fine now"), ("I'm fine now", "fine now"),
            ("I'm well now, is there a group in Leith for mums?", "well now"), ("I'm fine now!? Or not", "fine now")]
    ends = lambda pairs: [(text, text.index(phrase) + len(phrase)) for text, phrase in pairs]  # noqa: E731
    assert [text for text, end in ends(asked) if not in_question(text, end)] == []
    assert [text for text, end in ends(said) if in_question(text, end)] == []


def test_a_crisis_too_short_to_identify_is_answered_in_the_language_of_its_words():
    assert language.identify("chce umrzec").code == "en"  # two words: too short to judge
    assert language.reply_language("chce umrzec") == "pl"


@pytest.mark.parametrize("text, code", [("我被rape了", "zh"), ("想問下你哋嘅WhatsApp group點樣加入？", "zh"),
                                        ("我想suicide", "zh"),
                                        ("we watched 卧虎藏龙 last night and the baby slept through", "en")])
def test_english_words_among_chinese_characters_do_not_outweigh_them(text, code):
    """A Chinese character counts as five Latin letters (it is often a word of its own): a crisis word typed in
    English inside a Chinese sentence is answered in Chinese (and English), a film title in an English sentence
    in English."""
    assert language.identify(text).code == code


# --------------------------------------------------------------------------- crisis figures

# Blind part (tests/data/multilingual/blind/, batch 4, never tuned on), measured 2026-12-04 after widening from
# batch 3: (caught of 30, false alarms of 20). The target is every crisis caught and no false alarm; it is NOT met
# (docs/clinical-safety.md, H25). These floors stop a change from making things worse; raise them as the lexicons
# improve, never lower them.
# 2026-12-05, night: the concept-parity pass (below) moved Arabic 14 → 16, Punjabi 18 → 19, Polish 20 → 21, Ukrainian
# 20 → 22 and Chinese 19 → 20 caught; Arabic and Punjabi false alarms 1 → 0 (Chinese stays at 1).
# 2026-12-06: with the rules added beside the ask rules (a passive death wish, fits, head injuries), Romanian 19 → 20.
# 2026-12-06: with the Arabic rules from batch 16 (crises said indirectly), Arabic 16 → 18 caught by the lexicons.
BLIND_FLOOR = {"ar": (18, 0), "pa": (19, 0), "pl": (21, 1), "ro": (20, 0), "uk": (22, 0), "ur": (19, 1), "zh": (20, 1)}


@pytest.mark.parametrize("code", sorted(REQUIRED_LANGUAGES))
def test_crisis_recall_and_false_alarms_per_language(code):
    """Dev part (the lexicon was tuned on it): every crisis caught, nothing else alarms. Blind part (never
    tuned on): no worse than measured."""
    figures = evaluation.evaluate(code)
    assert figures["dev"].missed == [] and figures["dev"].alarms == [], code
    caught, alarms = BLIND_FLOOR[code]
    found = _counts(figures["blind"])  # numbers only: a failure must not print the blind part's messages
    assert found[0] >= caught and found[1] <= alarms, (code, found)


def test_other_languages_lexicons_stay_silent_on_english():
    """Romanised Urdu and Punjabi patterns must not fire on English: none of the English corpora's messages
    is flagged, or asked about, by another language's lexicon (its rules or its ask rules)."""
    flagged = []
    for path in (ROOT / "data/crisis/corpus").glob("*.yml"):
        raw = yaml.safe_load(path.read_text(encoding="utf-8"))
        items = raw.get("messages") if isinstance(raw, dict) else raw
        for item in items or []:
            text = item.get("text") if isinstance(item, dict) else None
            found = (language.crisis_signals(text) + language.ask_signals(text)) if isinstance(text, str) else ()
            if found:
                flagged.append((path.name, text, found[0].rule))
    assert flagged == []


def test_the_silence_guard_answers_a_crisis_in_its_language():
    from bot.channels.guard import fallback_replies
    for code, text in (("pl", "nie chcę już żyć"), ("uk", "я хочу померти")):
        first = fallback_replies(text)[0]
        assert first.startswith(language.get(code).responses["crisis_suicide_self_harm"][:20]), code
        assert ENGLISH["crisis_suicide_self_harm"] in first


def test_the_silence_guard_still_answers_a_crisis_if_the_language_layer_fails(monkeypatch):
    from bot.channels.guard import fallback_replies

    def broken(text):
        raise RuntimeError("language layer down")
    monkeypatch.setattr(language, "reply_language", broken)
    assert fallback_replies("I want to kill myself")[0] == ENGLISH["crisis_suicide_self_harm"]


# --- the possible-risk question in another language, and its answer ----------------------------------------

@pytest.mark.parametrize("text,intent", [("tak", "affirm"), ("Tak!", "affirm"), ("nie", "deny"), ("так", "affirm"),
                                         ("ні", "deny"), ("da", "affirm"), ("nu", "deny"), ("نعم", "affirm"),
                                         ("ہاں", "affirm"), ("nahi", "deny"), ("ਹਾਂ", "affirm"), ("是的", "affirm"),
                                         ("没有", "deny")])
def test_a_whole_message_yes_or_no_in_another_language_is_read_as_one(text, intent):
    assert language.yes_or_no(text) == intent


@pytest.mark.parametrize("text", ["yes", "no", "ok", "aye", "naw", "nah", "tak, chcę", "nie wiem", "", "   ",
                                  "tak " * 20])
def test_english_words_and_longer_messages_are_not_read_as_a_foreign_yes_or_no(text):
    assert language.yes_or_no(text) is None


def test_every_language_has_yes_and_no_and_no_answer_word_is_an_english_message():
    """An answer word that is also a whole English message in the NLU data would turn that message into a yes/no."""
    english = set()
    for path in (ROOT / "data/nlu").glob("*.yml"):
        for block in (yaml.safe_load(path.read_text(encoding="utf-8")) or {}).get("nlu", []):
            english |= {line.strip()[2:].strip().lower() for line in (block.get("examples") or "").splitlines()
                        if line.strip().startswith("- ")}
    for code, lang in language.languages().items():
        assert {"affirm", "deny"} <= set(lang.answers.values()), code
        assert not english & set(lang.answers), (code, english & set(lang.answers))


def test_the_languages_net_learns_the_development_parts_and_read_batches_never_a_blind_part():
    """A message of a blind part that is also learned (a training batch or a development part holding the same text)
    would make every figure on it a figure on training data; the read batches are learned since session 23 (H59).
    Counts only: a failure must not print a blind part's messages."""
    from bot.nlu import crisis_net
    trained = {item.text for item in crisis_net.read_other_languages()}
    for code in REQUIRED_LANGUAGES:
        items = evaluation.labelled(code)
        learnable = {str(i["text"]) for i in items if evaluation.part_of(i) in ("dev", *evaluation.READ_PARTS)}
        learned_blind = {}
        for item in items:
            if evaluation.part_of(item) in evaluation.BLIND_PARTS and str(item["text"]) in trained:
                learned_blind[item.get("part")] = learned_blind.get(item.get("part"), 0) + 1
        assert (len(learnable - trained), learned_blind) == (0, {}), (code, len(learnable - trained), learned_blind)


def test_a_new_batch_directory_is_never_learned_by_the_net_by_accident():
    """A batch in its own directory is measured on its own (a blind part, or a read batch the languages net learns),
    unless it is one of the spent blind batches (batch2/, batch3/): a new blind batch whose part is not yet listed in
    BLIND_PARTS would otherwise be read as development data and learned, and every later figure on it would be a
    figure on training data."""
    spent = {"batch2", "batch3"}
    for path in sorted(evaluation.SETS_DIR.glob("*/*.yml")):
        if path.parent.name in spent:
            continue
        parts = {str(m.get("part")) for m in (yaml.safe_load(path.read_text(encoding="utf-8")) or {})["messages"]}
        assert parts == {path.parent.name} and path.parent.name in evaluation.MEASURED_PARTS, (str(path), parts)


def test_in_another_language_the_net_alone_asks_and_alarms_only_for_a_sure_emergency():
    from bot.nlu.crisis_net import OTHER_LANGUAGE_EMERGENCY_THRESHOLD as SURE, Decision, NetView, decide
    sure_suicide = NetView(crisis=0.99, possible=0.0, category="suicide_self_harm", category_confidence=0.9)
    assert decide(None, None, False, sure_suicide).tier == "crisis"
    assert decide(None, None, False, sure_suicide, other_language=True) == Decision("possible", "suicide_self_harm", "net")
    emergency = NetView(crisis=SURE, possible=0.0, category="abuse_danger", category_confidence=0.9)
    assert decide(None, None, False, emergency, other_language=True).tier == "crisis"
    unsure = NetView(crisis=SURE - 0.05, possible=0.0, category="abuse_danger", category_confidence=0.9)
    assert decide(None, None, False, unsure, other_language=True).tier == "possible"
    assert decide("abuse_danger", None, False, None, other_language=True).tier == "crisis", "the lexicon decides"



def test_in_another_language_the_net_asks_from_a_lower_risk_than_in_english():
    """In another language the net asks from a lower risk than in English (H54: 0.4 since training batch 3; H59: 0.3
    since it learned the read batches, every read crisis answered or asked with each batch left out in turn); the
    English net's operating point is unchanged."""
    from bot.nlu.crisis_net import OTHER_LANGUAGE_POSSIBLE_THRESHOLD as ASKS, POSSIBLE_THRESHOLD, NetView, decide
    assert ASKS < POSSIBLE_THRESHOLD
    between = NetView(crisis=ASKS - 0.1, possible=0.1 + 0.01, category="suicide_self_harm", category_confidence=0.6)
    assert decide(None, None, False, between, other_language=True).tier == "possible"
    assert decide(None, None, False, between).tier == "none"
    below = NetView(crisis=ASKS - 0.1, possible=0.05, category="suicide_self_harm", category_confidence=0.6)
    assert decide(None, None, False, below, other_language=True).tier == "none"


def test_the_languages_net_learns_every_training_batch():
    from bot.nlu import crisis_net
    learned = {item.text for item in crisis_net.read_other_languages()}
    batches = sorted(crisis_net.LANGUAGES_DIR.rglob("*.yml"))
    assert {"batch2", "batch3", "batch4", "batch5", "batch6"} <= {path.parent.name for path in batches}
    for path in batches:
        messages = yaml.safe_load(path.read_text(encoding="utf-8"))["messages"]
        assert {str(m["text"]) for m in messages} <= learned, str(path)

# Session 16 (2026-12-07), every floor below: the languages net learned training batch 3 (840 messages by seven
# writers who saw no project file: crises told indirectly, and crisis words about someone else or the past), and in
# another language asks from P 0.4 and alarms for an emergency from 0.8 (H54; both points set on the read batches).
# All blind parts: crises answered or asked 3,548 → 3,572/3,637, at once 2,684 → 2,713, false alarms 187 → 196/3,742,
# asked 667 → 714. Read batches: every crisis as before, false alarms 38 → 41/1,977, asked 565 → 538. No language
# answers or asks about fewer crises on all blind parts together; single parts moved by one or two either way.
# Then training batch 4 (836 messages: crises as typed at a bad moment, ordinary messages with medical, violent or
# sexual words): all blind parts 3,572 → 3,583, at once 2,726, false alarms 194, asked 692 (Polish 517 → 515 caught,
# the cost; every other language the same or more); read batches false alarms 37, asked 488.
# Then training batch 5 (840 messages: crises buried in a practical message, minimised, told by a relative or hinted
# mid-conversation; kept before it was measured on the blind parts, the read batches neither better nor worse):
# all blind parts 3,583 → 3,588, at once 2,716, false alarms 194, asked 672 (Punjabi and Urdu one fewer caught);
# read batches false alarms 39, asked 487.
# Session 17 (2026-12-07): abuse told as past and over is asked "are you safe now?" (H55; Chinese blind 18 and 20 one
# false alarm fewer each). Then training batch 6 (480 messages, Arabic, Punjabi, Urdu and Polish: crises told
# indirectly through faith, fate, duty, shame and goodbyes, and ordinary messages about God, graves, wills and
# idioms; kept before it was measured on the blind parts: on the read batches every crisis as before, false alarms
# 39 → 33, asked 487 → 470, at once 1,220 → 1,207): all blind parts 3,795 → 3,794/3,845 (Arabic, Polish, Urdu one
# fewer, Punjabi two more), at once 2,878 → 2,851, false alarms 204 → 198/3,950, asked 696 → 662. Floors moved
# where a part (blind or read) lost a crisis or asked about more; a read part's asks moved with a false alarm fewer.
# Session 15 (2026-12-06), every floor below: the languages net reads each Han character as a word (H51). Chinese
# crises answered or asked on the blind parts 417 → 445/459 (each blind part +1 to +6), Chinese asked +27 and false
# alarms +2 (blind 18, 7 → 9; read batches 6 and 10 +1 and +2); the jointly trained net shifts the other languages a
# little: asked +1 or +2 in many parts, one Urdu and one Ukrainian alarm on read batches, Punjabi blind 17 50 → 49
# caught, Romanian blind 15 48 → 49 (the floors take the new figures). Then Latin letters read without accents (H52):
# Arabic, Punjabi, Polish, Romanian +1 caught on the blind parts, asked 634 → 618, false alarms 164 → 163; on read
# batch 10 two more (Punjabi, Romanian), on batch 19 one fewer (Romanian).
# The whole pipeline on the blind part (lexicons, then the crisis net), as measured on 2026-12-04 before anything
# was tuned on it: crisis messages answered or asked about (tiers 1+2), ordinary ones alarmed on, ordinary ones asked.
# Polish asked 2 -> 3 when the English corpus gained two batches (quiet.yml, voices.yml, which the languages net
# also learns): one more Polish figurative message is asked about; one more Punjabi crisis is answered at once.
# 2026-12-05: Polish and Urdu asked 3 → 4, Punjabi and Ukrainian (blind5) 17 → 18 and 16 → 17, when the English
# corpus gained two batches (docs/clinical-safety.md, the multilingual section): recall and false alarms unchanged.
# Later the same day: Punjabi 27 → 30 caught, when romanised Punjabi, Urdu and Arabizi were also read by the net for
# other languages (latin_markers in data/i18n/). Then Ukrainian 30 → 29 caught (a message in Latin letters), when the
# English corpus gained two more batches (midconversation.yml, oblique.yml), which the languages net learns too:
# the same change caught one more Ukrainian crisis in batch 6 and one more English one in blind batch 2.
# Evening: Urdu 28 → 29 caught and asked 4 → 5 when the English corpus gained ambiguous.yml and hidden.yml
# (possible risk), which the languages net learns too; with them Polish (blind5) caught 49 → 48. All seven
# languages, caught / asked: blind 197 → 198 / 12 → 14, blind5 336 → 335 / 106, batch 6 431 / 62 → 61.
# Night: with intrusive.yml (intrusive thoughts about the baby) in the English corpus, Romanian 29 → 30 caught
# (blind); Ukrainian asked 17 → 18 (blind5) and caught 60 → 59 (batch 6, read); Punjabi and Polish asked 20 → 19 and
# 18 → 17 (blind5), Arabic 7 → 6 (batch 6). All seven: blind 198 / 5 / 14, blind5 335 / 27 / 107, batch 6 430 / 23 / 61.
# Then with plans.yml (plans and preparations, and the same words in ordinary use): Polish asked 4 → 3 (blind) and
# Ukrainian 18 → 17 (blind5). All seven: blind 198 / 5 / 13, blind5 335 / 27 / 106, batch 6 430 / 23 / 61.
# Later that night, the concept-parity pass of every lexicon (eleven concepts from batch 6's misses, written from the
# lexicon writers' own phrasings: farewell letters, "not a burden much longer", a baby blue, floppy or feverish under
# three months, pre-eclampsia signs, too much medicine, fits, violence told by a third person, forced sex, signs
# about the baby; jokes, news and TV guarded) and a decimal point no longer ending a sentence ("38.5"): Arabic
# 24 → 25 caught and Ukrainian 29 → 30; Arabic and Punjabi false alarms 1 → 0, each now asked instead (3 → 4, 0 → 1).
# All seven: blind 198 → 200 / 5 → 3 / 13 → 15, blind5 335 → 338 / 27 → 24 / 106 → 108, blind7 316 → 317 / 24 → 25 /
# 39, batch 6 (read) 430 → 448 / 23 → 10 / 61 → 64.
# 2026-12-06: the languages net learning training batch 2 (data/crisis/corpus/languages/batch2/, 1,114 messages by
# seven writers who saw no project file), every language's ask rules (tier 2) and the strong rules added with them:
# Arabic 25 → 26 caught, asked 4 → 3; Chinese 26 → 29; Urdu asked 5 → 2; Romanian asked 1 → 2 (the cost).
# All seven: blind 200 → 204 / 3 / 15 → 12, blind5 338 → 341 / 24 → 23 / 108 → 103, blind7 317 → 321 / 25 /
# 39 → 31, blind8 333 → 337 / 8 / 43 → 24, batch 6 448 / 10 / 64 → 45.
PIPELINE_BLIND_FLOOR = {"ar": (27, 0, 2), "pa": (30, 0, 1), "pl": (30, 0, 2), "ro": (30, 0, 0), "uk": (30, 0, 0),
                        "ur": (30, 1, 1), "zh": (30, 1, 1)}


# Blind batch 5 (tests/data/multilingual/blind5/, about 50 crisis and 76 ordinary messages a language, a quarter of
# the ordinary ones idioms with death or violence words), first measured 2026-12-05: the same floors' meaning.
# Later the same day, with the Latin-letter markers: Punjabi 44 → 48 caught and Urdu 45 → 50, for 2 more ordinary
# messages asked in each (18 → 20, 20 → 22): romanised messages the net for other languages now reads as well.
# With the concept-parity pass: Punjabi, Polish and Romanian 48 → 49 caught; false alarms Arabic 4 → 3, Romanian
# 3 → 1 (asked 10 → 12), Ukrainian 4 → 3, Chinese 5 → 4, and Polish 3 → 4, Urdu 3 → 4 (two ordinary messages now
# alarm, kept as the cost).
# 2026-12-06 (training batch 2, ask rules): Arabic 46 → 48 caught and Chinese 45 → 48; Punjabi 49 → 48 and Romanian
# 49 → 48 (each one crisis now neither answered nor asked: the cost); Polish false alarms 4 → 3; asked Arabic 16 → 18,
# Punjabi 19 → 15, Polish 17 → 18, Romanian 12 → 14, Ukrainian 17 → 13, Urdu 22 → 19, Chinese 5 → 6.
# With the "told as over" words (H46, 2026-12-06): false alarms 23 → 19 (Arabic, Ukrainian, Urdu, Chinese), each now asked.
PIPELINE_BLIND5_FLOOR = {"ar": (50, 2, 18), "pa": (50, 5, 20), "pl": (50, 1, 17), "ro": (49, 0, 13), "uk": (50, 2, 14),
                         "ur": (50, 3, 16), "zh": (50, 2, 18)}
# Batch 6 (tests/data/multilingual/batch6/, 64 crisis and 56 ordinary messages a language, half the ordinary ones
# idioms, news, jokes and crises long past), measured 2026-12-05 and never trained on; read, so not blind. With the
# two English batches: Arabic asked 6 → 7, Punjabi 9 → 8, Ukrainian caught 59 → 60 and asked 8 → 9; with nine
# English stage answers ("here already", "on the way") among the NLU examples, Urdu asked 11 → 12. Later, with guards
# PL-G-47, UK-G-34 and UK-G-35 (psychosis as a topic or in the past; the baby that "will kill me"): false alarms
# Polish 3 → 2 and Ukrainian 3 → 0, of which two are now asked instead (Polish 7 → 8, Ukrainian 9 → 10).
# The concept-parity pass was written from batch 6's misses (by concept, not sentence): every crisis caught, false
# alarms 23 → 10 (the ones left are mostly crises long past, which count by design), asked 61 → 64.
# 2026-12-06 (training batch 2, ask rules): asked 64 → 45 (Arabic 6 → 7 and Punjabi 9 → 11, the others fewer).
# With the batch 10 guards: false alarms Arabic 1 → 0, Urdu 4 → 3.
# With the "told as over" words (H46, 2026-12-06): false alarms 8 → 1, every one a crisis told as past
# and over, now asked (asked 45 → 51).
# Guards for a crisis told as over marked `past: true` (they stand down on a relapse word): Polish false alarms 0 → 1
# (a violent relationship long over, safe now, "sometimes the memories come back": present-tense words, kept).
PIPELINE_BATCH6_FLOOR = {"ar": (64, 0, 0), "pa": (64, 0, 1), "pl": (64, 0, 2), "ro": (64, 0, 0), "uk": (64, 0, 0),
                         "ur": (64, 0, 2), "zh": (64, 0, 1)}


# Blind batch 7 (tests/data/multilingual/blind7/, 50 crisis and about 49 ordinary messages a language, a third of the
# ordinary ones idioms, news and crises long past), by seven more writers who saw no project file, first measured
# 2026-12-05 before anything was changed for it: tiers 1+2 316/348, false alarms 24/341, asked 39/341.
# With the concept-parity pass: Arabic 44 → 45 caught, Polish false alarms 2 → 3 (answered at once: 236 → 242).
# 2026-12-06 (training batch 2, ask rules): Ukrainian 47 → 49 caught, Chinese 41 → 43, Urdu 45 → 46; Romanian
# 47 → 46 (the cost); asked 39 → 31.
# With the batch 10 guards: Arabic false alarms 2 → 1.
# With the "told as over" words (H46, 2026-12-06): false alarms 24 → 17, now asked (31 → 38).
# With batch 13's guards and rules (2026-12-06): Arabic asked 6 → 7 (one ordinary message the net now asks about).
# Session 14 (batch 19's rules and guards): Urdu false alarms 2 → 1, Polish asked 6 → 5.
# Session 20 (batch 24's rules and ask rules, measured once on every blind part, aggregate only): Arabic asked 7 → 8,
# one ordinary message a new ask rule now asks about (the safe side; no alarm).
PIPELINE_BLIND7_FLOOR = {"ar": (46, 1, 10), "pa": (48, 0, 8), "pl": (47, 1, 2), "ro": (47, 2, 9), "uk": (50, 2, 4),
                         "ur": (47, 0, 6), "zh": (48, 1, 6)}

# Blind batch 8 (tests/data/multilingual/blind8/, 50 crisis and 50 ordinary messages a language, a third of the
# ordinary ones hard negatives), by seven more writers who saw no project file, first measured 2026-12-06 before
# anything was changed for it: tiers 1+2 333/350 (13 of the 17 missed are suicide or self-harm told indirectly),
# answered at once 238/350, false alarms 8/350, asked 43/350.
# Then measured once more, after training batch 2 and the ask rules (written from a training batch's misses, never
# from this part): 333 → 337/350 (Punjabi 47 → 48, Chinese 42 → 45), answered at once 238 → 245, false alarms 8,
# asked 43 → 24.
# With the rules written from batch 16 (2026-12-06): Urdu 48 → 49.
PIPELINE_BLIND8_FLOOR = {"ar": (50, 0, 9), "pa": (48, 1, 4), "pl": (50, 1, 2), "ro": (50, 0, 5), "uk": (50, 1, 3),
                         "ur": (49, 0, 2), "zh": (49, 1, 7)}

# Blind batch 9 (tests/data/multilingual/blind9/, 50 crisis and 49-50 ordinary messages a language, texting style,
# code-switching and romanised scripts, a third of the ordinary ones hard negatives), by seven more writers who saw no
# project file, measured once 2026-12-06 (after the ask rules and the H43/H44 fixes): tiers 1+2 334/350, answered at
# once 232/350, false alarms 23/348 (22 of them a lexicon's strong rule), asked 36/348.
# Then the batch 10 guards (below) and every language's guards applying to every language's hits: Punjabi false
# alarms 6 → 4 (romanised messages that Urdu rules had read); nothing else moved.
# With the "told as over" words (H46, 2026-12-06): false alarms 21 → 19 (Punjabi, Ukrainian), asked
# 36 → 39 (one a Chinese ordinary message that guard ZH-G-05, narrowed to stop silencing a person's own past crisis,
# no longer cancels).
# With the Chinese rules from batch 14 (2026-12-06): Chinese 44 → 45.
# With the guards narrowed after a red-team review (2026-12-06; each had silenced crises written to probe it): Punjabi
# false alarms 3 → 5 (what those guards had cancelled; not read).
PIPELINE_BLIND9_FLOOR = {"ar": (49, 2, 6), "pa": (47, 1, 5), "pl": (50, 3, 4), "ro": (49, 0, 3), "uk": (49, 2, 2),
                         "ur": (47, 3, 3), "zh": (50, 0, 4)}


# Batch 10 (tests/data/multilingual/batch10/, hard cases: 75 ordinary messages with crisis words and 25 crises in
# everyday words a language), by seven more writers who saw no project file; read by the lexicon writers, never
# learned by the net. Measured first 2026-12-06: crises answered or asked 173/175, ordinary given the alarm 110/525,
# asked 137/525. Then seven lexicon writers (copies without any blind set) wrote guards by concept for what a strong
# rule alarmed on (idioms, jokes, films and news, sport and games, service questions for a course or a job, a crisis
# clearly over told in one sentence), and every language's guards now apply to every language's hits: alarms
# 110 → 27, asked 137 → 164 (the net asks about some of what no longer alarms), crises 173/175 unchanged. The same
# changes moved the other parts only this way: false alarms blind7 25 → 24 (Arabic), blind9 23 → 21 (Punjabi),
# batch 6 10 → 8 (Arabic, Urdu).
# With the "told as over" words (H46, 2026-12-06): alarms 27 → 14, asked 164 → 176; with the
# Arabic rules widened (Moroccan "baghya", Iraqi "maku", an ex "living where") crises 173 → 175/175.
# With the `past: true` guards: Punjabi false alarms 5 → 6 (a bleed at a past birth, "the body is fine, but the
# memories sometimes come back": the "fine ... but" turn stands the guard down; kept, the safe side).
# With batch 13's guards (2026-12-06): Punjabi alarms 6 → 4 (an ex's violence told as two years over, an interview
# question quoting a mother), asked 34 → 35.
# The red-team passes and the ellipsis read as a pause (2026-12-06, session 13): Arabic alarms 2 → 1, asked 15 → 16.
# Session 18: the role guards (H56): a Romanian Rape Crisis trainee is asked by the net, not alarmed (alarms 5 → 4,
# asked 24 → 25); Punjabi alarms 5 → 4 (the nursing-course project on self-harm).
PIPELINE_BATCH10_FLOOR = {"ar": (25, 0, 0), "pa": (25, 3, 5), "pl": (25, 1, 1), "ro": (25, 1, 2), "uk": (25, 0, 1),
                          "ur": (25, 0, 3), "zh": (25, 0, 0)}

# Blind batch 11 (tests/data/multilingual/blind11/, 50 crisis and 50 ordinary messages a language, many of two to four
# sentences with the crisis among ordinary details, and messages by a family member), by seven more writers who saw
# no project file; measured 2026-12-06 once before the "told as over" words (H46) and once after, aggregate only:
# tiers 1+2 336/350 both times, answered at once 223 → 222 (one Polish crisis now asked instead), false alarms
# 10 → 9/350, asked 44 → 45. Missed: suicide or self-harm 9, abuse 4, harm to the baby 1; Chinese 43/50.
# With the rules written from batch 16 (2026-12-06): Chinese 43 → 44.
PIPELINE_BLIND11_FLOOR = {"ar": (50, 3, 7), "pa": (50, 0, 3), "pl": (50, 1, 6), "ro": (49, 0, 4), "uk": (50, 1, 3),
                          "ur": (48, 1, 2), "zh": (49, 1, 5)}

# Blind batch 12 (tests/data/multilingual/blind12/, 50 crisis and 50 ordinary messages a language, written as at
# night or at the end of a long day, near the boundary: crises said indirectly, heavy ordinary messages), by seven
# more writers who saw no project file; measured 2026-12-06, aggregate only, before and after that day's changes
# (question marks, the danda, five lexicon gaps), the same both times: tiers 1+2 346/350, at once 265, false alarms
# 15/350 (every one a lexicon rule), asked 76/350. Missed: suicide or self-harm 3, sexual violence 1, all Chinese.
# Measured again after batch 13's guards and rules: Arabic false alarms 1 → 2 (the widened Arabic rules; not read).
# And after the Chinese rules from batch 14: Chinese 46 → 47 (at once 33 → 35), no false alarm added.
PIPELINE_BLIND12_FLOOR = {"ar": (50, 1, 15), "pa": (50, 0, 15), "pl": (50, 1, 9), "ro": (50, 3, 9), "uk": (50, 4, 12),
                          "ur": (50, 1, 5), "zh": (50, 4, 3)}
# With the red-team passes (session 13): Chinese false alarms 4 → 5, from the new rule ZH-SSH-58 (smothering or
# strangling oneself); two narrowings by concept (闷死/焗死 also mean bored or roasting to death; 焗住自己 is forcing
# oneself) did not remove it, and narrowing again by looking at the outcome would tune the rule to a blind message.
# Batch 13 (tests/data/multilingual/batch13/, hard cases: 80 ordinary messages that look like a crisis and 20 crises
# in everyday words a language), by seven more writers who saw no project file; read by the lexicon writers, never
# learned by the net. Measured first 2026-12-06: crises 139/140, ordinary given the alarm 46/560, asked 92. Then seven
# lexicon writers (copies without any blind set) wrote guards by concept (idioms, grief, films and news, volunteers
# and professionals, first-aid courses, a fever already seen by a GP, an ex's violence long over) and widened a few
# rules: crises 140/140, alarms 13/560 (six are the English rule for any mention of Rape Crisis, kept by design),
# asked 105.
PIPELINE_BATCH13_FLOOR = {"ar": (20, 0, 1), "pa": (20, 0, 1), "pl": (20, 0, 3), "ro": (20, 0, 1), "uk": (20, 0, 2),
                          "ur": (20, 1, 1), "zh": (20, 0, 1)}
# Batch 14, Chinese only (tests/data/multilingual/batch14/zh.yml: 140 crises in everyday, indirect and slang words,
# 60 ordinary messages near the boundary), by two more writers who saw no project file; read by the Chinese lexicon
# writer, never learned by the net. Measured first 2026-12-06: crises answered or asked 114/140 (at once 79), false
# alarms 7/60. After rules, ask rules and guards by concept: 140/140 (at once 98), 0/60, asked 8.
PIPELINE_BATCH14_FLOOR = {"zh": (140, 0, 1)}
# Blind batch 15 (tests/data/multilingual/blind15/, 50 crisis and 50 ordinary messages a language, written as first
# messages to a service: minimised, buried in a practical request, about someone else, an answer to a question), by
# seven more writers who saw no project file; measured 2026-12-06, aggregate only, before and after the rules from
# batch 16: tiers 1+2 343/350 both times, at once 269 → 274, false alarms 22/350 (every one a lexicon rule of the
# message's own language but one), asked 85/350. Missed: suicide or self-harm 5, abuse 2. With the guards narrowed
# after the red-team review: Punjabi false alarms 5 → 6.
PIPELINE_BLIND15_FLOOR = {"ar": (49, 1, 10), "pa": (50, 4, 15), "pl": (50, 0, 7), "ro": (50, 2, 14), "uk": (50, 1, 15),
                          "ur": (50, 1, 11), "zh": (50, 1, 17)}
# Batch 16 (tests/data/multilingual/batch16/: Arabic, Punjabi, Urdu and Chinese, the languages that missed most crises
# told indirectly on the blind parts: 60 crises said indirectly and 40 ordinary messages close to them a language), by
# four more writers who saw no project file; read by the lexicon writers, never learned by the net. Measured first
# 2026-12-06: crises answered or asked 207/240 (at once 100), false alarms 15/160. After rules, ask rules and guards
# by concept: 240/240 (at once 198), 0/160, asked 43 (nearly all by the net, which a lexicon guard does not quiet).
PIPELINE_BATCH16_FLOOR = {"ar": (60, 0, 1), "pa": (60, 0, 3), "ur": (60, 0, 1), "zh": (60, 0, 1)}
# Blind batch 17 (tests/data/multilingual/blind17/, 50 crisis and 50 ordinary messages a language, typed as on a phone
# late at night in the middle of a conversation: fragments, run-on thoughts, "..." pauses, typos, emoji, English
# words), by seven more writers who saw no project file; measured 2026-12-06, aggregate only, on the tree before the
# session (cf74a8d): tiers 1+2 336/350, at once 242, false alarms 18/350, asked 73; with the ellipsis read as a pause:
# 337/350 (Chinese 42 → 43), at once 243; with the red-team passes: at once 244. Missed: suicide or self-harm 6,
# abuse 3, harm to the baby 2, sexual violence 2 (Chinese 7 of the 13).
# Session 14: with the two-step rules and batch 19's guards, Ukrainian false alarms 2 → 1, at once 244 → 246.
# Session 18 (role guards, abuse told as over, H55, H56): one Chinese alarm is now a question (alarms 2 → 1, asked
# 14 → 15).
PIPELINE_BLIND17_FLOOR = {"ar": (49, 2, 14), "pa": (50, 5, 17), "pl": (50, 0, 9), "ro": (50, 3, 5), "uk": (50, 0, 11),
                          "ur": (50, 3, 11), "zh": (50, 1, 11)}
# Blind batch 18 (tests/data/multilingual/blind18/, 30 crisis and 30 ordinary messages a language, each two or three
# sentences whose meaning only comes together across them: a context, then what the writer means), by seven more
# writers who saw no project file; measured 2026-12-06 (session 14), aggregate only, on the tree before the session
# (b0aa38f) and after the ">>" rules: identical, tiers 1+2 204/210, at once 125, false alarms 31/210, asked 83. The
# fresh two-step crises were worded otherwise than the rules written for the concept. After batch 19's rules and
# guards (a read set of the same shape): at once 126 (Romanian +1, Ukrainian +2, Urdu 25 → 23: two Urdu crises now
# asked; not looked at), false alarms 29/210 (Punjabi 6 → 4), asked 83. Missed: suicide
# or self-harm 4, abuse 1, medical 1 (Chinese 5 of the 6). Most false alarms are a rule reading the frightening first
# sentence alone. Session 17: abuse told as past and over is asked "are you safe now?" (H55): Chinese false alarms
# 7 → 6, asked 7 → 8. Session 18 (abuse told as over in every language, H55): one Urdu alarm is now a question
# (alarms 4 → 3, asked 9 → 10).
PIPELINE_BLIND18_FLOOR = {"ar": (30, 2, 10), "pa": (30, 2, 9), "pl": (30, 2, 10), "ro": (30, 0, 6), "uk": (30, 1, 11),
                          "ur": (30, 1, 8), "zh": (30, 3, 8)}
# Blind batch 20 (tests/data/multilingual/blind20/, 30 crisis and 30 ordinary messages a language, a general mix of one
# to three sentences as people text), by seven more writers who saw no project file; measured 2026-12-07 (session 15),
# aggregate only, on the tree before the session (1785e6a): 200/210 answered or asked, at once 170, false alarms
# 13/210, asked 23; after the nets read Chinese by character and Latin letters without accents and Chinese is read in
# one script: 202/210 (Chinese 28 → 30), at once 171, false alarms 14/210 (Polish +1), asked 22. Missed: suicide or
# self-harm 5 (Polish 3, Punjabi 2), harm to the baby 2, medical 1. Session 17: abuse told as past and over is
# asked "are you safe now?" (H55): Chinese false alarms 3 → 2, asked 4 → 5.
PIPELINE_BLIND20_FLOOR = {"ar": (29, 1, 3), "pa": (30, 2, 2), "pl": (30, 0, 3), "ro": (30, 2, 1), "uk": (30, 1, 4),
                          "ur": (30, 1, 2), "zh": (30, 1, 5)}
# Blind batch 21 (tests/data/multilingual/blind21/, the same brief as blind 20), by seven more writers who saw no
# project file; measured 2026-12-07 (session 16), aggregate only, on the tree before the session (8dd617c): 207/210
# answered or asked, at once 163, false alarms 10/210, asked 27; after training batch 3 and the new operating points:
# 209/210, at once 166, false alarms 10/210, asked 33; with training batch 4: 210/210, at once 167, asked 31.
PIPELINE_BLIND21_FLOOR = {"ar": (30, 0, 2), "pa": (30, 1, 6), "pl": (30, 0, 3), "ro": (30, 0, 1), "uk": (30, 0, 3),
                          "ur": (30, 2, 2), "zh": (30, 2, 1)}
# Blind batch 22 (tests/data/multilingual/blind22/, the same brief again), by seven more writers who saw no project
# file, written after training batches 3 to 5, four exact repeats of earlier sets removed (Punjabi, Urdu, Chinese 2);
# measured once on the session's start (8dd617c) and once now, aggregate only: 207/208 answered or asked both times,
# at once 163 → 162, false alarms 12/208 both times, asked 18 → 22.
PIPELINE_BLIND22_FLOOR = {"ar": (30, 0, 2), "pa": (30, 1, 4), "pl": (30, 0, 3), "ro": (30, 1, 1), "uk": (30, 1, 3),
                          "ur": (30, 0, 5), "zh": (28, 3, 1)}
# Batch 19 (tests/data/multilingual/batch19/, 40 crisis and 40 ordinary two-step messages a language, the same brief as
# blind 18 but read), by seven more writers who saw no project file; read by the lexicon writers, never learned by the
# net. Measured first 2026-12-06: crises answered or asked 271/280 (at once 157), false alarms 57/280, asked 99. After
# rules (mostly ">>": the context, then the crisis) and guards by concept (someone else's suicide told as news or
# grief, a violent past clearly over, a joke after the baby's mischief, information for someone else): 280/280 (at
# once 267), 5/280, asked 127 (the net asks about much of what no longer alarms).
PIPELINE_BATCH19_FLOOR = {"ar": (40, 0, 1), "pa": (40, 0, 2), "pl": (40, 1, 2), "ro": (40, 0, 1), "uk": (40, 0, 0),
                          "ur": (40, 0, 3), "zh": (40, 0, 3)}
# Batch 23 (tests/data/multilingual/batch23/, 40 crises and 60 ordinary messages close to them a language, a general
# mix; seven exact repeats of earlier sets or of training data removed), by seven more writers who saw no project
# file; read by the lexicon writers, never learned by the net. Measured first 2026-12-07 (session 19): crises
# answered or asked 277/280 (at once 226), false alarms 14/413 (most of them a joking threat over an everyday
# annoyance, "this teething will kill me", or a past death wish told as over), asked 75. After rules, guards and
# `over` words by concept: 280/280 (at once 278), 1/413 (a Punjabi joke the net reads as abuse), asked 78.
PIPELINE_BATCH23_FLOOR = {"ar": (40, 0, 0), "pa": (40, 0, 0), "pl": (40, 0, 2), "ro": (40, 0, 0), "uk": (40, 0, 0),
                          "ur": (40, 0, 1), "zh": (40, 0, 2)}
# Batch 24 (tests/data/multilingual/batch24/, crises said indirectly: 40 crises, 20 of them suicide or self-harm told in
# everyday, religious or cultural words, 7 sexual violence without the word, and 60 ordinary messages close to them a
# language), by seven more writers who saw no project file; read by the lexicon writers, never learned by the net.
# Measured first 2026-12-07 (session 20): crises answered or asked 275/280 (at once 168; 32 of 49 sexual-violence
# messages were only asked the suicide question), false alarms 17/420, asked 116. After rules, ask rules, guards and
# `over` words by concept: 280/280 (at once 263), 3/420 (three the languages net reads as abuse), asked 125.
PIPELINE_BATCH24_FLOOR = {"ar": (40, 0, 1), "pa": (40, 0, 4), "pl": (40, 0, 2), "ro": (40, 0, 1), "uk": (40, 0, 3),
                          "ur": (40, 0, 2), "zh": (40, 0, 3)}
# Read batch 25 (ordinary messages that sound like a crisis: death words as idioms or jokes, family arguments, routine
# health questions, a frustrated parent, someone else's story; and crises in the same everyday words: 70 and 30 a
# language, Romanian 29 after one exact repeat of an earlier set was dropped). Measured first 2026-12-07 (session 21):
# crises answered or asked 208/209 (at once 167), false alarms 41/490, asked 175. After guards, narrowed rules and
# rules by concept: 209/209 (all at once), 6/490 (six the languages net reads as an emergency), asked 185.
PIPELINE_BATCH25_FLOOR = {"ar": (30, 0, 0), "pa": (30, 0, 0), "pl": (30, 0, 1), "ro": (29, 0, 0), "uk": (30, 0, 0),
                          "ur": (30, 0, 0), "zh": (30, 0, 1)}
# Read batch 26 (crises in everyday words: a wish to die in a joke, a practical question or a goodbye, sexual violence
# and abuse without the textbook words, a parent who nearly hurt the baby; and ordinary messages about health, the
# baby's care and tired minds: 50 and 50 a language). Measured first 2026-12-08 (session 24), by a net that had not
# learned it: crises answered or asked 343/350 (at once 245), false alarms 25/350 (24 from the lexicons: a faint told
# as over, blue lips from blueberries, epilepsy on a form), asked 85. After guards and rules by concept: 350/350 (at
# once 324), 1/350 (the languages net), asked 96. Then learned by the net (session 24, below).
PIPELINE_BATCH26_FLOOR = {"ar": (50, 0, 0), "pa": (50, 0, 1), "pl": (50, 0, 3), "ro": (50, 0, 1), "uk": (50, 0, 1),
                          "ur": (50, 0, 2), "zh": (50, 0, 3)}

# Session 22 (2026-12-07), every floor above set to what was measured: an alarm that only another language's lexicon
# raised, about suicide or abuse, in a message of 15 words or more that the languages net reads as ordinary (risk
# below 0.2) is asked instead (H58). The read batches: at once 1,975 → 1,972 of 2,192, false alarms 31 → 28/3,300,
# asked 861 → 864. Every blind part (aggregate): answered or asked 3,795/3,845 unchanged, at once 2,897 → 2,895,
# false alarms 187 → 132/3,950, asked 666 → 721.
# Session 23 (2026-12-07), every floor above set to what was measured: the languages net learns the read batches too,
# asks from P 0.3 and doubts a lexicon's alarm below 0.15 (H59; the points set with one read batch left out at a
# time). The read batches' floors are now figures on data the net learned (false alarms 28 → 7/3,300, asked 864 →
# 71): they guard the lexicons, not the net. Every blind part (aggregate, measured once after the choice): answered or
# asked 3,795 → 3,805/3,845, at once 2,895 → 2,930, false alarms 132 → 114/3,950, asked 721 → 618; every language
# the same or more crises answered or asked but Romanian (546 → 544/549, the cost).
# Session 24 (2026-12-08), every floor above set to what was measured: the lexicons fixed by concept from read batch
# 26, which the languages net then learned. Every blind part (aggregate, measured once): answered or asked 3,805 →
# 3,807/3,845, at once 2,930 → 2,942, false alarms 114/3,950 unchanged (Urdu 15 → 17, the cost; Punjabi and
# Ukrainian one fewer each), asked 618 → 611.
@pytest.mark.parametrize("code", sorted(REQUIRED_LANGUAGES))
def test_the_pipeline_answers_or_asks_about_crises_in_each_language_no_worse_than_measured(code):
    figures = evaluation.evaluate_pipeline(code)
    for part, floor in (("blind", PIPELINE_BLIND_FLOOR), ("blind5", PIPELINE_BLIND5_FLOOR),
                        ("blind7", PIPELINE_BLIND7_FLOOR), ("blind8", PIPELINE_BLIND8_FLOOR),
                        ("blind9", PIPELINE_BLIND9_FLOOR), ("blind11", PIPELINE_BLIND11_FLOOR),
                        ("blind12", PIPELINE_BLIND12_FLOOR), ("blind15", PIPELINE_BLIND15_FLOOR),
                        ("blind17", PIPELINE_BLIND17_FLOOR), ("blind18", PIPELINE_BLIND18_FLOOR),
                        ("blind20", PIPELINE_BLIND20_FLOOR), ("blind21", PIPELINE_BLIND21_FLOOR),
                        ("blind22", PIPELINE_BLIND22_FLOOR),
                        ("batch6", PIPELINE_BATCH6_FLOOR),
                        ("batch10", PIPELINE_BATCH10_FLOOR), ("batch13", PIPELINE_BATCH13_FLOOR),
                        ("batch14", PIPELINE_BATCH14_FLOOR), ("batch16", PIPELINE_BATCH16_FLOOR),
                        ("batch19", PIPELINE_BATCH19_FLOOR), ("batch23", PIPELINE_BATCH23_FLOOR),
                        ("batch24", PIPELINE_BATCH24_FLOOR), ("batch25", PIPELINE_BATCH25_FLOOR),
                        ("batch26", PIPELINE_BATCH26_FLOOR)):
        if code not in floor:  # batch 14 is Chinese only, batch 16 four languages
            continue
        caught, alarms, asked = floor[code]
        found = _counts(figures[part])  # numbers only: a failure must not print the blind parts' messages
        assert found[0] >= caught and found[1] <= alarms and found[2] <= asked, (code, part, found)


def _counts(figures: evaluation.Figures) -> tuple[int, int, int]:
    """Caught, false alarms, asked: plain numbers, so pytest's report of a failed assert shows no message."""
    return int(figures.caught), int(figures.false_alarms), int(figures.asked)


def test_an_ask_rule_matches_as_an_ask_is_cancelled_by_a_guard_and_only_asks_about_suicide_or_the_baby():
    from bot.crisis import CATEGORIES
    from bot.language.lexicon import Lexicon, PatternError
    spec = {"rules": [{"id": "XX-SSH-01", "category": "suicide_self_harm", "patterns": ["chce umrzec"]}],
            "ask_rules": [{"id": "XX-ASK-01", "category": "suicide_self_harm", "patterns": ["nie bede tu"]}],
            "guards": [{"id": "XX-G-01", "patterns": ["nie bede tu ...3 wakacje|urlop"]}]}
    lexicon = Lexicon("xx", spec, fold_marks=True, characters=False, categories=CATEGORIES)
    [hit], _ = lexicon.hits("O ktorej grupa? Nie będę tu już wtedy")
    assert (hit.rule, hit.asks) == ("XX-ASK-01", True)
    [hit], _ = lexicon.hits("chce umrzec")
    assert (hit.rule, hit.asks) == ("XX-SSH-01", False)
    assert lexicon.hits("nie bede tu w sierpniu bo wakacje")[0] == []
    for category in ("medical_emergency", "abuse_danger"):
        with pytest.raises(PatternError):
            Lexicon("xx", {"ask_rules": [{"id": "XX-ASK-02", "category": category, "patterns": ["x y"]}]},
                    fold_marks=True, characters=False, categories=CATEGORIES)


def test_a_guard_cancels_what_shares_its_words_never_a_crisis_sitting_in_its_gap_or_around_it():
    """A guard with a wide gap ("maternity leave ends ...10 say goodbye") spans whatever is written between its
    words, and a long hit ("the baby ...8 strangle") spans a simile a guard covers: a guard cancels the hits it
    shares a matched word with, never one that only sits in its gap or holds it in its own gap."""
    from bot.crisis import CATEGORIES
    from bot.language.lexicon import Lexicon
    spec = {"rules": [{"id": "XX-SSH-01", "category": "suicide_self_harm", "patterns": ["chce umrzec"]},
                      {"id": "XX-ASK-01", "category": "suicide_self_harm", "patterns": ["powiem do widzenia"]}],
            "guards": [{"id": "XX-G-01", "patterns": ["urlop ...10 do widzenia"]}]}
    for fold_marks, characters in ((True, False), (False, True)):
        lexicon = Lexicon("xx", spec, fold_marks=fold_marks, characters=characters, categories=CATEGORIES)
        found, guards = lexicon.hits("urlop sie konczy, chce umrzec, powiem wszystkim do widzenia")
        assert [g.rule for g in guards] == ["XX-G-01"] and [h.rule for h in found] == ["XX-SSH-01"]
        assert lexicon.hits("urlop sie konczy, powiem do widzenia")[0] == []  # its words touch the ask rule
    # ...and the other way round: a guard inside a longer hit's gap cancels only what shares its words.
    spec = {"rules": [{"id": "XX-HTB-01", "category": "harm_to_baby", "patterns": ["dziecko ...10 udusic"]},
                      {"id": "XX-HTB-02", "category": "harm_to_baby", "patterns": ["jakby ktos go mordowal"]}],
            "guards": [{"id": "XX-G-02", "patterns": ["krzyczy jakby ktos go mordowal"]}]}
    lexicon = Lexicon("xx", spec, fold_marks=True, characters=False, categories=CATEGORIES)
    found, _ = lexicon.hits("dziecko krzyczy jakby ktos go mordowal a ja chce je udusic")
    assert [h.rule for h in found] == ["XX-HTB-01"]
    assert lexicon.hits("dziecko krzyczy jakby ktos go mordowal przy kapieli")[0] == []
    zh = language.get("zh").lexicon
    assert [h.category for h in zh.hits("产假结束了，我想死，跟大家说再见")[0] if not h.asks] == ["suicide_self_harm"]
    # Arabic, found by its lexicon writer: the simile alone is guarded (AR-G-78), the urge around it is not.
    assert language.crisis_signals("بنتي بتصرخ كأن حد بيدبحها كل ما أغسل شعرها") == ()
    assert {s.category for s in language.crisis_signals("البيبي بيصرخ كأن حد بيدبحه وأنا بدي اخنقه")} == {"harm_to_baby"}


def test_a_then_gap_crosses_a_sentence_end_and_a_guard_on_its_context_alone_cancels_nothing():
    """A crisis is often told in two sentences: what happened, then the wish ("The neighbour killed herself. I want
    the same."). A ">>" gap crosses sentence ends (a "..." gap never does); the words before it are the context, so
    a guard for a story about a suicide, which reads them too, doesn't cancel the wish after it. A guard on the wish
    itself still does."""
    from bot.crisis import CATEGORIES
    from bot.language.lexicon import Lexicon, PatternError, compile_pattern, find, tokenize
    spec = {"rules": [{"id": "XX-SSH-01", "category": "suicide_self_harm",
                       "patterns": ["sinucis >>6 vreau ...2 la fel"]}],
            "guards": [{"id": "XX-G-01", "patterns": ["film ...4 sinucis"]},
                       {"id": "XX-G-02", "patterns": ["la fel ...2 rochie"]}]}
    lexicon = Lexicon("xx", spec, fold_marks=True, characters=False, categories=CATEGORIES)
    for text in ("Vecina s-a sinucis. Vreau și eu la fel.", "am vazut un film in care s-a sinucis. vreau si eu la fel",
                 "s-a sinucis! ... eu vreau la fel"):
        assert [h.rule for h in lexicon.hits(text)[0]] == ["XX-SSH-01"], text
    assert lexicon.hits("in film s-a sinucis. vreau la fel rochie")[0] == []  # the guard on the wish cancels
    assert lexicon.hits("s-a sinucis. unu doi trei patru cinci sase sapte. vreau la fel")[0] == []  # too far
    tokens = tokenize("nu vreau. la fel", fold_marks=True, characters=False)
    assert not any(find(compile_pattern("vreau ...3 la fel", True, False), tokens))
    assert any(find(compile_pattern("vreau >>3 la fel", True, False), tokens))
    with pytest.raises(PatternError):
        compile_pattern("vreau la fel >>3", True, False)
    zh = Lexicon("xx", {"rules": [{"id": "XX-SSH-02", "category": "suicide_self_harm", "patterns": ["自杀 >>8 我也想"]}],
                        "guards": [{"id": "XX-G-03", "patterns": ["电影 ...6 自杀"]}]},
                 fold_marks=False, characters=True, categories=CATEGORIES)
    assert [h.rule for h in zh.hits("看了一个电影，女主自杀了。我也想")[0]] == ["XX-SSH-02"]


def test_every_languages_guards_apply_to_every_languages_rules(monkeypatch):
    """Romanised Urdu and Punjabi share most words: a Punjabi message about a film is read by Urdu rules too, and the
    Punjabi guard for films must cancel those hits, as an Urdu guard would. A guard still cancels only what its
    words touch."""
    from types import SimpleNamespace
    from bot.crisis import CATEGORIES
    from bot.language.lexicon import Lexicon

    def lexicon(code, spec):
        return SimpleNamespace(code=code, lexicon=Lexicon(code, spec, fold_marks=True, characters=False,
                                                          categories=CATEGORIES))
    urdu = lexicon("ur", {"rules": [{"id": "UR-SSH-X", "category": "suicide_self_harm", "patterns": ["khudkushi"]}]})
    punjabi = lexicon("pa", {"guards": [{"id": "PA-G-X", "patterns": ["film ...3 jis vich ...4 khudkushi"]}]})
    monkeypatch.setattr(language, "languages", lambda: {"ur": urdu, "pa": punjabi})
    language._reading.cache_clear()
    try:
        assert language.crisis_signals("ik film dekhi jis vich heroine khudkushi kardi") == ()
        assert [s.rule for s in language.crisis_signals("main khudkushi bare sochdi haan")] == ["UR-SSH-X"]
    finally:
        language._reading.cache_clear()


def test_another_languages_guard_cancels_the_english_hit_on_a_word_it_read_and_no_other():
    """Romanised Urdu uses English words ("self-harm"); the English rule reads them, and the Urdu guard for self-harm
    long over (UR-G-65, `past: true`) cancels that hit as it would an Urdu one. A relapse stands the guard down, and an
    English crisis on other words is never touched."""
    from bot import crisis
    past = "College ke zamane mein self-harm karti thi, ab 10 saal ho gaye"
    assert crisis.detect_all(past) == []
    assert [s.rule for s in crisis.detect_all(past + ", lekin kal raat phir se kiya")] == ["SSH-05"]
    assert [s.rule for s in crisis.detect_all(past + ". I want to die")] == ["SSH-03"]  # other words stand
    assert [s.rule for s in crisis.detect_all("main self-harm karti hun")] == ["SSH-05"]


def test_another_languages_guard_never_cancels_an_english_hit_in_an_english_message():
    """An Urdu guard written in romanised words can read English ones: UR-G-66, a joke about being killed for being
    late to a party, reads "late ... kill ... party". In a message identified as English, with no sign of another
    language, it must not cancel the English rule: this one was silenced by it once (found in review, 2026-12-06)."""
    from bot import crisis
    english = "I'm late again and honestly I want to kill myself, the party is tonight"
    assert language.guarded_words(english)  # the Urdu guard does read it
    assert [s.rule for s in crisis.detect_all(english)] == ["SSH-04"]
    joke = "late hui to saas maar dalegi, aaj ghar pe dawat hai"  # romanised Urdu: the guard still applies there
    assert crisis.detect_all(joke) == []


def test_ask_rules_ask_in_the_pipeline_but_are_never_crisis_signals():
    """Every language's ask-rule examples: asked about by the lexicon layer (bot.crisis.analyse), never a signal of
    their own (the alarm rests on the strong rules)."""
    from bot import crisis
    for lang in language.languages().values():
        for rule in lang.lexicon.ask_rules:
            for example in rule.examples:
                analysis = crisis.analyse(example)
                assert any(s.rule == rule.id for s in analysis.asks), (lang.code, rule.id)
                assert all(s.rule != rule.id for s in analysis.signals), (lang.code, rule.id)


def test_chinese_is_read_in_one_script_so_an_entry_in_either_reads_both():
    """H53: a rule written in simplified characters reads the same words in traditional ones, and the reverse;
    a Cantonese character whose simplified form is a rare one (嗰 → 𠮶) stays as typed."""
    from bot.crisis import CATEGORIES
    from bot.language.lexicon import Lexicon, tokenize
    spec = {"rules": [{"id": "XX-SSH-01", "category": "suicide_self_harm", "patterns": ["想 ...2 杀死 自己"]},
                      {"id": "XX-SSH-02", "category": "suicide_self_harm", "patterns": ["輕鬆 ...3 結束"]}],
            "guards": [{"id": "XX-G-01", "patterns": ["游戏 ...4 杀死"]}]}
    lexicon = Lexicon("xx", spec, fold_marks=False, characters=True, categories=CATEGORIES)
    assert [h.rule for h in lexicon.hits("我真想殺死自己")[0]] == ["XX-SSH-01"]
    assert [h.rule for h in lexicon.hits("好想轻松地结束一切")[0]] == ["XX-SSH-02"]
    matched, guards = lexicon.matches("遊戲裏我想殺死自己的角色")
    assert [h.rule for h in matched] == ["XX-SSH-01"] and [g.rule for g in guards] == ["XX-G-01"]
    assert lexicon.hits("遊戲裏我想殺死自己的角色")[0] == [], "the guard reads traditional too"
    assert [t.text for t in tokenize("嗰陣", False, True)] == ["嗰", "阵"]
    assert [t.text for t in tokenize("殺", False, True)] == [t.text for t in tokenize("杀", False, True)]


def test_every_chinese_rule_example_still_matches_when_typed_in_the_other_script():
    """The zh rules' examples converted character by character to the other script (OpenCC's tables) match their
    rule as written: a Hong Kong or Taiwan parent is read as a mainland one (H53)."""
    from importlib import resources

    from bot import language

    def table(name: str) -> dict[str, str]:
        text = resources.files("opencc").joinpath(f"dictionary/{name}").read_text(encoding="utf-8")
        return {a: b.split()[0] for a, _, b in (line.partition("\t") for line in text.splitlines())
                if len(a) == 1 and b.split() and ord(b.split()[0][0]) <= 0xFFFF}  # nobody types 𠮶 for 嗰

    to_traditional, to_simplified = table("STCharacters.txt"), table("TSCharacters.txt")
    lexicon = language.get("zh").lexicon
    checked = 0
    for rule in lexicon.rules + lexicon.ask_rules:
        for example in rule.examples:
            for convert in (to_traditional, to_simplified):
                other = "".join(convert.get(ch, ch) for ch in example)
                if other != example:
                    checked += 1
                    assert lexicon.rule_hits(rule, other), (rule.id, other)
    assert checked > 200


def test_without_the_character_table_chinese_is_read_as_typed_and_nothing_fails(monkeypatch, caplog):
    """A broken install (OpenCC's table missing) must not switch the Chinese lexicon off: characters are read as typed."""
    from importlib import resources

    from bot.language import han, lexicon

    def missing(package):
        raise ModuleNotFoundError(package)

    monkeypatch.setattr(resources, "files", missing)
    han._table.cache_clear()
    lexicon._fold.cache_clear()
    lexicon._tokenize.cache_clear()
    try:
        assert [t.text for t in lexicon.tokenize("殺了", False, True)] == ["殺", "了"]
        assert "character table could not be read" in caplog.text
    finally:
        monkeypatch.undo()
        han._table.cache_clear()
        lexicon._fold.cache_clear()
        lexicon._tokenize.cache_clear()
    assert [t.text for t in lexicon.tokenize("殺了", False, True)] == ["杀", "了"]
