"""Retrieval-intent button payloads are read as the answer they name (bot/nlu/payloads.py)."""
from __future__ import annotations

import pytest
from rasa.shared.importers.importer import TrainingDataImporter
from rasa.shared.nlu.training_data.message import Message

from bot import PROJECT_ROOT
from bot.nlu.payloads import GENERAL_ANSWER, retrieval_parse, _with_retrieval_answer


@pytest.fixture(scope="module")
def domain():
    """The domain as the trained model holds it: domain.yml plus the retrieval answers in data/nlu."""
    importer = TrainingDataImporter.load_from_config(str(PROJECT_ROOT / "config.yml"), str(PROJECT_ROOT / "domain.yml"),
                                                     [str(PROJECT_ROOT / "data" / "nlu")])
    return importer.get_domain()


def answer(parse):
    intent = parse["intent"]["name"]
    return parse["response_selector"][intent]["response"]["utter_action"]


@pytest.mark.parametrize("payload, utter", [("/faq/cost", "utter_faq/cost"),
                                            ("/out_of_scope/health", "utter_out_of_scope/health"),
                                            (" /out_of_scope/other ", "utter_out_of_scope/other")])
def test_a_payload_naming_an_answer_gets_that_answer(domain, payload, utter):
    parse = retrieval_parse(payload, domain)
    assert answer(parse) == utter
    assert parse["intent"]["confidence"] == 1.0 and parse["entities"] == []


@pytest.mark.parametrize("intent", sorted(GENERAL_ANSWER))
def test_a_bare_retrieval_intent_gets_its_general_answer_not_silence(domain, intent):
    assert intent in domain.retrieval_intents
    assert answer(retrieval_parse(f"/{intent}", domain)) == f"utter_{intent}/{GENERAL_ANSWER[intent]}"


@pytest.mark.parametrize("text", ["/faq/no_such_answer", "/find_support", "/greet/other", "faq/cost",
                                  "what does it cost", "/faq/cost{\"x\": 1}", ""])
def test_anything_else_is_left_to_rasa(domain, text):
    assert retrieval_parse(text, domain) is None
    message = Message({"text": text})
    assert _with_retrieval_answer(message, domain) is message


def test_without_a_domain_nothing_changes():
    assert retrieval_parse("/faq/cost", None) is None
