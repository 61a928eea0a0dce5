// Baton operator console: one websocket (/ws/console/), lists updated live, one
// request watched at a time. Text is always set with textContent.

const root = document.getElementById("console");
const labels = {
  accept: root.dataset.labelAccept,
  taken: root.dataset.labelTaken,
  closed: root.dataset.labelClosed,
  offline: root.dataset.labelOffline,
};
const requests = new Map();
let me = null;
let socket = null;
let backoff = 500;
let selected = Number(root.dataset.selected) || null;
let lastSequence = 0;
let unseen = 0;
const baseTitle = document.title;

const $ = (id) => document.getElementById(id);

function send(frame) {
  if (socket && socket.readyState === WebSocket.OPEN) socket.send(JSON.stringify(frame));
}

function newId() {
  const bytes = new Uint8Array(16);
  crypto.getRandomValues(bytes);
  return Array.from(bytes, (b) => b.toString(16).padStart(2, "0")).join("");
}

function beep() {
  try {
    const audio = new AudioContext();
    const tone = audio.createOscillator();
    tone.frequency.value = 880;
    tone.connect(audio.destination);
    tone.start();
    tone.stop(audio.currentTime + 0.15);
  } catch {
    // no audio available: the badge still shows
  }
}

function badge() {
  document.title = unseen > 0 ? `(${unseen}) ${baseTitle}` : baseTitle;
}

function section(request) {
  if (request.status === "pending" || request.status === "queued") return "pending";
  if (request.status === "accepted") return request.operator_id === me ? "mine" : null;
  if (request.status === "closed") return "closed";
  return null;
}

function renderLists() {
  const lists = { pending: [], mine: [], closed: [] };
  for (const request of requests.values()) {
    const name = section(request);
    if (name) lists[name].push(request);
  }
  lists.pending.sort((a, b) => a.created_at.localeCompare(b.created_at));
  lists.closed.sort((a, b) => (b.closed_at || "").localeCompare(a.closed_at || ""));
  for (const [name, items] of Object.entries(lists)) {
    const list = $(`list-${name}`);
    list.replaceChildren(...items.map(listItem));
    $(`count-${name}`).textContent = String(items.length);
  }
}

function listItem(request) {
  const item = document.createElement("li");
  item.dataset.request = String(request.id);
  if (request.id === selected) item.classList.add("selected");
  const title = document.createElement("div");
  title.textContent = request.client;
  const sub = document.createElement("div");
  sub.className = "sub";
  sub.textContent = `${request.chat} · ${request.status}${request.operator ? ` · ${request.operator}` : ""}`;
  item.append(title, sub);
  item.addEventListener("click", () => select(request.id));
  return item;
}

function select(id) {
  selected = id;
  lastSequence = 0;
  $("messages").replaceChildren();
  history.replaceState(null, "", `/console/requests/${id}/`);
  send({ type: "watch", request: id, last_sequence: 0 });
  unseen = 0;
  badge();
  renderLists();
}

function renderDetail() {
  const request = requests.get(selected);
  if (!request) return;
  $("empty").hidden = true;
  $("detail").hidden = false;
  $("detail-client").textContent = request.client;
  $("detail-chat").textContent = request.chat;
  const waiting = request.status === "pending" || request.status === "queued";
  const mine = request.status === "accepted" && request.operator_id === me;
  let status = request.status;
  if (request.status === "accepted" && !mine) status = `${labels.taken} ${request.operator}`;
  $("detail-status").textContent = status;
  $("accept").hidden = !waiting;
  $("reject").hidden = !waiting;
  $("close-label").hidden = !mine;
  $("close").checked = false;
  $("reply").hidden = !mine;
  $("readonly").hidden = request.status !== "closed";
  const answers = $("form-answers");
  answers.replaceChildren();
  for (const answer of request.form_answers || []) {
    const term = document.createElement("dt");
    term.textContent = answer.label;
    const value = document.createElement("dd");
    value.textContent = answer.value;
    answers.append(term, value);
  }
}

function renderMessage(message) {
  if (message.sequence <= lastSequence) return;
  lastSequence = message.sequence;
  const item = document.createElement("li");
  item.className = `from-${message.author_kind}`;
  item.dataset.sequence = String(message.sequence);
  if (message.author_name && message.author_kind !== "system") {
    const author = document.createElement("div");
    author.className = "author";
    author.textContent = message.author_name;
    item.appendChild(author);
  }
  const text = document.createElement("div");
  text.className = "text";
  text.textContent = message.text;
  item.appendChild(text);
  for (const attachment of message.attachments || []) {
    if (!attachment.url || (attachment.kind !== "photo" && attachment.kind !== "document")) continue;
    const link = document.createElement("a");
    link.className = `media ${attachment.kind}`;
    link.href = attachment.url;
    link.target = "_blank";
    link.rel = "noopener";
    if (attachment.kind === "photo") {
      const image = document.createElement("img");
      image.alt = "";
      image.src = attachment.url;
      link.appendChild(image);
    } else {
      link.textContent = `📎 ${attachment.file_name || "document"}`;
    }
    item.appendChild(link);
  }
  $("messages").appendChild(item);
  $("messages").scrollTop = $("messages").scrollHeight;
}

function handle(frame) {
  switch (frame.type) {
    case "requests":
      me = frame.me;
      requests.clear();
      for (const request of frame.items) requests.set(request.id, request);
      renderLists();
      if (selected && requests.has(selected)) send({ type: "watch", request: selected, last_sequence: lastSequence });
      break;
    case "request_changed": {
      const known = requests.get(frame.request.id);
      requests.set(frame.request.id, frame.request);
      if (!known && section(frame.request) === "pending") {
        unseen += 1;
        badge();
        beep();
      }
      renderLists();
      if (frame.request.id === selected) renderDetail();
      break;
    }
    case "watching":
      requests.set(frame.request.id, frame.request);
      renderDetail();
      break;
    case "message":
      renderMessage(frame.message);
      break;
    case "error":
      alert(frame.detail);
      if (frame.request) send({ type: "refresh" });
      break;
    default:
      break;
  }
}

function connect() {
  const scheme = location.protocol === "https:" ? "wss" : "ws";
  socket = new WebSocket(`${scheme}://${location.host}/ws/console/`);
  socket.addEventListener("open", () => {
    backoff = 500;
    $("connection").textContent = "";
  });
  socket.addEventListener("message", (event) => handle(JSON.parse(event.data)));
  socket.addEventListener("close", (event) => {
    socket = null;
    if (event.code === 4401) {
      location.href = "/console/login/";
      return;
    }
    $("connection").textContent = labels.offline;
    setTimeout(connect, backoff + Math.random() * backoff);
    backoff = Math.min(backoff * 2, 15000);
  });
}

$("accept").addEventListener("click", () => send({ type: "accept", request: selected }));
$("reject").addEventListener("click", () => send({ type: "reject", request: selected }));
$("close").addEventListener("change", (event) => {
  if (event.target.checked) send({ type: "close", request: selected });
});
$("reply").addEventListener("submit", (event) => {
  event.preventDefault();
  const text = $("reply-text").value.trim();
  if (!text) return;
  $("reply-text").value = "";
  send({ type: "message", request: selected, client_msg_id: newId(), text });
});
document.addEventListener("visibilitychange", () => {
  if (!document.hidden) {
    unseen = 0;
    badge();
  }
});

connect();
