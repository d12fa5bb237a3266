"""A province job through the HTTP interface: units uploaded, the job's monitoring table,
overview map and each unit's gap map served like any other result."""

from __future__ import annotations

import io
import json

import geopandas as gpd
import pandas as pd
import pytest
import shapely
from api_support import built_data_dir, client, wait_job

pytestmark = pytest.mark.slow  # a run over two units of the sample network

UNITS = gpd.GeoDataFrame(
    {"区划代码": ["W", "E"], "名称": ["西片", "东片"]},
    geometry=[shapely.box(24.92, 60.155, 24.9443, 60.19), shapely.box(24.9443, 60.155, 24.965,
                                                                      60.19)], crs=4326)


def test_a_province_job_serves_its_tables_overview_and_unit_maps(tmp_path):
    network_id = built_data_dir(tmp_path)
    with client(tmp_path, workers=1) as c:
        body = {"name": "two units", "network_id": network_id,
                "facilities": [{"source": "osm"}],
                "population": {"source": "buildings", "cell_m": 100, "building_use": "all"},
                "analysis": {"categories": ["convenience", "pharmacy"]}}
        r = c.post("/v1/scenarios", json=body)
        assert r.status_code == 201, r.text
        scenario = r.json()["id"]
        units = c.post("/v1/uploads", files={"file": ("units.geojson", UNITS.to_json())}).json()
        bad = c.post(f"/v1/scenarios/{scenario}/province",
                     json={"units_upload_id": units["id"], "code_column": "代码"})
        assert bad.status_code == 400 and "代码" in bad.text
        r = c.post(f"/v1/scenarios/{scenario}/province",
                   json={"units_upload_id": units["id"], "code_column": "区划代码"})
        assert r.status_code == 202, r.text
        job = wait_job(c, r.json()["id"], timeout_s=180)
        assert job["status"] == "done", job
        result = c.get(f"/v1/jobs/{job['id']}/result").json()
        assert result["kind"] == "province" and result["summary"]["failed"] == []
        names = {t["name"] for t in result["tables"]}
        assert {"province_monitoring", "province_units"} <= names
        table = pd.read_csv(io.StringIO(c.get(
            f"/v1/jobs/{job['id']}/tables/province_monitoring.csv").text))
        assert set(table["unit_code"]) == {"W", "E", "ALL"}
        layer = json.loads(c.get(f"/v1/jobs/{job['id']}/layers/province_units.geojson").text)
        assert {f["properties"]["unit_name"] for f in layer["features"]} == {"西片", "东片"}
        overview = c.get(result["map_url"])
        assert overview.status_code == 200 and "units/W/gap_map.html" in overview.text
        unit_map = c.get(f"/v1/jobs/{job['id']}/units/W/gap_map.html")
        assert unit_map.status_code == 200 and "<html" in unit_map.text.lower()
        assert c.get(f"/v1/jobs/{job['id']}/units/X/gap_map.html").status_code == 404
        assert c.get(result["workbook_url"]).status_code == 200
