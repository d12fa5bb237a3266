"""Make a Folium page self-contained: Leaflet's JS and CSS are inlined from maps/assets.

Folium links its scripts and stylesheets from CDNs. A gap map has to open on a planning
office's machine without internet, so :func:`offline_map` swaps a map's links for placeholders
and :func:`inline_assets` replaces each placeholder with the shipped file's text (images in the
CSS as data URIs). Any other external script or stylesheet left in the page is an error.
"""

from __future__ import annotations

import base64
import re
from pathlib import Path

import folium

from planner.errors import PlannerError

ASSET_DIR = Path(__file__).resolve().parent / "assets"
_SCHEME = "planner-asset:"
#: What the map pages load: (name, file under maps/assets).
JS = [("leaflet", "leaflet/leaflet.js")]
CSS = [("leaflet_css", "leaflet/leaflet.css")]

_SCRIPT = re.compile(r'<script\s+src="([^"]+)"\s*>\s*</script>')
_LINK = re.compile(r'<link\s+rel="stylesheet"\s+href="([^"]+)"\s*/?>')
_EXTERNAL = re.compile(r'<(?:script|link)\b[^>]*(?:src|href)="(?:https?:)?//[^"]*"', re.I)
_CSS_URL = re.compile(r"url\((images/[\w.-]+\.png)\)")


class OfflineAssetError(PlannerError):
    """A map page references a web asset that is not shipped in maps/assets."""


def offline_map(m: folium.Map) -> folium.Map:
    """Point the map's default scripts/styles at the shipped assets (no jQuery, Bootstrap or
    Font Awesome: the gap map draws its icons and legends with plain HTML)."""
    m.default_js = [(name, _SCHEME + path) for name, path in JS]
    m.default_css = [(name, _SCHEME + path) for name, path in CSS]
    return m


def _read(path: str) -> str:
    file = ASSET_DIR / path
    if not file.is_file():
        raise OfflineAssetError(
            f"The map asset {file} is missing; reinstall the package (maps/assets ships Leaflet)."
        )
    return file.read_text(encoding="utf-8")


def _css(path: str) -> str:
    folder = (ASSET_DIR / path).parent

    def data_uri(match: re.Match) -> str:
        png = (folder / match.group(1)).read_bytes()
        return "url(data:image/png;base64," + base64.b64encode(png).decode("ascii") + ")"

    return _CSS_URL.sub(data_uri, _read(path))


def inline_assets(html: str) -> str:
    """Replace the placeholder links of :func:`offline_map` by the assets' text.

    Raises OfflineAssetError when an external (http, https or protocol-relative) script or
    stylesheet remains, naming it.
    """

    def script(match: re.Match) -> str:
        url = match.group(1)
        if not url.startswith(_SCHEME):
            return match.group(0)
        return "<script>" + _read(url[len(_SCHEME):]) + "</script>"

    def link(match: re.Match) -> str:
        url = match.group(1)
        if not url.startswith(_SCHEME):
            return match.group(0)
        return "<style>" + _css(url[len(_SCHEME):]) + "</style>"

    out = _LINK.sub(link, _SCRIPT.sub(script, html))
    left = _EXTERNAL.findall(out)
    if left:
        raise OfflineAssetError(
            f"The map still loads {left[0]}… from the web; ship the file in maps/assets and "
            "register it in maps.offline.JS/CSS."
        )
    return out


def save_offline(m: folium.Map, path: str | Path) -> Path:
    """Render ``m`` to a single self-contained HTML file (UTF-8); returns the path."""
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    html = inline_assets(offline_map(m).get_root().render())
    path.write_text(html, encoding="utf-8")
    return path
