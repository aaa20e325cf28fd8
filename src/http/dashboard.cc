// The dashboard: one self-contained page (no CDN, no external asset), compiled into the
// binary. It polls /api/pools every second and draws, per pool, a canvas chart of servers in
// use, idle servers and waiting clients, and one of the wait-time p95. Once it has drawn, it
// records the number of points in data-points attributes (the headless-browser test reads
// them).
#include "http/server.h"

namespace reservoir::http {

namespace {

constexpr std::string_view kPage = R"HTML(<!doctype html>
<html lang="en"><head><meta charset="utf-8"><title>Reservoir</title>
<meta name="viewport" content="width=device-width, initial-scale=1">
<style>
body{font-family:system-ui,sans-serif;margin:1rem 2rem;background:#fafafa;color:#222}
h1{font-size:1.3rem;margin:0 0 .3rem} #status{color:#666;font-size:.85rem;margin-bottom:1rem}
.pool{background:#fff;border:1px solid #ddd;border-radius:6px;padding:.6rem 1rem;margin:0 0 1rem}
.pool h2{font-size:1rem;margin:0 0 .4rem} .nums{font-size:.85rem;color:#444;margin:.2rem 0 .5rem}
.charts{display:flex;gap:1rem;flex-wrap:wrap} canvas{border:1px solid #eee;background:#fff}
.legend span{display:inline-block;margin-right:1rem;font-size:.8rem}
.legend i{display:inline-block;width:.8rem;height:.8rem;margin-right:.3rem;vertical-align:middle}
.warn{color:#b00020;font-weight:bold}
</style></head>
<body data-points="0" data-pools="0">
<h1>Reservoir pools</h1><div id="status">connecting&hellip;</div>
<div class="legend"><span><i style="background:#1565c0"></i>in use</span>
<span><i style="background:#43a047"></i>idle</span><span><i style="background:#e53935"></i>waiting</span>
<span><i style="background:#8e24aa"></i>wait p95 (ms)</span></div>
<div id="pools"></div>
<script>
"use strict";
const HISTORY = 120;
const series = new Map();  // pool key -> {active:[], idle:[], waiting:[], p95:[]}
let totalPoints = 0;

function poolKey(p) { return p.database + "/" + p.user; }

function card(key) {
  let el = document.getElementById("pool-" + key);
  if (el) return el;
  el = document.createElement("div");
  el.className = "pool"; el.id = "pool-" + key;
  el.innerHTML = '<h2></h2><div class="nums"></div><div class="charts">' +
    '<canvas class="conns" width="480" height="160" data-points="0"></canvas>' +
    '<canvas class="wait" width="480" height="160" data-points="0"></canvas></div>';
  el.querySelector("h2").textContent = key;
  document.getElementById("pools").appendChild(el);
  return el;
}

function draw(canvas, lines, unit) {
  const ctx = canvas.getContext("2d");
  const w = canvas.width, h = canvas.height, pad = 28;
  ctx.clearRect(0, 0, w, h);
  let max = 1;
  for (const l of lines) for (const v of l.data) max = Math.max(max, v);
  ctx.strokeStyle = "#ddd"; ctx.fillStyle = "#666"; ctx.font = "10px sans-serif";
  for (let i = 0; i <= 4; i++) {
    const y = pad / 2 + (h - pad) * i / 4;
    ctx.beginPath(); ctx.moveTo(pad, y); ctx.lineTo(w - 4, y); ctx.stroke();
    ctx.fillText((max * (4 - i) / 4).toFixed(max < 4 ? 1 : 0), 2, y + 3);
  }
  ctx.fillText(unit, w - 60, 10);
  let drawn = 0;
  for (const l of lines) {
    ctx.strokeStyle = l.color; ctx.lineWidth = 2; ctx.beginPath();
    l.data.forEach((v, i) => {
      const x = pad + (w - pad - 4) * i / (HISTORY - 1);
      const y = pad / 2 + (h - pad) * (1 - v / max);
      if (i === 0) ctx.moveTo(x, y); else ctx.lineTo(x, y);
      drawn++;
    });
    ctx.stroke();
  }
  canvas.dataset.points = String(drawn);
}

function push(arr, v) { arr.push(v); if (arr.length > HISTORY) arr.shift(); }

async function tick() {
  try {
    const r = await fetch("/api/pools", {cache: "no-store"});
    const data = await r.json();
    document.getElementById("status").textContent =
      "up " + Math.round(data.process.uptime_s) + " s, " + data.process.clients +
      " client(s), " + data.pools.length + " pool(s), updated " + new Date().toLocaleTimeString();
    for (const p of data.pools) {
      const key = poolKey(p);
      if (!series.has(key)) series.set(key, {active: [], idle: [], waiting: [], p95: []});
      const s = series.get(key);
      push(s.active, p.active); push(s.idle, p.idle); push(s.waiting, p.waiting);
      push(s.p95, p.wait_p95_s * 1000);
      totalPoints++;
      const el = card(key);
      const nums = el.querySelector(".nums");
      nums.textContent = "mode " + p.mode + " · size " + p.size + " · in use " + p.active +
        " · idle " + p.idle + " · waiting " + p.waiting + " · peak " + p.peak_in_use +
        " · reserve in use " + p.reserve_in_use + " · wait p50/p95/p99 " +
        [p.wait_p50_s, p.wait_p95_s, p.wait_p99_s].map(v => (v * 1000).toFixed(1)).join("/") +
        " ms · timeouts " + p.timeouts + " · transactions " + p.transactions;
      nums.classList.toggle("warn", p.waiting > 0 || (p.size > 0 && p.active >= p.size));
      draw(el.querySelector("canvas.conns"), [
        {data: s.active, color: "#1565c0"}, {data: s.idle, color: "#43a047"},
        {data: s.waiting, color: "#e53935"}], "connections");
      draw(el.querySelector("canvas.wait"), [{data: s.p95, color: "#8e24aa"}], "wait p95 ms");
    }
    document.body.dataset.pools = String(data.pools.length);
    document.body.dataset.points = String(totalPoints);
  } catch (e) {
    document.getElementById("status").textContent = "cannot reach Reservoir: " + e;
  }
}
tick();
setInterval(tick, 1000);
</script></body></html>
)HTML";

}  // namespace

std::string_view dashboard_html() { return kPage; }

}  // namespace reservoir::http
