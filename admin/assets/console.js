// The roster console: polls the admin JSON API of the process that served this page and
// draws the cluster, the slot table, one service's publishers and subscribers, and the
// switches. Plain DOM, no framework; every value from the API is set as text, never as
// HTML, so a payload cannot inject markup.
"use strict";

const POLL_MS = 2000;
const TOKEN_KEY = "roster-admin-token";

const $ = (id) => document.getElementById(id);

class AuthNeeded extends Error {}

class ApiError extends Error {
  constructor(status, code, message) {
    super(code ? `${status} ${code}: ${message}` : `${status}: ${message}`);
    this.status = status;
  }
}

function token() {
  return sessionStorage.getItem(TOKEN_KEY) || "";
}

// GET `path` as JSON; a 401 asks for the token; an error status is an ApiError with the
// API's own code and message.
async function api(path) {
  const headers = { Accept: "application/json" };
  if (token()) headers.Authorization = `Bearer ${token()}`;
  const resp = await fetch(path, { headers, cache: "no-store" });
  if (resp.status === 401) {
    askToken(token() ? "the token was refused" : "");
    throw new AuthNeeded("this admin port needs a bearer token");
  }
  const text = await resp.text();
  let body = null;
  try {
    body = text ? JSON.parse(text) : null;
  } catch (_) {
    body = null;
  }
  if (!resp.ok) {
    const e = body && (body.error || body);
    const code = e && typeof e.code === "string" ? e.code : "";
    const message = e && typeof e.message === "string" ? e.message : text.trim().slice(0, 200);
    throw new ApiError(resp.status, code, message || resp.statusText);
  }
  if (body === null) throw new ApiError(resp.status, "", "the answer is not JSON");
  return body;
}

// A value as a cell: absent as a dash, lists joined, versions as epoch.seq.
function fmt(v) {
  if (v === undefined || v === null || v === "") return "–";
  if (Array.isArray(v)) {
    if (v.length === 0) return "–";
    if (v.length === 2 && v.every((x) => typeof x === "number")) return `${v[0]}.${v[1]}`;
    return v.map(fmt).join(", ");
  }
  if (typeof v === "object") return JSON.stringify(v);
  return String(v);
}

function fillTable(table, rows) {
  const body = table.tBodies[0];
  const fresh = document.createElement("tbody");
  for (const row of rows) {
    const tr = document.createElement("tr");
    if (row.className) tr.className = row.className;
    for (const c of row.cells) {
      const td = document.createElement("td");
      td.textContent = fmt(c);
      tr.appendChild(td);
    }
    fresh.appendChild(tr);
  }
  table.replaceChild(fresh, body);
}

function showError(where, e) {
  where.textContent = e ? String(e.message || e) : "";
  where.hidden = !e;
}

function askToken(why) {
  $("token-form").hidden = false;
  $("token-button").hidden = false;
  const input = $("token-input");
  input.placeholder = why || "token";
  if (document.activeElement !== input) input.focus();
}

// ---- the cluster and the slot table -------------------------------------------------

// One hue per leader, spread around the wheel; the same leader keeps its colour.
function palette(leaders) {
  const colours = new Map();
  leaders.forEach((l, i) => {
    const hue = Math.round((i * 360) / Math.max(leaders.length, 1) + 200) % 360;
    colours.set(l, `hsl(${hue} 65% 55%)`);
  });
  return colours;
}

const nodeId = (p) => (p && typeof p === "object" ? p.node : p);

// The readiness of each of this process's nodes, by name (`data-101`).
function readinessByName(ready) {
  const by = new Map();
  for (const n of (ready.body && Array.isArray(ready.body.nodes) ? ready.body.nodes : [])) {
    by.set(n.name, n);
  }
  return by;
}

function health(local, protectedNode) {
  if (protectedNode) return { text: "lease expired (kept: protection)", bad: true };
  if (!local) return { text: "member", bad: false };
  return local.ready
    ? { text: "ready", bad: false }
    : { text: `not ready: ${local.reason || "?"}`, bad: true };
}

function drawCluster(cluster, ready) {
  const meta = cluster.meta || {};
  $("meta-leader").textContent = fmt(meta.leader);
  $("meta-term").textContent = fmt(meta.term);
  const table = cluster.table || {};
  const slots = Array.isArray(table.slots) ? table.slots : [];
  $("table-epoch").textContent = fmt(table.epoch);
  const notReady = (ready.body && Array.isArray(ready.body.nodes) ? ready.body.nodes : [])
    .filter((n) => !n.ready)
    .map((n) => `${n.name}: ${n.reason || "not ready"}`);
  $("ready").textContent = ready.ok ? "ready" : `not ready ${notReady.join("; ") || ready.text}`;
  $("ready").className = ready.ok ? "ok" : "bad";

  const readiness = readinessByName(ready);
  const locals = Array.isArray(cluster.nodes) ? cluster.nodes : [];
  const localByNode = new Map(locals.filter((n) => n.process).map((n) => [n.process.node, n]));
  const led = new Map();
  for (const s of slots) {
    const l = nodeId(s.leader);
    if (l !== undefined && l !== null) led.set(l, (led.get(l) || 0) + 1);
  }
  const kept = new Set((meta.protected || []).map(nodeId));
  const rows = [];
  // Meta nodes: those this process runs, and the leader wherever it runs.
  const metas = locals.filter((n) => n.role === "meta");
  for (const m of metas) {
    const h = health(readiness.get(m.name), false);
    rows.push({
      className: (m.meta_id === meta.leader ? "leader " : "") + (h.bad ? "unhealthy" : ""),
      cells: ["meta", m.meta_id, "(this process)", "–", "–", m.meta_id === meta.leader ? "leader" : "–", h.text],
    });
  }
  if (meta.leader !== undefined && meta.leader !== null && !metas.some((m) => m.meta_id === meta.leader)) {
    rows.push({ className: "leader", cells: ["meta", meta.leader, "–", "–", "–", "leader", "member"] });
  }
  const members = Array.isArray(cluster.members) ? cluster.members : [];
  for (const m of members) {
    const id = nodeId(m.process);
    const local = localByNode.get(id);
    const h = health(local && readiness.get(local.name), kept.has(id));
    const lease = typeof m.lease_remaining_ms === "number" ? `${(m.lease_remaining_ms / 1000).toFixed(1)} s` : "–";
    const load =
      m.role === "data" ? `${led.get(id) || 0} slots led`
      : local && typeof local.clients === "number" ? `${local.clients} clients`
      : "–";
    rows.push({
      className: h.bad ? "unhealthy" : "",
      cells: [m.role, id, m.address, m.process && m.process.incarnation, lease, load, h.text],
    });
  }
  if (!cluster.members) {
    // A process without a meta node knows no membership: show its own nodes.
    for (const n of locals.filter((n) => n.role !== "meta")) {
      const h = health(readiness.get(n.name), false);
      rows.push({
        className: h.bad ? "unhealthy" : "",
        cells: [n.role, nodeId(n.process), "(this process)", n.process && n.process.incarnation, "–", "–", h.text],
      });
    }
  }
  fillTable($("nodes"), rows);
  $("members-note").hidden = Boolean(cluster.members);
  drawSlots(slots);
}

function drawSlots(slots) {
  const grid = $("slot-grid");
  const leaders = [...new Set(slots.map((s) => nodeId(s.leader)).filter((l) => l !== null && l !== undefined))]
    .sort((a, b) => a - b);
  const colours = palette(leaders);
  const counts = new Map();
  let leaderless = 0;
  const cells = document.createDocumentFragment();
  for (const s of slots) {
    const leader = nodeId(s.leader);
    const div = document.createElement("div");
    div.className = "slot";
    if (leader === undefined || leader === null) {
      leaderless += 1;
      div.classList.add("orphan");
    } else {
      counts.set(leader, (counts.get(leader) || 0) + 1);
      div.style.background = colours.get(leader);
    }
    div.textContent = fmt(s.slot);
    div.title =
      `slot ${fmt(s.slot)}: ${fmt(s.status)}\nleader ${fmt(leader)} (leader epoch ${fmt(s.leader_epoch)})` +
      `\nfollowers ${fmt((s.followers || []).map(nodeId))}`;
    cells.appendChild(div);
  }
  grid.replaceChildren(cells);
  $("slot-summary").textContent = slots.length
    ? `${slots.length} slots${leaderless ? `, ${leaderless} without a leader` : ""}`
    : "no table installed yet";
  const legend = document.createDocumentFragment();
  for (const l of leaders) {
    const li = document.createElement("li");
    const sw = document.createElement("span");
    sw.className = "swatch";
    sw.style.background = colours.get(l);
    li.appendChild(sw);
    li.appendChild(document.createTextNode(`node ${l}: ${counts.get(l)} slots`));
    legend.appendChild(li);
  }
  $("slot-legend").replaceChildren(legend);
}

// ---- one service --------------------------------------------------------------------

let shownKey = "";

const version = (v) => (v && typeof v === "object" ? `${v.leader_epoch}.${v.seq}` : fmt(v));

async function findKey(dataId) {
  const res = await api(`/v1/keys/${encodeURIComponent(dataId)}`);
  const pubs = Array.isArray(res.publishers) ? res.publishers : [];
  const subs = [];
  for (const s of Array.isArray(res.sessions) ? res.sessions : []) {
    for (const sub of Array.isArray(s.subscribers) ? s.subscribers : []) subs.push({ session: s.node, ...sub });
  }
  $("key-name").textContent = dataId;
  $("publisher-count").textContent = String(pubs.length);
  $("subscriber-count").textContent = String(subs.length);
  $("key-facts").textContent =
    `slot ${fmt(res.slot)} · version ${res.version ? version(res.version) : "– (its leader runs in another process)"}`;
  fillTable(
    $("publishers"),
    pubs.map((p) => ({
      cells: [
        p.register_id,
        nodeId(p.session),
        p.client,
        p.version ? `${p.version.client_version} (connection ${p.version.connect_generation})` : "–",
        p.payload,
      ],
    })),
  );
  fillTable(
    $("subscribers"),
    subs.map((s) => ({
      cells: [s.session, s.client, s.register_ids, version(s.acknowledged), s.push_in_flight ? "yes" : "no"],
    })),
  );
  $("key-result").hidden = false;
}

async function refreshKey() {
  if (!shownKey) return;
  try {
    await findKey(shownKey);
    showError($("key-error"), null);
  } catch (e) {
    if (e instanceof AuthNeeded) return;
    $("key-result").hidden = true;
    showError($("key-error"), new Error(`${shownKey}: ${e.message}`));
  }
}

// ---- switches -----------------------------------------------------------------------

// The set in force, one row per switch (on in red), then which version each node applied.
function switchRows(sw) {
  const list = (v) => (Array.isArray(v) && v.length ? v : null);
  const rows = [
    { name: "all pushes", on: sw.pushes_stopped === true, state: sw.pushes_stopped ? "STOPPED" : "running" },
    { name: "pushes stopped for", on: Boolean(list(sw.push_stopped_data_ids)), state: list(sw.push_stopped_data_ids) || "none" },
    { name: "clients off", on: Boolean(list(sw.clients_off)), state: list(sw.clients_off) || "none" },
    { name: "blacklisted data ids", on: Boolean(list(sw.blacklisted_data_ids)), state: list(sw.blacklisted_data_ids) || "none" },
  ];
  const known = new Set(["version", "source", "applied", "pushes_stopped", "push_stopped_data_ids", "clients_off", "blacklisted_data_ids"]);
  for (const [k, v] of Object.entries(sw)) {
    if (!known.has(k)) rows.push({ name: k, on: false, state: v });
  }
  const out = rows.map((r) => ({ className: r.on ? "on" : "", cells: [r.name, r.state] }));
  out.push({ className: "", cells: [`version (from ${fmt(sw.source)})`, sw.version] });
  for (const a of Array.isArray(sw.applied) ? sw.applied : []) {
    const behind = typeof sw.version === "number" && a.version < sw.version;
    out.push({ className: behind ? "on" : "", cells: [`applied by ${a.node}`, behind ? `${a.version} (behind)` : a.version] });
  }
  return out;
}

async function refreshSwitches() {
  try {
    const sw = await api("/v1/switches");
    $("switches-unavailable").hidden = true;
    $("switch-table").hidden = false;
    fillTable($("switch-table"), switchRows(sw));
  } catch (e) {
    if (e instanceof ApiError && e.status === 404) {
      $("switches-unavailable").hidden = false;
      $("switch-table").hidden = true;
      return;
    }
    throw e;
  }
}

// ---- polling ------------------------------------------------------------------------

// `/readyz` answers 503 with the nodes that are not ready: information, not an error.
async function readiness() {
  const resp = await fetch("/readyz", { cache: "no-store" });
  const text = (await resp.text()).trim();
  let body = null;
  try {
    body = JSON.parse(text);
  } catch (_) {
    body = null;
  }
  return { ok: resp.ok, text: text.slice(0, 200), body };
}

async function poll() {
  try {
    const [cluster, ready] = await Promise.all([api("/v1/cluster"), readiness()]);
    drawCluster(cluster, ready);
    await Promise.all([refreshSwitches(), refreshKey()]);
    showError($("error"), null);
    $("refreshed").textContent = `updated ${new Date().toLocaleTimeString()}`;
    document.body.dataset.loaded = "true";
  } catch (e) {
    showError($("error"), e instanceof AuthNeeded ? e : new Error(`cannot reach the admin API: ${e.message}`));
    $("refreshed").textContent = "not updated";
  } finally {
    setTimeout(poll, POLL_MS);
  }
}

document.addEventListener("DOMContentLoaded", () => {
  $("key-form").addEventListener("submit", (ev) => {
    ev.preventDefault();
    shownKey = $("key-input").value.trim();
    history.replaceState(null, "", `?key=${encodeURIComponent(shownKey)}`);
    refreshKey();
  });
  $("token-form").addEventListener("submit", (ev) => {
    ev.preventDefault();
    sessionStorage.setItem(TOKEN_KEY, $("token-input").value);
    $("token-input").value = "";
    $("token-form").hidden = true;
    showError($("error"), null);
  });
  $("token-button").addEventListener("click", () => askToken(""));
  // `?key=DATA_ID` opens the page on one service (a link to share, a screenshot to take).
  const linked = new URLSearchParams(location.search).get("key");
  if (linked) {
    $("key-input").value = linked;
    shownKey = linked.trim();
  }
  poll();
});
