"""Custom Leaflet elements of the gap map in plain HTML/JS (no icon fonts, no jQuery)."""

from __future__ import annotations

import html
import json

from branca.element import MacroElement
from jinja2 import Template

STYLE = """
.folium-map.plc-plain { background: #f3f1ec; }
.plc-pin { width: 20px; height: 20px; border-radius: 50%; border: 2px solid #fff;
  box-shadow: 0 0 2px rgba(0,0,0,.6); color: #fff; font: bold 11px/20px "Noto Sans CJK SC",
  "Microsoft YaHei", "PingFang SC", sans-serif; text-align: center; }
.plc-pin.plc-proposed { border-radius: 3px; border: 2px dashed #111; background-clip: padding-box; }
.plc-rank { width: 18px; height: 18px; border-radius: 50%; background: #fff;
  border: 2px solid #7b1010; color: #7b1010; font: bold 10px/18px sans-serif; text-align: center; }
.plc-box { position: absolute; z-index: 1000; background: rgba(255,255,255,.94);
  border: 1px solid #888; border-radius: 3px; box-shadow: 0 1px 4px rgba(0,0,0,.3);
  font: 12px/1.35 "Noto Sans CJK SC", "Microsoft YaHei", "PingFang SC", Arial, sans-serif;
  color: #222; }
.plc-title { top: 10px; left: 50%; transform: translateX(-50%); padding: 6px 14px;
  text-align: center; max-width: 60%; }
.plc-title h1 { font-size: 17px; margin: 0 0 2px 0; font-weight: bold; }
.plc-title p { margin: 0; color: #444; font-size: 11px; }
.plc-legend { bottom: 26px; left: 10px; padding: 8px 10px; max-height: 70%; overflow-y: auto;
  min-width: 170px; }
.plc-legend h4 { margin: 6px 0 3px 0; font-size: 12px; }
.plc-legend h4:first-child { margin-top: 0; }
.plc-legend div { display: flex; align-items: center; gap: 6px; margin: 1px 0; }
.plc-sw { width: 16px; height: 11px; border: 1px solid rgba(0,0,0,.25); flex: none; }
.plc-line { width: 16px; height: 0; border-top: 2px dashed; flex: none; }
.plc-line.plc-solid { border-top-style: solid; border-top-width: 1px; }
.plc-legend .plc-pin { width: 14px; height: 14px; line-height: 14px; font-size: 9px;
  border-width: 1px; flex: none; }
.plc-north { top: 80px; left: 10px; width: 30px; padding: 2px 0; text-align: center;
  font: bold 12px sans-serif; }
.plc-north svg { display: block; margin: 0 auto; }
.leaflet-control-layers-expanded { font-size: 12px; line-height: 1.3; padding: 5px 8px;
  max-height: calc(100vh - 140px); overflow-y: auto; max-width: 320px; }
.leaflet-control-layers-expanded label { margin: 1px 0; }
.leaflet-control-layers-expanded input { margin: 0 4px 0 0; vertical-align: -1px; }
table.plc-table { border-collapse: collapse; font-size: 11px; }
table.plc-table th, table.plc-table td { border: 1px solid #ccc; padding: 1px 5px; }
table.plc-table td.n { text-align: right; }
"""

NORTH_ARROW = (
    '<svg width="16" height="22" viewBox="0 0 16 22"><polygon points="8,0 15,22 8,16 1,22" '
    'fill="#222"/><polygon points="8,0 8,16 1,22" fill="#fff" stroke="#222" stroke-width="1"/></svg>'
)


class IconLayer(MacroElement):
    """Point features drawn as round coloured pins with a glyph; properties: ``c`` colour,
    ``g`` glyph, ``t`` tooltip HTML (escaped), ``p`` 1 for a proposed site."""

    _template = Template(
        """{% macro script(this, kwargs) %}
L.geoJSON({{ this.data }}, {
  pointToLayer: function (f, ll) {
    var p = f.properties, el = document.createElement('div');
    el.className = 'plc-pin' + (p.p ? ' plc-proposed' : '');
    el.style.background = p.c;
    el.textContent = p.g;
    return L.marker(ll, {icon: L.divIcon({className: '', html: el, iconSize: [20, 20],
      iconAnchor: [10, 10]}), keyboard: false}).bindTooltip(p.t);
  }
}).addTo({{ this._parent.get_name() }});
{% endmacro %}"""
    )

    def __init__(self, collection: dict) -> None:
        super().__init__()
        self._name = "IconLayer"
        self.data = json.dumps(collection, ensure_ascii=False, separators=(",", ":"))


class RankLabels(MacroElement):
    """Numbered circles (gap rank) at given points; properties ``r`` rank, ``t`` tooltip."""

    _template = Template(
        """{% macro script(this, kwargs) %}
L.geoJSON({{ this.data }}, {
  pointToLayer: function (f, ll) {
    var el = document.createElement('div');
    el.className = 'plc-rank';
    el.textContent = f.properties.r;
    return L.marker(ll, {icon: L.divIcon({className: '', html: el, iconSize: [18, 18],
      iconAnchor: [9, 9]}), keyboard: false}).bindTooltip(f.properties.t);
  }
}).addTo({{ this._parent.get_name() }});
{% endmacro %}"""
    )

    def __init__(self, collection: dict) -> None:
        super().__init__()
        self._name = "RankLabels"
        self.data = json.dumps(collection, ensure_ascii=False, separators=(",", ":"))


class PopupHtml(MacroElement):
    """Bind an HTML popup to the parent layer with plain Leaflet (Folium's Popup needs jQuery)."""

    _template = Template(
        """{% macro script(this, kwargs) %}
{{ this._parent.get_name() }}.bindPopup({{ this.content }}, {maxWidth: {{ this.max_width }}});
{% endmacro %}"""
    )

    def __init__(self, content_html: str, max_width: int = 420) -> None:
        super().__init__()
        self._name = "PopupHtml"
        self.content = json.dumps(content_html, ensure_ascii=False)
        self.max_width = int(max_width)


class Chrome(MacroElement):
    """Page furniture: styles, title, legend, north arrow and data source."""

    _template = Template(
        """{% macro header(this, kwargs) %}<style>{{ this.style }}</style>{% endmacro %}
{% macro html(this, kwargs) %}
<div class="plc-box plc-title" id="plc-title"><h1>{{ this.title }}</h1><p>{{ this.subtitle }}</p></div>
<div class="plc-box plc-north" title="north">{{ this.north }}{{ this.north_label }}</div>
<div class="plc-box plc-legend" id="plc-legend">{{ this.legend }}</div>
{% endmacro %}
{% macro script(this, kwargs) %}
{{ this._parent.get_name() }}.attributionControl.addAttribution({{ this.source }});
L.control.scale({imperial: false, maxWidth: 160, position: 'bottomright'}).addTo({{ this._parent.get_name() }});
{% if this.plain %}document.getElementById({{ this.map_id }}).classList.add('plc-plain');{% endif %}
{% endmacro %}"""
    )

    def __init__(
        self, title: str, subtitle: str, legend_html: str, source: str, north: str, plain: bool
    ) -> None:
        super().__init__()
        self._name = "Chrome"
        self.style = STYLE
        self.title = html.escape(title)
        self.subtitle = html.escape(subtitle)
        self.legend = legend_html
        self.north = NORTH_ARROW
        self.north_label = html.escape(north)
        self.source = json.dumps(html.escape(source), ensure_ascii=False)
        self.plain = plain

    def render(self, **kwargs) -> None:
        self.map_id = json.dumps(self._parent.get_name())
        super().render(**kwargs)


def swatch(colour: str, label: str, opacity: float = 0.7) -> str:
    """A legend row with a filled square."""
    return (
        f'<div><span class="plc-sw" style="background:{colour};opacity:{opacity}"></span>'
        f"{html.escape(label)}</div>"
    )


def line_row(colour: str, label: str, dashed: bool = True) -> str:
    """A legend row with a dashed (or thin solid) line."""
    cls = "plc-line" if dashed else "plc-line plc-solid"
    return f'<div><span class="{cls}" style="border-color:{colour}"></span>{html.escape(label)}</div>'


def pin_row(colour: str, glyph: str, label: str, proposed: bool = False) -> str:
    """A legend row with a facility pin."""
    cls = "plc-pin plc-proposed" if proposed else "plc-pin"
    return (
        f'<div><span class="{cls}" style="background:{colour}">{html.escape(glyph)}</span>'
        f"{html.escape(label)}</div>"
    )


def heading(label: str) -> str:
    """A legend section heading."""
    return f"<h4>{html.escape(label)}</h4>"


def table_html(header: list[str], rows: list[list[str]]) -> str:
    """A small HTML table (values escaped); numeric-looking cells right-aligned."""
    head = "".join(f"<th>{html.escape(h)}</th>" for h in header)
    body = "".join(
        "<tr>"
        + "".join(
            f'<td class="n">{html.escape(v)}</td>' if i else f"<td>{html.escape(v)}</td>"
            for i, v in enumerate(r)
        )
        + "</tr>"
        for r in rows
    )
    return f'<table class="plc-table"><tr>{head}</tr>{body}</table>'
