"""Facility uploads are read at submission as the job would read them: swapped columns and
coordinate systems left undeclared in China are refused with the fix, before any job runs."""

from __future__ import annotations

import pytest
from api_support import HELSINKI_POINT, built_data_dir, client


@pytest.fixture(scope="module")
def net_dir(tmp_path_factory):
    d = tmp_path_factory.mktemp("inputs")
    return d, built_data_dir(d)


@pytest.fixture()
def c(net_dir):
    with client(net_dir[0]) as c:
        yield c


def _upload(c, name: str, text: str) -> str:
    r = c.post("/v1/uploads", files={"file": (name, text.encode("utf-8"))})
    assert r.status_code == 201, r.text
    return r.json()["id"]


def _submit(c, nid: str, upload_id: str, **fields):
    return c.post("/v1/scenarios", json={"network_id": nid, "facilities": [
        {"source": "upload", "upload_id": upload_id, "category": "kindergarten", **fields}]})


def test_swapped_csv_upload_is_refused_at_submission(c, net_dir):
    lon, lat = HELSINKI_POINT
    uid = _upload(c, "swapped.csv", f"name,lon,lat\na,{lat},{lon}\nb,{lat + 0.001},{lon}\n")
    r = _submit(c, net_dir[1], uid, coords="wgs84")
    assert r.status_code == 400, r.text
    assert r.json()["error"] == "CRSError" and "swap" in r.json()["detail"]
    good = _upload(c, "good.csv", f"name,lon,lat\na,{lon},{lat}\n")
    assert _submit(c, net_dir[1], good, coords="wgs84").status_code == 201


def test_undeclared_coordinates_in_china_are_refused_at_submission(c, net_dir):
    uid = _upload(c, "amap.csv", "名称,经度,纬度\n阳光幼儿园,112.5501,37.8702\n")
    r = _submit(c, net_dir[1], uid)
    assert r.status_code == 400, r.text
    detail = r.json()["detail"]
    assert "gcj02" in detail and '"coords"' in detail


def test_an_excel_facility_list_is_taken_like_a_csv(c, net_dir, tmp_path):
    import pandas as pd

    lon, lat = HELSINKI_POINT
    path = tmp_path / "kindergartens.xlsx"
    pd.DataFrame({"名称": ["阳光幼儿园"], "经度": [lon], "纬度": [lat], "学位": [120]}).to_excel(
        path, index=False)
    r = c.post("/v1/uploads", files={"file": (path.name, path.read_bytes())})
    assert r.status_code == 201, r.text
    assert _submit(c, net_dir[1], r.json()["id"], coords="wgs84").status_code == 201
