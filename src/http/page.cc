#include "http/page.h"

namespace ll::http {

// Kept in C++ so the daemon is one file; it is plain HTML, CSS and JavaScript. The token, when the server needs one,
// is read from the URL fragment (#token=...), which browsers never send to the server or put in logs.
const char* topology_page_html() {
  return R"html(<!doctype html>
<html lang="en"><head><meta charset="utf-8"><meta name="viewport" content="width=device-width,initial-scale=1">
<title>lingualinked cluster</title>
<style>
body{font:14px system-ui,sans-serif;margin:0;background:#f5f6f8;color:#1d2330}
header{background:#1d2330;color:#fff;padding:12px 20px;display:flex;gap:24px;align-items:baseline;flex-wrap:wrap}
header h1{font-size:18px;margin:0}header span{opacity:.85}
main{display:grid;grid-template-columns:minmax(320px,420px) 1fr;gap:16px;padding:16px}
section{background:#fff;border-radius:8px;box-shadow:0 1px 3px #0002;padding:12px 16px}
h2{font-size:14px;margin:0 0 8px;text-transform:uppercase;letter-spacing:.05em;color:#667}
#devices{display:grid;grid-template-columns:repeat(auto-fill,minmax(230px,1fr));gap:12px}
.device{border:1px solid #dde;border-radius:6px;padding:8px 10px}
.device.dead{opacity:.5}.device .name{font-weight:600;font-size:15px}
.tag{display:inline-block;font-size:11px;padding:1px 6px;border-radius:8px;background:#e4e8f0;margin-left:4px}
.tag.leader{background:#ffd36b}.tag.head{background:#9fe3b2}
.bar{height:8px;background:#e4e8f0;border-radius:4px;overflow:hidden;margin:4px 0}
.bar div{height:100%;background:#4a7bd8}
.kv{display:grid;grid-template-columns:auto 1fr;gap:1px 10px;font-size:12px}.kv b{font-weight:500;color:#556}
table{border-collapse:collapse;width:100%;font-size:12px}td,th{padding:3px 6px;text-align:left;border-bottom:1px solid #eef}
#status.err{color:#b00}svg text{font-size:11px}
</style></head><body>
<header><h1>lingualinked</h1><span id="model">model: -</span><span id="plan">plan: -</span>
<span id="leader">leader: -</span><span id="status">connecting...</span></header>
<main>
<section><h2>Ring</h2><svg id="ring" viewBox="0 0 400 400" width="100%"></svg></section>
<section><h2>Devices</h2><div id="devices"></div></section>
<section><h2>Links</h2><table id="links"><thead><tr><th>from</th><th>to</th><th>RTT ms</th><th>MB/s</th>
<th>bytes sent</th></tr></thead><tbody></tbody></table></section>
<section><h2>Re-plans</h2><ol id="replans"></ol></section>
</main>
<script>
"use strict";
const token = (location.hash.match(/token=([^&]+)/) || [])[1];
const el = (tag, attrs = {}, ...kids) => {
  const e = document.createElement(tag);
  for (const [k, v] of Object.entries(attrs)) k === "class" ? (e.className = v) : e.setAttribute(k, v);
  for (const k of kids) e.append(k);
  return e;
};
const bytes = n => n >= 1 << 30 ? (n / (1 << 30)).toFixed(2) + " GiB" : n >= 1 << 20 ? (n / (1 << 20)).toFixed(1) +
  " MiB" : n >= 1024 ? (n / 1024).toFixed(1) + " KiB" : (n || 0) + " B";
const ms = v => typeof v === "number" ? v.toFixed(2) + " ms" : "-";
function drawRing(t) {
  const svg = document.getElementById("ring"), ns = "http://www.w3.org/2000/svg";
  svg.replaceChildren();
  const names = t.ring.length ? t.ring : t.devices.map(d => d.name);
  const extra = t.devices.map(d => d.name).filter(n => !names.includes(n));
  const all = names.concat(extra), n = all.length, pos = {};
  const mk = (tag, a) => { const e = document.createElementNS(ns, tag); for (const k in a) e.setAttribute(k, a[k]); svg.append(e); return e; };
  mk("defs", {}).innerHTML = '<marker id="arr" viewBox="0 0 10 10" refX="10" refY="5" markerWidth="7" markerHeight="7" orient="auto"><path d="M0 0L10 5L0 10z" fill="#4a7bd8"/></marker>';
  all.forEach((name, i) => { const a = -Math.PI / 2 + 2 * Math.PI * i / Math.max(n, 1); pos[name] = [200 + 140 * Math.cos(a), 200 + 140 * Math.sin(a)]; });
  for (let i = 0; i < names.length && names.length > 1; i++) {
    const [x1, y1] = pos[names[i]], [x2, y2] = pos[names[(i + 1) % names.length]];
    const dx = x2 - x1, dy = y2 - y1, d = Math.hypot(dx, dy) || 1, r = 34;
    mk("line", {x1: x1 + dx * r / d, y1: y1 + dy * r / d, x2: x2 - dx * r / d, y2: y2 - dy * r / d, stroke: "#4a7bd8",
      "stroke-width": 2, "marker-end": "url(#arr)", "stroke-dasharray": i === names.length - 1 ? "5 4" : ""});
  }
  for (const d of t.devices) {
    const [x, y] = pos[d.name]; if (x === undefined) continue;
    const staged = !!d.stage;
    mk("circle", {cx: x, cy: y, r: 32, fill: staged ? "#fff" : "#eee", stroke: d.name === t.leader ? "#e0a800" : "#1d2330", "stroke-width": 2});
    mk("text", {x, y: y - 2, "text-anchor": "middle", "font-weight": "600"}).textContent = d.name;
    mk("text", {x, y: y + 12, "text-anchor": "middle"}).textContent = staged ? "stage " + d.stage.index : "spare";
    if (staged) mk("text", {x, y: y + 46, "text-anchor": "middle"}).textContent = "layers " + (d.stage.layers || d.stage.first_shard + "-" + d.stage.last_shard);
    if (staged && typeof d.stage.observed_ms === "number") mk("text", {x, y: y + 60, "text-anchor": "middle"}).textContent = ms(d.stage.observed_ms) + "/step";
  }
  if (!names.length) mk("text", {x: 200, y: 200, "text-anchor": "middle"}).textContent = "no model loaded";
}
function render(t) {
  document.getElementById("model").textContent = "model: " + (t.model || "none");
  document.getElementById("plan").textContent = "plan: " + (t.plan_version || "-") + (t.predicted_ms_per_token ?
    " (predicted " + t.predicted_ms_per_token.toFixed(2) + " ms/token)" : "");
  document.getElementById("leader").textContent = "leader: " + (t.leader || "none") + " (term " + t.term + ")";
  drawRing(t);
  const box = document.getElementById("devices");
  box.replaceChildren(...t.devices.map(d => {
    const s = d.stage, c = d.counters || {};
    const used = s ? s.memory_used_bytes : 0, pct = d.memory_budget ? Math.min(100, 100 * used / d.memory_budget) : 0;
    const tags = [el("span", {class: "tag"}, d.state)];
    if (d.name === t.leader) tags.push(el("span", {class: "tag leader"}, "leader"));
    if (s && s.index === 0) tags.push(el("span", {class: "tag head"}, "head"));
    const kv = el("div", {class: "kv"});
    const row = (k, v) => kv.append(el("b", {}, k), el("span", {}, v));
    row("stage", s ? "#" + s.index + ", shards " + s.first_shard + "-" + s.last_shard : "-");
    row("layers", s && s.layers ? s.layers : "-");
    row("memory", bytes(used) + " / " + bytes(d.memory_budget));
    row("observed", s ? ms(s.observed_ms) + " per step" : "-");
    row("compute", c.compute_ms_avg !== undefined ? ms(c.compute_ms_avg) + " per pass" : "-");
    row("sessions", c.open_sessions !== undefined ? String(c.open_sessions) : "-");
    row("queue", c.queue_depth !== undefined ? String(c.queue_depth) : "-");
    if (c.tokens_generated) row("tokens", String(c.tokens_generated));
    return el("div", {class: "device" + (d.state === "dead" ? " dead" : ""), "data-name": d.name},
      el("div", {class: "name"}, d.name, ...tags), el("div", {class: "bar", title: pct.toFixed(0) + "% of budget"},
      el("div", {style: "width:" + pct + "%"})), kv);
  }));
  box.setAttribute("data-count", String(t.devices.length));
  const sent = {};
  for (const d of t.devices) for (const [to, b] of Object.entries((d.counters || {}).bytes_sent || {})) sent[d.name + ">" + to] = b;
  document.querySelector("#links tbody").replaceChildren(...t.links.map(l => el("tr", {},
    el("td", {}, l.from), el("td", {}, l.to), el("td", {}, l.rtt_ms.toFixed(2)),
    el("td", {}, l.bandwidth_mbps ? l.bandwidth_mbps.toFixed(0) : "-"), el("td", {}, bytes(sent[l.from + ">" + l.to] || 0)))));
  document.getElementById("replans").replaceChildren(...(t.replans.length ? t.replans.map(r => el("li", {},
    "plan " + r.from_version + (r.to_version ? " -> " + r.to_version : " (kept)") + ": " + (r.reason || ""))) :
    [el("li", {class: "none"}, "none since plan " + (t.plan_version || "-") + " was made")]));
}
async function tick() {
  const status = document.getElementById("status");
  try {
    const r = await fetch("/api/topology", {headers: token ? {Authorization: "Bearer " + token} : {}});
    const t = await r.json();
    if (!r.ok) throw new Error((t.error && t.error.message) || r.status);
    render(t);
    status.className = ""; status.textContent = t.devices.length + " devices, updated " + new Date().toLocaleTimeString();
  } catch (e) {
    status.className = "err"; status.textContent = "error: " + e.message;
  }
  setTimeout(tick, 1000);
}
tick();
</script></body></html>
)html";
}

}  // namespace ll::http
