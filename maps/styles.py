"""Style objects of the gap map: each layer is drawn from one of these and the legend row of that
layer is drawn from the same object, so colours, icons and dash patterns cannot drift apart."""

from __future__ import annotations

import html
from dataclasses import dataclass

#: Size (px) of a facility pin; a proposed site's marker is one segment of this width per category.
PIN_PX = 20
SEGMENT_PX = 18


@dataclass(frozen=True)
class PathStyle:
    """Stroke and fill of a line or polygon layer (Leaflet path options)."""

    colour: str = "#000000"
    weight: float = 0.0
    dash: str = ""
    opacity: float = 1.0
    fill: str | None = None
    fill_opacity: float = 0.0
    #: CSS class of the drawn paths (lets the page and its tests find a layer's shapes).
    css: str = ""

    def leaflet(self) -> dict:
        """Leaflet path options."""
        return {
            "stroke": self.weight > 0, "color": self.colour, "weight": self.weight,
            "opacity": self.opacity, "dashArray": self.dash or None,
            "fill": self.fill is not None, "fillColor": self.fill, "fillOpacity": self.fill_opacity,
            "className": self.css or None,
        }

    def swatch(self) -> str:
        """An inline SVG of the style: a filled square, or a line when there is no fill."""
        dash = f' stroke-dasharray="{self.dash}"' if self.dash else ""
        if self.fill is None:
            shape = (f'<line x1="0" y1="7" x2="22" y2="7" stroke="{self.colour}" '
                     f'stroke-width="{self.weight:g}" stroke-opacity="{self.opacity:g}"{dash}/>')
        else:
            stroke = (f' stroke="{self.colour}" stroke-width="{self.weight:g}"'
                      f' stroke-opacity="{self.opacity:g}"{dash}' if self.weight > 0 else "")
            inset = self.weight / 2 + 0.5
            shape = (f'<rect x="{inset:g}" y="{inset:g}" width="{22 - 2 * inset:g}" '
                     f'height="{14 - 2 * inset:g}" fill="{self.fill}" '
                     f'fill-opacity="{self.fill_opacity:g}"{stroke}/>')
        return f'<svg class="plc-sym" width="22" height="14" viewBox="0 0 22 14">{shape}</svg>'


@dataclass(frozen=True)
class PinStyle:
    """A facility category's marker: colour and a one-character glyph per language."""

    colour: str
    glyph_zh: str
    glyph_en: str

    def glyph(self) -> str:
        zh, en = html.escape(self.glyph_zh), html.escape(self.glyph_en)
        return f'<span class="plc-zh">{zh}</span><span class="plc-en">{en}</span>'


@dataclass(frozen=True)
class Icon:
    """A marker's HTML and size (px); the map and the legend both draw it from here."""

    html: str
    width: int
    height: int

    def leaflet(self) -> dict:
        return {"h": self.html, "w": self.width, "y": self.height}


def facility_icon(pin: PinStyle) -> Icon:
    """An existing facility: a round pin of its category's colour and glyph."""
    return Icon(f'<div class="plc-pin" style="background:{pin.colour}">{pin.glyph()}</div>',
                PIN_PX, PIN_PX)


def proposal_icon(pins: list[PinStyle]) -> Icon:
    """A proposed site: a dashed square with one coloured segment per category it serves, so a
    site proposed for several categories is one marker."""
    parts = "".join(f'<span style="background:{p.colour}">{p.glyph()}</span>' for p in pins)
    width = SEGMENT_PX * len(pins) + 4
    return Icon(f'<div class="plc-pin plc-proposed">{parts}</div>', width, PIN_PX + 2)


def fill(colour: str, opacity: float) -> PathStyle:
    """A filled area without outline (cells classed by walking time, the complete circle)."""
    return PathStyle(colour=colour, fill=colour, fill_opacity=opacity)


def gap_style(colour: str) -> PathStyle:
    """Gap areas: dashed outline, light fill."""
    return PathStyle(colour=colour, weight=1.6, dash="4 3", fill=colour, fill_opacity=0.12,
                     css="plc-gap")


def isochrone_style(colour: str, outer: bool) -> PathStyle:
    """Isochrone outlines: the first ring solid, the outer rings dashed."""
    return PathStyle(colour=colour, weight=1.5, dash="6 4" if outer else "")


def street_style(colour: str) -> PathStyle:
    """The walk network drawn as thin grey lines."""
    return PathStyle(colour=colour, weight=1, opacity=0.8)


def district_style(colour: str) -> PathStyle:
    """District outlines (a transparent fill keeps the inside clickable for the popup)."""
    return PathStyle(colour=colour, weight=2, dash="8 4", fill=colour, fill_opacity=0.0)


OFF_STREETS = PathStyle(colour="#000000", weight=1, dash="3 3", fill="#6b6b6b", fill_opacity=0.6)
