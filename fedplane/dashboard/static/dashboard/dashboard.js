/* fedplane operator dashboard: training executions drawn live from the event WebSocket,
 * region health, clients and the module dependency graph polled from the REST API.
 *
 * The page is session-authenticated; the API and the socket take a bearer token, which the
 * page got inline and renews at /dashboard/token before it expires. Plain script, no bundler:
 * Chart.js and Cytoscape are the UMD builds that scripts/setup.sh copies into vendor/.
 *
 * Test hook: every chart canvas carries data-points (rounds drawn) and data-updated-at
 * (Date.now() of the last point); window.fedplaneDashboard.received[executionId][round] holds
 * when each round's point arrived, and .state the socket and the event ids it resumed from. */
(function () {
  "use strict";

  const cfg = JSON.parse(document.getElementById("dashboard-config").textContent);
  const POLL_MS = 15000;
  const MAX_CARDS = 12;
  const FINISHED_ROUND = new Set(["completed", "rejected"]);
  const TERMINAL = new Set(["completed", "failed", "stopped"]);
  const WS_EVENTS = ["round.completed", "execution.*"];
  const state = { token: cfg.access, lastEventId: null, executions: new Map(), pending: new Map(),
                  socket: null, retries: 0, resumedFrom: [], errors: new Map(), graphSignature: null, cy: null };
  window.fedplaneDashboard = { state: state, received: {}, ready: false };
  const charts = typeof window.Chart === "function";

  // --- helpers ------------------------------------------------------------------------------
  function el(tag, attrs, children) {
    const node = document.createElement(tag);
    Object.entries(attrs || {}).forEach(([k, v]) => {
      if (k === "text") node.textContent = v; else node.setAttribute(k, v);
    });
    (children || []).forEach((c) => node.appendChild(c));
    return node;
  }
  function badge(status) { return el("span", { class: "badge badge-" + status, text: status }); }
  function fmt(value, digits) { return value == null ? "–" : Number(value).toFixed(digits); }
  function ago(iso) {
    if (!iso) return "never";
    const s = Math.max(0, Math.round((Date.now() - Date.parse(iso)) / 1000));
    return s < 90 ? s + " s ago" : Math.round(s / 60) + " min ago";
  }
  function setError(key, message) {
    if (message) state.errors.set(key, message); else state.errors.delete(key);
    const box = document.getElementById("errors");
    box.hidden = state.errors.size === 0;
    box.textContent = [...state.errors.values()].join(" · ");
  }
  function setConnection(text, kind) {
    const node = document.getElementById("connection");
    node.textContent = text;
    node.className = "badge badge-" + kind;
    node.dataset.state = text;
  }

  // --- token and REST -------------------------------------------------------------------------
  let refreshTimer = null;
  function scheduleRefresh(expiresIn) {
    clearTimeout(refreshTimer);
    refreshTimer = setTimeout(refreshToken, Math.max(10, expiresIn - 60) * 1000);
  }
  async function refreshToken() {
    try {
      const response = await fetch(cfg.tokenUrl, { method: "POST", credentials: "same-origin",
                                                   headers: { "X-CSRFToken": cfg.csrfToken } });
      const body = await response.json();
      if (!response.ok) throw new Error(body.error ? body.error.message : "HTTP " + response.status);
      state.token = body.data.access;
      scheduleRefresh(body.data.expiresIn);
      setError("token", null);
      return true;
    } catch (err) {
      setError("token", "Could not renew the access token (" + err.message + "); log in to the admin again.");
      refreshTimer = setTimeout(refreshToken, POLL_MS);
      return false;
    }
  }
  async function api(path, retried) {
    const response = await fetch(cfg.apiBase + path, {
      headers: { Authorization: "Bearer " + state.token, Accept: "application/json" } });
    if (response.status === 401 && !retried && await refreshToken()) return api(path, true);
    let body = null;
    try { body = await response.json(); } catch (err) { /* not JSON: reported below */ }
    if (!response.ok || !body || body.success === false) {
      const error = new Error(body && body.error ? body.error.code + ": " + body.error.message
                                                  : "HTTP " + response.status);
      error.status = response.status;
      throw error;
    }
    return body.data;
  }

  // --- executions -------------------------------------------------------------------------------
  function lineChart(canvas, label, color, yOptions) {
    return new window.Chart(canvas, {
      type: "line",
      data: { labels: [], datasets: [{ label: label, data: [], borderColor: color, backgroundColor: color,
                                       tension: 0.2, spanGaps: true }] },
      options: { animation: false, maintainAspectRatio: false,
                 scales: { x: { title: { display: true, text: "round" } }, y: yOptions || {} } },
    });
  }
  function barChart(canvas) {
    return new window.Chart(canvas, {
      type: "bar",
      data: { labels: [], datasets: [{ label: "participating clients", data: [], backgroundColor: "#74c0fc" }] },
      options: { animation: false, maintainAspectRatio: false,
                 scales: { x: { title: { display: true, text: "round" } },
                           y: { beginAtZero: true, ticks: { precision: 0 } } } },
    });
  }

  function createCard(execution) {
    const id = execution.id;
    const canvases = {
      loss: el("canvas", { id: "loss-" + id, "data-points": "0" }),
      accuracy: el("canvas", { id: "accuracy-" + id, "data-points": "0" }),
      clients: el("canvas", { id: "clients-" + id, "data-points": "0" }),
    };
    const header = el("header", {}, [el("strong", { text: execution.algorithm || "execution" }),
                                     el("code", { text: id })]);
    const status = el("span", {});
    const progress = el("span", { class: "muted" });
    header.append(status, progress);
    const box = (canvas) => el("div", { class: "chart-box" }, [canvas]);
    const card = el("article", { class: "execution", id: "execution-" + id }, [
      header, el("div", { class: "charts" }, [box(canvases.loss), box(canvases.accuracy), box(canvases.clients)])]);
    const list = document.getElementById("executions");
    list.insertBefore(card, list.firstChild);
    document.getElementById("executions-empty").hidden = true;
    const x = { id: id, card: card, statusNode: status, progressNode: progress, canvases: canvases,
                rounds: new Map(), status: null, currentRound: 0, totalRounds: null, charts: {} };
    if (charts) {
      x.charts.loss = lineChart(canvases.loss, "eval loss", "#e8590c");
      x.charts.accuracy = lineChart(canvases.accuracy, "eval accuracy", "#2f9e44", { min: 0, max: 1 });
      x.charts.clients = barChart(canvases.clients);
    }
    window.fedplaneDashboard.received[id] = {};
    return x;
  }
  function pruneCards() {
    const finished = [...state.executions.values()].filter((x) => TERMINAL.has(x.status));
    while (state.executions.size > MAX_CARDS && finished.length) {
      const x = finished.shift();
      Object.values(x.charts).forEach((c) => c.destroy());
      x.card.remove();
      state.executions.delete(x.id);
    }
  }
  function updateHeader(x, fields) {
    if (fields.status) x.status = fields.status;
    if (fields.totalRounds != null) x.totalRounds = fields.totalRounds;
    if (fields.currentRound != null) x.currentRound = Math.max(x.currentRound, fields.currentRound);
    x.statusNode.replaceChildren(badge(x.status || "unknown"));
    x.progressNode.textContent = "round " + x.currentRound + " / " + (x.totalRounds == null ? "?" : x.totalRounds);
    x.card.dataset.status = x.status || "";
  }

  /* One point per round in each chart; a round already drawn (initial load, then its replayed
   * event) is not drawn twice. */
  function addRound(x, round, metrics, clients) {
    if (round == null || x.rounds.has(round)) return;
    const evaluate = (metrics && metrics.evaluate) || {};
    x.rounds.set(round, { loss: evaluate["eval-loss"], accuracy: evaluate["eval-accuracy"], clients: clients });
    const rounds = [...x.rounds.keys()].sort((a, b) => a - b);
    const now = Date.now();
    ["loss", "accuracy", "clients"].forEach((key) => {
      const chart = x.charts[key];
      if (chart) {
        chart.data.labels = rounds;
        chart.data.datasets[0].data = rounds.map((r) => x.rounds.get(r)[key]);
        chart.update();
      }
      x.canvases[key].dataset.points = String(rounds.length);
      x.canvases[key].dataset.updatedAt = String(now);
    });
    window.fedplaneDashboard.received[x.id][round] = now;
    updateHeader(x, { currentRound: round });
  }

  async function loadRounds(x) {
    const rounds = await api("/fl/executions/" + encodeURIComponent(x.id) + "/rounds?limit=100");
    rounds.filter((r) => FINISHED_ROUND.has(r.status))
      .forEach((r) => addRound(x, r.roundNumber, r.metrics, (r.participatingClients || []).length));
  }

  /* The card of an execution, fetching it (and its finished rounds) the first time it is seen. */
  function withExecution(id, execution) {
    if (state.executions.has(id)) return Promise.resolve(state.executions.get(id));
    if (!state.pending.has(id)) {
      state.pending.set(id, (async () => {
        const data = execution || await api("/fl/executions/" + encodeURIComponent(id));
        const x = createCard(data);
        state.executions.set(id, x);
        updateHeader(x, data);
        pruneCards();
        await loadRounds(x);
        return x;
      })().finally(() => state.pending.delete(id)));
    }
    return state.pending.get(id);
  }

  async function loadExecutions() {
    const running = await api("/fl/executions?status=running&limit=20");
    const recent = await api("/fl/executions?limit=5");
    const seen = new Set();
    const all = [...running, ...recent].filter((e) => !seen.has(e.id) && seen.add(e.id));
    all.sort((a, b) => Date.parse(a.createdAt) - Date.parse(b.createdAt)); // oldest first: newest ends on top
    for (const execution of all) await withExecution(execution.id, execution);
  }

  function onEvent(message) {
    if (typeof message.id === "number") state.lastEventId = Math.max(state.lastEventId || 0, message.id);
    const data = message.data || {};
    if (!data.executionId) return;
    withExecution(data.executionId).then((x) => {
      if (message.event === "round.completed") {
        addRound(x, data.round, data.metrics, data.participatingClients);
      } else if (message.event.startsWith("execution.")) {
        updateHeader(x, data);
      }
      setError("events", null);
    }).catch((err) => setError("events", "Execution " + data.executionId + ": " + err.message));
  }

  // --- WebSocket with resume -------------------------------------------------------------------
  function reconnectLater() {
    setConnection("reconnecting", "pending");
    setTimeout(connect, Math.min(10000, 500 * 2 ** state.retries++));
  }
  function connect() {
    const scheme = location.protocol === "https:" ? "wss:" : "ws:";
    let socket;
    try {
      // The token rides in Sec-WebSocket-Protocol, not the URL: servers log URLs.
      socket = new WebSocket(scheme + "//" + location.host + cfg.wsPath, ["fedplane.bearer", state.token]);
    } catch (err) {
      reconnectLater();
      return;
    }
    state.socket = socket;
    let pinger = null;
    socket.onopen = () => {
      const subscribe = { action: "subscribe", systems: ["fl"], events: WS_EVENTS };
      if (state.lastEventId != null) { // replay what was missed
        subscribe.lastEventId = state.lastEventId;
        state.resumedFrom.push(state.lastEventId);
      }
      socket.send(JSON.stringify(subscribe));
      pinger = setInterval(() => socket.send(JSON.stringify({ action: "ping" })), 25000);
    };
    socket.onmessage = (raw) => {
      const message = JSON.parse(raw.data);
      if (message.event === "subscribed") {
        state.retries = 0;
        setConnection("live", "running");
      } else if (message.event === "error") {
        setError("socket", "WebSocket: " + message.error.message);
      } else if (typeof message.id === "number") {
        onEvent(message);
      }
    };
    socket.onclose = async (event) => {
      clearInterval(pinger);
      setConnection("reconnecting", "pending");
      if (event.code === 4401) await refreshToken();
      reconnectLater();
    };
  }

  // --- polled panels ---------------------------------------------------------------------------
  function fillTable(id, rows) {
    document.querySelector("#" + id + " tbody").replaceChildren(...rows.map((cells) =>
      el("tr", {}, cells.map((c) => el("td", {}, [typeof c === "string" ? document.createTextNode(c) : c])))));
  }
  async function loadHealth() {
    const overall = document.getElementById("health-overall");
    try {
      const health = await api("/health");
      const regions = Object.entries(health.regions || {});
      overall.replaceChildren(document.createTextNode(regions.length ? "overall " : "no regions registered "),
                              badge(health.status));
      fillTable("health-table", regions.map(([name, r]) => [
        name, badge(r.status), fmt(r.latency_ms, 1),
        r.error_rate == null ? "–" : (100 * r.error_rate).toFixed(1) + " %", r.routing || "–"]));
    } catch (err) {
      overall.textContent = "unavailable (" + err.message + ")";
    }
  }
  async function loadClients() {
    try {
      const clients = await api("/fl/clients?limit=100");
      fillTable("clients-table", clients.map((c) => [c.name, badge(c.status), c.currentExecution || "–",
                                                     ago(c.lastSeen)]));
      setError("clients", null);
    } catch (err) {
      setError("clients", "Clients: " + err.message);
    }
  }

  const STATUS_COLORS = {};
  [["#40c057", "healthy active loaded completed deployed available production"],
   ["#339af0", "running training aggregating collecting"],
   ["#fab005", "degraded warning pending idle stopping unknown"],
   ["#fa5252", "down error failed offline stopped critical rejected"]]
    .forEach(([color, names]) => names.split(" ").forEach((n) => { STATUS_COLORS[n] = color; }));
  const GRAPH_STYLE = [
    { selector: "node", style: { label: "data(label)", "font-size": 10, "background-color": "#adb5bd",
                                 "text-valign": "bottom", "text-margin-y": 4 } },
    { selector: "node[kind = 'application']", style: { shape: "round-rectangle", width: 46 } },
    { selector: "node[kind = 'module']", style: { shape: "ellipse" } },
    { selector: "node[kind = 'shared']", style: { shape: "diamond" } },
    { selector: "node[kind = 'execution']", style: { shape: "hexagon" } },
    { selector: "node[kind = 'client']", style: { shape: "triangle" } },
    { selector: "node[kind = 'aggregated_model'], node[kind = 'model_version']", style: { shape: "barrel" } },
  ].concat(Object.entries(STATUS_COLORS).map(([status, color]) => (
    { selector: "node[status = '" + status + "']", style: { "background-color": color } }))).concat([
    { selector: "edge", style: { width: 1.5, "line-color": "#ced4da", "target-arrow-color": "#ced4da",
                                 "target-arrow-shape": "triangle", "curve-style": "bezier", label: "data(relation)",
                                 "font-size": 8, color: "#868e96" } },
  ]);
  async function loadGraph() {
    const status = document.getElementById("graph-status");
    let graph;
    try {
      graph = await api("/integration/dependencies?view=graph&depth=2");
    } catch (err) {
      status.textContent = "unavailable (" + err.message + ")";
      return;
    }
    const nodes = graph.nodes || [];
    const ids = new Set(nodes.map((n) => String(n.id)));
    const edges = (graph.edges || []).filter((e) => ids.has(String(e.source)) && ids.has(String(e.target)));
    status.textContent = nodes.length ? nodes.length + " nodes, " + edges.length + " edges"
                                      : "no applications registered yet";
    const signature = JSON.stringify([nodes, edges]);
    if (signature === state.graphSignature || typeof window.cytoscape !== "function") return;
    state.graphSignature = signature;
    const elements = nodes.map((n) => ({ data: { id: String(n.id), label: n.label || String(n.id),
                                                 kind: n.kind || "", status: n.status || "" } }))
      .concat(edges.map((e, i) => ({ data: { id: "e" + i, source: String(e.source), target: String(e.target),
                                             relation: e.relation || "" } })));
    if (state.cy) state.cy.destroy();
    state.cy = window.cytoscape({ container: document.getElementById("graph"), elements: elements,
                                  style: GRAPH_STYLE, layout: { name: "breadthfirst", directed: true, padding: 20 } });
  }
  function pollPanels() { loadHealth(); loadClients(); loadGraph(); }

  // --- start ------------------------------------------------------------------------------------
  async function start() {
    scheduleRefresh(cfg.expiresIn);
    pollPanels();
    setInterval(pollPanels, POLL_MS);
    try {
      // The newest event id before the initial load: the socket replays everything after it,
      // so nothing that happens during the load is missed (rounds already drawn are skipped).
      const newest = await api("/integration/events?sort=-id&limit=1");
      state.lastEventId = newest.length ? newest[0].id : 0;
      await loadExecutions();
      setError("executions", null);
    } catch (err) {
      setError("executions", "Executions: " + err.message);
    }
    window.fedplaneDashboard.ready = true;
    connect();
  }
  start();
})();
