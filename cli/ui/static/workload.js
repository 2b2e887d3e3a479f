// batchyard ui: one workload's timeline, re-rendered from the server's events whenever it changes. Text only.
"use strict";
const workloadId = decodeURIComponent(location.pathname.replace(/^\/workloads\//, ""));
document.getElementById("lookup-id").value = workloadId;
document.title = "batchyard: workload " + workloadId;

function text(id, value) {
  document.getElementById(id).textContent = value === null || value === undefined || value === "" ? "-" : String(value);
}

function when(iso) {
  return iso ? iso.replace("T", " ").slice(0, 19) : "-";
}

function renderSummary(t) {
  const w = t.workload;
  document.getElementById("h-workload").textContent = "Workload " + w.workload_id;
  text("w-name", `${w.name || "-"} (${w.kind || "-"})`);
  text("w-team", `${w.org}/${w.team}`);
  text("w-state", w.state_text + (w.attempts ? `, ${w.attempts} eviction(s) so far` : ""));
  text("w-queue", `${w.local_queue || "-"} → cluster queue ${w.cluster_queue || "-"}` +
       (w.position ? `, position ${w.position}` : ""));
  text("w-priority", w.priority);
  text("w-where", [w.flavors.join(","), w.cluster].filter(Boolean).join(" on "));
  text("w-submitted", when(w.submitted_at));
  text("w-cost", "$" + w.cost);
  text("w-trace", t.trace_id);
  document.getElementById("waiting").textContent = t.waiting ? t.waiting.words : "";
}

function renderSteps(steps) {
  const body = document.querySelector("#steps tbody");
  body.replaceChildren();
  steps.forEach((s, i) => {
    const tr = body.insertRow();
    tr.className = "step-" + s.kind;
    for (const v of [i + 1, when(s.at), s.source, s.kind, s.reason || "", s.nodes.join(", "), s.words]) {
      tr.insertCell().textContent = String(v);
    }
  });
}

function render(t) {
  const error = document.getElementById("workload-error");
  error.hidden = !t.error;
  if (t.error) {  // the last timeline shown stays; the words say why it is not current
    error.textContent = `${t.error.reason}: ${t.error.message}`;
    document.getElementById("status").textContent = "not updated: " + t.error.reason;
    return;
  }
  renderSummary(t);
  renderSteps(t.steps);
  document.getElementById("status").textContent = "live, updated " + new Date().toLocaleTimeString();
}

const source = new EventSource("/events/workloads/" + encodeURIComponent(workloadId));
source.addEventListener("timeline", e => render(JSON.parse(e.data)));
source.onerror = async () => {
  document.getElementById("status").textContent = "disconnected; retrying…";
  if (source.readyState !== EventSource.CLOSED) return;  // the browser retries by itself
  const r = await fetch("/api/workloads/" + encodeURIComponent(workloadId));  // refused: say why, in place
  render(r.ok ? await r.json() : {error: await r.json()});
};
