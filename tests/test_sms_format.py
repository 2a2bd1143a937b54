"""What a turn looks like on a phone: numbered menus, few texts, GSM-7, sentence splitting, keywords."""
from __future__ import annotations

from pathlib import Path

import pytest
import yaml

from bot.channels.sms import (BODY_LIMIT, MAX_TEXTS_PER_TURN, Option, compose, is_gsm7, keyword, match_reply,
                              menu_line, pack, segments, split_sentences, to_gsm7)

DOMAIN = yaml.safe_load((Path(__file__).parent.parent / "domain.yml").read_text(encoding="utf-8"))
RESPONSES = {name: variants[0] for name, variants in DOMAIN["responses"].items()}  # the unconditional wording


def options_of(response: str) -> list[Option]:
    return compose([RESPONSES[response]]).options


# --- menus ---------------------------------------------------------------------------------

def test_buttons_become_one_numbered_line_in_the_same_text():
    turn = compose([RESPONSES["utter_ask_format"]])
    assert turn.texts == ["What kind of support would suit you?\nReply 1 for a group, 2 for one-to-one, "
                          "3 for phone, 4 for online, 5 for text, 6 for don't mind."]
    assert [o.payload for o in turn.options] == [f'/find_support{{"format":"{code}"}}' for code in
                                                 ("group", "one_to_one", "phone", "online", "text", "any")]


def test_titles_read_naturally_after_for():
    line = menu_line(options_of("utter_greet"))
    assert line == ("Reply 1 for find support for me, 2 for support someone I care about, "
                    "3 for what is peer support.")
    assert menu_line(options_of("utter_ask_role")).startswith("Reply 1 for I'm a mum or mum-to-be, 2 for I'm a dad")


def test_no_payload_ever_reaches_a_phone():
    from bot.privacy.turns import notice_text  # the one response whose placeholders our code fills
    every_response = [{"text": notice_text()} if name == "utter_privacy_notice" else r
                      for name, r in RESPONSES.items()]
    for whatsapp in (False, True):
        turn = compose(every_response, whatsapp=whatsapp, max_texts=100)
        text = "\n".join(turn.texts)
        assert "/find_support" not in text and "{" not in text and "/find_support" not in text and "/faq" not in text


def test_a_payload_shaped_line_in_text_is_dropped():
    assert compose([{"text": "Hello\n/find_support{\"role\":\"mum\"}"}]).texts == ["Hello"]


def test_custom_json_is_not_sent_the_text_already_carries_it():
    turn = compose([{"text": "Here is what I found:\n\n1. Fife Mums Group", "custom": {"services": [{"id": "x"}]}}])
    assert turn.texts == ["Here is what I found:\n\n1. Fife Mums Group"]


def test_buttons_across_a_turn_are_numbered_on_so_every_number_means_one_thing():
    turn = compose([RESPONSES["utter_feeling_low"], RESPONSES["utter_ask_callback"]])
    assert [o.number for o in turn.options] == [1, 2, 3, 4]
    assert "Reply 3 for yes, call me, 4 for no thanks." in turn.texts[0]
    assert match_reply("3", turn.options).payload == "/affirm"


@pytest.mark.parametrize("reply,expected", [
    ("1", 1), ("1.", 1), (" 2 ", 2), ("#3", 3), ("option 4", 4), ("number 5 please", 5), ("6)", 6),
    ("one", 1), ("One!", 1), ("two", 2), ("the first one", 1), ("second", 2), ("3rd", 3), ("six", 6),
    ("a group", 1), ("Group", 1), ("group please", 1), ("one to one", 2), ("One-to-one", 2), ("phone", 3),
    ("PHONE", 3), ("online", 4), ("text", 5), ("don't mind", 6), ("dont mind", 6), ("Don\u2019t mind", 6),
])
def test_a_reply_maps_back_to_its_button(reply, expected):
    options = options_of("utter_ask_format")
    assert match_reply(reply, options) == options[expected - 1]


@pytest.mark.parametrize("reply", [
    "7", "0", "seven", "", "   ", "I'm in Fife", "a group in Fife please", "any", "support", "what?",
    "I want to kill myself", "1 and 2", "x" * 200,
])
def test_anything_else_goes_to_the_assistant_as_typed(reply):
    assert match_reply(reply, options_of("utter_ask_format")) is None


def test_words_pick_an_option_only_when_they_pick_exactly_one():
    greet = options_of("utter_greet")
    assert match_reply("support", greet) is None  # in all three titles
    assert match_reply("peer support", greet).number == 3
    callback = options_of("utter_ask_callback")
    assert match_reply("yes", callback).payload == "/affirm"
    assert match_reply("no", callback).payload == "/deny"
    assert match_reply("no thanks", callback).payload == "/deny"
    role = options_of("utter_ask_role")
    assert match_reply("dad", role).payload == '/find_support{"role":"dad_partner"}'
    assert match_reply("I'm a mum", role).payload == '/find_support{"role":"mum"}'


@pytest.mark.parametrize("payload", ['/find_support{"role":"mum"}', '/find_support{{"role":"mum"}}'])
def test_payloads_come_back_as_rasa_parses_them_whether_or_not_the_domain_escaped_their_braces(payload):
    from rasa.core.nlg.interpolator import interpolate
    rendered = interpolate({"text": "Who?", "buttons": [{"title": "Mum", "payload": payload}]}, {"role": None})
    for message in (rendered, {"text": "Who?", "buttons": [{"title": "Mum", "payload": payload}]}):
        assert match_reply("1", compose([message]).options).payload == '/find_support{"role":"mum"}'


def test_no_menu_no_mapping():
    assert match_reply("1", []) is None


def test_options_round_trip_through_storage():
    option = Option(2, "One-to-one", '/find_support{"format":"one_to_one"}')
    assert Option.from_dict(option.as_dict()) == option


# --- GSM-7 ---------------------------------------------------------------------------------

def test_curly_quotes_dashes_ellipses_and_emoji_are_made_gsm7():
    cleaned = to_gsm7("It\u2019s \u201cfine\u201d \u2014 really\u2026 \U0001F600 ok \u2764\ufe0f\u00a0bye \U0001F44D\U0001F3FD")
    assert cleaned == "It's \"fine\" - really... ok bye"
    assert is_gsm7(cleaned)


def test_accents_gsm7_has_are_kept_and_others_lose_the_accent():
    assert to_gsm7("Gàidhlig café Ç ç ñ á ê") == "Gàidhlig café Ç c ñ a e"


def test_every_domain_response_is_already_gsm7_on_sms():
    for name, response in RESPONSES.items():
        for text in compose([response]).texts:
            assert is_gsm7(text), name


def test_whatsapp_keeps_the_text_as_written():
    turn = compose([{"text": "You\u2019re welcome \U0001F60A"}], whatsapp=True)
    assert turn.texts == ["You\u2019re welcome \U0001F60A"]
    assert compose([{"text": "You\u2019re welcome \U0001F60A"}]).texts == ["You're welcome"]


@pytest.mark.parametrize("text,encoding,count", [
    ("", "GSM-7", 0),
    ("a" * 160, "GSM-7", 1),
    ("a" * 161, "GSM-7", 2),  # concatenated: 153 per segment
    ("a" * 306, "GSM-7", 2),
    ("a" * 307, "GSM-7", 3),
    ("{" * 80, "GSM-7", 1),  # extension characters cost two septets
    ("{" * 81, "GSM-7", 2),
    ("a" * 152 + "€" + "a" * 8, "GSM-7", 2),  # an escape pair is never split: 152 + (2 moved on)
    ("a" * 69 + "\u2019", "UCS-2", 1),  # one curly quote makes it UCS-2: 70 in one segment
    ("a" * 70 + "\u2019", "UCS-2", 2),  # … and 67 per segment after that
    ("\U0001F600" * 35, "UCS-2", 1),  # an emoji is two UTF-16 units
    ("\U0001F600" * 36, "UCS-2", 2),
])
def test_segment_maths(text, encoding, count):
    result = segments(text)
    assert (result.encoding, result.count) == (encoding, count)


def test_one_curly_quote_would_cost_more_than_double():
    text = RESPONSES["utter_greet"]["text"]
    assert segments(text).count == 2
    assert segments(text.replace("I'm", "I\u2019m")).count == 4


# --- sentences and packing -----------------------------------------------------------------

def test_split_sentences_keeps_list_numbers_abbreviations_and_the_text():
    text = "Hi. I'm here!\n1. Fife Mums Group\nCall e.g. 0800 83 85 87. St. Andrews is fine? Yes."
    pieces = split_sentences(text)
    assert [s for s, _ in pieces] == ["Hi.", "I'm here!", "1. Fife Mums Group", "Call e.g. 0800 83 85 87.",
                                      "St. Andrews is fine?", "Yes."]
    assert "".join(s + after for s, after in pieces) == text


def test_a_turn_goes_out_as_one_text_when_it_fits():
    turn = compose([RESPONSES["utter_crisis_suicide_self_harm"], RESPONSES["utter_crisis_followup"],
                    RESPONSES["utter_ask_callback"]])
    assert len(turn.texts) == 1
    assert turn.texts[0].startswith("I'm really sorry")
    assert turn.texts[0].index("999") < turn.texts[0].index("Reply 1 for yes, call me")


def test_messages_stay_in_order_and_whole_when_that_costs_no_extra_text():
    parts = ["A" * 900, "B" * 900, "C" * 500]
    texts, truncated = pack(parts)
    assert texts == ["A" * 900, "B" * 900 + "\n\n" + "C" * 500] and not truncated


def test_long_text_is_split_at_sentence_boundaries_into_few_texts():
    sentence = "This sentence is about forty-five chars long. "
    text = (sentence * 60).strip()  # ~2,760 characters
    texts, truncated = pack([text])
    assert len(texts) == 2 and not truncated
    assert all(len(t) <= BODY_LIMIT for t in texts)
    assert all(t.endswith("long.") for t in texts)
    assert " ".join(texts) == text


def test_never_more_than_three_texts_a_turn_and_the_start_is_kept():
    parts = ["Call 999 now. " + "Words here. " * 200] + ["More text, sentence. " * 100] * 3
    texts, truncated = pack(parts)
    assert len(texts) == MAX_TEXTS_PER_TURN and truncated
    assert texts[0].startswith("Call 999 now.")
    assert all(len(t) <= BODY_LIMIT for t in texts)


def test_a_sentence_longer_than_a_text_is_cut_at_a_space():
    texts, _ = pack(["word " * 700])
    assert len(texts) == 3 and all(len(t) <= BODY_LIMIT for t in texts)
    assert all(not t.startswith(" ") and not t.endswith(" ") for t in texts)


def test_fewest_texts_wins_over_keeping_messages_whole():
    parts = ["One. " * 200, "Two. " * 200, "Three. " * 100]  # 1000 + 1000 + 700 characters
    texts, _ = pack(parts)
    assert len(texts) == 2


def test_nothing_to_send_is_no_texts():
    assert pack(["", "  "]) == ([], False)
    assert compose([{"custom": {"services": []}}]).texts == []


# --- keywords ------------------------------------------------------------------------------

@pytest.mark.parametrize("text,expected", [
    ("STOP", "opt_out"), ("stop", "opt_out"), (" Stop. ", "opt_out"), ("STOPALL", "opt_out"), ("stop all", "opt_out"),
    ("UNSUBSCRIBE", "opt_out"), ("cancel", "opt_out"), ("End", "opt_out"), ("quit", "opt_out"),
    ("START", "opt_in"), ("unstop", "opt_in"), ("yes", "opt_in"),
    ("HELP", "help"), ("info", "help"), ("Help!", "help"),
    ("please stop", None), ("I want it to end", None), ("help me", None), ("yes please", None), ("", None),
    (None, None), ("stop " * 10, None),
])
def test_twilio_keywords_are_whole_messages(text, expected):
    assert keyword(text) == expected


@pytest.mark.parametrize("text", [
    "اگر آپ خطرے میں ہیں تو ابھی 999 پر کال کریں۔",  # Urdu
    "如果你有危险，请立即拨打999。",  # Chinese
    "Якщо ви в небезпеці, телефонуйте 999.",  # Ukrainian
    "ਜੇ ਤੁਸੀਂ ਖ਼ਤਰੇ ਵਿੱਚ ਹੋ, ਤਾਂ 999 'ਤੇ ਕਾਲ ਕਰੋ।",  # Punjabi (Gurmukhi)
    "Jeśli jesteś w niebezpieczeństwie, zadzwoń pod 999. Człowiek.",  # Polish: ł has no GSM-7 form
])
def test_a_reply_in_another_script_goes_as_written_in_ucs2_not_empty(text):
    turn = compose([{"text": text}])
    assert turn.texts == [text]
    assert segments(turn.texts[0]).encoding == "UCS-2"


def test_english_with_an_emoji_stays_gsm7():
    [text] = compose([{"text": "You're not alone 💛 – call 116 123."}]).texts
    assert text == "You're not alone - call 116 123." and segments(text).encoding == "GSM-7"


def test_ucs2_segments_are_70_alone_and_67_concatenated():
    assert segments("я" * 70).count == 1
    assert segments("я" * 71).count == 2
    assert segments("я" * 134).count == 2 and segments("я" * 135).count == 3


def test_suggestions_are_compact_on_a_phone_and_numbered_for_more(sample_directory):
    """Three services, each with how to get in touch and why, within about four SMS segments; "reply 1, 2 or 3"
    asks for one in full, and the after-suggestions menu numbers on from there (a number means one thing)."""
    from bot.db import session_scope
    from bot.signposting import build_request, signpost, suggestions
    with session_scope(sample_directory) as session:
        found = suggestions(signpost(session, build_request("mum", "postnatal", None, (), "Kirkcaldy")), "Fife")
    turn = compose([{"text": found.text, "custom": found.payload}, RESPONSES["utter_after_suggestions"]])
    services = found.payload["services"]
    assert len(services) == 3
    total = sum(segments(t).count for t in turn.texts)
    assert total <= 4, turn.texts
    body = "\n".join(turn.texts)
    for number, service in enumerate(services, 1):
        assert f"{number}. {service['name']}" in body and service["compact"]["why"] in body
        assert service["compact"]["contact"] in body
    assert "Reply 1, 2 or 3 for more about one of them." in body
    assert [o.payload for o in turn.options[:3]] == ['/service_details{"service_id":"%s"}' % s["id"] for s in services]
    assert [o.number for o in turn.options] == list(range(1, len(turn.options) + 1))
    assert "Reply 4 for more options" in body
    assert match_reply("2", turn.options).payload == turn.options[1].payload
