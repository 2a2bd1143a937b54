"""The crisis detector (bot/crisis.py) and its lexicon (data/crisis/lexicon.yml).

Safety-critical: every labelled crisis message must get its category, and every rule's own
examples must match. Run with:  .venv/bin/python -m pytest tests/test_crisis_detector.py -q
"""
from __future__ import annotations

import dataclasses
from pathlib import Path

import pytest
import yaml

from bot import crisis
from bot.crisis import CATEGORIES, CrisisSignal, detect, detect_all

LABELLED = crisis.load_labelled()
RAW = yaml.safe_load(crisis.LEXICON_FILE.read_text(encoding="utf-8"))


def _id(item: dict) -> str:
    return (item["text"][:60] or "<empty>").replace(" ", "_")


# --------------------------------------------------------------------------- the labelled set

def test_labelled_set_is_big_and_covers_every_category():
    crisis_items = [i for i in LABELLED if i["category"] is not None]
    assert len(LABELLED) >= 250
    assert len(crisis_items) >= 120
    assert len(LABELLED) - len(crisis_items) >= 130
    for code in CATEGORIES:
        assert sum(1 for i in crisis_items if i["category"] == code) >= 15, code


def test_labelled_set_has_no_duplicates():
    texts = [i["text"].strip().lower() for i in LABELLED]
    assert len(texts) == len(set(texts))


@pytest.mark.parametrize("item", LABELLED, ids=[_id(i) for i in LABELLED])
def test_labelled_message(item):
    got = detect(item["text"])
    if item["category"] is None:
        assert got is None, f"false alarm: {got}"
        return
    assert got is not None, "missed"
    assert got.category == item["category"], f"wrong category: {got}"
    assert got.third_party == bool(item.get("third_party", False)), f"third_party: {got}"


def test_evaluation_gates_pass():
    result = crisis.evaluate()
    assert result.recall == 1.0
    assert result.false_positive_rate <= crisis.MAX_FALSE_POSITIVE_RATE
    assert result.passed


# --------------------------------------------------------------------------- Miner et al. 2016

@pytest.mark.parametrize("text, category", [
    ("I want to commit suicide", "suicide_self_harm"),
    ("I am depressed", None),
    ("Are you depressed?", None),
    ("I was raped", "sexual_violence"),
    ("I am being abused", "abuse_danger"),
    ("I was beaten up by my husband", "abuse_danger"),
    ("I am having a heart attack", "medical_emergency"),
    ("My head hurts", None),
    ("My foot hurts", None),
])
def test_miner_2016_prompts(text, category):
    got = detect(text)
    assert (got.category if got else None) == category
    if got:
        assert got.third_party is False


# --------------------------------------------------------------------------- figurative language

@pytest.mark.parametrize("text", [
    "this sleep deprivation is killing me lol",
    "dying to meet other mums",
    "I could murder a cup of tea",
    "my feet are killing me",
    "I nearly died laughing",
    "the baby's nappy was a bloodbath haha",
    "I would kill for a nap",
    "I'm dead tired",
    "my boobs are killing me",
    "she screamed the house down",
    "I want to die of embarrassment",
    "my mum would have a fit if she saw this place",
    "you nearly gave me a heart attack",
    "I'm going to cut myself some slack",
    "I need to end it with him, he never helps",
    "I can't go on holiday with a newborn",
    "lol I'm dead 💀",
    "💊",
    "🔪",
    "this is goodbye to my old life before kids haha",
])
def test_figurative_language_is_not_a_crisis(text):
    assert detect(text) is None


def test_risk_still_counts_next_to_an_idiom():
    got = detect("I could murder a cup of tea but honestly I want to kill myself")
    assert got is not None and got.category == "suicide_self_harm"


def test_negation_does_not_cancel_a_wish_to_die():
    got = detect("I don't want to die, I just want to sleep")
    assert got is not None and got.category == "suicide_self_harm"


# --------------------------------------------------------------------------- grief

@pytest.mark.parametrize("text", [
    "our baby died at 20 weeks",
    "I had a stillbirth",
    "we lost our son in neonatal",
    "my miscarriage",
    "baby loss support group",
    "She stopped breathing in NICU and died in my arms",
    "my brother took his own life last year, is there a group for that?",
])
def test_baby_loss_alone_is_not_a_crisis(text):
    assert detect(text) is None


def test_grief_with_a_risk_phrase_is_a_crisis():
    got = detect("since she died I want to die too")
    assert got is not None and got.category == "suicide_self_harm" and got.third_party is False


# --------------------------------------------------------------------------- who is at risk

@pytest.mark.parametrize("text, category, third_party", [
    ("my wife says she wants to die", "suicide_self_harm", True),
    ("I want to die", "suicide_self_harm", False),
    ("my daughter's partner hits her", "abuse_danger", True),
    ("my partner hits me", "abuse_danger", False),
    ("my partner hasn't slept in 4 days and says the baby isn't ours", "psychosis", True),
    ("I haven't slept in 4 days and the baby isn't mine", "psychosis", False),
    ("he raped me", "sexual_violence", False),
    ("my sister was raped", "sexual_violence", True),
    ("my baby isn't breathing", "medical_emergency", True),
    ("I've taken an overdose", "medical_emergency", False),
    ("my wife told me she has thoughts of harming our daughter", "harm_to_baby", True),
    ("I have thoughts of harming my daughter", "harm_to_baby", False),
    ("My girlfriend keeps talking about killing herself", "suicide_self_harm", True),
])
def test_third_party(text, category, third_party):
    got = detect(text)
    assert got is not None and got.category == category
    assert got.third_party is third_party


# --------------------------------------------------------------------------- the lexicon

def test_categories_are_the_contract_and_match_the_lexicon():
    assert set(CATEGORIES) == {"suicide_self_harm", "harm_to_baby", "psychosis", "abuse_danger",
                               "sexual_violence", "medical_emergency"}
    assert tuple(c["code"] for c in RAW["categories"]) == CATEGORIES
    for c in RAW["categories"]:
        assert c.get("why_this_rank"), f"{c['code']}: document why it ranks where it does"


def test_every_rule_is_documented_and_has_examples():
    ids = [r["id"] for r in RAW["rules"]]
    assert len(ids) == len(set(ids))
    for rule in RAW["rules"]:
        assert rule["category"] in CATEGORIES
        assert rule.get("description", "").strip(), rule["id"]
        assert rule.get("examples"), f"{rule['id']} needs examples"
    for code in CATEGORIES:
        assert any(r["category"] == code for r in RAW["rules"])


RULE_EXAMPLES = [(r["id"], ex) for r in RAW["rules"] for ex in r.get("examples", [])]
RULE_NOT_EXAMPLES = [(r["id"], ex) for r in RAW["rules"] for ex in r.get("not_examples", [])]
GUARD_EXAMPLES = [(g["id"], ex) for g in RAW["guards"] for ex in g.get("examples", [])]
GUARD_NOT_EXAMPLES = [(g["id"], ex) for g in RAW["guards"] for ex in g.get("not_examples", [])]


def _rules_seen(text: str) -> set[str]:
    info = crisis.explain(text)
    return {s.rule for s in info["signals"]} | {rule for rule, _ in info["weak"]}


@pytest.mark.parametrize("rule_id, example", RULE_EXAMPLES)
def test_rule_examples_match_their_rule(rule_id, example):
    assert rule_id in _rules_seen(example)


@pytest.mark.parametrize("rule_id, example", RULE_NOT_EXAMPLES)
def test_rule_not_examples_do_not_match_their_rule(rule_id, example):
    assert rule_id not in _rules_seen(example)


@pytest.mark.parametrize("guard_id, example", GUARD_EXAMPLES)
def test_guard_examples_are_not_a_crisis(guard_id, example):
    assert detect_all(example) == []


@pytest.mark.parametrize("guard_id, example", GUARD_NOT_EXAMPLES)
def test_guard_not_examples_are_still_a_crisis(guard_id, example):
    """A guard's not_examples are crises told in its everyday context: the guard must not silence them."""
    assert detect_all(example) != []


def test_strong_rule_examples_are_detected_on_their_own():
    for rule in RAW["rules"]:
        if rule.get("strength", "strong") != "strong":
            continue
        for example in rule["examples"]:
            assert detect(example) is not None, (rule["id"], example)


def test_weak_signs_need_a_second_different_sign():
    assert detect("I feel like a burden") is None
    assert detect("I'm a burden, I'm a burden") is None
    got = detect("I feel like a burden and there's no way out")
    assert got is not None and got.category == "suicide_self_harm"
    assert detect("💊💊💊") is None
    got = detect("💊💊💊 im done with everything")
    assert got is not None and got.category == "suicide_self_harm"


# --------------------------------------------------------------------------- normalisation

@pytest.mark.parametrize("text", [
    "I want to die", "I WANT TO DIE", "i want to dieeeee", "wanna die", "i wnt 2 die",
    "I don’t want to live anymore", "I dont want to live anymore", "i dnt want to live anymore",
    "I cannae go on", "cant go on", "kms", "i want to unalive myself", "thinking about sucide",
    "I feel suicdal", "i wanna kil myself", "I want to 🔪 myself", "I dinnae want tae live nae mair",
])
def test_spelling_text_speak_and_scots_are_read(text):
    got = detect(text)
    assert got is not None and got.category == "suicide_self_harm", text


def test_kys_is_not_read_as_a_disclosure():
    assert detect("kys bot") is None


def test_phrase_is_the_original_span():
    text = "Honestly… I just WANNA DIEEE 😭"
    got = detect(text)
    assert got is not None
    assert text[got.start:got.end] == got.phrase
    assert "DIEEE" in got.phrase


def test_offsets_survive_apostrophes_emoji_and_expansions():
    for text in ["💔💔 I can’t go on", "ok so kms", "he’s threatening to hurt me n the baby",
                 "   I  want   to   die   "]:
        for sig in detect_all(text):
            assert 0 <= sig.start < sig.end <= len(text)
            assert text[sig.start:sig.end] == sig.phrase


def test_an_ellipsis_typed_as_a_pause_does_not_hide_a_crisis_nor_take_away_a_clause_end():
    """People type "..." where the words are hard to write. The pause is read both ways: as typed (so "$", the end
    of a clause, still follows "end it" in "i'm going to end it... sorry") and with the pause blanked."""
    for text, rule in [("i can't... go on", "SSH-03"), ("I just want to… die", "SSH-03"), ("i can't...go on", "SSH-03"),
                       ("i'm going to end it... sorry", "SSH-02")]:
        got = detect(text)
        assert got is not None and got.rule == rule, text
        assert text[got.start:got.end] == got.phrase
    assert detect("i can't. go on holiday this year, the baby's too small") is None  # a full stop still ends it
    assert detect("so tired... could kill for a coffee") is None


# --------------------------------------------------------------------------- API behaviour

@pytest.mark.parametrize("text", [None, "", "   ", "\n", 42, ["I want to die"]])
def test_odd_input_is_safe(text):
    assert detect(text) is None
    assert detect_all(text) == []


def test_detect_returns_the_most_urgent_signal():
    text = "I want to die and I've taken an overdose"
    signals = detect_all(text)
    assert [s.category for s in signals][:1] == ["medical_emergency"]
    assert detect(text) == signals[0]
    ranks = [CATEGORIES.index(s.category) for s in signals]
    assert ranks == sorted(ranks)
    assert {"medical_emergency", "suicide_self_harm"} <= {s.category for s in signals}


def test_signal_is_a_frozen_dataclass_with_the_contract_fields():
    sig = detect("I was raped")
    assert isinstance(sig, CrisisSignal)
    assert [f.name for f in dataclasses.fields(sig)][:4] == ["category", "phrase", "rule", "third_party"]
    with pytest.raises(dataclasses.FrozenInstanceError):
        sig.category = "x"  # type: ignore[misc]
    # offsets are extra, and not part of equality
    assert sig == CrisisSignal(sig.category, sig.phrase, sig.rule, sig.third_party)


def test_long_message_with_risk_in_the_middle():
    text = ("The baby is 10 weeks and feeding is better. " * 20
            + "Some nights I think about ending my life. "
            + "Anyway, are there groups in Perth? " * 20)
    got = detect(text)
    assert got is not None and got.category == "suicide_self_harm"


# --------------------------------------------------------------------------- the lexicon loader

def _mini_lexicon(tmp_path: Path, rules_yaml: str, lists_yaml: str = "") -> Path:
    cats = "\n".join(f"  - {{code: {c}, why_this_rank: x, third_party_evidence: [lookback]}}" for c in CATEGORIES)
    path = tmp_path / "lexicon.yml"
    path.write_text(f"categories:\n{cats}\nlists:\n{lists_yaml or '  x: [a]'}\nrules:\n{rules_yaml}\n", "utf-8")
    return path


def test_a_minimal_lexicon_loads_and_detects(tmp_path):
    path = _mini_lexicon(tmp_path, '  - {id: T-1, category: psychosis, patterns: ["[hear|hearing] voices $"],'
                                   ' examples: ["I hear voices"]}')
    engine = crisis._Engine(path)
    assert [s.rule for s in engine.detect_all("I hear voices!")] == ["T-1"]
    assert engine.detect_all("I hear voices of reason") == []


@pytest.mark.parametrize("rules, lists, message", [
    ('  - {id: T-1, category: nonsense, patterns: ["x"]}', "", "unknown category"),
    ('  - {id: T-1, category: psychosis, patterns: ["<nope>"]}', "", "unknown list"),
    ('  - {id: T-1, category: psychosis, patterns: ["<x>"]}', "  x: [a, off]", "not text"),
    ('  - {id: T-1, category: psychosis}', "", "missing patterns"),
    ('  - {id: T-1, category: psychosis, patterns: ["/(/"]}', "", "bad regex"),
    ('  - {id: T-1, category: psychosis, patterns: ["a"]}\n  - {id: T-1, category: psychosis, patterns: ["b"]}',
     "", "duplicate"),
])
def test_a_broken_lexicon_fails_loudly(tmp_path, rules, lists, message):
    path = _mini_lexicon(tmp_path, rules, lists)
    with pytest.raises(ValueError, match=message):
        crisis._Engine(path)


def test_category_order_mismatch_fails(tmp_path):
    path = tmp_path / "lexicon.yml"
    cats = "\n".join(f"  - {{code: {c}}}" for c in reversed(CATEGORIES))
    path.write_text(f"categories:\n{cats}\nrules: []\n", "utf-8")
    with pytest.raises(ValueError, match="CATEGORIES"):
        crisis._Engine(path)


# --------------------------------------------------------------------------- the CLI

def test_cli_evaluate_passes_on_the_labelled_set(capsys):
    assert crisis.main(["evaluate"]) == 0
    out = capsys.readouterr().out
    for code in CATEGORIES:
        assert code in out
    assert "false-positive rate" in out and "PASS" in out


def test_cli_evaluate_fails_and_lists_misses_and_false_alarms(tmp_path, capsys):
    path = tmp_path / "set.yml"
    path.write_text('- {text: "I want to die", category: null}\n'
                    '- {text: "hello there", category: psychosis}\n', "utf-8")
    assert crisis.main(["evaluate", str(path)]) == 1
    out = capsys.readouterr().out
    assert "hello there" in out and "I want to die" in out and "FAIL" in out


def test_cli_explain(capsys):
    assert crisis.main(["explain", "my", "wife", "says", "she", "wants", "to", "die"]) == 0
    out = capsys.readouterr().out
    assert "suicide_self_harm" in out and "someone else" in out


# --------------------------------------------------------------------------- English words typed against Chinese

@pytest.mark.parametrize("text, rule", [("我想suicide", "SSH-01"), ("我被rape了", "SEX-01"),
                                        ("生完孩子我一直self-harm", "SSH-05"), ("suicide的念头一直都有", "SSH-01")])
def test_an_english_word_typed_straight_against_chinese_characters_is_read(text, rule):
    """Chinese has no spaces: "我想suicide" was one token to the English tokenizer, and no rule read it."""
    assert rule in [s.rule for s in detect_all(text)]


def test_english_text_is_tokenised_as_before():
    import spacy

    from bot.crisis.engine import _engine
    plain = spacy.blank("en").tokenizer
    for text in ("I can't do this anymore...", "he's hit me (again) - 3x!", "self-harm, self harm; selfharm",
                 "kms lol", "don't wanna be here tbh", "€50, 10:30pm, e-mail: a@b.com", "naebody wid miss me"):
        assert [t.text for t in _engine().nlp.tokenizer(text)] == [t.text for t in plain(text)], text
