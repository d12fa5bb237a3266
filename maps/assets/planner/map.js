/* Gap map page furniture (planner.maps): title, legend, layer panel and scale are Leaflet
   controls sized so that they never cover each other; on small screens the layer panel and the
   legend fold into buttons. Also: the language switch, a legend that lists only what the visible
   layers draw, gap rank labels moved off markers, and the view fitted to the free part of the map. */
var PLC = (function () {
  'use strict';
  var GAP = 10;         // px between panels and from the map's edge
  var SMALL_W = 640;    // below this width (px) or SMALL_H height the panels fold
  var SMALL_H = 500;
  var LABEL = 11;       // half the size (px) of a rank label
  var MUST = 5;         // ranks labelled even when only a crowded place is left

  function rect(el) {
    var r = el.getBoundingClientRect();
    return {l: r.left, t: r.top, r: r.right, b: r.bottom};
  }
  function hits(a, b) { return a.l < b.r && b.l < a.r && a.t < b.b && b.t < a.b; }
  function shown(el) { return el && el.offsetParent !== null && el.offsetWidth > 0; }

  function control(position, className, html) {
    var C = L.Control.extend({
      onAdd: function () {
        var el = L.DomUtil.create('div', 'plc-box ' + className);
        el.innerHTML = html;
        L.DomEvent.disableClickPropagation(el);
        L.DomEvent.disableScrollPropagation(el);
        return el;
      }
    });
    return new C({position: position});
  }

  function init(map, layers, o, groups) {
    var box = map.getContainer();
    var state = {small: null, touched: false, bounds: null};
    box.classList.add('plc-lang-' + o.lang);
    document.documentElement.lang = o.lang === 'zh' ? 'zh-CN' : 'en';
    if (o.plain) { box.classList.add('plc-plain'); }
    map.attributionControl.addAttribution(o.source);

    var title = control('topleft', 'plc-title',
      '<h1>' + o.title + '</h1><p>' + o.subtitle + '</p>' +
      '<button type="button" class="plc-lang">' + o.switchLabel + '</button>').addTo(map);
    L.control.zoom({position: 'topleft'}).addTo(map);
    var north = control('topleft', 'plc-north', o.north).addTo(map);
    var legend = control('bottomleft', 'plc-legend',
      '<button type="button" class="plc-legend-toggle">' + o.legendLabel + '</button>' +
      '<div class="plc-legend-body">' + o.legend + '</div>').addTo(map);
    var scale = L.control.scale({imperial: false, maxWidth: 120, position: 'bottomright'}).addTo(map);
    var titleEl = title.getContainer(), legendEl = legend.getContainer();
    var body = legendEl.querySelector('.plc-legend-body');
    var panel = layers.getContainer();
    var layersButton = panel.querySelector('.leaflet-control-layers-toggle');
    legendEl.id = 'plc-legend';
    titleEl.id = 'plc-title';

    function setLang(lang) {
      box.classList.remove('plc-lang-zh', 'plc-lang-en');
      box.classList.add('plc-lang-' + lang);
      document.documentElement.lang = lang === 'zh' ? 'zh-CN' : 'en';
      state.lang = lang;
      layout();
      refit();
    }
    state.lang = o.lang;
    titleEl.querySelector('.plc-lang').addEventListener('click', function () {
      setLang(state.lang === 'zh' ? 'en' : 'zh');
    });

    function foldLegend(fold) {
      legendEl.classList.toggle('plc-folded', fold);
      if (!fold && state.small) { layers.collapse(); }
    }
    legendEl.querySelector('.plc-legend-toggle').addEventListener('click', function () {
      foldLegend(!legendEl.classList.contains('plc-folded'));
      layout();
    });
    // On a small screen the layer panel opens from its button and one panel is open at a time.
    L.DomEvent.on(layersButton, 'click', function (e) {
      L.DomEvent.preventDefault(e);
      layers.expand();
      if (state.small) { legendEl.classList.add('plc-folded'); }
      layout();
    });
    map.on('click', function () {
      if (state.small) { layers.collapse(); legendEl.classList.add('plc-folded'); layout(); }
    });

    // Legend rows name the layers that draw them; a row shows while one of them is on the map.
    function syncLegend() {
      var head = null, any = false;
      Array.prototype.forEach.call(body.children, function (el) {
        if (el.tagName === 'H4') {
          if (head) { head.classList.toggle('plc-off', !any); }
          head = el; any = false;
          return;
        }
        var names = (el.getAttribute('data-layers') || '').split(' ').filter(Boolean);
        var on = !names.length || names.some(function (n) { return groups[n] && map.hasLayer(groups[n]); });
        el.classList.toggle('plc-off', !on);
        any = any || on;
      });
      if (head) { head.classList.toggle('plc-off', !any); }
      var first = true;
      Array.prototype.forEach.call(body.querySelectorAll('h4'), function (h) {
        h.classList.toggle('plc-first', first && !h.classList.contains('plc-off'));
        if (!h.classList.contains('plc-off')) { first = false; }
      });
    }

    function layout() {
      var W = box.clientWidth, H = box.clientHeight;
      var small = W < SMALL_W || H < SMALL_H;
      if (small !== state.small) {
        state.small = small;
        box.classList.toggle('plc-small', small);
        if (small) { layers.collapse(); } else { layers.expand(); }
        legendEl.classList.toggle('plc-folded', small);
      }
      var c = rect(box);
      var attribution = map.attributionControl.getContainer();
      // the title beside the layer panel; on a small screen the open panel goes below the title
      var open = panel.classList.contains('leaflet-control-layers-expanded');
      var below = state.small && open;
      panel.style.marginTop = '';
      var panelWidth = below ? layersButton.offsetWidth || 44 : panel.offsetWidth;
      titleEl.style.maxWidth = Math.max(120, W - panelWidth - 3 * GAP - 2) + 'px';
      if (below) { panel.style.marginTop = (rect(titleEl).b - c.t + GAP) + 'px'; }
      // the layer panel: down to the scale at most
      panel.style.maxHeight = '';
      var scaleTop = rect(scale.getContainer()).t - c.t;
      var panelTop = rect(panel).t - c.t;
      panel.style.maxHeight = Math.max(60, scaleTop - GAP - panelTop) + 'px';
      // the legend: clear of the attribution line, below the left column
      legendEl.style.marginBottom = '';
      var under = [rect(attribution), rect(scale.getContainer())].filter(function (r) {
        return hits(rect(legendEl), r) || (rect(legendEl).r > r.l && rect(legendEl).t < r.b);
      });
      if (under.length) {
        var top = Math.min.apply(null, under.map(function (r) { return r.t; }));
        legendEl.style.marginBottom = (c.b - top + 4) + 'px';
      }
      var columnBottom = rect(north.getContainer()).b - c.t;
      var toggle = legendEl.querySelector('.plc-legend-toggle');
      var legendBottom = rect(legendEl).b - c.t;
      var room = legendBottom - columnBottom - GAP - (shown(toggle) ? toggle.offsetHeight : 0);
      body.style.maxHeight = Math.max(40, room) + 'px';
      // the legend and the layer panel side by side: shorten the panel, else fold the legend
      var a = rect(legendEl), b = rect(panel);
      if (hits(a, b)) {
        var h = a.t - GAP - b.t;
        if (h >= 120) { panel.style.maxHeight = h + 'px'; } else { legendEl.classList.add('plc-folded'); }
      }
    }

    // The view is fitted into the part of the map the panels leave free: the legend counts as
    // a left or a bottom margin and the layer panel as a right or a top one, whichever lets
    // the study area be drawn largest.
    function padding(bounds) {
      var c = rect(box), lg = rect(legendEl), pn = rect(panel), sc = rect(scale.getContainer());
      var column = rect(north.getContainer()).r - c.l, titleBottom = rect(titleEl).b - c.t;
      var best = null;
      [true, false].forEach(function (legendLeft) {
        [true, false].forEach(function (panelRight) {
          var left = legendLeft ? Math.max(column, lg.r - c.l) : column;
          var bottom = Math.max(c.b - sc.t, legendLeft ? 0 : c.b - lg.t);
          var right = panelRight ? c.r - pn.l : 0;
          var top = panelRight ? titleBottom : Math.max(titleBottom, pn.b - c.t);
          var p = {paddingTopLeft: [left + GAP, top + GAP],
                   paddingBottomRight: [right + GAP, bottom + GAP]};
          var w = c.r - c.l - left - right - 2 * GAP, h = c.b - c.t - top - bottom - 2 * GAP;
          if (w < 80 || h < 80) { return; }
          var zoom = map.getBoundsZoom(bounds, false, L.point(left + right + 2 * GAP, top + bottom + 2 * GAP));
          if (isFinite(zoom) && (!best || zoom > best.zoom)) { best = {zoom: zoom, padding: p}; }
        });
      });
      return best ? best.padding : {};
    }

    // Fit again after the panels changed size (font loaded, language switched), unless the
    // reader has moved the map.
    function refit() {
      if (state.bounds && !state.touched) { map.fitBounds(state.bounds, padding(state.bounds)); }
    }

    function fit(bounds) {
      state.bounds = bounds;
      layout();
      map.fitBounds(bounds, padding(bounds));
    }

    function refresh() { syncLegend(); layout(); place(); }
    map.on('overlayadd overlayremove', refresh);
    map.on('zoomend', place);
    L.DomEvent.on(box.querySelector('.leaflet-control-zoom'), 'click', function () { state.touched = true; });
    map.on('resize', function () { layout(); place(); });
    map.on('dragstart', function () { state.touched = true; });
    box.addEventListener('wheel', function () { state.touched = true; }, {passive: true});
    if (document.fonts && document.fonts.ready) {
      document.fonts.ready.then(function () {
        layout();
        refit();
        place();
      });
    }
    syncLegend();
    layout();
    return {fit: function (bounds) { fit(bounds); place(); }, setLang: setLang, layout: layout,
            place: place};
  }

  // --- gap rank labels: each at its gap, or moved (with a leader line) off every marker -------
  var RINGS = [0, 24, 36, 50];
  var ANGLES = [-45, 45, 135, -135, 0, 90, 180, -90];

  function candidates() {
    var out = [[0, 0]];
    for (var i = 1; i < RINGS.length; i++) {
      for (var j = 0; j < ANGLES.length; j++) {
        var a = ANGLES[j] * Math.PI / 180;
        out.push([Math.round(RINGS[i] * Math.cos(a)), Math.round(RINGS[i] * Math.sin(a))]);
      }
    }
    return out;
  }
  var SPOTS = candidates();

  function place() {
    var pins = Array.prototype.map.call(
      document.querySelectorAll('.leaflet-marker-pane .plc-pin'), function (el) {
        var r = rect(el);
        return {l: r.l - 1, t: r.t - 1, r: r.r + 1, b: r.b + 1};
      });
    var anchors = Array.prototype.slice.call(document.querySelectorAll('.leaflet-marker-pane .plc-rank-icon'));
    anchors.sort(function (a, b) { return a.plcRank - b.plcRank; });
    var placed = [];
    anchors.forEach(function (icon) {
      var p = rect(icon), best = null, fallback = null;
      for (var i = 0; i < SPOTS.length && !best; i++) {
        var x = p.l + SPOTS[i][0], y = p.t + SPOTS[i][1];
        var r = {l: x - LABEL, t: y - LABEL, r: x + LABEL, b: y + LABEL};
        var onPin = pins.some(function (q) { return hits(r, q); });
        if (onPin) { continue; }
        if (!placed.some(function (q) { return hits(r, q); })) { best = [SPOTS[i], r]; }
        else if (!fallback) { fallback = [SPOTS[i], r]; }
      }
      var spot = best || (icon.plcRank <= MUST ? fallback : null);
      icon.classList.toggle('plc-hidden', !spot);
      if (!spot) { return; }
      placed.push(spot[1]);
      var dx = spot[0][0], dy = spot[0][1];
      icon.querySelector('.plc-rank').style.transform = 'translate(' + dx + 'px,' + dy + 'px)';
      var line = icon.querySelector('.plc-leader'), len = Math.sqrt(dx * dx + dy * dy);
      line.style.display = len ? 'block' : 'none';
      line.style.width = Math.max(0, len - LABEL + 2) + 'px';
      line.style.transform = 'rotate(' + Math.atan2(dy, dx) + 'rad)';
    });
  }

  function rankLayer(data) {
    return L.geoJSON(data, {
      pointToLayer: function (f, ll) {
        var p = f.properties;
        var icon = L.divIcon({className: 'plc-rank-icon', iconSize: [0, 0], iconAnchor: [0, 0],
          html: '<div class="plc-leader"></div><div class="plc-rank">' + p.r + '</div>'});
        var m = L.marker(ll, {icon: icon, keyboard: false, zIndexOffset: 1000}).bindTooltip(p.t);
        m.on('add', function () { m.getElement().plcRank = p.r; });
        return m;
      }
    });
  }

  function iconLayer(data, icons) {
    return L.geoJSON(data, {
      pointToLayer: function (f, ll) {
        var s = icons[f.properties.i];
        var icon = L.divIcon({className: 'plc-icon-holder', html: s.h, iconSize: [s.w, s.y],
          iconAnchor: [s.w / 2, s.y / 2], tooltipAnchor: [s.w / 2, 0]});
        return L.marker(ll, {icon: icon, keyboard: false}).bindTooltip(f.properties.t);
      }
    });
  }

  function shapeLayer(data, styles, interactive) {
    return L.geoJSON(data, {
      interactive: interactive,
      style: function (f) { return styles[f.properties.s || 0]; },
      onEachFeature: function (f, layer) {
        if (f.properties.t) { layer.bindTooltip(f.properties.t, {sticky: true}); }
        if (f.properties.p) { layer.bindPopup(f.properties.p, {maxWidth: 420}); }
      }
    });
  }

  return {init: init, place: place, rankLayer: rankLayer, iconLayer: iconLayer, shapeLayer: shapeLayer};
})();
