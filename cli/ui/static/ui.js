// batchyard ui: renders the server's snapshots (server-sent events) into the page. Every value goes in as text.
"use strict";
const query = new URLSearchParams(location.search);
for (const name of ["queue", "pool", "days"]) {
  if (query.get(name)) document.getElementById("f-" + name).value = query.get(name);
}
let adminToken = sessionStorage.getItem("batchyard-admin-token") || "";
let lastSnapshot = null;

function cell(row, text, cls) {
  const td = document.createElement("td");
  td.textContent = text === null || text === undefined ? "" : String(text);
  if (cls) td.className = cls;
  row.appendChild(td);
  return td;
}

function fill(tableId, rows, render) {
  const body = document.querySelector("#" + tableId + " tbody");
  body.replaceChildren();
  for (const r of rows) {
    const tr = document.createElement("tr");
    render(tr, r);
    body.appendChild(tr);
  }
}

function showError(panel, data) {
  const p = document.getElementById(panel + "-error");
  const err = data && data.error;
  p.hidden = !err;
  p.textContent = err ? `${err.reason}: ${err.message}` : "";
  return Boolean(err);
}

function renderQueues(q) {
  if (showError("queues", q)) { fill("usage", [], null); fill("pending", [], null); return; }
  document.querySelector("#usage caption").textContent = "Usage against nominal quota, and queue depth " +
    "(pending workloads)" + (q.usage_error ? ` (not shown: ${q.usage_error.reason})` : "");
  fill("usage", q.usage, (tr, u) => {
    for (const v of [u.cluster_queue, u.flavor, u.resource, u.used, u.nominal, u.percent ?? "-", u.depth]) cell(tr, v);
  });
  fill("pending", q.pending, (tr, p) => {
    cell(tr, p.cluster_queue || `${p.team}/${p.local_queue} (not routed)`);
    cell(tr, p.position);
    const link = document.createElement("a");
    link.href = "/workloads/" + encodeURIComponent(p.workload_id);
    link.textContent = p.workload_id;
    cell(tr, "").appendChild(link);
    cell(tr, p.team);
    cell(tr, p.priority);
    cell(tr, `${p.reason}: ${p.message}`);
    if (adminToken) {
      const button = document.createElement("button");
      button.type = "button";
      button.textContent = "Cancel";
      button.setAttribute("aria-label", "Cancel " + p.workload_id);
      button.addEventListener("click", () => cancelWorkload(p.workload_id));
      cell(tr, "").appendChild(button);
    }
  });
  for (const th of document.querySelectorAll(".admin-only")) th.hidden = !adminToken;
}

function renderNodes(n) {
  const pools = document.getElementById("pools");
  pools.replaceChildren();
  document.getElementById("paused").textContent = "";
  if (showError("nodes", n)) return;
  document.getElementById("paused").textContent = n.paused.length ? "Repairs paused: " + n.paused.join(", ") : "";
  for (const pool of n.pools) {
    const table = document.createElement("table");
    table.id = "pool-" + pool.pool;
    const caption = document.createElement("caption");
    caption.textContent = `Pool ${pool.pool}: ` +
      Object.entries(pool.states).map(([s, c]) => `${c} ${s}`).join(", ");
    table.appendChild(caption);
    const head = table.createTHead().insertRow();
    for (const h of ["Node", "Repair state", "Action", "Waiting for"]) {
      const th = document.createElement("th"); th.scope = "col"; th.textContent = h; head.appendChild(th);
    }
    const body = table.createTBody();
    for (const node of pool.nodes) {
      const tr = body.insertRow();
      cell(tr, node.node_id);
      cell(tr, node.state + (node.excluded ? " (excluded)" : "") + (node.forced ? " (forced)" : ""),
           "state-" + node.state);
      cell(tr, node.action);
      cell(tr, node.waiting);
    }
    pools.appendChild(table);
  }
}

function renderGpu(g) {
  document.getElementById("gpu-interval").textContent = g.interval_s;
  showError("gpu", g);
  fill("gpu", g.latest, (tr, s) => {
    for (const v of [s.pool, s.total, s.allocated, s.out_of_service, s.free, s.fragmented]) cell(tr, v);
  });
  drawChart(g.series);
}

function drawChart(series) {
  const box = document.getElementById("gpu-chart");
  const w = 640, h = 160, pad = 30;
  const ns = "http://www.w3.org/2000/svg";
  const svg = document.createElementNS(ns, "svg");
  svg.setAttribute("viewBox", `0 0 ${w} ${h}`);
  svg.setAttribute("width", w);
  svg.setAttribute("height", h);
  svg.setAttribute("role", "img");
  const last = series[series.length - 1];
  const pct = (a, b) => (b ? Math.round(100 * a / b) : 0);
  const label = last ? `GPU allocation over ${series.length} samples: now ${pct(last.allocated, last.total)}% ` +
    `allocated, ${pct(last.fragmented, last.free)}% of free GPUs fragmented` : "No GPU samples yet";
  svg.setAttribute("aria-label", label);
  const title = document.createElementNS(ns, "title");
  title.textContent = label;
  svg.appendChild(title);
  const line = (values, cls) => {
    if (!values.length) return;
    const step = values.length > 1 ? (w - 2 * pad) / (values.length - 1) : 0;
    const pts = values.map((v, i) => `${pad + i * step},${h - pad - (h - 2 * pad) * v / 100}`).join(" ");
    const poly = document.createElementNS(ns, "polyline");
    poly.setAttribute("points", pts);
    poly.setAttribute("fill", "none");
    poly.setAttribute("stroke-width", "2");
    poly.setAttribute("class", cls);
    svg.appendChild(poly);
  };
  line(series.map(s => pct(s.allocated, s.total)), "alloc");
  line(series.map(s => pct(s.fragmented, s.free)), "frag");
  for (const [y, t] of [[h - pad, "0%"], [pad, "100%"]]) {
    const text = document.createElementNS(ns, "text");
    text.setAttribute("x", 0); text.setAttribute("y", y); text.textContent = t; svg.appendChild(text);
  }
  const legend = document.createElementNS(ns, "text");
  legend.setAttribute("x", pad); legend.setAttribute("y", h - 8);
  legend.textContent = "blue: allocated % of GPUs; orange: fragmented % of free GPUs";
  svg.appendChild(legend);
  box.replaceChildren(svg);
}

function renderCost(c) {
  if (showError("cost", c)) { fill("cost", [], null); return; }
  document.getElementById("cost-caption").textContent = c.first_day
    ? `Cost from the ledger, ${c.first_day} to ${c.last_day} (the ledger's latest days)` : "No cost booked yet";
  fill("cost", c.rows, (tr, r) => { for (const v of [r.day, r.org, r.team, r.amount]) cell(tr, v); });
}

function render(s) {
  lastSnapshot = s;
  if (s.error) { document.getElementById("status").textContent = `${s.error.reason}: ${s.error.message}`; return; }
  document.getElementById("scope").textContent = s.scope;
  renderQueues(s.queues);
  renderNodes(s.nodes);
  renderGpu(s.gpu);
  renderCost(s.cost);
  document.getElementById("status").textContent = "live, updated " + new Date().toLocaleTimeString();
}

const source = new EventSource("/events" + location.search);
source.addEventListener("snapshot", e => render(JSON.parse(e.data)));
source.onerror = () => { document.getElementById("status").textContent = "disconnected; retrying…"; };

async function checkAdmin(token) {
  const r = await fetch("/api/admin", {headers: {Authorization: "Bearer " + token}});
  const body = await r.json();
  const status = document.getElementById("admin-status");
  if (r.ok) {
    adminToken = token;
    sessionStorage.setItem("batchyard-admin-token", token);
    status.textContent = `Admin: ${body.subject} (key ${body.kid}). Cancel buttons are shown on pending workloads.`;
  } else {
    adminToken = "";
    sessionStorage.removeItem("batchyard-admin-token");
    status.textContent = `Refused (${body.reason}): ${body.message}`;
  }
  if (lastSnapshot) render(lastSnapshot);
}

async function cancelWorkload(id) {
  const r = await fetch(`/api/workloads/${encodeURIComponent(id)}/cancel`, {
    method: "POST", headers: {Authorization: "Bearer " + adminToken, "Content-Type": "application/json"},
    body: JSON.stringify({reason: "cancelled from batchyard ui"})});
  const body = await r.json();
  document.getElementById("admin-status").textContent =
    r.ok ? body.message : `Cancel of ${id} refused (${body.reason}): ${body.message}`;
}

document.getElementById("admin-form").addEventListener("submit", e => {
  e.preventDefault();
  checkAdmin(document.getElementById("admin-token").value.trim());
});
if (adminToken) checkAdmin(adminToken);
