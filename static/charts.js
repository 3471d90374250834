/* The panel's graphs, drawn with uPlot (static/vendor/uplot) from the JSON
 * endpoints: the alert's expression, per-service CPU/memory and health, and the
 * overview's firing-alert strips. States are told by position, pattern and text,
 * never by colour alone; every chart has a visually-hidden table of its numbers,
 * and operation markers are DOM elements with their own text. */
(function () {
  "use strict";
  var LEVELS = ["unknown", "down", "unhealthy", "healthy"];

  function el(tag, attrs, text) {
    var e = document.createElement(tag);
    Object.keys(attrs || {}).forEach(function (k) { e.setAttribute(k, attrs[k]); });
    if (text != null) e.textContent = text;
    return e;
  }
  function when(t) { return new Date(t * 1000).toISOString().replace("T", " ").slice(0, 19) + " UTC"; }
  function num(v, digits) {
    if (v == null) return "—";
    var a = Math.abs(v);
    return a >= 1000 || a === Math.round(a) ? String(Math.round(v * 100) / 100) : v.toPrecision(digits || 3);
  }
  function mib(v) { return v == null ? "—" : (v / 1048576).toFixed(1) + " MiB"; }
  function pct(v) { return v == null ? "—" : v.toFixed(1) + " %"; }
  function duration(s) {
    var h = Math.floor(s / 3600), m = Math.floor((s % 3600) / 60);
    return h ? h + " h " + m + " min" : m ? m + " min" : s + " s";
  }
  function widthOf(node, fallback) { return Math.max(120, Math.floor(node.clientWidth || fallback)); }

  /* A visually-hidden table: the numbers behind a chart, for screen readers. */
  function textTable(caption, head, rows) {
    // The wrapper is hidden, not the table: a table grows to its content whatever its width says.
    var wrap = el("div", { "class": "visually-hidden" });
    var t = wrap.appendChild(el("table"));
    t.appendChild(el("caption", {}, caption));
    var tr = el("tr");
    head.forEach(function (h) { tr.appendChild(el("th", { scope: "col" }, h)); });
    t.appendChild(el("thead")).appendChild(tr);
    var body = t.appendChild(el("tbody"));
    rows.forEach(function (r) {
      var row = body.appendChild(el("tr"));
      r.forEach(function (c) { row.appendChild(el("td", {}, c)); });
    });
    return wrap;
  }
  /* The same as a visually-hidden list, where a table would nest in a table row. */
  function textList(caption, items) {
    var wrap = el("div", { "class": "visually-hidden" });
    wrap.appendChild(el("p", {}, caption));
    var ul = wrap.appendChild(el("ul"));
    items.forEach(function (text) { ul.appendChild(el("li", {}, text)); });
    return wrap;
  }
  function markerRows(markers) {
    return (markers || []).map(function (m) { return [when(m.t), m.label + " (" + m.status + ")"]; });
  }

  /* Where an operation marker's label goes: "right" of its line, "left" of it,
   * or "" (no label; the marker keeps its title) when on either side it would
   * be cut by the plot's edge or cover a label already placed. Never cut. */
  function labelPlace(x, w, width, taken) {
    function free(a, b) {
      return a >= 0 && b <= width && taken.every(function (r) { return b <= r[0] || a >= r[1]; });
    }
    if (!w) return "";
    if (free(x, x + w)) { taken.push([x, x + w]); return "right"; }
    if (free(x - w, x)) { taken.push([x - w, x]); return "left"; }
    return "";
  }
  window.panelCharts = { labelPlace: labelPlace };

  /* Operation markers and shaded spans as elements over the plot: they carry
   * their own words (deploy, restart web, firing, for 5m) and patterns. */
  function overlays(markers, spans) {
    function place(u) {
      var over = u.over;
      over.querySelectorAll(".chart-marker, .chart-span").forEach(function (n) { n.remove(); });
      var min = u.scales.x.min, max = u.scales.x.max, drawn = 0, taken = [];
      (spans || []).forEach(function (s) {
        var a = Math.max(s.from, min), b = Math.min(s.to == null ? max : s.to, max);
        if (b <= a) return;
        var left = u.valToPos(a, "x"), right = u.valToPos(b, "x");
        var span = el("div", { "class": "chart-span " + s.kind, title: s.title }, s.label);
        span.style.left = left + "px";
        span.style.width = Math.max(2, right - left) + "px";
        over.appendChild(span);
        if (span.scrollWidth > span.clientWidth) span.textContent = "";  // too narrow: no cut word, the title says it
      });
      (markers || []).forEach(function (m) {
        if (m.t < min || m.t > max) return;
        var x = u.valToPos(m.t, "x");
        var mark = el("div", { "class": "chart-marker " + m.action, title: m.label + " #" + m.id + " at " + when(m.t) + " (" + m.status + ")" });
        var text = mark.appendChild(el("span", { "class": "chart-marker-label" }, m.label));
        mark.style.left = x + "px";
        over.appendChild(mark);
        var side = labelPlace(x, text.getBoundingClientRect().width, over.clientWidth, taken);
        mark.setAttribute("data-label", side || "none");
        if (side === "left") mark.classList.add("label-left");
        else if (!side) text.remove();
        drawn += 1;
      });
      u.root.parentNode && u.root.parentNode.setAttribute("data-markers", drawn);
    }
    return { hooks: { draw: [place] } };
  }

  function mount(box, opts, data) {
    if (box._plot) box._plot.destroy();
    box.replaceChildren();
    var u = new uPlot(opts, data, box);
    box._plot = u;
    box.setAttribute("data-points", data[0].length);
    box.setAttribute("data-series", data.length - 1);
    if (!box._resize && window.ResizeObserver) {
      box._resize = new ResizeObserver(function () {
        if (box._plot && box.clientWidth && Math.abs(box.clientWidth - box._plot.width) > 4)
          box._plot.setSize({ width: widthOf(box, 300), height: box._plot.height });
      });
      box._resize.observe(box);
    }
    return u;
  }

  function message(box, text) {
    if (box._plot) { box._plot.destroy(); box._plot = null; }
    box.replaceChildren(el("p", { "class": "chart-error", role: "status" }, text));
    box.setAttribute("data-points", "0");
  }

  function getJSON(url) {
    return fetch(url, { headers: { Accept: "application/json" }, credentials: "same-origin" })
      .then(function (r) { return r.json().catch(function () { return { error: "HTTP " + r.status }; }); });
  }

  /* --- the alert's graph --------------------------------------------------------- */
  function alertGraph(fig) {
    var box = fig.querySelector(".chart"), text = fig.querySelector(".chart-text");
    function draw() {
      getJSON(fig.dataset.src).then(function (d) {
        text.replaceChildren();
        if (d.error) { message(box, d.error); }
        else {
          var data = [d.x], series = [{ value: function (u, v) { return v == null ? "—" : when(v); } }];
          var strokes = ["#2454c7", "#7c3aed", "#0f766e", "#b45309", "#be185d"];
          d.series.forEach(function (s, i) {
            data.push(s.values);
            series.push({ label: s.label, stroke: strokes[i % strokes.length], width: 2, spanGaps: false,
                          value: function (u, v) { return num(v); } });
          });
          if (d.threshold != null) {
            data.push(d.x.map(function () { return d.threshold; }));
            series.push({ label: "threshold " + d.op + " " + num(d.threshold), stroke: "#b42318", width: 1.5,
                          dash: [6, 4], value: function () { return num(d.threshold); } });
          }
          var spans = [];
          if (d.pending) spans.push({ from: d.pending[0], to: d.pending[1], kind: "pending",
                                      label: "for " + duration(d.for_seconds), title: "for: window before firing" });
          spans.push({ from: d.firing[0], to: d.firing[1], kind: "firing", label: "firing",
                       title: "firing from " + when(d.firing[0]) + (d.firing[1] ? " to " + when(d.firing[1]) : ", still firing") });
          mount(box, { width: widthOf(box, 600), height: 280, series: series, plugins: [overlays(d.markers, spans)],
                       scales: { x: { time: true, range: [d.start, d.end] } },
                       axes: [{}, { size: 60 }], legend: { live: true } }, data);
          var head = ["time"].concat(series.slice(1).map(function (s) { return s.label; }));
          var rows = d.x.map(function (t, i) {
            return [when(t)].concat(data.slice(1).map(function (col) { return num(col[i]); }));
          });
          text.appendChild(textTable("Values of " + d.expr + " (" + d.points + " points, every " + d.step + " s)", head, rows));
          text.appendChild(textTable("Operations on the stack in this window", ["time", "operation"], markerRows(d.markers)));
        }
        fig.setAttribute("data-live", d.live ? "true" : "false");
        if (d.live) fig._timer = setTimeout(draw, (+fig.dataset.refresh || 15) * 1000);
      }, function () {
        message(box, "The panel did not answer; retrying.");
        fig._timer = setTimeout(draw, 15000);
      });
    }
    draw();
  }

  /* --- the stack page: sparklines, health strips, the larger graph ------------------------ */
  function spark(box, t, values, fmt, what, markers) {
    if (!t.length) { message(box, "no samples yet"); return; }
    var u = mount(box, {
      width: widthOf(box, 140), height: 36, legend: { show: false }, cursor: { y: false, points: { size: 4 } },
      axes: [{ show: false }, { show: false }], scales: { x: { time: true } },
      series: [{}, { stroke: "#2454c7", fill: "rgba(36,84,199,.12)", width: 1.5, points: { show: false } }],
      plugins: [overlays(markers, [])]
    }, [t, values]);
    var known = values.filter(function (v) { return v != null; });
    var last = known.length ? known[known.length - 1] : null;
    box.title = what + ": now " + fmt(last) + ", max " + fmt(known.length ? Math.max.apply(null, known) : null) +
      " over the last hour (hover for each value)";
    u.over.addEventListener("mousemove", function () {
      var i = u.cursor.idx;
      if (i != null) box.title = what + " at " + when(t[i]) + ": " + fmt(values[i]);
    });
    box.setAttribute("aria-label", box.title);
  }

  function healthStrip(box, h, markers) {
    var u = mount(box, {
      width: widthOf(box, 300), height: 84, legend: { show: false },
      scales: { x: { time: true }, y: { range: [0, 3] } },
      axes: [{ size: 22, font: "10px system-ui" },
             { size: 72, font: "10px system-ui", splits: function () { return [0, 1, 2, 3]; },
               values: function (u, vals) { return vals.map(function (v) { return LEVELS[v] || ""; }); } }],
      series: [{}, { stroke: "#1f7a3a", fill: "rgba(31,122,58,.12)", width: 2, points: { show: false },
                    paths: uPlot.paths.stepped({ align: 1 }) }],
      plugins: [overlays(markers, [])]
    }, [h.t, h.level]);
    u.over.addEventListener("mousemove", function () {
      var x = u.posToVal(u.cursor.left, "x"), i = 0;
      while (i + 1 < h.t.length && h.t[i + 1] <= x) i++;
      box.title = h.state[i] + " from " + when(h.t[i]);
    });
  }

  function stackCharts(section) {
    var dialog = section.querySelector("dialog"), cache = {};
    function draw() {
      getJSON(section.dataset.src).then(function (d) {
        if (d.error) { section.querySelector(".chart-status").textContent = d.error; return; }
        d.services.forEach(function (s) {
          cache[s.name] = s;
          var row = section.querySelector('tr[data-service="' + CSS.escape(s.name) + '"]');
          if (!row) return;
          var r = s.resources, hourAgo = d.now - 3600;
          var recent = d.markers.filter(function (m) { return m.t >= hourAgo; });
          spark(row.querySelector(".spark.cpu"), r.t, r.cpu, pct, "CPU of " + s.name, recent);
          spark(row.querySelector(".spark.mem"), r.t, r.mem, mib, "Memory of " + s.name, recent);
          healthStrip(row.querySelector(".strip.health"), s.health, d.markers);
          var spent = Object.keys(s.health.seconds).map(function (k) { return k + " " + duration(s.health.seconds[k]); });
          var text = row.querySelector(".chart-text");
          text.replaceChildren(
            textTable("CPU and memory of " + s.name + ", last hour", ["time", "CPU", "memory"],
                      r.t.map(function (t, i) { return [when(t), pct(r.cpu[i]), mib(r.mem[i])]; })),
            textTable("Health of " + s.name + ", " + span(d) + ": " + spent.join(", "), ["from", "state"],
                      s.health.t.slice(0, -1).map(function (t, i) { return [when(t), s.health.state[i]]; })));
        });
        section._markers = d.markers;
        section.querySelector(".chart-text.operations").replaceChildren(
          textTable("Operations on the stack, " + span(d), ["time", "operation"], markerRows(d.markers)));
      });
    }
    section.addEventListener("click", function (ev) {
      var btn = ev.target.closest("button.open-graph");
      if (!btn || !cache[btn.dataset.service]) return;
      var s = cache[btn.dataset.service], r = s.resources;
      dialog.querySelector("h3").textContent = s.name + ": CPU and memory, last hour";
      dialog.showModal();
      var box = dialog.querySelector(".chart");
      if (!r.t.length) { message(box, "No samples yet: the health poller records them."); return; }
      mount(box, {
        width: widthOf(box, 700), height: 300, scales: { x: { time: true }, mem: {} },
        series: [{ value: function (u, v) { return v == null ? "—" : when(v); } },
                 { label: "CPU", stroke: "#2454c7", width: 2, scale: "%", value: function (u, v) { return pct(v); } },
                 { label: "memory", stroke: "#7c3aed", width: 2, dash: [5, 3], scale: "mem", value: function (u, v) { return mib(v); } }],
        axes: [{}, { scale: "%", size: 50, values: function (u, vs) { return vs.map(function (v) { return v + "%"; }); } },
               { scale: "mem", side: 1, size: 70, grid: { show: false },
                 values: function (u, vs) { return vs.map(function (v) { return (v / 1048576).toFixed(1) + " MiB"; }); } }],
        plugins: [overlays(section._markers || [], [])]
      }, [r.t, r.cpu, r.mem]);
    });
    draw();
    setInterval(draw, (+section.dataset.refresh || 30) * 1000);
  }

  function span(d) {  // the health strip's span: 24 hours, or less on a young stack
    var hours = Math.round((d.now - d.since) / 360) / 10;
    return "last " + hours + " hour" + (hours === 1 ? "" : "s");
  }

  /* --- the overview: firing alerts per stack, 24 h ------------------------------------------ */
  function overviewStrips(source) {
    var last = null;
    function paint() {
      if (!last) return;
      document.querySelectorAll("[data-firing-strip]").forEach(function (box) {
        var s = last.stacks[box.dataset.firingStrip];
        if (!s) return;
        var t = s.counts.map(function (_, i) { return last.start + i * last.step; });
        var peak = Math.max.apply(null, s.counts), total = s.counts.reduce(function (a, b) { return a + b; }, 0);
        mount(box, {
          width: widthOf(box, 200), height: 40, legend: { show: false }, cursor: { y: false },
          axes: [{ show: false }, { show: false }],
          scales: { x: { time: true, range: [last.start, last.start + s.counts.length * last.step] },
                    y: { range: [0, Math.max(1, peak)] } },
          series: [{}, { stroke: "#b42318", fill: "rgba(180,35,24,.35)", paths: uPlot.paths.bars({ size: [0.9, 40], align: 1 }) }],
          plugins: [overlays(s.markers, [])]
        }, [t, s.counts]);
        var words = (total ? "up to " + peak + " firing at once" : "no alert fired") + ", " + s.markers.length +
          " operation" + (s.markers.length === 1 ? "" : "s") + " in the last 24 hours";
        box.setAttribute("aria-label", words);
        box.title = words;
        var text = box.parentNode.querySelector(".chart-text");
        var items = t.map(function (x, i) { return s.counts[i] ? when(x) + ": " + s.counts[i] + " firing" : null; })
          .filter(Boolean).concat(markerRows(s.markers).map(function (r) { return r.join(": "); }));
        if (text) text.replaceChildren(textList("Firing alerts per half hour and operations, " + box.dataset.firingStrip +
                                                ", last 24 hours", items));
      });
    }
    function load() { getJSON(source.dataset.src).then(function (d) { last = d; paint(); }); }
    load();
    setInterval(load, 60000);
    // Rows re-rendered by htmx keep their strips (hx-preserve); new rows get one here.
    document.body.addEventListener("htmx:afterSettle", function () {
      if (document.querySelector("[data-firing-strip]:not([data-points])")) paint();
    });
  }

  function start() {
    if (typeof uPlot === "undefined") return;
    document.querySelectorAll("figure[data-chart=alert]").forEach(alertGraph);
    document.querySelectorAll("section[data-chart=stack]").forEach(stackCharts);
    document.querySelectorAll("[data-chart=overview]").forEach(overviewStrips);
  }
  if (document.readyState === "loading") document.addEventListener("DOMContentLoaded", start);
  else start();
})();
