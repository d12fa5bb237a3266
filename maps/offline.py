"""Make a Folium page self-contained: Leaflet's JS and CSS are inlined from maps/assets.

Folium links its scripts and stylesheets from CDNs. A gap map has to open on a planning
office's machine without internet, so :func:`offline_map` swaps a map's links for placeholders
and :func:`inline_assets` replaces each placeholder with the shipped file's text (images in the
CSS as data URIs). Any other external script or stylesheet left in the page is an error.
:func:`embed_font` puts the Chinese font, reduced to the characters of the page, into the page,
so Chinese renders on machines without a CJK font.
"""

from __future__ import annotations

import base64
import functools
import html as htmllib
import io
import re
from pathlib import Path

import folium

from planner.errors import PlannerError
from planner.fonts import cjk_font_path

ASSET_DIR = Path(__file__).resolve().parent / "assets"
_SCHEME = "planner-asset:"
#: What the map pages load: (name, file under maps/assets).
JS = [("leaflet", "leaflet/leaflet.js"), ("planner_map", "planner/map.js")]
CSS = [("leaflet_css", "leaflet/leaflet.css"), ("planner_map_css", "planner/map.css")]
#: Where the page's stylesheet takes the embedded font, and the family name it is given.
FONT_SLOT = "/*plc-font*/"
FONT_FAMILY = "Planner CJK"

_SCRIPT = re.compile(r'<script\s+src="([^"]+)"\s*>\s*</script>')
_LINK = re.compile(r'<link\s+rel="stylesheet"\s+href="([^"]+)"\s*/?>')
_EXTERNAL = re.compile(r'<(?:script|link)\b[^>]*(?:src|href)="(?:https?:)?//[^"]*"', re.I)
_CSS_URL = re.compile(r"url\((images/[\w.-]+\.png)\)")
_ESCAPED = re.compile(r"\\u([0-9a-fA-F]{4})")
_NON_ASCII = re.compile(r"[^\x00-\x7f]")


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


def page_characters(html: str) -> str:
    """Every non-ASCII character the page can show: written out or as a JSON ``\\uXXXX``
    escape (Folium writes layer names so)."""
    chars = set(_NON_ASCII.findall(html))
    chars.update(chr(int(h, 16)) for h in _ESCAPED.findall(html))
    return "".join(sorted(c for c in chars if c.isprintable()))


def font_subset(text: str) -> bytes:
    """The bundled CJK font (:func:`planner.fonts.cjk_font_path`) cut to the characters of
    ``text`` plus printable ASCII, as WOFF; layout tables (vertical forms, kerning) are left
    out, which plain horizontal labels do not need."""
    from fontTools import subset
    from fontTools.ttLib import TTFont

    options = subset.Options()
    options.layout_features = []
    options.hinting = False
    options.drop_tables += ["GSUB", "GPOS", "GDEF", "BASE", "VORG", "vhea", "vmtx", "DSIG"]
    options.flavor = "woff"
    subsetter = subset.Subsetter(options)
    subsetter.populate(text="".join(chr(c) for c in range(0x20, 0x7F)) + text)
    font = TTFont(cjk_font_path(), lazy=True)
    subsetter.subset(font)
    out = io.BytesIO()
    font.save(out)
    return out.getvalue()


@functools.lru_cache(maxsize=8)
def _font_face(chars: str) -> str:
    woff = base64.b64encode(font_subset(chars)).decode("ascii")
    return (f'@font-face {{ font-family: "{FONT_FAMILY}"; font-weight: 100 900; '
            f'src: url(data:font/woff;base64,{woff}) format("woff"); }}')


def embed_font(html: str) -> str:
    """Fill the page's font slot with the CJK font (WOFF, data URI) reduced to the page's
    characters; a page without the slot is returned as it is."""
    if FONT_SLOT not in html:
        return html
    return html.replace(FONT_SLOT, _font_face(page_characters(html)), 1)


def offline_page(m: folium.Map) -> str:
    """The map as one self-contained HTML page: assets inlined, the Chinese font embedded."""
    return embed_font(inline_assets(offline_map(m).get_root().render()))


class OfflineMap(folium.Map):
    """A folium.Map shown in a notebook, and saved with ``save``, as its self-contained page (a
    notebook or a browser cannot load the shipped assets by path)."""

    def save(self, outfile, close_file: bool = True, **kwargs) -> None:
        """Write the self-contained page (Leaflet and the Chinese font inlined) to ``outfile``,
        a path or a writable file object."""
        if hasattr(outfile, "write"):
            outfile.write(offline_page(self).encode("utf-8"))
            if close_file:
                outfile.close()
        else:
            save_offline(self, outfile)

    def _repr_html_(self, **kwargs) -> str:
        return (
            '<iframe srcdoc="' + htmllib.escape(offline_page(self)) + '" '
            'style="width:100%;height:600px;border:none"></iframe>'
        )


def save_offline(m: folium.Map, path: str | Path) -> Path:
    """Render ``m`` to a single self-contained HTML file (UTF-8) with the Chinese font
    embedded; returns the path."""
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    html = offline_page(m)
    path.write_text(html, encoding="utf-8")
    return path
