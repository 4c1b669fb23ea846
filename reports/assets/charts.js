// chaosgate report and trend charts, drawn with uPlot from the page's JSON
// data block. Every chart records what it holds in window.chaosgateCharts,
// which the browser test reads back; window.chaosgateReady turns true once
// every chart is drawn.
(function () {
  "use strict";

  var C = {
    ok: "#15803d", rate: "#2563eb", p50: "#0e7490", p99: "#b91c1c",
    ready: "#2563eb", desired: "#6b7280", fails: "#b91c1c", recovery: "#7c3aed",
    issued: "rgba(217, 119, 6, 0.9)",
    pending: "rgba(245, 158, 11, 0.20)", effect: "rgba(220, 38, 38, 0.22)",
    reverting: "rgba(100, 116, 139, 0.18)", noEffect: "rgba(100, 116, 139, 0.2)",
    effectLine: "rgba(220, 38, 38, 0.9)", revertLine: "rgba(71, 85, 105, 0.9)",
    recovered: "rgba(21, 128, 61, 0.9)",
    lane: { R: "#86efac", N: "#f87171", U: "#fbbf24" }
  };
  var NOPOINTS = { show: false };
  var LANE_TEXT = { R: "Ready", N: "NotReady", U: "Unknown" };
  // Every chart of a scenario keeps the same room right of the plot (the
  // traffic chart's right axis and its label), so the x axes line up.
  var RIGHT = 56, RIGHT_LABEL = 24, RIGHT_PAD = RIGHT + RIGHT_LABEL + 8;

  var charts = {};
  window.chaosgateCharts = charts;
  window.chaosgateReady = false;
  var all = [];

  function px(n) { return n * uPlot.pxRatio; }
  function fmt(v, digits, unit) { return v == null ? "–" : v.toFixed(digits) + (unit || ""); }
  function nonNull(a) { var n = 0; for (var i = 0; i < a.length; i++) if (a[i] != null) n++; return n; }
  function widthOf(el) { return Math.max(360, Math.floor(el.getBoundingClientRect().width)); }

  // One group per scenario: the charts share the cursor and the zoom.
  function group(key, left) {
    var members = [], syncing = false;
    return {
      key: key, left: left, members: members,
      plugin: function () {
        return { hooks: {
          init: [function (u) { members.push(u); }],
          setScale: [function (u, k) {
            if (k !== "x" || syncing) return;
            syncing = true;
            var mn = u.scales.x.min, mx = u.scales.x.max;
            members.forEach(function (o) {
              if (o !== u && (o.scales.x.min !== mn || o.scales.x.max !== mx)) o.setScale("x", { min: mn, max: mx });
            });
            syncing = false;
          }]
        } };
      }
    };
  }

  // The x scale shows the scenario's whole axis when auto-ranged (first draw,
  // double-click) and keeps a zoom's range otherwise.
  function xScale(lo, hi) {
    return { time: false, range: function (u, min, max) {
      var d = u.data[0];
      if (d.length < 2 || (min === d[0] && max === d[d.length - 1])) return [lo, hi];
      return [min, max];
    } };
  }

  // fmtT names a time from load start: 45s, 130s; on a long run's axis
  // (10 minutes or more) in minutes: 20m, 2m30s.
  function fmtT(v, minutes) {
    if (v == null) return "";
    v = +v.toFixed(3);
    if (!minutes || Math.abs(v) < 60) return v + "s";
    var m = Math.floor(v / 60), s = +(v - m * 60).toFixed(1);
    return m + "m" + (s ? s + "s" : "");
  }

  // Ticks fall on round seconds and minutes.
  var T_INCRS = [0.1, 0.2, 0.5, 1, 2, 5, 10, 15, 30, 60, 120, 300, 600, 900, 1800, 3600, 7200];

  function xAxis(label) {
    return { label: label, incrs: T_INCRS, values: function (u, ticks) {
      var minutes = u.scales.x.max - u.scales.x.min >= 600;
      return ticks.map(function (t) { return fmtT(t, minutes); });
    } };
  }

  function leftAxis(g, scale, label, values) {
    return { scale: scale, label: label, size: g.left, values: values };
  }

  // chart creates a uPlot chart and records what it holds for the test,
  // counting its draws.
  function chart(scenario, name, opts, data, el, extra) {
    var rec = { points: data[0].length, series: {}, draws: 0 };
    for (var k in extra || {}) rec[k] = extra[k];
    (charts[scenario] = charts[scenario] || {})[name] = rec;
    opts.plugins = (opts.plugins || []).concat({ hooks: {
      draw: [function () { rec.draws++; }],
      setScale: [function (u, k) { if (k === "x") rec.x = [u.scales.x.min, u.scales.x.max]; }]
    } });
    var u = new uPlot(opts, data, el);
    for (var i = 1; i < u.series.length; i++) rec.series[u.series[i].label] = nonNull(data[i]);
    all.push(u);
    return rec;
  }

  function sync(g) { return { key: g.key, scales: ["x", null] }; }

  // faultsPlugin shades each fault on a chart: issued until in effect
  // (amber), in effect until its revert is issued (red), reverting (grey),
  // never in effect (grey). With lines, only the instants are drawn.
  function faultsPlugin(s, opts) {
    var state = { drawn: 0 };
    function paint(u) {
      var ctx = u.ctx, b = u.bbox;
      function x(v) { return u.valToPos(v, "x", true); }
      function band(from, to, color) {
        if (to <= from) return;
        ctx.fillStyle = color;
        ctx.fillRect(x(from), b.top, Math.max(x(to) - x(from), px(1)), b.height);
      }
      function line(at, color, w) {
        ctx.fillStyle = color;
        ctx.fillRect(x(at) - px(w) / 2, b.top, px(w), b.height);
      }
      ctx.save();
      ctx.beginPath();
      ctx.rect(b.left, b.top, b.width, b.height);
      ctx.clip();
      state.drawn = 0;
      s.faults.forEach(function (f) {
        var end = f.end;
        if (!opts.lines) {
          if (f.inEffect != null) {
            band(f.start, f.inEffect, C.pending);
            var effectEnd = f.revertIssued != null ? f.revertIssued : end;
            if (effectEnd > f.inEffect) band(f.inEffect, effectEnd, C.effect);
            else line(f.inEffect, C.effectLine, 2);
            if (f.revertIssued != null) band(f.revertIssued, end, C.reverting);
          } else {
            band(f.start, end, C.noEffect);
          }
        } else {
          if (f.inEffect != null) line(f.inEffect, C.effectLine, 2);
          if (f.revertIssued != null) line(f.revertIssued, C.revertLine, 1.5);
        }
        line(f.start, C.issued, 2);
        state.drawn++;
      });
      (opts.recoveries || []).forEach(function (r) {
        ctx.setLineDash([px(4), px(3)]);
        ctx.strokeStyle = C.recovered;
        ctx.lineWidth = px(1.5);
        ctx.beginPath();
        ctx.moveTo(x(r.t), b.top);
        ctx.lineTo(x(r.t), b.top + b.height);
        ctx.stroke();
        ctx.setLineDash([]);
      });
      ctx.restore();
    }
    function labels(u) {
      var ctx = u.ctx, b = u.bbox, lastEnd = -Infinity;
      ctx.save();
      ctx.font = px(11) + "px sans-serif";
      ctx.textBaseline = "top";
      var items = opts.labels ? s.faults.map(function (f) { return { t: f.start, text: f.label + (f.tookEffect ? "" : " (no effect)"), color: "#92400e" }; }) : [];
      (opts.recoveries || []).forEach(function (r) { items.push({ t: r.t, text: "recovered " + r.seconds.toFixed(1) + "s", color: "#166534" }); });
      items.sort(function (a, c) { return a.t - c.t; });
      items.forEach(function (it) {
        var at = u.valToPos(it.t, "x", true) + px(3);
        if (at < lastEnd || at < b.left || at > b.left + b.width) return; // no overlapping labels
        ctx.fillStyle = it.color;
        ctx.fillText(it.text, at, b.top + px(3));
        lastEnd = at + ctx.measureText(it.text).width + px(8);
      });
      ctx.restore();
    }
    return { state: state, plugin: { hooks: { drawClear: [paint], draw: [labels] } } };
  }

  // pctRange shows 95-100% unless the data dips lower, so a small dip is
  // visible and a large one fits.
  function pctRange(u, min) {
    var lo = min == null ? 95 : Math.max(0, Math.min(95, Math.floor(min) - 1));
    return [lo, 100 + (100 - lo) * 0.04];
  }

  function trafficChart(el, s, g) {
    var w = s.windows, fp = faultsPlugin(s, { labels: true });
    var rec = chart(s.name, "traffic", {
      width: widthOf(el), height: 240, title: "Success rate and requests per second",
      cursor: { sync: sync(g) }, padding: [8, 8, 0, 0],
      scales: {
        x: xScale(s.xMin, s.xMax),
        pct: { range: pctRange },
        rate: { range: function (u, min, max) { return [0, Math.max(1, (max || 0) * 1.15)]; } }
      },
      series: [
        { label: "t", value: function (u, v) { return v == null ? "–" : fmtT(v, v >= 600); } },
        { label: "success rate", scale: "pct", stroke: C.ok, width: 2, points: NOPOINTS, value: function (u, v) { return fmt(v, 2, "%"); } },
        { label: "requests/s", scale: "rate", stroke: C.rate, width: 1, points: NOPOINTS, value: function (u, v) { return fmt(v, 0); } }
      ],
      axes: [
        xAxis(""),
        leftAxis(g, "pct", "success rate", function (u, t) { return t.map(function (v) { return v == null ? "" : +v.toFixed(2) + "%"; }); }),
        { scale: "rate", side: 1, label: "requests/s", size: RIGHT, labelSize: RIGHT_LABEL, grid: { show: false } }
      ],
      plugins: [fp.plugin, g.plugin(), { hooks: { draw: [function () { rec.faultsDrawn = fp.state.drawn; }] } }]
    }, [w.t, w.success, w.rate], el, { source: w.source, faults: s.faults.length, faultsDrawn: 0 });
  }

  function latencyChart(el, s, g) {
    var w = s.windows, fp = faultsPlugin(s, {});
    var ms = function (u, v) { return fmt(v, 1, " ms"); };
    chart(s.name, "latency", {
      width: widthOf(el), height: 200, title: "Latency of successful requests (log scale)",
      cursor: { sync: sync(g) }, padding: [8, RIGHT_PAD, 0, 0],
      scales: { x: xScale(s.xMin, s.xMax), ms: { distr: 3, log: 10 } },
      series: [
        { label: "t", value: function (u, v) { return v == null ? "–" : fmtT(v, v >= 600); } },
        { label: "p50", scale: "ms", stroke: C.p50, width: 1.5, points: NOPOINTS, value: ms },
        { label: "p99", scale: "ms", stroke: C.p99, width: 1.5, points: NOPOINTS, value: ms }
      ],
      axes: [xAxis(""), {
        scale: "ms", label: "ms", size: g.left, values: function (u, t) { return t.map(function (v) { return v == null ? "" : +v.toPrecision(3) + ""; }); },
        // powers of ten only: minor log splits crowd a short chart
        splits: function (u) {
          var out = [], sc = u.scales.ms;
          if (sc.min == null || !(sc.max > 0)) return out;
          for (var p = Math.pow(10, Math.floor(Math.log10(Math.max(sc.min, 1e-3)))); p <= sc.max * 1.0001; p *= 10) if (p >= sc.min * 0.9999) out.push(p);
          return out;
        }
      }],
      plugins: [fp.plugin, g.plugin()]
    }, [w.t, w.p50, w.p99], el, { source: w.source });
  }

  function replicasChart(el, s, g) {
    var r = s.replicas, fp = faultsPlugin(s, { recoveries: s.recoveries });
    var top = 1;
    r.ready.concat(r.desired).forEach(function (v) { if (v != null && v > top) top = v; });
    var step = uPlot.paths.stepped({ align: 1 });
    chart(s.name, "replicas", {
      width: widthOf(el), height: 170, title: "Serving (Ready, not terminating) and desired replicas",
      cursor: { sync: sync(g) }, padding: [8, RIGHT_PAD, 0, 0],
      scales: { x: xScale(s.xMin, s.xMax), n: { range: function () { return [0, top + 1]; } } },
      series: [
        { label: "t", value: function (u, v) { return v == null ? "–" : fmtT(v, v >= 600); } },
        { label: "serving", scale: "n", stroke: C.ready, width: 2, paths: step, points: NOPOINTS, fill: "rgba(37, 99, 235, 0.08)", value: function (u, v) { return fmt(v, 0); } },
        { label: "desired", scale: "n", stroke: C.desired, width: 1.5, dash: [6, 4], paths: step, points: NOPOINTS, value: function (u, v) { return fmt(v, 0); } }
      ],
      axes: [xAxis(""), leftAxis(g, "n", "replicas", function (u, t) { return t.map(function (v) { return Number.isInteger(v) ? v : ""; }); })],
      plugins: [fp.plugin, g.plugin()]
    }, [r.t, r.ready, r.desired], el, { source: r.source, recoveries: s.recoveries.length });
  }

  // usageChart draws the target pods' CPU (metrics API, summed) and the
  // requests the pods counted themselves (their metrics endpoint), the
  // service seen from the inside beside the client's view above.
  function usageChart(el, s, g) {
    var u = s.usage, fp = faultsPlugin(s, {});
    var top = function (u, min, max) { return [0, Math.max(1, (max || 0) * 1.15)]; };
    chart(s.name, "usage", {
      width: widthOf(el), height: 190, title: "Target pods: CPU (metrics API) and requests they counted",
      cursor: { sync: sync(g) }, padding: [8, 8, 0, 0],
      scales: { x: xScale(s.xMin, s.xMax), cpu: { range: top }, rps: { range: top } },
      series: [
        { label: "t", value: function (u, v) { return v == null ? "–" : fmtT(v, v >= 600); } },
        { label: "CPU (millicores)", scale: "cpu", stroke: C.p50, width: 2, spanGaps: true, points: NOPOINTS, value: function (u, v) { return fmt(v, 0, "m"); } },
        { label: "requests/s counted by pods", scale: "rps", stroke: C.rate, width: 1.5, dash: [5, 3], spanGaps: true, points: NOPOINTS, value: function (u, v) { return fmt(v, 0); } }
      ],
      axes: [
        xAxis(""),
        leftAxis(g, "cpu", "millicores"),
        { scale: "rps", side: 1, label: "requests/s", size: RIGHT, labelSize: RIGHT_LABEL, grid: { show: false } }
      ],
      plugins: [fp.plugin, g.plugin()]
    }, [u.t, u.cpu, u.rps], el, { source: u.source });
  }

  function hatch() {
    var c = document.createElement("canvas"), n = Math.round(px(6));
    c.width = c.height = n;
    var ctx = c.getContext("2d");
    ctx.strokeStyle = "rgba(76, 29, 149, 0.55)";
    ctx.lineWidth = px(1.5);
    ctx.beginPath();
    ctx.moveTo(0, n);
    ctx.lineTo(n, 0);
    ctx.stroke();
    return c;
  }

  // nodesChart draws one lane per node, coloured by its Ready condition and
  // hatched while cordoned; the legend shows each node's state at the cursor.
  function nodesChart(el, s, g) {
    var nd = s.nodes, names = nd.names, fp = faultsPlugin(s, { lines: true }), pattern = null;
    function lanes(u) {
      var ctx = u.ctx, n = names.length;
      pattern = pattern || ctx.createPattern(hatch(), "repeat");
      ctx.save();
      for (var i = 0; i < n; i++) {
        var y0 = u.valToPos(n - i - 0.15, "lane", true), y1 = u.valToPos(n - i - 0.85, "lane", true);
        for (var k = 0; k + 1 < nd.t.length; k++) {
          var st = nd.states[i][k];
          if (!st) continue;
          var x0 = u.valToPos(nd.t[k], "x", true), x1 = u.valToPos(nd.t[k + 1], "x", true);
          ctx.fillStyle = C.lane[st.charAt(0)] || "#e5e7eb";
          ctx.fillRect(x0, y0, Math.max(x1 - x0, px(1)), y1 - y0);
          if (st.indexOf("c") > 0) {
            ctx.fillStyle = pattern;
            ctx.fillRect(x0, y0, Math.max(x1 - x0, px(1)), y1 - y0);
          }
        }
      }
      ctx.restore();
    }
    var series = [{ label: "t", value: function (u, v) { return v == null ? "–" : fmtT(v, v >= 600); } }];
    var data = [nd.t];
    names.forEach(function (name, i) {
      series.push({
        label: name, scale: "lane", stroke: "transparent", points: { show: false },
        value: function (u, v, si, idx) {
          if (idx == null) return "–";
          var st = nd.states[i][idx];
          if (!st) return "not seen";
          return LANE_TEXT[st.charAt(0)] + (st.indexOf("c") > 0 ? ", cordoned" : "");
        }
      });
      data.push(nd.t.map(function () { return names.length - i - 0.5; }));
    });
    var states = 0;
    nd.states.forEach(function (l) { l.forEach(function (v) { if (v) states++; }); });
    chart(s.name, "nodes", {
      width: widthOf(el), height: 60 + 30 * Math.max(names.length, 1), title: "Nodes: Ready condition (hatched: cordoned)",
      cursor: { sync: sync(g), points: { show: false } }, padding: [8, RIGHT_PAD, 0, 0],
      scales: { x: xScale(s.xMin, s.xMax), lane: { range: function () { return [0, Math.max(names.length, 1)]; } } },
      series: series,
      axes: [
        xAxis("time from load start"),
        { scale: "lane", label: "node", size: g.left, grid: { show: false }, ticks: { show: false },
          splits: function () { return names.map(function (_, i) { return names.length - i - 0.5; }); },
          values: function () { return names; } }
      ],
      plugins: [{ hooks: { drawClear: [lanes] } }, fp.plugin, g.plugin()]
    }, data, el, { source: nd.source, nodes: names.length, states: states });
  }

  function leftSize(names) {
    var longest = 0;
    names.forEach(function (n) { longest = Math.max(longest, n.length); });
    return Math.max(64, Math.min(220, longest * 7 + 16));
  }

  function renderReport(data) {
    data.scenarios.forEach(function (s) {
      var root = document.querySelector('.charts[data-scenario="' + s.id + '"]');
      if (!root) return;
      var g = group("cg-" + s.id, leftSize(s.nodes.names));
      var el = function (name) { return root.querySelector('[data-chart="' + name + '"]'); };
      if (el("traffic")) trafficChart(el("traffic"), s, g);
      if (el("latency")) latencyChart(el("latency"), s, g);
      if (el("replicas") && s.replicas.t.length > 0) replicasChart(el("replicas"), s, g);
      if (el("usage") && s.usage.t && s.usage.t.length > 0) usageChart(el("usage"), s, g);
      if (el("nodes") && s.nodes.names.length > 0) nodesChart(el("nodes"), s, g);
    });
  }

  // Trend: one point per run, x is the run's position; the axis names runs.
  function trendChart(el, sc, labels, g, spec) {
    chart(sc, spec.name, {
      width: widthOf(el), height: 180, title: spec.title,
      cursor: { sync: sync(g) }, padding: [8, 24, 0, 0],
      scales: { x: { time: false, range: function () { return [-0.5, labels.length - 0.5]; } }, y: spec.range ? { range: spec.range } : {} },
      series: [
        { label: "run", value: function (u, v) { return v == null ? "–" : labels[v]; } },
        { label: spec.label, stroke: spec.color, width: 2, points: { show: true, size: 7, fill: spec.color }, value: function (u, v) { return v == null ? "–" : spec.format(v); } }
      ],
      axes: [
        // name as many runs as fit, about 120px apart
        { values: function (u, ticks) {
            var step = Math.max(1, Math.ceil(120 * labels.length / Math.max(1, u.bbox.width / uPlot.pxRatio)));
            return ticks.map(function (t) { return Number.isInteger(t) && (labels.length - 1 - t) % step === 0 ? labels[t] : ""; });
          },
          splits: function () { return labels.map(function (_, i) { return i; }); } },
        { label: spec.unit, size: g.left, values: function (u, t) {
          return t.map(function (v) { return v == null || spec.integer && !Number.isInteger(v) ? "" : +v.toPrecision(4) + ""; });
        } }
      ],
      plugins: [g.plugin()]
    }, [labels.map(function (_, i) { return i; }), spec.values], el);
  }

  function renderTrend(data) {
    data.scenarios.forEach(function (s) {
      var root = document.querySelector('.charts[data-scenario="' + s.id + '"]');
      if (!root) return;
      var g = group("cg-" + s.id, 64);
      var el = function (name) { return root.querySelector('[data-chart="' + name + '"]'); };
      var specs = [
        { name: "availability", title: "Availability", label: "availability", unit: "%", color: C.ok, values: s.availability,
          format: function (v) { return v.toFixed(3) + "%"; }, range: pctRange },
        { name: "recovery", title: "Worst recovery time", label: "worst recovery", unit: "s", color: C.recovery, values: s.recovery,
          format: function (v) { return v.toFixed(1) + "s"; }, range: function (u, min, max) { return [0, Math.max(1, (max || 0) * 1.15)]; } },
        { name: "p99", title: "p99 latency", label: "p99", unit: "ms", color: C.p99, values: s.p99,
          format: function (v) { return v.toFixed(1) + " ms"; }, range: function (u, min, max) { return [0, Math.max(1, (max || 0) * 1.15)]; } },
        { name: "failedChecks", title: "Failed checks", label: "failed checks", unit: "checks", color: C.fails, values: s.failedChecks,
          format: function (v) { return v.toFixed(0); }, integer: true, range: function (u, min, max) { return [0, Math.max(1, max || 0) + 1]; } }
      ];
      specs.forEach(function (spec) { trendChart(el(spec.name), s.name, data.labels, g, spec); });
    });
  }

  function resize() {
    all.forEach(function (u) {
      var w = widthOf(u.root.parentNode);
      if (w !== u.width) u.setSize({ width: w, height: u.height });
    });
  }

  window.chaosgate = {
    render: function (data) {
      if (data.kind === "trend") renderTrend(data);
      else renderReport(data);
      window.addEventListener("resize", resize);
      // uPlot draws in a microtask; a timer runs after the first draws.
      setTimeout(function () { window.chaosgateReady = true; }, 0);
    }
  };
})();
