"""Body caps, rate limits and the real client address (bot/channels/limits.py)."""
from __future__ import annotations

import asyncio
from types import SimpleNamespace

import pytest
from sanic.exceptions import PayloadTooLarge

from bot.channels import limits


def test_a_conversation_over_its_limit_is_refused_until_the_next_window():
    rate = limits.Limits(per_conversation=3, per_client=100, counters=limits.MemoryCounters())
    assert [rate.admit("a", now=0) for _ in range(4)] == [True, True, True, False]
    assert rate.admit("b", now=0), "another conversation has its own count"
    assert rate.admit("a", now=limits.WINDOW_SECONDS), "a new minute starts afresh"


def test_one_client_opening_many_conversations_is_refused():
    rate = limits.Limits(per_conversation=100, per_client=3, counters=limits.MemoryCounters())
    assert [rate.admit(f"c{i}", client="198.51.100.7", now=0) for i in range(4)] == [True, True, True, False]
    assert rate.admit("c0", client="198.51.100.7", now=0), "its existing conversations go on"
    assert rate.admit("new", client="198.51.100.8", now=0)


def test_unreachable_counters_admit_rather_than_silence():
    class Broken:
        def incr(self, key):
            raise ConnectionError("redis down")

    assert limits.Limits(1, 1, Broken()).admit("a")


def test_memory_counters_stay_bounded():
    counters = limits.MemoryCounters(max_keys=10)
    for i in range(100):
        counters.incr(f"k{i}")
    assert len(counters._counts) == 10


@pytest.mark.parametrize("peer,forwarded,trusted,expected", [
    ("203.0.113.5", None, (), "203.0.113.5"),
    ("203.0.113.5", "198.51.100.1", (), "203.0.113.5"),  # nobody's X-Forwarded-For is believed by default
    ("127.0.0.1", "198.51.100.1", ("127.0.0.1",), "198.51.100.1"),
    ("127.0.0.1", "6.6.6.6, 198.51.100.1", ("127.0.0.1",), "198.51.100.1"),  # a client can't prepend a hop
    ("10.0.0.2", "198.51.100.1, 10.0.0.1", ("10.0.0.0/8",), "198.51.100.1"),
    ("127.0.0.1", None, ("127.0.0.1",), "127.0.0.1"),
    ("127.0.0.1", "x", ("not-an-address",), "127.0.0.1"),
])
def test_the_client_address_trusts_only_configured_proxies(peer, forwarded, trusted, expected):
    assert limits.client_address(peer, forwarded, trusted) == expected


class FakeStream:
    def __init__(self, chunks):
        self.chunks = list(chunks)

    async def read(self):
        return self.chunks.pop(0) if self.chunks else None


def request(chunks, declared=None):
    headers = {"content-length": str(declared)} if declared is not None else {}
    return SimpleNamespace(headers=headers, stream=FakeStream(chunks), body=b"")


def test_a_body_is_refused_as_soon_as_it_passes_the_cap():
    stream = request([b"x" * 600, b"x" * 600, b"never read"])
    with pytest.raises(PayloadTooLarge):
        asyncio.run(limits.read_capped(stream, 1000))
    assert stream.stream.chunks == [b"never read"], "reading stopped at the cap"


def test_a_declared_length_over_the_cap_is_refused_unread():
    stream = request([b"x"], declared=10_000)
    with pytest.raises(PayloadTooLarge):
        asyncio.run(limits.read_capped(stream, 1000))
    assert stream.stream.chunks == [b"x"]


def test_a_body_within_the_cap_is_read_whole():
    stream = request([b"ab", b"cd"])
    assert asyncio.run(limits.read_capped(stream, 4)) == b"abcd" and stream.body == b"abcd"


def test_a_refused_crisis_gets_the_crisis_answer_and_is_recorded(monkeypatch):
    recorded = []
    import bot.escalation
    monkeypatch.setattr(bot.escalation, "record_safely", recorded.append)
    replies, crisis = limits.refusal("I want to end my life", "conv-1", "rest")
    assert crisis and "999" in " ".join(replies)
    assert [(d.conversation_id, d.channel, d.category, d.message) for d in recorded] == [
        ("conv-1", "rest", "suicide_self_harm", "I want to end my life")]
    replies, crisis = limits.refusal("hello", "conv-1", "rest")
    assert not crisis and replies == [limits.BUSY_TEXT] and len(recorded) == 1


def test_redis_counters_are_shared_between_instances(redis_url):
    first = limits.Limits(2, 2, limits.RedisCounters(redis_url))
    second = limits.Limits(2, 2, limits.RedisCounters(redis_url))
    assert first.admit("shared", now=0) and second.admit("shared", now=0)
    assert not first.admit("shared", now=0), "the second instance's message counted"
    assert first.admit("x1", client="198.51.100.9", now=0) and second.admit("x2", client="198.51.100.9", now=0)
    assert not second.admit("x3", client="198.51.100.9", now=0)
    assert first.admit("x1", client="198.51.100.9", now=0)
