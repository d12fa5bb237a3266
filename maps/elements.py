"""Leaflet elements of the gap map: thin Folium wrappers around the page script
``maps/assets/planner/map.js`` (PLC), which draws the layers from style tables and lays out the
page furniture. Labels arrive as HTML holding both languages (see ``labels.bi``)."""

from __future__ import annotations

import html
import json

from branca.element import MacroElement
from jinja2 import Template

from planner.maps.styles import Icon, PathStyle

NORTH_ARROW = (
    '<svg width="16" height="22" viewBox="0 0 16 22"><polygon points="8,0 15,22 8,16 1,22" '
    'fill="#222"/><polygon points="8,0 8,16 1,22" fill="#fff" stroke="#222" stroke-width="1"/></svg>'
)


def _json(value) -> str:
    return json.dumps(value, ensure_ascii=False, separators=(",", ":"))


class ShapeLayer(MacroElement):
    """Lines or polygons; feature properties ``s`` (index into ``styles``), ``t`` tooltip HTML
    and ``p`` popup HTML (both optional)."""

    _template = Template(
        """{% macro script(this, kwargs) %}
PLC.shapeLayer({{ this.data }}, {{ this.styles }}, {{ this.interactive }}).addTo({{ this._parent.get_name() }});
{% endmacro %}"""
    )

    def __init__(self, collection: dict, styles: list[PathStyle], *, interactive: bool = True):
        super().__init__()
        self._name = "ShapeLayer"
        self.data = _json(collection)
        self.styles = _json([s.leaflet() for s in styles])
        self.interactive = "true" if interactive else "false"


class IconLayer(MacroElement):
    """Markers; feature properties ``i`` (index into ``icons``) and ``t`` tooltip HTML."""

    _template = Template(
        """{% macro script(this, kwargs) %}
PLC.iconLayer({{ this.data }}, {{ this.icons }}).addTo({{ this._parent.get_name() }});
{% endmacro %}"""
    )

    def __init__(self, collection: dict, icons: list[Icon]) -> None:
        super().__init__()
        self._name = "IconLayer"
        self.data = _json(collection)
        self.icons = _json([i.leaflet() for i in icons])


class RankLabels(MacroElement):
    """Numbered circles (gap rank) at given points, moved off markers by the page script;
    properties ``r`` rank, ``t`` tooltip HTML."""

    _template = Template(
        """{% macro script(this, kwargs) %}
PLC.rankLayer({{ this.data }}).addTo({{ this._parent.get_name() }});
{% endmacro %}"""
    )

    def __init__(self, collection: dict) -> None:
        super().__init__()
        self._name = "RankLabels"
        self.data = _json(collection)


class Chrome(MacroElement):
    """Page furniture (title with the language switch, zoom, north arrow, legend, scale, data
    source), laid out by ``PLC.init``, and the view fitted to the free part of the map."""

    _template = Template(
        """{% macro script(this, kwargs) %}
var {{ this.get_name() }} = PLC.init({{ this._parent.get_name() }}, {{ this.layers }}, {{ this.options }}, {
{%- for name in this.groups %}{{ name|tojson }}: {{ name }},{% endfor -%}
});
{{ this.get_name() }}.fit({{ this.bounds }});
{% endmacro %}"""
    )

    def __init__(self, *, title: str, subtitle: str, legend: str, source: str, north: str,
                 switch: str, legend_label: str, lang: str, plain: bool, layers: str,
                 groups: list[str], bounds: list[list[float]]) -> None:
        super().__init__()
        self._name = "Chrome"
        self.layers = layers
        self.groups = groups
        self.bounds = _json(bounds)
        self.options = _json({
            "lang": lang, "title": title, "subtitle": subtitle, "legend": legend,
            "source": source, "north": NORTH_ARROW + north, "switchLabel": switch,
            "legendLabel": legend_label, "plain": plain,
        })


def legend_row(symbol: str, label: str, layers: list[str] = ()) -> str:
    """A legend row: a symbol (SVG or icon HTML), its label (HTML) and the layers that draw it
    (the row shows while one of them is on the map; none: always)."""
    data = f' data-layers="{" ".join(layers)}"' if layers else ""
    return f'<div class="plc-row"{data}>{symbol}<span>{label}</span></div>'


def path_row(style: PathStyle, label: str, layers: list[str] = ()) -> str:
    """A legend row drawn from a layer's path style."""
    return legend_row(style.swatch(), label, layers)


def icon_row(icon: Icon, label: str, layers: list[str] = ()) -> str:
    """A legend row drawn from a marker's icon."""
    return legend_row(f'<span class="plc-icon">{icon.html}</span>', label, layers)


def heading(label: str) -> str:
    """A legend section heading (HTML label)."""
    return f"<h4>{label}</h4>"


def table_html(header: list[str], rows: list[list[str]]) -> str:
    """A small HTML table; header and cells are HTML (escape text first), numeric-looking cells
    right-aligned."""
    head = "".join(f"<th>{h}</th>" for h in header)
    body = "".join(
        "<tr>"
        + "".join(f'<td class="n">{v}</td>' if i else f"<td>{v}</td>" for i, v in enumerate(r))
        + "</tr>"
        for r in rows
    )
    return f'<table class="plc-table"><tr>{head}</tr>{body}</table>'


def escape(value: str) -> str:
    """HTML-escape a name from the data (facility, district, scenario)."""
    return html.escape(str(value))
