"""The Rasa NLU crisis component (bot/nlu/crisis_component.py) and its training data.

No model is trained: messages carry a fake DIET (+ FallbackClassifier) output and `process` is
called directly.
"""
from __future__ import annotations

import re
from unittest.mock import Mock

import pytest
import yaml

from bot import DATA_DIR, crisis
from bot.nlu import crisis_component
from bot.nlu.crisis_component import CrisisComponent
from rasa.engine.recipes.default_recipe import DefaultV1Recipe
from rasa.shared.nlu.training_data.message import Message

NLU_FILE = DATA_DIR / "nlu" / "crisis.yml"
CRISIS_INTENTS = {f"crisis_{c}" for c in crisis.CATEGORIES}


@pytest.fixture(scope="module")
def component() -> CrisisComponent:
    return CrisisComponent.create(CrisisComponent.get_default_config(), Mock(), Mock(), Mock())


def message(text, intent=None, confidence=0.9, ranking=None, entities=None, fallback=False) -> Message:
    """A message as DIET (and optionally the FallbackClassifier) would leave it."""
    data = {"text": text}
    if intent is not None:
        top = {"name": intent, "confidence": confidence}
        ranking = [top] + list(ranking or [])
        if fallback:  # FallbackClassifier: nlu_fallback goes first, DIET's ranking stays behind it
            top = {"name": "nlu_fallback", "confidence": 0.3}
            ranking = [top] + ranking
        data["intent"] = top
        data["intent_ranking"] = ranking
    data["entities"] = list(entities or [])
    return Message(data=data, output_properties={"intent", "intent_ranking", "entities"})


def crisis_entities(msg: Message) -> list[dict]:
    return [e for e in msg.get("entities") if e["entity"] == "crisis_category"]


# --------------------------------------------------------------------------- registration

def test_registered_as_a_non_trainable_intent_classifier():
    registered = DefaultV1Recipe._registered_components["CrisisComponent"]
    assert registered.clazz is CrisisComponent
    assert DefaultV1Recipe.ComponentType.INTENT_CLASSIFIER in registered.types
    assert registered.is_trainable is False


def test_default_config():
    assert CrisisComponent.get_default_config() == {"threshold": 0.5}


@pytest.mark.parametrize("threshold", [-0.1, 1.5, "high", None])
def test_bad_threshold_is_refused(threshold):
    with pytest.raises(ValueError):
        CrisisComponent({"threshold": threshold})


def test_fits_in_the_pipeline_after_diet_and_fallback():
    from rasa.engine import validation
    from rasa.shared.data import TrainingType

    config = {"recipe": "default.v1", "language": "en", "policies": [], "pipeline": [
        {"name": "WhitespaceTokenizer"},
        {"name": "CountVectorsFeaturizer"},
        {"name": "DIETClassifier", "epochs": 1},
        {"name": "FallbackClassifier", "threshold": 0.3},
        {"name": "bot.nlu.crisis_component.CrisisComponent", "threshold": 0.6},
    ]}
    graph = DefaultV1Recipe().graph_config_for_recipe(config, {}, training_type=TrainingType.NLU)
    validation.validate(graph)
    node = next(n for name, n in graph.predict_schema.nodes.items() if "CrisisComponent" in name)
    assert node.uses is CrisisComponent
    assert node.config["threshold"] == 0.6
    assert "FallbackClassifier" in next(iter(node.needs.values()))


# --------------------------------------------------------------------------- lexicon net

def test_lexicon_overrides_a_non_crisis_prediction(component):
    msg = message("honestly i just want to die", intent="greet", confidence=0.8,
                  ranking=[{"name": "crisis_suicide_self_harm", "confidence": 0.1}])
    component.process([msg])
    assert msg.get("intent") == {"name": "crisis_suicide_self_harm", "confidence": 1.0}
    ranking = msg.get("intent_ranking")
    assert ranking[0] == {"name": "crisis_suicide_self_harm", "confidence": 1.0}
    assert [r["name"] for r in ranking].count("crisis_suicide_self_harm") == 1
    assert "greet" in [r["name"] for r in ranking]
    [entity] = crisis_entities(msg)
    assert entity == {"entity": "crisis_category", "value": "suicide_self_harm", "start": 16, "end": 27,
                      "extractor": "CrisisLexicon", "confidence_entity": 1.0}
    assert msg.get("text")[entity["start"]:entity["end"]] == "want to die"
    details = msg.get("crisis")
    assert details["source"] == "lexicon" and details["rule"].startswith("SSH-") and details["third_party"] is False


def test_lexicon_overrides_nlu_fallback(component):
    msg = message("my baby isn't breathing", intent="ask_group", confidence=0.3, fallback=True)
    component.process([msg])
    assert msg.get("intent")["name"] == "crisis_medical_emergency"
    assert "nlu_fallback" not in [r["name"] for r in msg.get("intent_ranking")]
    assert crisis_entities(msg)[0]["value"] == "medical_emergency"
    assert msg.get("crisis")["third_party"] is True


def test_lexicon_wins_over_a_different_crisis_intent(component):
    msg = message("I was raped", intent="crisis_abuse_danger", confidence=0.95)
    component.process([msg])
    assert msg.get("intent")["name"] == "crisis_sexual_violence"
    assert crisis_entities(msg)[0]["extractor"] == "CrisisLexicon"


def test_works_without_any_classifier_output(component):
    msg = Message(data={"text": "he threatened to kill me"})
    component.process([msg])
    assert msg.get("intent")["name"] == "crisis_abuse_danger"
    assert msg.get("intent_ranking")[0]["name"] == "crisis_abuse_danger"
    assert crisis_entities(msg)[0]["value"] == "abuse_danger"


def test_other_entities_are_kept_and_a_stale_crisis_entity_replaced(component):
    place = {"entity": "location", "value": "S12000047", "start": 0, "end": 4, "extractor": "X"}
    stale = {"entity": "crisis_category", "value": "psychosis", "start": 0, "end": 1, "extractor": "DIET"}
    msg = message("Fife: I can't go on", intent="find_support", entities=[place, stale])
    component.process([msg])
    entities = msg.get("entities")
    assert place in entities
    assert [e["value"] for e in crisis_entities(msg)] == ["suicide_self_harm"]


def test_results_are_part_of_the_parse_output(component):
    msg = message("I want to die", intent="greet")
    component.process([msg])
    out = msg.as_dict(only_output_properties=True)
    assert out["intent"]["name"] == "crisis_suicide_self_harm"
    assert out["entities"] and out["intent_ranking"] and out["crisis"]["category"] == "suicide_self_harm"


# --------------------------------------------------------------------------- classifier net

def test_classifier_crisis_intent_over_threshold_is_kept(component):
    msg = message("everything feels very dark and final", intent="crisis_suicide_self_harm", confidence=0.72,
                  ranking=[{"name": "mood_low", "confidence": 0.2}])
    component.process([msg])
    assert msg.get("intent") == {"name": "crisis_suicide_self_harm", "confidence": 0.72}
    assert msg.get("intent_ranking")[0]["name"] == "crisis_suicide_self_harm"
    [entity] = crisis_entities(msg)
    assert entity["extractor"] == "CrisisClassifier"
    assert entity["value"] == "suicide_self_harm"
    assert (entity["start"], entity["end"]) == (0, len(msg.get("text")))
    assert entity["confidence_entity"] == 0.72
    assert msg.get("crisis")["source"] == "classifier"


def test_classifier_crisis_intent_hidden_by_fallback_is_restored(component):
    # DIET said crisis_psychosis at 0.55 but mood_low was close: FallbackClassifier chose nlu_fallback
    msg = message("things are not right with my wife, she is not herself at all", intent="crisis_psychosis",
                  confidence=0.55, ranking=[{"name": "mood_low", "confidence": 0.5}], fallback=True)
    component.process([msg])
    assert msg.get("intent") == {"name": "crisis_psychosis", "confidence": 0.55}
    names = [r["name"] for r in msg.get("intent_ranking")]
    assert names[0] == "crisis_psychosis" and "nlu_fallback" not in names and "mood_low" in names
    assert crisis_entities(msg)[0]["extractor"] == "CrisisClassifier"


def test_classifier_crisis_intent_below_threshold_is_demoted(component):
    # Left in place, a crisis intent neither net accepted would still trigger the crisis rules.
    msg = message("everything feels very dark", intent="crisis_suicide_self_harm", confidence=0.4,
                  ranking=[{"name": "feeling_low", "confidence": 0.35}])
    component.process([msg])
    assert msg.get("intent") == {"name": "feeling_low", "confidence": 0.35}
    assert msg.get("intent_ranking")[0]["name"] == "feeling_low"
    assert msg.get("crisis") is None and crisis_entities(msg) == []


def test_a_demoted_crisis_intent_with_nothing_else_becomes_a_question(component):
    msg = message("everything feels very dark", intent="crisis_suicide_self_harm", confidence=0.4, ranking=[])
    component.process([msg])
    assert msg.get("intent")["name"] == "nlu_fallback"


def test_fallback_over_a_low_crisis_intent_is_left_alone(component):
    msg = message("hmm not sure", intent="crisis_abuse_danger", confidence=0.35, fallback=True)
    component.process([msg])
    assert msg.get("intent")["name"] == "nlu_fallback"
    assert crisis_entities(msg) == []


def test_threshold_is_configurable():
    strict = CrisisComponent({"threshold": 0.9})
    msg = message("everything feels very dark", intent="crisis_suicide_self_harm", confidence=0.8)
    strict.process([msg])
    assert crisis_entities(msg) == []
    lenient = CrisisComponent({"threshold": 0.3})
    msg = message("everything feels very dark", intent="crisis_suicide_self_harm", confidence=0.35)
    lenient.process([msg])
    assert crisis_entities(msg)[0]["extractor"] == "CrisisClassifier"


def test_a_crisis_intent_lower_in_the_ranking_is_not_promoted(component):
    msg = message("can you find a group in Fife", intent="ask_group", confidence=0.6,
                  ranking=[{"name": "crisis_abuse_danger", "confidence": 0.55}])
    component.process([msg])
    assert msg.get("intent")["name"] == "ask_group"
    assert crisis_entities(msg) == []


def test_ordinary_messages_are_untouched(component):
    msg = message("Is there a group for dads in Dundee?", intent="ask_group", confidence=0.93,
                  ranking=[{"name": "greet", "confidence": 0.02}])
    before = msg.as_dict()
    component.process([msg])
    assert msg.as_dict() == before


# --------------------------------------------------------------------------- robustness

@pytest.mark.parametrize("data", [
    {},
    {"text": None},
    {"text": ""},
    {"text": "   "},
    {"text": 12},
    {"text": "I want to die", "intent": None, "intent_ranking": None, "entities": None},
    {"text": "everything is dark", "intent": {"name": "crisis_psychosis"}, "intent_ranking": [None, 3]},
    {"text": "everything is dark", "intent": {"name": "crisis_psychosis", "confidence": "high"}},
    {"text": "everything is dark", "intent": {"name": "nlu_fallback", "confidence": 0.3}, "intent_ranking": None},
])
def test_odd_messages_never_raise(component, data):
    msg = Message(data=dict(data))
    assert component.process([msg]) == [msg]


def test_messages_without_text_keep_their_prediction(component):
    msg = Message(data={"intent": {"name": "greet", "confidence": 0.9}})
    component.process([msg])
    assert msg.get("intent") == {"name": "greet", "confidence": 0.9}


def test_an_internal_failure_is_contained(component, monkeypatch, caplog):
    def boom(text):
        raise RuntimeError("lexicon exploded")

    monkeypatch.setattr(crisis_component.crisis, "analyse", boom)
    ok = message("Is there a group?", intent="ask_group")
    component.process([ok, message("I want to die", intent="greet")])
    assert ok.get("intent")["name"] == "ask_group"
    assert "Crisis detection failed" in caplog.text


def test_processes_a_batch(component):
    msgs = [message("hi", intent="greet"), message("I was raped", intent="greet"),
            message("she's fitting", intent="greet")]
    component.process(msgs)
    assert [m.get("intent")["name"] for m in msgs] == ["greet", "crisis_sexual_violence", "crisis_medical_emergency"]


# --------------------------------------------------------------------------- training data

def _examples() -> dict[str, list[str]]:
    raw = yaml.safe_load(NLU_FILE.read_text(encoding="utf-8"))
    out: dict[str, list[str]] = {}
    for block in raw["nlu"]:
        out[block["intent"]] = [line.strip()[2:].strip() for line in block["examples"].splitlines()
                                if line.strip().startswith("- ")]
    return out


def _words(text: str) -> set[str]:
    return set(re.findall(r"[a-z']+", text.lower()))


def test_training_data_loads_with_rasa_and_has_the_six_intents():
    from rasa.shared.nlu.training_data.loading import load_data

    raw = yaml.safe_load(NLU_FILE.read_text(encoding="utf-8"))
    assert str(raw["version"]) == "3.1"
    data = load_data(str(NLU_FILE))
    assert data.intents == CRISIS_INTENTS
    assert not data.entities  # plain examples: no entity annotations to confuse DIET


@pytest.mark.parametrize("intent", sorted(CRISIS_INTENTS))
def test_training_data_has_25_to_40_distinct_examples(intent):
    examples = _examples()[intent]
    assert 25 <= len(examples) <= 40
    assert len({e.lower() for e in examples}) == len(examples)


def test_training_data_has_no_near_duplicates():
    all_examples = [(i, e) for i, exs in _examples().items() for e in exs]
    for n, (i1, e1) in enumerate(all_examples):
        for i2, e2 in all_examples[n + 1:]:
            a, b = _words(e1), _words(e2)
            assert len(a & b) / len(a | b) < 0.75, (e1, e2)


def test_training_data_is_distinct_from_the_labelled_set():
    labelled = [i["text"] for i in crisis.load_labelled() if i["text"]]
    for intent, examples in _examples().items():
        for e in examples:
            for t in labelled:
                a, b = _words(e), _words(t)
                assert a != b and len(a & b) / len(a | b) < 0.75, (e, t)


def test_training_examples_are_crisis_by_the_lexicon_too():
    """Not required (DIET is there for what the lexicon misses), but a drop shows a regression."""
    found = sum(1 for intent, exs in _examples().items() for e in exs
                if (s := crisis.detect(e)) is not None and f"crisis_{s.category}" == intent)
    total = sum(len(exs) for exs in _examples().values())
    assert found / total >= 0.9


@pytest.mark.parametrize("text", ["I'm dead tired", "I had a bad dream that the baby stopped breathing"])
def test_classifier_defers_when_the_lexicon_read_the_words_as_figurative(component, text):
    msg = message(text, intent="crisis_suicide_self_harm", confidence=0.99)
    component.process([msg])
    assert crisis_entities(msg) == [] and msg.get("crisis") is None


def test_project_config_sets_the_measured_threshold():
    import yaml
    from pathlib import Path
    config = yaml.safe_load((Path(__file__).parent.parent / "config.yml").read_text())
    [node] = [c for c in config["pipeline"] if c["name"].endswith("CrisisComponent")]
    assert node["threshold"] == 0.9
    assert config["pipeline"][-1] is node, "crisis detection runs last, after fallback"


# --------------------------------------------------------------------------- tiers (the n-gram net's vote)

class FixedNet:
    def __init__(self, crisis_p, possible_p, category):
        self.result = crisis_component.crisis_net.NetView(crisis_p, possible_p, category, 0.9)

    def view(self, text):
        return self.result


@pytest.fixture
def net_says(monkeypatch):
    def install(crisis_p, possible_p, category="suicide_self_harm"):
        monkeypatch.setattr(crisis_component.crisis_net, "net", lambda: FixedNet(crisis_p, possible_p, category))
    return install


def test_the_net_alone_makes_a_sure_message_a_crisis_with_its_vote_recorded(component, net_says):
    net_says(0.92, 0.03)
    msg = message("ive sorted out who gets my things", intent="goodbye", confidence=0.8)
    component.process([msg])
    assert msg.get("intent")["name"] == "crisis_suicide_self_harm"
    [entity] = crisis_entities(msg)
    assert entity["extractor"] == "CrisisNet" and entity["value"] == "suicide_self_harm"
    details = msg.get("crisis")
    assert (details["tier"], details["source"]) == ("crisis", "net")
    assert details["votes"]["lexicon"] is None and details["votes"]["net"]["crisis"] == 0.92


def test_in_between_the_person_is_asked_and_nothing_is_alerted(component, net_says):
    net_says(0.35, 0.4)
    msg = message("whats the point of any of it", intent="feeling_low", confidence=0.7)
    component.process([msg])
    assert msg.get("intent")["name"] == "possible_suicide_self_harm"
    assert crisis_entities(msg) == [] and msg.get("crisis")["tier"] == "possible"
    assert msg.get("crisis")["asked_because"] == "net"


@pytest.mark.parametrize("category", ["psychosis", "medical_emergency"])
def test_an_emergency_is_never_demoted_to_a_question(component, net_says, category):
    net_says(0.55, 0.2, category)
    msg = message("something the lexicon does not know", intent="find_support", confidence=0.6)
    component.process([msg])
    assert msg.get("intent")["name"] == f"crisis_{category}" and msg.get("crisis")["tier"] == "crisis"


def test_the_lexicon_outranks_the_net(component, net_says):
    net_says(0.95, 0.0, "abuse_danger")
    msg = message("I want to kill myself")
    component.process([msg])
    assert msg.get("crisis")["source"] == "lexicon" and msg.get("intent")["name"] == "crisis_suicide_self_harm"


def test_figurative_words_keep_an_unsure_net_quiet_but_not_a_sure_one(component, net_says):
    net_says(0.45, 0.3)
    msg = message("I'm dead tired", intent="feeling_low")
    component.process([msg])
    assert msg.get("intent")["name"] == "feeling_low" and msg.get("crisis") is None
    net_says(0.93, 0.02)
    msg = message("dead tired. dead would be better honestly", intent="feeling_low")
    component.process([msg])
    assert msg.get("crisis")["tier"] == "crisis" and msg.get("crisis")["votes"]["figurative"] is True


def test_a_possible_intent_the_nets_do_not_accept_is_demoted(component, net_says):
    net_says(0.05, 0.05)
    msg = message("is there a group in Fife", intent="possible_harm_to_baby", confidence=0.7,
                  ranking=[{"name": "find_support", "confidence": 0.2}])
    component.process([msg])
    assert msg.get("intent")["name"] == "find_support"


def test_a_failing_net_leaves_the_other_nets_deciding(component, monkeypatch):
    def broken():
        raise RuntimeError("corpus unreadable")
    monkeypatch.setattr(crisis_component.crisis_net, "net", broken)
    msg = message("I want to kill myself")
    component.process([msg])
    assert msg.get("intent")["name"] == "crisis_suicide_self_harm"


def test_a_classifier_crisis_vote_on_nothing_but_a_place_name_is_not_a_crisis(component):
    """DIET's character n-grams read the town "Wishaw" as "wish" (0.95, seen in make conversation-report):
    a message that only answers the form's question is not a crisis on DIET's word alone."""
    from bot.nlu.entities import extract
    place = message("Wishaw", intent="crisis_suicide_self_harm", confidence=0.95,
                    ranking=[{"name": "help_someone", "confidence": 0.01}], entities=extract("Wishaw"))
    component.process([place])
    assert place.get("intent")["name"] == "find_support" and crisis_entities(place) == []
    words = "I wish I was dead"  # the same vote on real words still counts (and the lexicon agrees)
    real = message(words, intent="crisis_suicide_self_harm", confidence=0.95, entities=extract(words))
    component.process([real])
    assert real.get("intent")["name"] == "crisis_suicide_self_harm"


def test_a_bare_yes_no_or_unsure_reply_is_not_a_crisis_on_the_nets_word(component, net_says):
    """The n-gram net read the one-word reply "probably" as a medical emergency (0.6): a reply's meaning comes
    from the question it answers, which the rules see (an unsure answer to the possible-risk question is a
    crisis there). The lexicon still reads every message."""
    net_says(0.95, 0.02, "medical_emergency")
    for text in ("probably", "sometimes", "yes", "nah"):
        msg = message(text, intent="unsure", confidence=1.0, ranking=[{"name": "crisis_harm_to_baby", "confidence": 0.98}])
        component.process([msg])
        assert msg.get("intent")["name"] == "unsure" and crisis_entities(msg) == [], text
    msg = message("probably going to kill myself", intent="feeling_low")  # more than a reply: the nets count
    component.process([msg])
    assert msg.get("intent")["name"] == "crisis_suicide_self_harm"


def test_the_nets_learn_ordinary_messages_only_from_nlu_files_vetted_for_them():
    from bot.nlu import crisis_net
    learned = {item.text for item in crisis_net.read_nlu_examples()}
    for name in crisis_net.NOT_FOR_THE_NETS:
        examples = {line.strip()[2:] for line in (crisis_net.NLU_DIR / name).read_text(encoding="utf-8").splitlines()
                    if line.strip().startswith("- ")}
        assert examples and not examples & learned, name
    assert "I'm not coping" in learned  # the vetted files still teach the nets


def test_the_real_net_does_not_alarm_on_ordinary_family_worry():
    """Set 5, e34: a grandfather's "I think they are both finding things very difficult" was psychosis at 0.86
    (tier 1). Family worry with nothing of risk in it is ordinary; a risk said about someone else still alarms."""
    from bot.nlu import crisis_net
    net = crisis_net.net()
    worry = net.view("My son and his partner have a new baby and I think they are both finding things very difficult.")
    assert crisis_net.decide(None, None, False, worry).tier != "crisis"
    risk = net.view("my daughter keeps saying the baby would be better off without her and she wants to disappear")
    assert crisis_net.decide(None, None, False, risk).tier != "none"


def test_the_net_reads_a_message_as_its_pipeline_would():
    from bot.nlu.crisis_net import CrisisNet, Labelled
    training = [Labelled(text, tier, category, "test") for text, tier, category in (
        ("i want to end it all tonight", "crisis", "suicide_self_harm"),
        ("i have taken all my tablets", "crisis", "medical_emergency"),
        ("the baby is not breathing", "crisis", "medical_emergency"),
        ("i might hurt the baby if he keeps crying", "crisis", "harm_to_baby"),
        ("some days i wonder what the point is", "possible", "suicide_self_harm"),
        ("i worry i could snap at the baby", "possible", "harm_to_baby"),
        ("any groups for dads in fife", "none", None),
        ("is the phone line free", "none", None),
        ("thanks that's helpful", "none", None),
        ("what is peer support", "none", None))]
    net = CrisisNet(training)
    texts = ["i want to end it", "groups in fife for dads", "baby not breathing help", "", "ok ta"]
    for view, tier, category in zip(net.views(texts), net.tier_model.predict_proba(texts),
                                    net.category_model.predict_proba(texts)):
        tiers = dict(zip(net.tier_model.classes_, tier))
        assert view.crisis == pytest.approx(tiers["crisis"], abs=1e-12)
        assert view.possible == pytest.approx(tiers["possible"], abs=1e-12)
        assert view.category == net.category_model.classes_[category.argmax()]
        assert view.category_confidence == pytest.approx(category.max(), abs=1e-12)


def test_the_nets_words_are_characters_in_chinese_and_whole_words_elsewhere():
    """Chinese has no spaces: as whole runs, "我真的想死" and "想死了" shared no word, so the word n-grams
    gave Chinese nothing to generalise from (H51). Each Han character is a word; other scripts are unchanged."""
    from bot.nlu import crisis_net
    words = crisis_net._features().transformer_list[1][1].build_analyzer()
    assert words("我真的想死") == ["我", "真", "的", "想", "死", "我 真", "真 的", "的 想", "想 死"]
    assert "想 死" in words("BB今日想死了，唔想活")
    assert "bb" in words("BB今日想死了") and "今" in words("BB今日想死了")
    assert words("I want to die") == ["i", "want", "to", "die", "i want", "want to", "to die"]
    assert words("nie chce zyc, chce umrzec") == ["nie", "chce", "zyc", "chce", "umrzec", "nie chce", "chce zyc",
                                                  "zyc chce", "chce umrzec"]
    assert words("میں مرنا چاہتی ہوں") == ["میں", "مرنا", "چاہتی", "ہوں", "میں مرنا", "مرنا چاہتی", "چاہتی ہوں"]


def test_the_nets_read_latin_letters_without_accents_and_other_scripts_as_typed():
    """Polish and Romanian are often typed without accents; the lexicons fold them and now the nets do too (H52).
    Other scripts keep their letters and marks: a Gurmukhi vowel sign or an Arabic letter is left as typed."""
    from bot.nlu import crisis_net
    chars, words = (vectoriser.build_analyzer() for _, vectoriser in crisis_net._features().transformer_list)
    for analyse in (chars, words):
        assert analyse("Chcę UMRZEĆ, nie chcę żyć") == analyse("chce umrzec, nie chce zyc")
        assert analyse("Vreau să mor, m-am săturat") == analyse("vreau sa mor, m-am saturat")
        assert analyse("Хочу ПОМЕРТИ") == analyse("хочу померти")
        assert analyse("أريد أن أموت") != analyse("اريد ان اموت")
    assert any("ਹੁੰ" in gram for gram in chars("ਮੈਂ ਮਰਨਾ ਚਾਹੁੰਦੀ ਹਾਂ")), "the vowel signs are kept"


@pytest.mark.parametrize("which", ["net", "languages_net"])
def test_the_real_nets_read_a_message_as_scikit_learn_would(which):
    """The nets' own arithmetic (`_Scorer`: tf-idf, weights and softmax as arrays, each message's n-grams made once
    for both models) gives scikit-learn's probabilities, on the corpus in every language and on odd input."""
    from bot.nlu import crisis_net
    net = getattr(crisis_net, which)()
    assert net._tier_scorer.own_arithmetic and net._category_scorer.own_arithmetic
    texts = ([item.text for item in crisis_net.read_corpus()][::5]
             + [item.text for item in crisis_net.read_other_languages()][::5]
             + ["", "ok", "\x00\x01\x02", "😂" * 40, "a" * 5000, "zzqqxx", "NOT WANTING TO BE HERE!!!"])
    tiers, categories = net.tier_model.predict_proba(texts), net.category_model.predict_proba(texts)
    tier_names, category_names = list(net.tier_model.classes_), list(net.category_model.classes_)
    for text, view, tier, category in zip(texts, net.views(texts), tiers, categories):
        assert view.crisis == pytest.approx(tier[tier_names.index("crisis")], abs=1e-12), text
        assert view.possible == pytest.approx(tier[tier_names.index("possible")], abs=1e-12), text
        assert view.category == category_names[category.argmax()], text
        assert view.category_confidence == pytest.approx(category.max(), abs=1e-12), text
    one_at_a_time = [net.view(text) for text in texts[:50]]
    assert one_at_a_time == net.views(texts[:50])


# --------------------------------------------------------------------------- ask rules (other languages' tier 2)

def test_an_ask_rule_asks_and_records_its_rule_and_never_alerts(component, net_says, monkeypatch):
    from bot import language
    net_says(0.05, 0.05)
    text = "nie bede tu juz w przyszlym miesiacu, o ktorej jest grupa?"
    monkeypatch.setattr(language, "ask_signals", lambda t: (language.ForeignSignal("pl", "PL-ASK-99", "suicide_self_harm",
                                                                                    0, 12, True),))
    monkeypatch.setattr(language, "reply_language", lambda t: "pl")
    monkeypatch.setattr(crisis_component.crisis_net, "languages_net", lambda: FixedNet(0.05, 0.05, "suicide_self_harm"))
    msg = message(text, intent="find_support", confidence=0.8)
    component.process([msg])
    assert msg.get("intent")["name"] == "possible_suicide_self_harm" and crisis_entities(msg) == []
    details = msg.get("crisis")
    assert (details["tier"], details["source"], details["rule"]) == ("possible", "lexicon", "PL-ASK-99")
    assert details["phrase"] == text[0:12] and details["asked_because"] == "ask_rule"


def test_an_ask_rule_never_lowers_what_the_lexicon_or_a_sure_net_decided():
    from bot.nlu.crisis_net import Decision, NetView, decide
    assert decide("suicide_self_harm", None, False, None, lexicon_asks="harm_to_baby").tier == "crisis"
    sure_fit = NetView(crisis=0.97, possible=0.0, category="medical_emergency", category_confidence=0.9)
    assert decide(None, None, False, sure_fit, other_language=True, lexicon_asks="suicide_self_harm") == \
        Decision("crisis", "medical_emergency", "net")
    quiet = NetView(crisis=0.02, possible=0.02, category="suicide_self_harm", category_confidence=0.9)
    assert decide(None, None, True, quiet, other_language=True, lexicon_asks="harm_to_baby") == \
        Decision("possible", "harm_to_baby", "lexicon"), "its own guards have read the words: the English ones don't"
    assert decide(None, None, False, quiet, other_language=True).tier == "none"


# --------------------------------------------------------------------------- another language's alarm in doubt (H58)

def test_an_alarm_only_another_languages_lexicon_raised_is_asked_when_the_languages_net_reads_it_as_ordinary():
    from bot.nlu.crisis_net import OTHER_LANGUAGE_DOUBT_THRESHOLD as DOUBT, Decision, NetView, decide
    ordinary = NetView(crisis=DOUBT / 2 - 0.01, possible=DOUBT / 2 - 0.01, category="suicide_self_harm",
                       category_confidence=0.9)
    risky = NetView(crisis=DOUBT / 2, possible=DOUBT / 2, category="suicide_self_harm", category_confidence=0.9)
    for category in ("suicide_self_harm", "abuse_danger"):
        assert decide(category, None, False, ordinary, other_language=True, lexicon_doubtable=True) == \
            Decision("possible", category, "lexicon"), "asked with the lexicon's own question"
        assert decide(category, None, False, risky, other_language=True, lexicon_doubtable=True).tier == "crisis"
        assert decide(category, None, False, ordinary, lexicon_doubtable=True).tier == "crisis", "English: the alarm"
        assert decide(category, None, False, ordinary, other_language=True).tier == "crisis", "not doubtable"
        assert decide(category, None, False, None, other_language=True, lexicon_doubtable=True).tier == "crisis", \
            "no net: the alarm stands"


LONG = "Piszę do was w nocy, bo nie wiem już, co robić z tym wszystkim, i nie mam z kim pogadać:"


def test_only_the_other_languages_alarms_about_suicide_or_abuse_in_a_long_message_can_be_doubted():
    from bot.crisis import CrisisSignal
    from bot.nlu.crisis_net import doubtable

    def signal(category, language):
        return CrisisSignal(category=category, phrase="x", rule="X-01", third_party=False, language=language)
    assert doubtable([signal("suicide_self_harm", "pl")], LONG) and doubtable([signal("abuse_danger", "ur")], LONG)
    assert not doubtable([], LONG) and not doubtable([signal("suicide_self_harm", "en")], LONG), "English stands"
    for category in ("harm_to_baby", "medical_emergency", "psychosis", "sexual_violence"):
        assert not doubtable([signal(category, "pl")], LONG), category
    assert not doubtable([signal("suicide_self_harm", "pl"), signal("medical_emergency", "pl")], LONG)
    assert not doubtable([signal("abuse_danger", "zh"), signal("suicide_self_harm", "en")], LONG)
    assert not doubtable([signal("suicide_self_harm", "uk")], "Я хочу померти"), "too short for the net to judge"


def test_a_message_is_measured_in_words_and_a_han_character_is_half_a_word():
    from bot.nlu.crisis_net import DOUBT_MIN_WORDS, length_in_words
    assert length_in_words("Я хочу померти") == 3 and length_in_words("我想死") == 1.5
    assert length_in_words("haha 😂 — nie, serio ... chcę") == 4, "emoji and punctuation are not words"
    assert length_in_words("ਤਵੇ ਉੱਤੇ ਹੱਥ") == 3, "vowel signs are inside a word"
    assert length_in_words("我被rape了") == 2.5
    assert length_in_words(LONG) >= DOUBT_MIN_WORDS


@pytest.mark.parametrize("text, category, rule", [
    (f"{LONG} chyba popełnię samobójstwo", "suicide_self_harm", "PL-SSH-01"),
    (f"{LONG} mąż wali mną o ścianę jak się wkurzy", "abuse_danger", "PL-ABU-01"),
])
def test_the_component_asks_about_a_doubted_alarm_names_its_rule_and_alerts_nobody(component, monkeypatch, text,
                                                                                   category, rule):
    monkeypatch.setattr(crisis_component.crisis_net, "languages_net", lambda: FixedNet(0.02, 0.02, "none"))
    msg = message(text, intent="find_support", confidence=0.8)
    component.process([msg])
    assert msg.get("intent")["name"] == f"possible_{category}" and crisis_entities(msg) == []
    details = msg.get("crisis")
    assert (details["tier"], details["source"], details["rule"]) == ("possible", "lexicon", rule)
    assert details["votes"]["lexicon"] == category and details["votes"]["net"]["crisis"] == 0.02
    assert details["asked_because"] == "alarm_doubted", "the review record shows an alarm was turned into a question"
    monkeypatch.setattr(crisis_component.crisis_net, "languages_net", lambda: FixedNet(0.3, 0.2, "suicide_self_harm"))
    msg = message(text, intent="find_support", confidence=0.8)
    component.process([msg])
    assert msg.get("intent")["name"] == f"crisis_{category}" and crisis_entities(msg)[0]["extractor"] == "CrisisLexicon"


@pytest.mark.parametrize("text", [f"{LONG} mam natrętne myśli, że skrzywdzę dziecko",
                                  f"{LONG} bardzo mocno krwawię po porodzie", "Chyba popełnię samobójstwo",
                                  "I've been awake all night with the baby and I honestly want to kill myself now"])
def test_the_baby_an_emergency_a_short_message_and_english_keep_the_alarm_whatever_the_net_says(component, monkeypatch,
                                                                                            net_says, text):
    monkeypatch.setattr(crisis_component.crisis_net, "languages_net", lambda: FixedNet(0.01, 0.01, "none"))
    net_says(0.01, 0.01, "none")
    msg = message(text, intent="find_support", confidence=0.8)
    component.process([msg])
    assert msg.get("intent")["name"].startswith("crisis_") and msg.get("crisis")["tier"] == "crisis"


def test_no_example_of_another_languages_rule_about_suicide_or_abuse_is_only_asked_about():
    """The lexicons' own examples are plain crises, mostly short, which the languages net has never learned and
    reads as ordinary for 203 of 3,294 (H58): none of them may be asked instead of answered."""
    import yaml
    from bot import language
    from bot.nlu import crisis_net
    examples = [str(example) for path in language.language_files()
                for rule in yaml.safe_load(path.read_text(encoding="utf-8"))["crisis"]["rules"]
                if rule["category"] in crisis_net.DOUBTABLE_CATEGORIES for example in rule["examples"]]
    assert len(examples) > 3000
    views = crisis_net.languages_net().views(examples)
    asked = [text for text, view in zip(examples, views)
             if crisis_net.doubtable(crisis.analyse(text).signals, text)
             and view.risk < crisis_net.OTHER_LANGUAGE_DOUBT_THRESHOLD and language.reply_language(text) != "en"]
    assert asked == []
