"""Mask outlines against GDAL's polygonize (rasterio ``shapes``, 4-connectivity): the same
polygons, each valid, for random masks with holes and cells touching only at corners."""

from __future__ import annotations

import numpy as np
import shapely
from hypothesis import given, settings
from hypothesis import strategies as st
from rasterio.features import shapes
from rasterio.transform import from_origin

from planner.outline import mask_polygons


def gdal_polygons(mask, x0, y1, cell):
    transform = from_origin(x0, y1, cell, cell)
    return [shapely.geometry.shape(g) for g, _ in shapes(
        mask.view(np.uint8), mask=mask, connectivity=4, transform=transform)]


@settings(max_examples=300, deadline=None)
@given(st.integers(1, 14), st.integers(1, 14), st.sampled_from([0.3, 0.5, 0.7]),
       st.integers(0, 2**31 - 1))
def test_outline_matches_gdal(height, width, density, seed):
    mask = np.random.default_rng(seed).random((height, width)) < density
    got = mask_polygons(mask, 100.0, 50.0, 2.5)
    ref = gdal_polygons(mask, 100.0, 50.0, 2.5)
    assert len(got) == len(ref)
    if not ref:
        return
    assert shapely.is_valid(got).all()
    assert sorted(np.round(shapely.area(got), 6)) == sorted(np.round([p.area for p in ref], 6))
    union = shapely.union_all(got)
    assert union.area == np.float64(mask.sum() * 2.5**2)
    assert shapely.symmetric_difference(union, shapely.union_all(ref)).area == 0.0


def test_hole_touching_the_outline_at_a_corner():
    mask = np.array([[1, 1, 1, 0],
                     [1, 0, 1, 0],
                     [1, 1, 0, 1],
                     [0, 0, 0, 0]], dtype=bool)
    got = mask_polygons(mask, 0.0, 4.0, 1.0)
    assert len(got) == 2 and shapely.is_valid(got).all()
    assert sorted(shapely.area(got)) == [1.0, 7.0]
    assert len(got[np.argmax(shapely.area(got))].interiors) == 1


def test_empty_mask_has_no_polygons():
    assert len(mask_polygons(np.zeros((3, 3), bool), 0.0, 0.0, 1.0)) == 0
