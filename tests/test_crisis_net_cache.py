"""The crisis nets are kept on disk once trained (bot/nlu/crisis_net.py, `_trained_once`): a start-up reads them
back instead of training for most of a minute, and any change to what they learn from trains them again."""
from __future__ import annotations

import pytest

from bot.nlu import crisis_net
from bot.nlu.crisis_net import Labelled

MESSAGES = ["I want to end my life", "I can't go on, I have the pills ready", "he hit me and I'm scared to go home",
            "where is the nearest mums group", "is there a dads group on Tuesdays", "thanks, that helps a lot"]
PROBES = ["I have the pills and I want to end it", "any groups near Leith", "he hit me again"]


def small_training() -> list[Labelled]:
    labelled = [Labelled(text, "crisis", "suicide_self_harm", "test") for text in MESSAGES[:2]]
    labelled += [Labelled(MESSAGES[2], "crisis", "abuse_danger", "test")]
    labelled += [Labelled(text, "possible", "suicide_self_harm", "test") for text in ("so tired of all of it",)]
    return labelled + [Labelled(text, "none", None, "test") for text in MESSAGES[3:]] * 2


@pytest.fixture
def cache(tmp_path, monkeypatch):
    monkeypatch.setattr(crisis_net, "NET_CACHE_DIR", tmp_path / "nets")
    calls = []

    def training():
        calls.append(1)
        return small_training()
    return tmp_path / "nets", training, calls


def test_a_trained_net_is_kept_and_read_back_reading_messages_as_it_did(cache):
    folder, training, calls = cache
    first = crisis_net._trained_once("test", training)
    again = crisis_net._trained_once("test", training)
    assert len(calls) == 1 and len(list(folder.glob("test-*.pickle"))) == 1
    assert again.views(PROBES) == first.views(PROBES)


def test_a_change_to_what_the_net_learns_from_trains_it_again(cache, tmp_path, monkeypatch):
    folder, training, calls = cache
    data = tmp_path / "data"
    data.mkdir()
    (data / "batch.yml").write_text("messages: []\n", encoding="utf-8")
    monkeypatch.setattr(crisis_net, "_LEARNED_FROM", (data,))
    before = crisis_net.training_key("test")
    crisis_net._trained_once("test", training)
    (data / "batch.yml").write_text("messages: [{text: new, label: none}]\n", encoding="utf-8")
    assert crisis_net.training_key("test") != before
    crisis_net._trained_once("test", training)
    kept = list(folder.glob("test-*.pickle"))
    assert len(calls) == 2 and [path.name for path in kept] == [f"test-{crisis_net.training_key('test')}.pickle"], (
        "the net learned from the old file is not kept")
    assert crisis_net.training_key("english") != crisis_net.training_key("languages"), "each net has its own key"


def test_a_damaged_or_unwritable_cache_only_costs_the_training(cache, tmp_path, monkeypatch):
    folder, training, calls = cache
    folder.mkdir()
    (folder / f"test-{crisis_net.training_key('test')}.pickle").write_bytes(b"half a net")
    assert crisis_net._trained_once("test", training).view(PROBES[0]).risk > 0
    assert crisis_net._trained_once("test", training).view(PROBES[0]).risk > 0  # the damaged file was replaced
    assert len(calls) == 1
    blocked = tmp_path / "a-file"
    blocked.write_text("not a folder", encoding="utf-8")
    monkeypatch.setattr(crisis_net, "NET_CACHE_DIR", blocked / "nets")
    assert crisis_net._trained_once("test", training).view(PROBES[1]) is not None
    assert len(calls) == 2


def test_a_net_that_cannot_be_written_is_still_returned_and_leaves_no_half_file(cache, monkeypatch):
    folder, training, calls = cache
    import pickle

    def refuse(*args, **kwargs):
        raise pickle.PicklingError("cannot keep it")
    monkeypatch.setattr(pickle, "dump", refuse)
    assert crisis_net._trained_once("test", training).view(PROBES[0]).risk > 0
    assert len(calls) == 1 and list(folder.glob("*")) == []
