"""The gap map in a real browser: headless Chromium, network disabled.

Checks that Leaflet initialises without console errors, that the expected layers and legend are
on the page, that nothing is fetched from the web, and writes screenshots to tests/artifacts/.
"""

from __future__ import annotations

import html
import json
import re
import shutil
import subprocess
from pathlib import Path

import pytest
from planner.maps import gap_map, save_gap_map

from tests.test_gapmap import build_case

CHROMIUM = Path("/usr/bin/chromium")
ARTIFACTS = Path(__file__).resolve().parent / "artifacts"

pytestmark = [pytest.mark.slow, pytest.mark.skipif(
    not CHROMIUM.exists(),
    reason="headless browser test needs /usr/bin/chromium (apt-get install -y chromium)",
)]

# Injected at the top of <head> of a copy of the page: records errors, then reports the map state.
PROBE = """<script>
window.__errors = [];
window.addEventListener('error', function (e) { window.__errors.push(String(e.message)); });
(function () {
  var original = console.error;
  console.error = function () {
    window.__errors.push(Array.prototype.join.call(arguments, ' '));
    original.apply(console, arguments);
  };
})();
window.addEventListener('load', function () {
  setTimeout(function () {
    var out = {errors: window.__errors};
    var el = document.querySelector('.folium-map');
    var map = el && window[el.id];
    out.leaflet = (typeof L !== 'undefined') && L.version;
    out.map = !!(map && map.getCenter);
    out.layers = 0;
    if (out.map) {
      var popup = null;
      map.eachLayer(function (l) { out.layers++; if (!popup && l.getPopup && l.getPopup()) popup = l; });
      if (popup) { popup.openPopup(); }
      var content = document.querySelector('.leaflet-popup-content');
      out.popup = content ? content.innerHTML : '';
    }
    out.overlays = Array.prototype.map.call(
      document.querySelectorAll('.leaflet-control-layers-overlays label'),
      function (l) { return l.textContent.trim(); });
    out.checked = Array.prototype.map.call(
      document.querySelectorAll('.leaflet-control-layers-overlays input:checked'),
      function (i) { return i.nextSibling.textContent.trim(); });
    out.paths = document.querySelectorAll('.leaflet-overlay-pane path').length;
    out.pins = document.querySelectorAll('.leaflet-marker-pane .plc-pin').length;
    out.legend = (document.getElementById('plc-legend') || {}).textContent || '';
    out.external = performance.getEntriesByType('resource')
      .map(function (r) { return r.name; })
      .filter(function (u) { return /^https?:/.test(u); });
    var pre = document.createElement('pre');
    pre.id = 'plc-probe';
    pre.textContent = JSON.stringify(out);
    document.body.appendChild(pre);
  }, 300);
});
</script>"""


def _offline_prefix() -> list[str]:
    """Run the browser in a network namespace without interfaces when the system allows it."""
    unshare = shutil.which("unshare")
    if unshare and subprocess.run([unshare, "-n", "true"], capture_output=True).returncode == 0:
        return [unshare, "-n"]
    return []


def chromium(page: Path, profile: Path, *extra: str) -> subprocess.CompletedProcess:
    cmd = [
        *_offline_prefix(),
        str(CHROMIUM),
        "--headless",
        "--no-sandbox",
        "--disable-gpu",
        "--disable-dev-shm-usage",
        "--disable-background-networking",
        "--disable-component-update",
        "--disable-sync",
        "--no-first-run",
        "--no-default-browser-check",
        "--hide-scrollbars",
        "--host-resolver-rules=MAP * ~NOTFOUND",
        "--proxy-server=127.0.0.1:9",
        f"--user-data-dir={profile}",
        "--window-size=1400,1000",
        "--virtual-time-budget=8000",
        *extra,
        page.as_uri(),
    ]
    return subprocess.run(cmd, capture_output=True, text=True, timeout=120)


def probe(page: Path, tmp: Path) -> dict:
    text = page.read_text(encoding="utf-8")
    probed = tmp / f"probe_{page.name}"
    probed.write_text(text.replace("<head>", "<head>" + PROBE, 1), encoding="utf-8")
    run = chromium(probed, tmp / f"profile_{page.stem}", "--dump-dom")
    found = re.search(r'<pre id="plc-probe">(.*?)</pre>', run.stdout, re.S)
    assert found, f"the page never finished loading; chromium said: {run.stderr[-2000:]}"
    return json.loads(html.unescape(found.group(1)))


@pytest.fixture(scope="module")
def case():
    return build_case()


@pytest.mark.parametrize("lang", ["zh", "en"])
def test_map_opens_offline_in_chromium(case, tmp_path, lang):
    args = {k: v for k, v in case.items() if k not in ("cells", "distances", "categories")}
    m = gap_map(case["cells"], case["distances"], case["categories"], lang=lang,
                shown="pharmacy", basemap="none", **args)
    page = save_gap_map(m, tmp_path / f"gapmap_{lang}.html")
    state = probe(page, tmp_path)
    assert state["errors"] == []
    assert state["leaflet"] == "1.9.3" and state["map"]
    assert state["external"] == []
    cats = case["categories"]
    names = [cats[k].name_zh if lang == "zh" else cats[k].name_en for k in case["distances"]]
    for name in names:
        assert any(o.startswith(name) for o in state["overlays"]), (name, state["overlays"])
    streets = "步行网络" if lang == "zh" else "Walk network"
    assert streets in state["checked"] and any(c.startswith(names[2]) for c in state["checked"])
    assert state["paths"] >= 8 and state["pins"] >= 4
    assert ("步行时间" if lang == "zh" else "Walking time") in state["legend"]
    district = "西街道"  # the first district's popup holds its coverage table
    assert district in state["popup"] and "<table" in state["popup"]
    assert (cats["pharmacy"].name_zh if lang == "zh" else cats["pharmacy"].name_en) in state["popup"]

    ARTIFACTS.mkdir(exist_ok=True)
    shot = ARTIFACTS / f"gapmap_{lang}.png"
    run = chromium(page, tmp_path / f"shot_{lang}", f"--screenshot={shot}")
    assert shot.exists() and shot.stat().st_size > 10_000, run.stderr[-2000:]
