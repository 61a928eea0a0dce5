// The console's conversation list (issue 13, point 1): who the visitor is, the channel
// icon, the SLA countdown, the urgency order, the filters, the closed list's pages and
// the search box. console.js owns the socket, the requests and the rows; this module
// gives it small functions and one controller (inboxStart). Text is set with
// textContent only: names and previews are the visitor's own words.

const SVG = "http://www.w3.org/2000/svg";
// the SLA turns amber with less than this share of its time left
export const SLA_WARNING_SHARE = 0.25;
export const SEARCH_MIN_CHARS = 2;
export const SEARCH_MAX_CHARS = 200;
const SEARCH_DELAY_MS = 250;
export const FILTERS = ["all", "mine", "unassigned", "closed"];

// the page's translated words (data-label-* on #console)
export function inboxLabels(root) {
  const label = (name, fallback) => root.getAttribute(`data-label-${name}`) || fallback;
  return {
    visitor: label("visitor", "Visitor"),
    slaLeft: label("sla-left", "{time} left"),
    slaOverdue: label("sla-overdue", "overdue {time}"),
    slaFirst: label("sla-first", "first response SLA"),
    slaNext: label("sla-next", "next response SLA"),
    channel: (channel) => root.getAttribute(`data-channel-${channel}`) || channel || "",
  };
}

// "Ann Lee", or "Visitor 4F2A" when nobody named the visitor (the alias is stable)
export function displayName(request, labels) {
  if (request.client_name) return request.client_name;
  if (request.client_alias) return `${labels.visitor} ${request.client_alias}`;
  return request.client || "";
}

function svg(tag, attributes) {
  const node = document.createElementNS(SVG, tag);
  for (const [name, value] of Object.entries(attributes)) node.setAttribute(name, value);
  return node;
}

// the channel's icon, named for screen readers (role img + aria-label) and on hover
export function channelIcon(channel, labels) {
  const icon = document.createElement("span");
  icon.className = `channel channel-${channel || "web"}`;
  icon.setAttribute("role", "img");
  icon.setAttribute("aria-label", labels.channel(channel));
  icon.title = labels.channel(channel);
  const drawing = svg("svg", { viewBox: "0 0 16 16", width: "14", height: "14", "aria-hidden": "true", focusable: "false" });
  if (channel === "telegram") {
    drawing.append(svg("path", { d: "M1.5 7.4 14.2 2.3c.6-.2 1.1.1.9.9l-2.2 10.3c-.2.7-.6.9-1.2.6L8.4 11.7 6.8 13.2c-.2.2-.4.3-.7.3l.2-3.4 6.2-5.6c.3-.2-.1-.4-.4-.2L4.4 9.2 1.1 8.2c-.7-.2-.7-.7.4-.8Z", fill: "currentColor" }));
  } else {
    drawing.append(
      svg("circle", { cx: "8", cy: "8", r: "6.5", fill: "none", stroke: "currentColor", "stroke-width": "1.3" }),
      svg("ellipse", { cx: "8", cy: "8", rx: "2.8", ry: "6.5", fill: "none", stroke: "currentColor", "stroke-width": "1.1" }),
      svg("path", { d: "M1.5 8h13M2.6 4.6h10.8M2.6 11.4h10.8", stroke: "currentColor", "stroke-width": "1.1", fill: "none" }),
    );
  }
  icon.append(drawing);
  return icon;
}

// "0:42", "12:05", "1:02:03"
export function clock(seconds) {
  const total = Math.max(0, Math.floor(seconds));
  const hours = Math.floor(total / 3600);
  const minutes = Math.floor((total % 3600) / 60);
  const rest = String(total % 60).padStart(2, "0");
  return hours ? `${hours}:${String(minutes).padStart(2, "0")}:${rest}` : `${minutes}:${rest}`;
}

// where a row stands against its SLA now: ok, warning (less than a quarter left) or overdue
export function slaState(request, now = Date.now()) {
  if (!request.sla_deadline || request.status === "closed") return null;
  const left = (Date.parse(request.sla_deadline) - now) / 1000;
  const total = Number(request.sla_seconds) || 0;
  let state = "ok";
  if (left <= 0) state = "overdue";
  else if (total > 0 && left < total * SLA_WARNING_SHARE) state = "warning";
  return { state, left };
}

function slaText(info, labels) {
  const template = info.state === "overdue" ? labels.slaOverdue : labels.slaLeft;
  return template.replace("{time}", clock(Math.abs(info.left)));
}

function slaPaint(node, request, labels, now) {
  const info = slaState(request, now);
  if (!info) {
    node.hidden = true;
    return null;
  }
  node.hidden = false;
  node.classList.remove("sla-ok", "sla-warning", "sla-overdue");
  node.classList.add(`sla-${info.state}`);
  node.dataset.state = info.state;
  const text = slaText(info, labels);
  if (node.textContent !== text) node.textContent = text;
  return info.state;
}

// The SLA a row waits against, kept true as it changes live (the server computed it for
// the snapshot: handoff.selectors.inbox_summary): from waiting_since, the chat's first
// response target until a person answered in the request, its next response target after.
export function slaFollow(request, targets) {
  if (request.status === "accepted" && !request.waiting_since) request.answered = true;
  if (request.status === "closed" || !request.waiting_since) {
    request.sla_deadline = null;
    request.sla_basis = null;
    return;
  }
  if (request.sla_basis === request.waiting_since && request.sla_deadline) return;
  if (request.sla_basis === undefined && request.sla_deadline) {
    request.sla_basis = request.waiting_since; // the server's own
    return;
  }
  const target = targets && targets[String(request.chat_id)];
  if (!target) return;
  request.sla_seconds = request.answered ? target.next : target.first;
  request.sla_deadline = new Date(Date.parse(request.waiting_since) + request.sla_seconds * 1000).toISOString();
  request.sla_basis = request.waiting_since;
}

// the list's order, as the server's (handoff.selectors.urgency): the earliest SLA
// deadline first (the most overdue lead), then the longest waiting, then the oldest
export function urgencyCompare(a, b) {
  const time = (value) => (value ? Date.parse(value) : Infinity);
  for (const field of ["sla_deadline", "waiting_since", "created_at"]) {
    const difference = time(a[field]) - time(b[field]);
    if (difference) return difference;
  }
  return a.id - b.id;
}

// a row's extras: the channel icon before the name, the SLA countdown, keyboard access
export function rowDecorate(item, request, labels, me) {
  const name = item.querySelector(".client");
  if (name) {
    name.title = displayName(request, labels);
    name.before(channelIcon(request.channel, labels));
  }
  const sla = document.createElement("span");
  sla.className = "sla";
  sla.title = request.answered ? labels.slaNext : labels.slaFirst;
  const state = slaPaint(sla, request, labels, Date.now());
  if (state) item.classList.add(`row-sla-${state}`);
  const waiting = item.querySelector(".waiting");
  if (waiting && request.waiting_since) waiting.dataset.since = request.waiting_since;
  (waiting || name || item.firstChild).after(sla);
  item.dataset.id = String(request.id);
  if (request.status === "accepted" && request.operator_id !== me) item.classList.add("held-by-other");
  // the keyboard (Tab to the list, ↑/↓, Enter or Space) is a11y.js's: one Tab stop per
  // list, set by console.js (rowFocusable, rowRefocus); a second Enter handler here
  // opened the conversation twice
  return item;
}

// once a second: the waiting times and SLA countdowns of the rows on screen move on, by
// changing the text of the nodes there (no row is rebuilt)
export function tick(container, requests, labels, waitedText) {
  const now = Date.now();
  for (const node of container.querySelectorAll(".waiting[data-since]")) {
    const text = waitedText(node.dataset.since);
    if (node.textContent !== text) node.textContent = text;
  }
  for (const node of container.querySelectorAll("li[data-id] .sla")) {
    const item = node.closest("li");
    const request = requests.get(Number(item.dataset.id)) || item.searchRow;
    if (!request) continue;
    const state = slaPaint(node, request, labels, now);
    item.classList.remove("row-sla-ok", "row-sla-warning", "row-sla-overdue");
    if (state) item.classList.add(`row-sla-${state}`);
  }
}

// which filters show a section (none pressed: every section)
const SECTIONS_OF = {
  all: ["pending", "mine", "others"],
  mine: ["mine"],
  unassigned: ["pending"],
  closed: ["closed"],
};

// The filters, the closed list's "Load more" and the search box. `console` gives:
// requests (the Map), send(frame), render() (redraw the lists), listItem(request).
export function inboxStart(root, console) {
  const $ = (id) => document.getElementById(id);
  const labels = inboxLabels(root);
  const state = { filter: null, closedNext: null, query: "", results: null, sla: {} };
  const section = (name) => $(`list-${name}`) && $(`list-${name}`).closest("section");
  let searchTimer = null;

  function sectionsShow() {
    const searching = state.results !== null;
    const shown = state.filter ? SECTIONS_OF[state.filter] : ["pending", "mine", "others", "closed"];
    for (const name of ["pending", "mine", "others", "closed"]) {
      const node = section(name);
      if (node) node.hidden = searching || !shown.includes(name);
    }
    $("search-results-section").hidden = !searching;
    $("closed-more").hidden = state.closedNext === null;
  }

  function filterChoose(name) {
    state.filter = state.filter === name ? null : name;
    for (const button of root.querySelectorAll("[data-filter]")) {
      button.setAttribute("aria-pressed", String(button.dataset.filter === state.filter));
    }
    sectionsShow();
  }

  function resultsRender() {
    const list = $("search-results");
    if (state.results === null) {
      list.replaceChildren();
      return;
    }
    const rows = state.results.map((row) => {
      const item = console.listItem(console.requests.get(row.id) || row);
      item.searchRow = row;
      return item;
    });
    list.replaceChildren(...rows);
    // one Tab stop, as every list (a11y.js): the row on screen, else the first
    const stop = rows.find((row) => row.getAttribute("aria-current") === "true") || rows[0];
    if (stop) stop.tabIndex = 0;
    $("search-empty").hidden = rows.length > 0;
    $("count-search").textContent = String(rows.length);
  }

  function searchSend() {
    const query = $("search").value.trim();
    if (query.length < SEARCH_MIN_CHARS) {
      state.query = "";
      state.results = null;
      resultsRender();
      sectionsShow();
      return;
    }
    state.query = query.slice(0, SEARCH_MAX_CHARS);
    console.send({ type: "search", query: state.query });
  }

  for (const button of root.querySelectorAll("[data-filter]")) {
    button.addEventListener("click", () => filterChoose(button.dataset.filter));
  }
  $("closed-more").addEventListener("click", () => {
    if (state.closedNext !== null) console.send({ type: "closed_page", after: state.closedNext });
  });
  $("search").addEventListener("input", () => {
    clearTimeout(searchTimer);
    searchTimer = setTimeout(searchSend, SEARCH_DELAY_MS);
  });
  $("search").addEventListener("keydown", (event) => {
    if (event.key === "Escape") {
      $("search").value = "";
      searchSend();
    } else if (event.key === "Enter") {
      event.preventDefault();
      clearTimeout(searchTimer);
      searchSend();
    }
  });
  sectionsShow();

  return {
    labels,
    get sla() {
      return state.sla;
    },
    // the snapshot: the SLA targets, colleagues' conversations, the closed cursor
    snapshot(frame) {
      state.sla = frame.sla || {};
      state.closedNext = frame.closed_next ?? null;
      for (const request of frame.others || []) console.requests.set(request.id, request);
      if (state.query) console.send({ type: "search", query: state.query });
      sectionsShow();
    },
    closedPage(frame) {
      for (const request of frame.items || []) {
        if (!console.requests.has(request.id)) console.requests.set(request.id, request);
      }
      state.closedNext = frame.next ?? null;
      console.render();
      sectionsShow();
    },
    searchResults(frame) {
      if (frame.query !== state.query) return; // an answer to an older query
      state.results = Array.isArray(frame.items) ? frame.items : [];
      resultsRender();
      sectionsShow();
    },
    // every row's SLA follows its live changes; then the list's order
    follow(requests) {
      for (const request of requests.values()) slaFollow(request, state.sla);
    },
    redrawResults() {
      if (state.results !== null) resultsRender();
    },
  };
}
