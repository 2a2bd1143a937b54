"""Matching: hard filters, ranking, reasons, and the honest no-match (on fictional sample services).

In the sample, national-online-group is for birth trauma and glasgow-befriending for ethnic minority and
low-income families: specialist services, offered only to someone who states that need."""
from __future__ import annotations

import pytest
from sqlalchemy import select

from bot.db import session_scope
from bot.matching import MatchRequest, find_matches
from bot.signposting import explain, signpost
from bot.models import UnmetNeed

FIFE = dict(council_code="S12000047", board_code="S08000029")
GLASGOW = dict(council_code="S12000049", board_code="S08000031")


def ids(result):
    return [m.service.id for m in result.matches]


def match(url, **request):
    with session_scope(url) as session:
        return find_matches(session, MatchRequest(**request))


def reason(result, i=0):
    return explain(result.matches[i], result.request)


def test_local_service_in_the_requested_format_comes_first(sample_directory):
    result = match(sample_directory, **FIFE, audience="mothers", stage="postnatal", format="group")
    assert ids(result)[0] == "fife-mums-group"
    assert result.local_fit
    assert reason(result) == ("Peer support from people who have been through it. "
                              "Runs in Fife, offers a peer support group, as you asked.")


def test_board_wide_service_counts_as_local(sample_directory):
    result = match(sample_directory, **FIFE, audience="fathers_partners", stage="pregnancy")
    assert ids(result)[0] == "fife-dads-group"
    assert result.matches[0].local
    assert "just for dads and partners" in reason(result)


def test_audience_and_stage_are_hard_filters(sample_directory):
    dad = match(sample_directory, **GLASGOW, audience="fathers_partners", stage="postnatal", limit=10)
    assert "glasgow-befriending" not in ids(dad) and "fife-dads-group" not in ids(dad)
    bereaved = match(sample_directory, **GLASGOW, audience="mothers", stage="baby_loss", limit=10)
    assert set(ids(bereaved)) == {"national-baby-loss", "national-phone-line", "national-text"}


def test_other_areas_services_never_appear(sample_directory):
    result = match(sample_directory, **GLASGOW, audience="mothers", stage="postnatal", limit=10)
    assert not {"fife-mums-group", "fife-dads-group"} & set(ids(result))


def test_no_local_fit_offers_national_options_in_that_format_and_records_the_need(sample_directory):
    request = MatchRequest(**GLASGOW, audience="mothers", stage="postnatal", format="text", needs=("low_income",))
    with session_scope(sample_directory) as session:
        result = signpost(session, request)
    assert not result.local_fit
    assert ids(result)[0] == "glasgow-befriending"  # the stated need first, honest that it has no text
    assert reason(result).startswith("Befriending by trained volunteers. "
                                     "Runs in Glasgow City, for money worries, does not offer text or chat support")
    assert ids(result)[1] == "national-text"
    assert reason(result, 1).startswith("A support line. Available wherever you are in Scotland, offers text or chat support")
    assert "national-phone-line" not in ids(result)  # neither the format nor the need: left out
    with session_scope(sample_directory) as session:
        [need] = session.scalars(select(UnmetNeed)).all()
    assert (need.area_code, need.board_code, need.format, need.audience, need.stage, need.needs) == \
        ("S12000049", "S08000031", "text", "mothers", "postnatal", "low_income")


def test_when_a_format_is_asked_for_only_services_offering_it_are_listed(sample_directory):
    result = match(sample_directory, **GLASGOW, audience="mothers", stage="postnatal", format="text", limit=10)
    assert ids(result) == ["national-text"]
    assert all(m.format_match for m in result.matches)


def test_when_nothing_offers_the_format_the_closest_are_shown_and_say_so(sample_directory):
    result = match(sample_directory, **GLASGOW, audience="mothers", stage="postnatal", format="online", limit=10)
    assert ids(result) and not any(m.format_match for m in result.matches)
    assert all("does not offer online support" in reason(result, i) for i in range(len(result.matches)))


def test_refused_formats_are_never_the_only_thing_a_suggestion_offers(sample_directory):
    result = match(sample_directory, **FIFE, audience="mothers", stage="postnatal", avoid_formats=("group", "phone"),
                   limit=10)
    assert "fife-mums-group" not in ids(result) and "national-phone-line" not in ids(result)
    assert ids(result) == ["national-text"]


def test_a_local_fit_records_no_unmet_need(sample_directory):
    with session_scope(sample_directory) as session:
        signpost(session, MatchRequest(**FIFE, audience="mothers", stage="postnatal", format="group"))
        assert session.scalars(select(UnmetNeed)).all() == []


def test_a_stated_need_outranks_locality(sample_directory):
    result = match(sample_directory, **FIFE, audience="fathers_partners", stage="postnatal", needs=("birth_trauma",))
    assert ids(result)[:2] == ["national-online-group", "fife-dads-group"]
    assert "for a difficult or traumatic birth" in reason(result)


def test_specialist_services_are_not_offered_for_needs_nobody_stated(sample_directory):
    result = match(sample_directory, **GLASGOW, audience="mothers", stage="postnatal", limit=10)
    assert "national-online-group" not in ids(result)  # birth trauma
    assert "glasgow-befriending" not in ids(result)  # ethnic minority and low income


def test_local_needs_match_and_languages(sample_directory):
    result = match(sample_directory, **GLASGOW, audience="families", stage="postnatal",
                   needs=("ethnic_minority",))
    assert ids(result)[0] == "glasgow-befriending"
    assert result.matches[0].needs_met == ("ethnic_minority",)


def test_distance_is_reported_for_in_person_services_when_a_point_is_known(sample_directory):
    result = match(sample_directory, **FIFE, audience="mothers", stage="postnatal", easting=330000, northing=696000)
    assert result.matches[0].distance_km == 5.0
    assert "about 5 km away" in reason(result)
    assert all(m.distance_km is None for m in result.matches[1:])


def test_more_excludes_what_was_already_shown(sample_directory):
    first = match(sample_directory, **FIFE, audience="mothers", stage="postnatal", limit=2)
    more = match(sample_directory, **FIFE, audience="mothers", stage="postnatal", exclude_ids=tuple(ids(first)))
    assert ids(more) and not set(ids(more)) & set(ids(first))


def test_without_an_area_only_national_services_match(sample_directory):
    result = match(sample_directory, audience="mothers", stage="postnatal", limit=10)
    assert set(ids(result)) == {"national-phone-line", "national-text"}
    assert not result.local_fit


def test_peer_support_ranks_above_a_general_helpline_when_otherwise_equal(sample_directory):
    result = match(sample_directory, audience="mothers", stage="baby_loss", needs=(), limit=3)
    assert ids(result)[0] == "national-baby-loss"


def test_at_most_the_limit_is_returned(sample_directory):
    assert len(match(sample_directory, **FIFE, audience="mothers", stage="postnatal", limit=2).matches) == 2


def test_a_directory_change_is_seen_by_the_next_search(sample_directory, tmp_path):
    request = dict(**GLASGOW, audience="mothers", stage="postnatal", format="group")
    assert not match(sample_directory, **request).local_fit
    add_services(sample_directory, tmp_path, {"id": "glasgow-new-group", "name": "New Group"})
    result = match(sample_directory, **request)
    assert ids(result)[0] == "glasgow-new-group" and result.local_fit


def test_inactive_services_are_never_offered(sample_directory):
    from bot.models import Service
    with session_scope(sample_directory) as session:
        session.get(Service, "fife-mums-group").status = "inactive"
        from bot.directory.store import bump_revision
        bump_revision(session)
    result = match(sample_directory, **FIFE, audience="mothers", stage="postnatal", limit=10)
    assert "fife-mums-group" not in ids(result)


def add_services(url, tmp_path, *services: dict) -> None:
    """Save fictional services (example.org) into the directory: each dict overrides a mums' group."""
    import yaml
    from bot.directory.files import read_records
    from bot.directory.store import save_records
    base = {"organization": {"id": "org-x", "name": "X", "url": "https://x.example.org"}, "kind": "peer_support",
            "formats": ["group"], "audiences": ["mothers"], "stages": ["postnatal"], "areas": ["S12000049"],
            "source": "https://x.example.org", "last_verified": "2026-11-01"}
    extra = tmp_path / f"extra-{services[0]['id']}.yml"
    extra.write_text(yaml.safe_dump({"services": [{**base, **service} for service in services]}), encoding="utf-8")
    with session_scope(url) as session:
        save_records(session, read_records(extra))


def add_glasgow_groups(url, tmp_path):
    """Three Glasgow mums' groups (in person only): one for recovery, one general, one for rural areas."""
    add_services(url, tmp_path,
                 {"id": "aa-recovery-mums", "name": "AA Recovery Mums", "needs": ["substance_use"]},
                 {"id": "zz-mums-group", "name": "ZZ Mums Group"},
                 {"id": "mm-rural-mums", "name": "MM Rural Mums", "needs": ["rural"]})


def test_a_service_for_a_need_is_offered_only_to_someone_who_stated_it(sample_directory, tmp_path):
    add_glasgow_groups(sample_directory, tmp_path)
    general = match(sample_directory, **GLASGOW, audience="mothers", stage="postnatal", format="group", limit=5)
    assert ids(general)[:2] == ["zz-mums-group", "mm-rural-mums"]  # rural describes reach, it isn't a specialism
    assert "aa-recovery-mums" not in ids(general)
    asked = match(sample_directory, **GLASGOW, audience="mothers", stage="postnatal", format="group",
                  needs=("substance_use",), limit=2)
    assert ids(asked) == ["aa-recovery-mums", "zz-mums-group"]


def test_the_baby_loss_stage_counts_as_asking_for_baby_loss_support(sample_directory):
    result = match(sample_directory, audience="mothers", stage="baby_loss", format="one_to_one", limit=1)
    assert ids(result) == ["national-baby-loss"] and result.matches[0].needs_met == ("baby_loss",)


@pytest.mark.parametrize("role,support_for,audience", [
    ("mum", None, "mothers"), ("dad_partner", "self", "fathers_partners"), ("other", "self", "families"),
    ("other", None, "families"), ("unknown", None, None),
    # asked for someone else: the role question's answer is their role ("for my son, he's the dad")
    ("dad_partner", "someone_else", "fathers_partners"), ("mum", "someone_else", "mothers"),
    # ...but a friend or relative asking for the mum is not asking for family support
    ("other", "someone_else", None), (None, "someone_else", None), ("unknown", "someone_else", None),
    # only mentioned: the writer's own audience ("my wife's away and I'm not coping")
    ("dad_partner", "partner", "fathers_partners"), ("other", "family_member", "families"),
])
def test_support_asked_for_someone_else_by_a_friend_or_relative_is_not_filtered_to_family_support(role, support_for, audience):
    from bot.signposting import audience_for
    assert audience_for(role, support_for) == audience


def test_a_service_for_part_of_a_council_is_local_only_there(sample_directory, tmp_path):
    """Home-Start Caithness is coded to Highland but covers Caithness (postcode area KW): someone in Wick
    gets it, someone on Skye (IV) does not, and someone who said only "Highland" still does."""
    from bot.signposting import build_request
    add_services(sample_directory, tmp_path, {"id": "far-north-mums", "name": "Far North Mums", "kind": "befriending",
                                              "formats": ["one_to_one"], "needs": ["rural"], "areas": ["S12000017"],
                                              "postcode_areas": ["KW"]})

    def found(location):
        with session_scope(sample_directory) as session:
            request = build_request("mum", "postnatal", None, ("rural",), location)
            return ids(find_matches(session, request))

    assert found("Wick")[0] == "far-north-mums"
    assert found("KW14 7EE")[0] == "far-north-mums"
    assert found("Highland")[0] == "far-north-mums"
    assert "far-north-mums" not in found("Skye") and "far-north-mums" not in found("Fort William")
    assert "far-north-mums" not in found("IV51 9EH")


def test_whom_it_is_for_unknown_puts_services_for_everyone_first(sample_directory, tmp_path):
    """A skipped role: a national line for dads only (first by name and kind otherwise) comes after the
    national services for everyone, and is left out when two of those are found; for a dad it comes first."""
    add_services(sample_directory, tmp_path, {"id": "aa-dads-line", "name": "AA Dads Line", "formats": ["phone"],
                                              "audiences": ["fathers_partners"], "areas": ["scotland"]})
    unknown = ids(match(sample_directory, **GLASGOW, stage="postnatal", format="phone", limit=10))
    assert unknown.index("aa-dads-line") > unknown.index("national-phone-line")  # one other: it fills the list
    assert "aa-dads-line" not in ids(match(sample_directory, **GLASGOW, stage="postnatal", limit=10))  # two others
    dad = ids(match(sample_directory, **GLASGOW, audience="fathers_partners", stage="postnatal", format="phone"))
    assert dad[0] == "aa-dads-line"
