import { createHash } from "node:crypto"

// The page is one self-contained document: no external URLs at all (users run in private networks),
// charts drawn as inline SVG by the script below. The CSP allows exactly these two inline blocks, by hash.

const style = String.raw`
:root { --bg: #f6f7f9; --card: #fff; --ink: #1d2433; --muted: #6b7385; --line: #dfe3ea; --accent: #2f6fdb; --warn: #c9461e; --ok: #1f8a4c; }
* { box-sizing: border-box; }
body { margin: 0; font: 14px/1.4 system-ui, -apple-system, "Segoe UI", sans-serif; background: var(--bg); color: var(--ink); }
header { display: flex; align-items: center; gap: 12px; padding: 12px 20px; background: var(--ink); color: #fff; }
header h1 { font-size: 18px; margin: 0; font-weight: 600; }
header .muted { color: #b8bfcc; margin-left: auto; }
.pill { padding: 2px 10px; border-radius: 999px; font-size: 12px; background: #5a6275; }
.pill.live { background: var(--ok); }
.pill.polling { background: #a47a00; }
.pill.down { background: var(--warn); }
main { padding: 16px 20px; display: grid; gap: 16px; grid-template-columns: repeat(auto-fit, minmax(420px, 1fr)); }
section { background: var(--card); border: 1px solid var(--line); border-radius: 8px; padding: 12px 14px; min-width: 0; }
section.wide { grid-column: 1 / -1; }
h2 { font-size: 14px; margin: 0 0 8px; color: var(--muted); font-weight: 600; text-transform: uppercase; letter-spacing: .04em; }
.cards { display: flex; flex-wrap: wrap; gap: 10px 28px; }
.stat { display: flex; flex-direction: column; }
.stat span { color: var(--muted); font-size: 12px; }
.stat b { font-size: 20px; font-variant-numeric: tabular-nums; }
.stat small { color: var(--muted); }
.charts { display: grid; gap: 12px; grid-template-columns: repeat(auto-fit, minmax(360px, 1fr)); }
figure { margin: 0; }
figcaption { display: flex; gap: 8px; align-items: baseline; margin-bottom: 4px; }
figcaption .latest { margin-left: auto; font-variant-numeric: tabular-nums; }
svg.chart { width: 100%; height: auto; display: block; }
svg .grid { stroke: var(--line); stroke-width: 1; }
svg .axis { stroke: var(--muted); stroke-width: 1; }
svg text { fill: var(--muted); font-size: 15px; }
svg .line { fill: none; stroke: var(--accent); stroke-width: 2; }
svg .area { fill: var(--accent); opacity: .12; }
svg .bar { fill: var(--accent); opacity: .8; }
svg .ref { stroke: var(--warn); stroke-dasharray: 4 3; stroke-width: 1; }
table { width: 100%; border-collapse: collapse; font-variant-numeric: tabular-nums; }
th, td { text-align: left; padding: 4px 8px; border-bottom: 1px solid var(--line); }
th { color: var(--muted); font-weight: 600; font-size: 12px; }
td.num { text-align: right; }
td.mono, .mono { font-family: ui-monospace, SFMono-Regular, Menlo, monospace; font-size: 12px; word-break: break-all; }
.state { padding: 1px 8px; border-radius: 999px; font-size: 12px; background: #e7ebf2; }
.state.reading { background: #d9f2e3; color: var(--ok); }
.state.ended { background: #e7ebf2; color: var(--muted); }
.state.lost { background: #fbe1d9; color: var(--warn); }
ul.bars { list-style: none; margin: 0; padding: 0; }
ul.bars li { display: grid; grid-template-columns: 160px 1fr 40px; gap: 8px; align-items: center; margin: 4px 0; }
.track { background: #e7ebf2; border-radius: 4px; height: 14px; overflow: hidden; }
.fill { background: var(--accent); height: 100%; width: 0; }
ol.events { list-style: none; margin: 0; padding: 0; max-height: 260px; overflow: auto; }
ol.events li { padding: 4px 0; border-bottom: 1px solid var(--line); }
ol.events .tag { font-weight: 600; color: var(--warn); margin-right: 6px; }
ol.events .meta { color: var(--muted); font-size: 12px; margin-right: 6px; }
.empty { color: var(--muted); font-style: italic; }
`

const script = String.raw`
(function () {
  "use strict";
  var SVG = "http://www.w3.org/2000/svg";
  var W = 600, H = 180, L = 52, R = 10, T = 10, B = 26;
  var params = new URLSearchParams(location.search);
  var forcePoll = params.get("mode") === "poll";
  var pollTimer = null;

  function $(id) { return document.getElementById(id); }
  function el(tag, attrs, text) {
    var e = document.createElement(tag);
    for (var k in attrs) e.setAttribute(k, attrs[k]);
    if (text !== undefined) e.textContent = text;
    return e;
  }
  function svg(tag, attrs, text) {
    var e = document.createElementNS(SVG, tag);
    for (var k in attrs) e.setAttribute(k, String(attrs[k]));
    if (text !== undefined) e.textContent = text;
    return e;
  }
  function int(n) { return Math.round(n).toLocaleString("en-US"); }
  function dec(n) { return n.toLocaleString("en-US", { minimumFractionDigits: 1, maximumFractionDigits: 1 }); }
  function time(ms) { return new Date(ms).toLocaleTimeString("en-GB", { hour12: false }); }
  function orDash(v, f) { return v === null || v === undefined ? "\u2013" : f(v); }
  function set(id, text) { var e = $(id); if (e.textContent !== text) e.textContent = text; }
  function clear(e) { while (e.firstChild) e.removeChild(e.firstChild); }
  function niceMax(v) {
    if (!(v > 0)) return 1;
    var p = Math.pow(10, Math.floor(Math.log10(v))), m = v / p;
    return (m <= 1 ? 1 : m <= 2 ? 2 : m <= 5 ? 5 : 10) * p;
  }

  // A chart of one value per batch: bars or a line, y from 0, labelled axes, an optional reference line.
  function chart(id, points, value, kind, format, ref) {
    var root = $(id), s = root.querySelector("svg");
    clear(s);
    var n = points.length, values = points.map(value);
    var max = niceMax(Math.max.apply(null, values.concat(ref ? [ref.value] : [0])));
    var pw = W - L - R, ph = H - T - B;
    var x = function (i) { return L + (n <= 1 ? pw / 2 : (i * pw) / (n - 1)); };
    var y = function (v) { return T + ph - (v / max) * ph; };
    [0, 0.5, 1].forEach(function (f) {
      var yy = y(max * f);
      s.appendChild(svg("line", { "class": f === 0 ? "axis" : "grid", x1: L, x2: W - R, y1: yy, y2: yy }));
      s.appendChild(svg("text", { x: L - 6, y: yy + 4, "text-anchor": "end" }, format(max * f)));
    });
    s.appendChild(svg("line", { "class": "axis", x1: L, x2: L, y1: T, y2: T + ph }));
    s.appendChild(svg("text", { x: 12, y: T + ph / 2, "text-anchor": "middle", transform: "rotate(-90 12 " + (T + ph / 2) + ")" }, root.getAttribute("data-unit")));
    if (n > 0) {
      var first = points[0].batchId, last = points[n - 1].batchId;
      s.appendChild(svg("text", { x: L, y: H - 8, "text-anchor": "start" }, "batch " + (first === null ? "\u2013" : first)));
      s.appendChild(svg("text", { x: W - R, y: H - 8, "text-anchor": "end" }, "batch " + (last === null ? "\u2013" : last)));
    }
    if (kind === "bar") {
      var g = svg("g", { "data-testid": id + "-bars", "data-points": n });
      var bw = Math.max(1, pw / Math.max(n, 1) - 2);
      values.forEach(function (v, i) {
        var cx = n <= 1 ? L + pw / 2 : L + (i + 0.5) * (pw / n);
        var r = svg("rect", { "class": "bar", x: cx - bw / 2, y: y(v), width: bw, height: Math.max(0, T + ph - y(v)) });
        r.appendChild(svg("title", {}, "batch " + points[i].batchId + ": " + format(v)));
        g.appendChild(r);
      });
      s.appendChild(g);
    } else {
      var d = values.map(function (v, i) { return (i === 0 ? "M" : "L") + x(i).toFixed(1) + " " + y(v).toFixed(1); }).join(" ");
      if (n > 0) s.appendChild(svg("path", { "class": "area", d: d + " L" + x(n - 1).toFixed(1) + " " + (T + ph) + " L" + x(0).toFixed(1) + " " + (T + ph) + " Z" }));
      s.appendChild(svg("path", { "class": "line", d: n > 0 ? d : "M0 0", "data-testid": id + "-line", "data-points": n }));
    }
    if (ref && ref.value > 0) {
      s.appendChild(svg("line", { "class": "ref", x1: L, x2: W - R, y1: y(ref.value), y2: y(ref.value) }));
      // Below the line when it is the top of the chart, above it otherwise.
      var ly = y(ref.value) < T + 18 ? y(ref.value) + 17 : y(ref.value) - 5;
      s.appendChild(svg("text", { x: W - R, y: ly, "text-anchor": "end" }, ref.label));
    }
  }

  function render(snap) {
    var t = snap.totals, last = snap.latest;
    set("total-batches", int(t.batches));
    set("total-records", int(t.records));
    set("total-source-records", int(t.sourceRecords));
    set("total-dead-letters", int(t.deadLettered));
    set("total-errors", int(t.errors));
    set("last-batch-id", last ? orDash(last.batchId, String) : "\u2013");
    set("last-records", last ? int(last.sourceRecords) : "\u2013");
    set("last-input-rate", last ? dec(last.inputRate) : "\u2013");
    set("last-processing-ms", last ? int(last.processingMs) : "\u2013");
    set("last-scheduling-delay-ms", last ? int(last.schedulingDelayMs) : "\u2013");
    set("last-total-delay-ms", last ? int(last.totalDelayMs) : "\u2013");
    set("updated", time(snap.generatedAt));

    var b = snap.batches;
    var intervals = b.map(function (p) { return p.intervalMs; }).sort(function (a, c) { return a - c; });
    var interval = intervals.length ? intervals[Math.floor(intervals.length / 2)] : 0;
    chart("chart-input-rate", b, function (p) { return p.inputRate; }, "bar", int);
    chart("chart-processing-time", b, function (p) { return p.processingMs; }, "line", int, { value: interval, label: "batch interval" });
    chart("chart-scheduling-delay", b, function (p) { return p.schedulingDelayMs; }, "line", int);
    set("latest-input-rate", last ? dec(last.inputRate) + " rec/s" : "");
    set("latest-processing-time", last ? int(last.processingMs) + " ms" : "");
    set("latest-scheduling-delay", last ? int(last.schedulingDelayMs) + " ms" : "");

    var body = $("shards").querySelector("tbody");
    clear(body);
    snap.shards.forEach(function (s) {
      var tr = el("tr", { "data-shard": s.shardId });
      tr.appendChild(el("td", { "class": "mono", "data-testid": "shard-id" }, s.shardId));
      var st = el("td", {});
      st.appendChild(el("span", { "class": "state " + s.state, "data-testid": "shard-state" }, s.state));
      tr.appendChild(st);
      tr.appendChild(el("td", { "data-testid": "shard-owner" }, orDash(s.owner, String)));
      tr.appendChild(el("td", { "class": "num", "data-testid": "shard-lag" }, orDash(s.millisBehindLatest, int)));
      tr.appendChild(el("td", { "class": "mono", "data-testid": "shard-checkpoint" }, orDash(s.checkpoint, String)));
      tr.appendChild(el("td", { "class": "num" }, time(s.updatedAt)));
      body.appendChild(tr);
    });
    $("shards-empty").hidden = snap.shards.length > 0;

    var leases = $("leases"), most = 1;
    clear(leases);
    snap.leases.workers.forEach(function (w) { most = Math.max(most, w.leases); });
    snap.leases.workers.forEach(function (w) {
      var li = el("li", { "data-worker": w.worker });
      li.appendChild(el("span", { "class": "mono", "data-testid": "lease-worker" }, w.worker));
      var track = el("div", { "class": "track" }), fill = el("div", { "class": "fill" });
      fill.style.width = (100 * w.leases / most).toFixed(1) + "%";
      track.appendChild(fill);
      li.appendChild(track);
      li.appendChild(el("b", { "data-testid": "lease-count" }, String(w.leases)));
      leases.appendChild(li);
    });
    $("leases-empty").hidden = snap.leases.workers.length > 0;

    var errors = $("errors");
    clear(errors);
    snap.errors.forEach(function (e) {
      var li = el("li", {});
      li.appendChild(el("span", { "class": "meta" }, time(e.at)));
      li.appendChild(el("span", { "class": "tag", "data-testid": "error-tag" }, e.tag));
      if (e.shardId) li.appendChild(el("span", { "class": "meta mono" }, e.shardId));
      li.appendChild(el("span", { "data-testid": "error-message" }, e.message));
      errors.appendChild(li);
    });
    $("errors-empty").hidden = snap.errors.length > 0;

    var dead = $("dead-letters");
    clear(dead);
    snap.deadLetters.forEach(function (d) {
      var li = el("li", {});
      li.appendChild(el("span", { "class": "meta" }, time(d.at)));
      li.appendChild(el("span", { "class": "tag", "data-testid": "dead-letter-kind" }, d.kind));
      li.appendChild(el("span", { "class": "meta mono", "data-testid": "dead-letter-position" }, d.shardId + " @ " + d.sequenceNumber));
      li.appendChild(el("span", { "data-testid": "dead-letter-reason" }, d.reason));
      dead.appendChild(li);
    });
    $("dead-letters-empty").hidden = snap.deadLetters.length > 0;

    document.body.setAttribute("data-version", String(snap.version));
  }

  function status(text, cls) { var c = $("connection"); c.textContent = text; c.className = "pill " + cls; }

  function poll() {
    if (pollTimer !== null) return;
    var tick = function () {
      fetch("snapshot.json", { cache: "no-store" })
        .then(function (r) { if (!r.ok) throw new Error(String(r.status)); return r.json(); })
        .then(function (snap) { status("polling", "polling"); render(snap); })
        .catch(function () { status("disconnected", "down"); });
    };
    tick();
    pollTimer = setInterval(tick, 2000);
  }

  function connect() {
    if (forcePoll || typeof EventSource === "undefined") return poll();
    var es = new EventSource("events"), received = false;
    es.addEventListener("snapshot", function (e) {
      received = true;
      status("live", "live");
      render(JSON.parse(e.data));
    });
    es.onerror = function () {
      // Never got a snapshot, or the browser gave up: poll instead. Otherwise EventSource reconnects by itself.
      if (!received || es.readyState === 2) { es.close(); poll(); }
      else status("reconnecting", "down");
    };
  }

  connect();
})();
`

const stat = (label: string, id: string, unit = "") =>
  `<div class="stat"><span>${label}</span><b id="${id}" data-testid="${id}">\u2013</b>${unit === "" ? "" : `<small>${unit}</small>`}</div>`

const chartFigure = (id: string, title: string, unit: string) =>
  `<figure id="${id}" data-unit="${unit}"><figcaption><b>${title}</b><span class="latest" id="latest-${id.slice(6)}" data-testid="latest-${id.slice(6)}"></span></figcaption>` +
  `<svg class="chart" viewBox="0 0 600 180" role="img" aria-label="${title} per batch"></svg></figure>`

const listSection = (id: string, title: string, empty: string) =>
  `<section><h2>${title}</h2><ol class="events" id="${id}"></ol><p class="empty" id="${id}-empty">${empty}</p></section>`

/** The dashboard page: one HTML document with its CSS and script inline. */
export const dashboardPage = `<!doctype html>
<html lang="en">
<head>
<meta charset="utf-8">
<meta name="viewport" content="width=device-width, initial-scale=1">
<title>shardline dashboard</title>
<style>${style}</style>
</head>
<body>
<header><h1>shardline</h1><span id="connection" data-testid="connection" class="pill">connecting</span><span class="muted">updated <span id="updated" data-testid="updated">\u2013</span></span></header>
<main>
<section class="wide"><h2>Totals and last batch</h2><div class="cards">
${stat("Batches", "total-batches")}${stat("Records to sink", "total-records")}${stat("Records read", "total-source-records")}${stat("Dead letters", "total-dead-letters")}${stat("Errors", "total-errors")}
${stat("Last batch", "last-batch-id")}${stat("Read in last batch", "last-records")}${stat("Input rate", "last-input-rate", "records/s")}${stat("Processing time", "last-processing-ms", "ms")}${stat("Scheduling delay", "last-scheduling-delay-ms", "ms")}${stat("Total delay", "last-total-delay-ms", "ms")}
</div></section>
<section class="wide"><h2>Batch timeline</h2><div class="charts">
${chartFigure("chart-input-rate", "Input rate", "records/s")}${chartFigure("chart-processing-time", "Processing time", "ms")}${chartFigure("chart-scheduling-delay", "Scheduling delay", "ms")}
</div></section>
<section class="wide"><h2>Shards</h2><table id="shards"><thead><tr><th>Shard</th><th>State</th><th>Owner</th><th>Lag (ms behind latest)</th><th>Last checkpoint</th><th>Updated</th></tr></thead><tbody></tbody></table><p class="empty" id="shards-empty">No shards yet.</p></section>
<section><h2>Leases by worker</h2><ul class="bars" id="leases"></ul><p class="empty" id="leases-empty">No leases held.</p></section>
${listSection("errors", "Recent errors", "No errors.")}
${listSection("dead-letters", "Recent dead letters", "No dead letters.")}
</main>
<script>${script}</script>
</body>
</html>
`

const hash = (text: string) => `'sha256-${createHash("sha256").update(text, "utf8").digest("base64")}'`

/**
 * Nothing but the page's own inline blocks (by hash) and same-origin requests: no external source
 * can load, even if a message on the page were to carry markup.
 */
export const contentSecurityPolicy = [
  "default-src 'none'",
  `script-src ${hash(script)}`,
  `style-src ${hash(style)}`,
  "connect-src 'self'",
  "img-src 'self' data:",
  "base-uri 'none'",
  "form-action 'none'",
  "frame-ancestors 'none'"
].join("; ")
