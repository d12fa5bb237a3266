"""The gap map in a real browser: headless Chromium, network disabled.

Checks that Leaflet initialises without console errors, that the expected layers and legend are
on the page, that nothing is fetched from the web; and, on the bundled sample at a laptop, a
projector and a phone size, that title, legend, layer panel and scale never overlap, that gap
labels sit clear of markers and panels, and that Chinese is drawn with the embedded font (the
machine need not have a CJK font). Screenshots go to tests/artifacts/; with UPDATE_DOCS_PNG=1
the 1400×1000 one replaces docs/gap_map.png.
"""

from __future__ import annotations

import html
import itertools
import json
import os
import re
import shutil
import subprocess
from pathlib import Path

import pytest

from planner.maps import gap_map, save_gap_map
from tests.test_gapmap import build_case

CHROMIUM = Path("/usr/bin/chromium")
ARTIFACTS = Path(__file__).resolve().parent / "artifacts"
DOCS_PNG = Path(__file__).resolve().parents[1] / "docs" / "gap_map.png"

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
function __box(el) {
  if (!el || !el.getClientRects().length) { return null; }
  var r = el.getBoundingClientRect();
  return [r.left, r.top, r.right, r.bottom];
}
function __all(selector) {
  return Array.prototype.map.call(document.querySelectorAll(selector), __box);
}
function __panels() {
  return {title: __box(document.getElementById('plc-title')),
          legend: __box(document.getElementById('plc-legend')),
          layers: __box(document.querySelector('.leaflet-control-layers')),
          scale: __box(document.querySelector('.leaflet-control-scale'))};
}
// Where the panels, rank labels, markers and gap areas are on the screen now.
function __layout() {
  return {
    panels: __panels(),
    labels: Array.prototype.map.call(document.querySelectorAll(
      '.leaflet-marker-pane .plc-rank-icon:not(.plc-hidden) .plc-rank'), function (el) {
        return {rank: +el.textContent, box: __box(el)}; }),
    markers: __all('.leaflet-marker-pane .plc-pin'),
    proposals: __all('.leaflet-marker-pane .plc-proposed'),
    gaps: __all('.leaflet-overlay-pane path.plc-gap')
  };
}
// Two different characters drawn alike in a font = empty boxes (tofu).
function __glyphs(font) {
  var c = document.createElement('canvas'), g = c.getContext('2d', {willReadFrequently: true});
  c.width = c.height = 40;
  function draw(ch) {
    g.clearRect(0, 0, 40, 40); g.font = font; g.fillText(ch, 4, 32);
    return Array.prototype.join.call(g.getImageData(0, 0, 40, 40).data, '');
  }
  return draw('缺') !== draw('口') && draw('缺') !== draw('');
}
window.addEventListener('load', function () {
  (document.fonts ? document.fonts.ready : Promise.resolve()).then(function () { setTimeout(function () {
    var out = {errors: window.__errors};
    var el = document.querySelector('.folium-map');
    var map = el && window[el.id];
    out.leaflet = (typeof L !== 'undefined') && L.version;
    out.map = !!(map && map.getCenter);
    out.view = [window.innerWidth, window.innerHeight];
    out.layout = __layout();
    // folded panels (small screens): open each in turn, as a reader would
    out.opened = {};
    var legendButton = document.querySelector('.plc-legend-toggle');
    if (legendButton && legendButton.offsetParent) {
      legendButton.click(); out.opened.legend = __panels(); legendButton.click();
    }
    var layersButton = document.querySelector('.leaflet-control-layers-toggle');
    if (layersButton && layersButton.offsetParent) {
      layersButton.click(); out.opened.layers = __panels(); map.fire('click');
    }
    // the language switch in the title: the other language, laid out again
    var button = document.querySelector('.plc-lang');
    if (button) {
      button.click();
      out.switched = [document.documentElement.lang,
                      (document.getElementById('plc-legend') || {}).innerText || ''];
      out.switched_layout = __layout();
      button.click();
    }
    out.cjk = __glyphs('24px "Planner CJK"');
    out.cjk_system = __glyphs('24px sans-serif');  // false on a machine without CJK fonts
    out.fonts = [];
    if (document.fonts) {
      document.fonts.forEach(function (f) { out.fonts.push(f.family.replace(/"/g, '') + ' ' + f.status); });
    }
    out.overlays = Array.prototype.map.call(
      document.querySelectorAll('.leaflet-control-layers-overlays label'),
      function (l) { return l.innerText.trim(); });
    out.checked = Array.prototype.map.call(
      document.querySelectorAll('.leaflet-control-layers-overlays input:checked'),
      function (i) { return i.nextSibling.innerText.trim(); });
    out.paths = document.querySelectorAll('.leaflet-overlay-pane path').length;
    out.pins = document.querySelectorAll('.leaflet-marker-pane .plc-pin').length;
    out.legend = (document.getElementById('plc-legend') || {}).innerText || '';
    out.external = performance.getEntriesByType('resource')
      .map(function (r) { return r.name; })
      .filter(function (u) { return /^https?:/.test(u); });
    out.layers = 0;
    if (out.map) {
      map.setZoom(map.getZoom() + 1, {animate: false});  // labels placed again after a zoom
      out.zoomed = __layout();
      var popup = null;
      map.eachLayer(function (l) { out.layers++; if (!popup && l.getPopup && l.getPopup()) popup = l; });
      if (popup) { popup.openPopup(); }
      var content = document.querySelector('.leaflet-popup-content');
      out.popup = content ? content.innerHTML : '';
    }
    var pre = document.createElement('pre');
    pre.id = 'plc-probe';
    pre.textContent = JSON.stringify(out);
    document.body.appendChild(pre);
    if (window.parent !== window) { window.parent.postMessage(pre.textContent, '*'); }
  }, 300); });
});
</script>"""


def _offline_prefix() -> list[str]:
    """Run the browser in a network namespace without interfaces when the system allows it."""
    unshare = shutil.which("unshare")
    if unshare and subprocess.run([unshare, "-n", "true"], capture_output=True).returncode == 0:
        return [unshare, "-n"]
    return []


def chromium(page: Path, profile: Path, *extra: str,
             size: tuple[int, int] = (1400, 1000)) -> subprocess.CompletedProcess:
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
        f"--window-size={size[0]},{size[1]}",
        "--virtual-time-budget=8000",
        *extra,
        page.as_uri(),
    ]
    return subprocess.run(cmd, capture_output=True, text=True, timeout=120)


# A page showing another in a frame of a given size (a viewport of exactly that size, which a
# headless window with --dump-dom does not give), passing on what the PROBE inside reports.
FRAME = """<!DOCTYPE html><html><body style="margin:0">
<iframe src="{src}" width="{w}" height="{h}" style="border:0;display:block"></iframe>
<script>window.addEventListener('message', function (e) {{
  var pre = document.createElement('pre'); pre.id = 'plc-probe'; pre.textContent = e.data;
  document.body.appendChild(pre); }});</script></body></html>"""


def probe(page: Path, tmp: Path, size: tuple[int, int] | None = None) -> dict:
    """Open a copy of the page with the PROBE script (in a frame of ``size`` px when given);
    returns what it recorded."""
    text = page.read_text(encoding="utf-8")
    probed = tmp / f"probe_{page.name}"
    probed.write_text(text.replace("<head>", "<head>" + PROBE, 1), encoding="utf-8")
    window = (1400, 1000)
    if size is not None:
        frame = tmp / f"frame_{page.name}"
        frame.write_text(FRAME.format(src=probed.name, w=size[0], h=size[1]), encoding="utf-8")
        probed, window = frame, (size[0] + 200, size[1] + 300)
    run = chromium(probed, tmp / f"profile_{page.stem}", "--dump-dom", size=window)
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
    other, legend = state["switched"]  # the switch in the title shows the other language
    assert other == ("en" if lang == "zh" else "zh-CN")
    assert ("Walking time" if lang == "zh" else "步行时间") in legend
    assert ("步行时间" if lang == "zh" else "Walking time") not in legend
    district = "西街道"  # the first district's popup holds its coverage table
    assert district in state["popup"] and "<table" in state["popup"]
    assert (cats["pharmacy"].name_zh if lang == "zh" else cats["pharmacy"].name_en) in state["popup"]

    ARTIFACTS.mkdir(exist_ok=True)
    shot = ARTIFACTS / f"gapmap_{lang}.png"
    run = chromium(page, tmp_path / f"shot_{lang}", f"--screenshot={shot}")
    assert shot.exists() and shot.stat().st_size > 10_000, run.stderr[-2000:]


# --- layout on the sample ---------------------------------------------------------------------

SIZES = [(1024, 700), (1400, 1000), (390, 844)]


def overlap(a, b) -> bool:
    return a[0] < b[2] and b[0] < a[2] and a[1] < b[3] and b[1] < a[3]


@pytest.fixture(scope="module")
def sample_page(tmp_path_factory) -> Path:
    """The gap map of the bundled sample (elderly day care and kindergarten proposed at the
    same five places), as `planner run` draws it."""
    from planner.scenario import run_scenario
    from planner.scenario_file import load_scenario
    from planner.standards import load_speeds

    folder = tmp_path_factory.mktemp("sample")
    run = run_scenario(load_scenario(), cache_dir=folder / ".cache")
    keys = list(run.distances.columns)
    m = gap_map(
        run.demand.cells, {k: run.distances[k].to_numpy() for k in keys},
        {k: run.categories[k] for k in keys},
        speeds=load_speeds(overrides=run.scenario.speeds or None), facilities=run.facilities,
        gaps=run.layers.get("gap_areas"), isochrones=run.layers.get("isochrones"),
        districts=run.layers.get("districts"), district_table=run.district_table,
        complete=run.complete, proposed=run.layers.get("proposals"), network=run.network,
        off_streets=run.layers.get("cells_off_streets"), title=run.scenario.name,
        shown=run.scenario.optimize[0].categories[0],
    )
    return save_gap_map(m, folder / "gap_map.html")


def check_layout(layout: dict, size: tuple[int, int], lang: str) -> None:
    """Panels inside the view and apart; five proposed places, each one marker; ranks 1–5 and
    more labelled, clear of every marker; no panel over a label, a gap area or a proposal."""
    panels = layout["panels"]
    assert all(panels.values()), (lang, panels)  # title, legend (or its button), layers, scale
    for name, b in panels.items():
        assert b[0] >= 0 and b[1] >= 0 and b[2] <= size[0] and b[3] <= size[1], (lang, name, b)
    for (n1, b1), (n2, b2) in itertools.combinations(panels.items(), 2):
        assert not overlap(b1, b2), (lang, n1, b1, n2, b2)
    assert len(layout["proposals"]) == 5
    labels = layout["labels"]
    assert {1, 2, 3, 4, 5} <= {lab["rank"] for lab in labels}, (lang, labels)
    assert len(labels) > 5  # more than five gaps labelled where there is room
    assert len(layout["gaps"]) >= 7  # the sample's elderly day-care gaps
    for lab in labels:
        for marker in layout["markers"]:
            assert not overlap(lab["box"], marker), (lang, lab, marker)
    for shape in [lab["box"] for lab in labels] + layout["gaps"] + layout["proposals"]:
        for name, b in panels.items():
            assert not overlap(shape, b), (lang, shape, name)


@pytest.mark.parametrize("size", SIZES, ids=[f"{w}x{h}" for w, h in SIZES])
def test_sample_map_never_covers_itself(sample_page, tmp_path, size):
    ARTIFACTS.mkdir(exist_ok=True)
    shot = ARTIFACTS / f"gapmap_sample_{size[0]}x{size[1]}.png"
    state = probe(sample_page, tmp_path, size=size)
    assert state["errors"] == [] and state["external"] == []
    assert state["view"] == list(size)
    for lang, layout in (("zh", state["layout"]), ("en", state["switched_layout"])):
        check_layout(layout, size, lang)
    zoomed = state["zoomed"]  # one zoom level in: labels placed again, still off the markers
    for lab in zoomed["labels"]:
        assert not any(overlap(lab["box"], m) for m in zoomed["markers"]), lab
    if size[0] < 640:  # on a phone the legend and the layer panel open from buttons
        assert set(state["opened"]) == {"legend", "layers"}
        for opened, boxes in state["opened"].items():
            for (n1, b1), (n2, b2) in itertools.combinations(boxes.items(), 2):
                assert not overlap(b1, b2), (opened, n1, b1, n2, b2)
            assert boxes[opened][3] - boxes[opened][1] > 100, (opened, boxes)  # really open
    assert state["cjk"], state["fonts"]  # Chinese drawn with real glyphs, not empty boxes
    assert "Planner CJK loaded" in state["fonts"]
    run = chromium(sample_page, tmp_path / "shot", f"--screenshot={shot}", size=size)
    assert shot.exists() and shot.stat().st_size > 10_000, run.stderr[-2000:]
    if size == (1400, 1000) and os.environ.get("UPDATE_DOCS_PNG") == "1":
        shutil.copyfile(shot, DOCS_PNG)
