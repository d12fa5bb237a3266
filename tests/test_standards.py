"""Service categories with their recognition rules, and walking speeds, read from data/standards."""

from __future__ import annotations

import math
import tomllib

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from planner.errors import InputError, UnknownCategoryError
from planner.standards import (
    CATEGORIES_FILE,
    GROUPS,
    OVERRIDE_SOURCE,
    RULES_FILE,
    SPEEDS_FILE,
    add_keywords,
    get_category,
    load_categories,
    load_speeds,
)

REQUIRED_KEYS = {
    "elderly_day_care", "elderly_home", "childcare", "kindergarten", "convenience",
    "fresh_market", "supermarket", "pharmacy", "clinic", "health_centre", "breakfast",
    "primary_school", "middle_school",
}
LEVEL_DISTANCE = {5: 300.0, 10: 500.0, 15: 1000.0}


@pytest.fixture(scope="module")
def cats():
    return load_categories()


def test_bundled_categories_cover_the_living_circle(cats):
    assert REQUIRED_KEYS <= set(cats)
    for key, c in cats.items():
        assert c.key == key
        assert c.name_zh and c.name_en and c.source
        assert c.level_min in (5, 10, 15)
        assert c.distance_m == LEVEL_DISTANCE[c.level_min]  # GB 50180 table 3.0.4
        assert c.group in GROUPS
        assert c.osm_tags and c.names and c.exclude, f"{key} lacks tag, name or exclusion rules"
        assert c.time_s == 60 * c.level_min


def test_groups_and_thresholds_follow_standards(cats):
    assert cats["elderly_home"].group == "age_60_plus"
    assert cats["elderly_day_care"].group == "age_60_plus"
    assert cats["childcare"].group == "age_0_2"
    assert cats["kindergarten"].group == "age_3_5"
    assert cats["convenience"].distance_m == 300
    assert cats["fresh_market"].distance_m == 500
    assert cats["pharmacy"].distance_m == 500
    assert cats["health_centre"].distance_m == 1000
    assert cats["primary_school"].distance_m == 500
    assert cats["middle_school"].distance_m == 1000


def test_capacity_norms(cats):
    home, child, kinder = cats["elderly_home"], cats["childcare"], cats["kindergarten"]
    assert home.capacity_unit == "beds" and home.demand_per_1000 == 40
    assert home.demand_group == "age_60_plus" and 200 <= home.capacity_per_site <= 500
    assert child.capacity_unit == "places" and child.capacity_per_site % 25 == 0  # 25 per class
    assert child.demand_per_1000 == 4.5 and child.demand_group == "total"
    assert kinder.capacity_per_site % 30 == 0  # 30 per class
    assert kinder.demand_per_1000 == 900 and kinder.demand_group == "age_3_5"
    for c in (home, child, kinder):
        assert c.capacitated and c.capacity_norm
    assert not cats["convenience"].capacitated
    assert cats["convenience"].capacity_per_site is None


def test_every_number_in_the_files_carries_source_and_verified():
    doc = tomllib.loads(CATEGORIES_FILE.read_text(encoding="utf-8"))
    for key, spec in doc["categories"].items():
        for field, raw in spec.items():
            if isinstance(raw, int | float) and not isinstance(raw, bool):
                pytest.fail(f"{key}.{field} is a bare number without source")
            if isinstance(raw, dict) and ("value" in raw or "text" in raw):
                assert raw["source"].strip(), f"{key}.{field}"
                assert isinstance(raw["verified"], bool), f"{key}.{field}"
    speeds = tomllib.loads(SPEEDS_FILE.read_text(encoding="utf-8"))["speeds"]
    for group, raw in speeds.items():
        assert raw["source"].strip() and isinstance(raw["verified"], bool), group


def test_unverified_values_are_flagged(cats):
    # marked [R] (commonly cited, unchecked): kindergarten 300 m, clinic 300 m, the 5-minute elderly day-care distance
    for key in ("kindergarten", "clinic", "elderly_day_care"):
        prov = {p.field: p for p in cats[key].provenance}
        assert prov["distance_m"].verified is False
        assert cats[key].verified is False
    prov = {p.field: p for p in cats["elderly_home"].provenance}
    assert prov["demand_per_1000"].verified is True  # GB 50437 3.2.1 [Q]
    assert prov["capacity_per_site"].verified is False  # GB 50180 App. C [R]


def test_speeds():
    assert load_speeds() == {
        "total": 1.2, "age_60_plus": 0.8, "age_65_plus": 0.8, "age_0_2": 0.9, "age_3_5": 0.9,
    }
    assert load_speeds(overrides={"age_60_plus": 0.64})["age_60_plus"] == 0.64
    with pytest.raises(InputError, match="km/h"):
        load_speeds(overrides={"total": 4.3})
    with pytest.raises(InputError, match="population group"):
        load_speeds(overrides={"teenagers": 1.3})


def test_time_mode_distance(cats):
    assert math.isclose(cats["convenience"].walk_distance_m(0.8), 240.0)
    assert math.isclose(cats["supermarket"].walk_distance_m(1.2), 1080.0)


def test_get_category_lists_known_keys(cats):
    assert get_category(cats, "pharmacy").name_zh == "药店"
    with pytest.raises(UnknownCategoryError) as info:
        get_category(cats, "pharmacies")
    msg = str(info.value)
    assert "pharmacies" in msg and "pharmacy" in msg and "kindergarten" in msg
    assert isinstance(info.value, KeyError)


def test_overrides_replace_and_add():
    cats = load_categories(overrides={
        "kindergarten": {"distance_m": 500},
        "canteen": {
            "name_zh": "社区食堂", "name_en": "Community canteen", "group": "age_60_plus",
            "level_min": 10, "distance_m": {"value": 500, "source": "Taiyuan 2025 plan",
                                              "verified": True},
            "osm_tags": [{"amenity": "canteen"}],
        },
    })
    k = cats["kindergarten"]
    assert k.distance_m == 500 and k.capacity_per_site == 270  # other fields kept
    prov = {p.field: p for p in k.provenance}
    assert prov["distance_m"].source == OVERRIDE_SOURCE and not prov["distance_m"].verified
    assert cats["canteen"].osm_tags == ((("amenity", ("canteen",)),),)
    canteen = {p.field: p for p in cats["canteen"].provenance}
    assert canteen["distance_m"].verified and canteen["distance_m"].source == "Taiyuan 2025 plan"
    assert not canteen["level_min"].verified and not cats["canteen"].verified


@settings(max_examples=25, deadline=None)
@given(d=st.floats(min_value=1.0, max_value=5000.0), level=st.sampled_from([5, 10, 15]))
def test_override_roundtrip(d, level):
    c = load_categories(overrides={"pharmacy": {"distance_m": d, "level_min": level}})["pharmacy"]
    assert c.distance_m == d and c.level_min == level


@pytest.mark.parametrize(
    "fields, match",
    [
        ({"level_min": 7}, "level_min"),
        ({"distance_m": -300}, "positive"),
        ({"distance_m": "300m"}, "not a number"),
        ({"group": "children"}, "population group"),
        ({"radius": 300}, "unknown field"),
        ({"osm_tags": {"amenity": "pharmacy"}}, "list of tables"),
        ({"osm_tags": [{"name": "~(unclosed"}]}, "regular expression"),
        ({"capacity_per_site": 10}, "capacity_unit"),
    ],
)
def test_bad_overrides(fields, match):
    with pytest.raises(InputError, match=match):
        load_categories(overrides={"pharmacy": fields})


def test_incomplete_new_category():
    with pytest.raises(InputError, match="lacks"):
        load_categories(overrides={"canteen": {"name_zh": "社区食堂"}})


def test_bad_files(tmp_path):
    with pytest.raises(InputError, match="does not exist"):
        load_categories(tmp_path / "nope.toml")
    bad = tmp_path / "bad.toml"
    bad.write_text("[categories\n", encoding="utf-8")
    with pytest.raises(InputError, match="not valid"):
        load_categories(bad)
    empty = tmp_path / "empty.toml"
    empty.write_text("", encoding="utf-8")
    with pytest.raises(InputError, match="no \\[categories"):
        load_categories(empty)


def test_rules_are_normalised_and_extended_by_overrides(cats):
    assert RULES_FILE.exists()
    assert "幼儿园" in cats["kindergarten"].names
    assert "美宜佳" in cats["convenience"].brands
    # a scenario's rule lists extend the bundled ones; patterns are normalised (traditional,
    # full-width and upper case are matched as simplified, half-width, lower case)
    more = load_categories(overrides={"pharmacy": {"names": ["藥鋪", "ＤＲＵＧ"],
                                                   "exclude": [{"names": ["中药材"], "why": "raw herbs"}]}})
    ph = more["pharmacy"]
    assert ph.names[: len(cats["pharmacy"].names)] == cats["pharmacy"].names
    assert ph.names[-2:] == ("药铺", "drug") or ph.names[-1] == "drug"
    assert ph.exclude[-1].names == ("中药材",) and ph.exclude[-1].why == "raw herbs"
    assert more["pharmacy"].distance_m == cats["pharmacy"].distance_m


@pytest.mark.parametrize(
    "fields, match",
    [
        ({"keywords": ["药铺"]}, "did you mean 'names'"),
        ({"exclude": [{"name": ["x"]}]}, "did you mean 'names'"),
        ({"exclude": [{"why": "no words"}]}, "names = \\[...\\]"),
        ({"exclude": [{"names": ["x"], "whyy": "y"}]}, "did you mean 'why'"),
        ({"names": ["(unclosed"]}, "regular expression"),
        ({"osm_tags": [{"opening_hours": "<7am"}]}, "opening time"),
    ],
)
def test_bad_rule_overrides(fields, match):
    with pytest.raises(InputError, match=match):
        load_categories(overrides={"pharmacy": fields})


def test_bad_rules_file(tmp_path):
    bad = tmp_path / "rules.toml"
    bad.write_text('[rules.pharmcy]\nnames = ["药店"]\n', encoding="utf-8")
    with pytest.raises(InputError, match="did you mean 'pharmacy'"):
        load_categories(rules=bad)


def test_add_keywords(cats):
    more = add_keywords(cats, {"社区药铺": "pharmacy", "九年制": ["primary_school"], "旧货": []})
    assert more["pharmacy"].names[-1] == "社区药铺"
    assert more["clinic"].exclude[-1].names == ("旧货",)
    with pytest.raises(UnknownCategoryError, match="pharmacies"):
        add_keywords(cats, {"药": "pharmacies"})
    with pytest.raises(InputError, match="keyword"):
        add_keywords(cats, {"": "pharmacy"})


def test_misspelt_group_and_category_get_a_suggestion():
    from planner.standards import get_category, load_speeds

    with pytest.raises(InputError, match="'age_60plus' is not a population group — did you mean "
                                         "'age_60_plus'"):
        load_speeds(overrides={"age_60plus": 0.65})
    with pytest.raises(UnknownCategoryError, match="Did you mean 'kindergarten'"):
        get_category(load_categories(), "kindergarden")


def test_the_command_line_starts_without_the_heavy_libraries():
    """`planner --help` stays instant: the CLI imports geopandas, pandas, shapely and numba
    only where a command uses them."""
    import subprocess
    import sys

    code = ("import sys, planner, planner.cli; "
            "print(sorted(m for m in ('geopandas', 'pandas', 'shapely', 'numba', 'osmnx', "
            "'pyrosm', 'fastapi') if m in sys.modules))")
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert out.stdout.strip() == "[]"


def test_misspelt_override_key_and_field_get_a_suggestion():
    with pytest.raises(InputError, match=r"\[categories.kindergarden\].*did you mean 'kindergarten'"):
        load_categories(overrides={"kindergarden": {"distance_m": 500}})
    with pytest.raises(InputError, match=r"distance_m.sorce is an unknown field — did you mean "
                                         r"'source'"):
        load_categories(overrides={"pharmacy": {"distance_m": {"value": 300, "sorce": "x"}}})


@pytest.mark.parametrize(
    "name, old, new, match",
    [
        ("population.toml", "m2_per_person = 36.52", "m2_per_person = -1",
         r"population.toml: floor_area.m2_per_person = -1"),
        ("population.toml", "residential_share = 0.5", "residential_shar = 0.5",
         r"auto.residential_shar is an unknown field — did you mean 'residential_share'"),
        ("age_structure.toml", "share = 0.1892", "share = 18.92", r"shares.age_60_plus.share"),
        ("age_structure.toml", "[shanxi.shares.age_0_2]", "[shanxi.shares.age_0to2]",
         r"'age_0to2' is not a population group"),
        ("walk_filter.toml", "foot_forbids = ", "foot_forbid = ",
         r"access.foot_forbid is an unknown field — did you mean 'foot_forbids'"),
        ("speeds.toml", "age_3_5 = ", "age_3_6 = ", r"'age_3_6' is not a population group"),
    ],
)
def test_every_standards_file_is_checked(tmp_path, name, old, new, match):
    from planner.io.buildings import load_building_defaults
    from planner.io.population import load_age_shares
    from planner.paths import STANDARDS_DIR
    from planner.walkable import load_walk_rules

    text = (STANDARDS_DIR / name).read_text(encoding="utf-8")
    assert old in text
    path = tmp_path / name
    path.write_text(text.replace(old, new, 1), encoding="utf-8")
    load = {"population.toml": load_building_defaults, "age_structure.toml": load_age_shares,
            "walk_filter.toml": load_walk_rules, "speeds.toml": load_speeds}[name]
    with pytest.raises(InputError, match=match):
        load(path=path) if name != "age_structure.toml" else load("shanxi", path=path)


def _latin_words(text: str) -> list[str]:
    """English words of a text: runs of letters, not standard codes (GB) or markers."""
    import re
    return [w for w in re.findall(r"[A-Za-z]{3,}", text) if w not in ("MOFCOM",)]


def test_every_bundled_source_is_given_in_chinese_too(cats):
    for key, c in cats.items():
        for p in c.provenance:
            assert p.source_zh, f"{key}.{p.field} has no source_zh"
            assert not _latin_words(p.source_zh), (key, p.field, p.source_zh)


def test_a_scenario_source_may_leave_the_chinese_out():
    cats = load_categories(overrides={"pharmacy": {
        "distance_m": {"value": 400, "source": "Taiyuan 2025 plan"}}})
    prov = {p.field: p for p in cats["pharmacy"].provenance}
    assert prov["distance_m"].source_zh is None and prov["level_min"].source_zh


def test_a_bundled_source_without_chinese_is_refused(tmp_path, monkeypatch):
    import planner.standards as standards

    text = CATEGORIES_FILE.read_text(encoding="utf-8")
    start = text.index(", source_zh = ", text.index("[categories."))
    end = text.index('"', text.index('"', start) + 1) + 1
    bare = tmp_path / "categories.toml"
    bare.write_text(text[:start] + text[end:], encoding="utf-8")
    monkeypatch.setattr(standards, "CATEGORIES_FILE", bare)
    with pytest.raises(InputError, match=r"lacks source_zh for \['elderly_day_care.level_min'\]"):
        standards.load_categories()
