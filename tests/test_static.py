"""Static maps without a scenario run: the PNG writer round-trips through Pillow, and a page
reused for several categories draws each exactly as a page of its own would."""

import geopandas as gpd
import numpy as np
import pytest
import shapely
from PIL import Image

from planner.errors import InputError
from planner.maps.static import MapPage, render_gap_map, save_png
from planner.standards import load_categories
from planner.synthetic import street_network


@pytest.fixture(scope="module")
def town():
    """A small street grid, 100 m cells over it with people, and two categories' distances."""
    net = street_network(120, seed=3)
    (x0, y0), (x1, y1) = net.node_xy.min(axis=0), net.node_xy.max(axis=0)
    xs, ys = np.meshgrid(np.arange(x0, x1, 100.0), np.arange(y0, y1, 100.0))
    boxes = shapely.box(xs.ravel(), ys.ravel(), xs.ravel() + 100, ys.ravel() + 100)
    rng = np.random.default_rng(3)
    cells = gpd.GeoDataFrame({"total": rng.integers(0, 40, len(boxes)).astype(float)},
                             geometry=boxes, crs=net.crs)
    distances = {k: rng.uniform(0, 2500, len(cells)) for k in ("kindergarten", "pharmacy")}
    return net, cells, distances, load_categories()


def draw(town, key, page=None):
    net, cells, distances, cats = town
    return render_gap_map(key=key, category=cats[key], cells=cells, distance_m=distances[key],
                          speed_m_s=1.0, network=net, subtitle=key, dpi=40, page=page)


def test_png_round_trips_with_its_resolution(tmp_path):
    rgba = np.random.default_rng(0).integers(0, 256, (37, 53, 4), dtype=np.uint8)
    path = save_png(rgba[..., :3], tmp_path / "m.png", dpi=300)  # a view, as maps pass it
    with Image.open(path) as im:
        assert im.format == "PNG" and im.mode == "RGB"
        assert im.info["dpi"] == pytest.approx((300, 300), abs=0.01)
        np.testing.assert_array_equal(np.asarray(im), rgba[..., :3])


def test_png_refuses_what_is_not_8_bit_rgb(tmp_path):
    with pytest.raises(InputError, match="8-bit RGB"):
        save_png(np.zeros((4, 4)), tmp_path / "x.png")
    with pytest.raises(InputError, match="8-bit RGB"):
        save_png(np.zeros((4, 4, 3), dtype=float), tmp_path / "x.png")


def test_a_reused_page_draws_each_map_as_a_fresh_page_would(town):
    net, cells, _, _ = town
    page = MapPage(cells, net, dpi=40)
    first = draw(town, "pharmacy", page)
    again = draw(town, "kindergarten", page)  # after another category on the same page
    np.testing.assert_array_equal(again, draw(town, "kindergarten"))
    np.testing.assert_array_equal(first, draw(town, "pharmacy"))
    assert not np.array_equal(first, again)
