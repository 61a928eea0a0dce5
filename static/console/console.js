// Baton operator console: one websocket (/ws/console/), lists updated live, one
// request watched at a time. Text is always set with textContent.
import { rowFocusable, rowFocused, rowRefocus, rowsKeyboard } from "./a11y.js";
import { cannedPicker } from "./canned.js";
import { createAttention, titleBadge } from "./notify.js";
import { composerKeys, installShortcuts } from "./shortcuts.js";
import { attachmentNodes, daysMark, messageStamp, messageText } from "./conversation.js";
import { conversationView } from "./panel.js";
import { displayName, inboxStart, rowDecorate, tick, urgencyCompare } from "./inbox.js";

import { attachInit } from "./attach.js";
import { consoleTypingAttach } from "./typing.js";

const root = document.getElementById("console");
const $ = (id) => document.getElementById(id);
const labels = {
  accept: root.dataset.labelAccept,
  taken: root.dataset.labelTaken,
  closed: root.dataset.labelClosed,
  offline: root.dataset.labelOffline,
  notSent: root.dataset.labelNotSent,
  dismiss: root.dataset.labelDismiss,
  unavailable: root.dataset.labelUnavailable,
  ended: root.dataset.labelEnded,
  document: root.dataset.labelDocument || "document",
  image: root.dataset.labelImage || "image",
  openImage: root.dataset.labelOpenImage || "",
  waiting: root.dataset.labelWaiting || "waiting",
  unread: root.dataset.labelUnread || "unread",
  offered: root.dataset.labelOffered || "offered to you",
  offerMoved: root.dataset.labelOfferMoved,
  offerGone: root.dataset.labelOfferGone,
  transferredTo: root.dataset.labelTransferredTo,
  transferredBot: root.dataset.labelTransferredBot,
  transferReceived: root.dataset.labelTransferReceived,
  toBot: root.dataset.labelToBot,
  reasonRequired: root.dataset.labelReasonRequired,
  targetRequired: root.dataset.labelTargetRequired,
  rejected: root.dataset.labelRejected,
  undo: root.dataset.labelUndo,
  newRequest: root.dataset.labelNewRequest,
  newMessage: root.dataset.labelNewMessage,
  soundOn: root.dataset.labelSoundOn,
  soundOff: root.dataset.labelSoundOff,
};
const attention = createAttention(root.dataset.operator);
// a Reject is sent after this long, unless the operator undoes it
const REJECT_UNDO_MS = 5000;
// requests whose reject waits out its undo time: id -> the timer that sends it
const rejecting = new Map();
// a request status in the page's language (data-status-<value>), else the raw value
const statusLabel = (status) => root.getAttribute(`data-status-${status}`) || status;
// the server closes for good with these: the session is over, or the user is no operator
const CLOSE_NOT_LOGGED_IN = 4401;
const CLOSE_NOT_OPERATOR = 4403;
const requests = new Map();
let me = null;
let socket = null;
let backoff = 500;
// the snapshot has arrived on this socket: frames sent now are answered in order after it
let ready = false;
let selected = Number(root.dataset.selected) || null;
let lastSequence = 0;
// inbox messages of requests this page does not list yet (a message's event may come
// just before its request's): applied when the request arrives. Bounded: at most
// EARLY_REQUESTS requests (the oldest dropped first), EARLY_MESSAGES each, and emptied
// by every snapshot (which counts what was stored before it)
const early = new Map();
const EARLY_REQUESTS = 50;
const EARLY_MESSAGES = 20;
// the inbox facts of a list row; a request_changed frame carries none, so they are kept.
// last_sequence: the last message counted in the row (an event may come twice)
const INBOX_FIELDS = ["unread", "preview", "preview_author", "last_message_at", "waiting_since", "last_sequence", "answered", "sla_deadline", "sla_seconds", "sla_basis"];
const PREVIEW_CHARS = 120;
// presence: the header's toggle, remembered per operator in this browser and asked for
// when the socket connects (/ws/console/?presence=); the heartbeat renews it (the server
// lets a presence lapse after 90 s without one: handoff.consumers.PRESENCE_TTL)
const HEARTBEAT_MS = 30000;
const PRESENCES = ["online", "away", "offline"];
const presenceKey = `baton.console.${root.dataset.operator}.presence`;
// requests this page handed on: id -> the read-only note shown with them
const handedOn = new Map();
// the list's filters, closed pages and search (inbox.js)
const inbox = inboxStart(root, { requests, send, render: () => renderLists(), listItem: (request) => listItem(request) });

function presenceChosen() {
  try {
    const stored = localStorage.getItem(presenceKey);
    return PRESENCES.includes(stored) ? stored : "online";
  } catch {
    return "online";
  }
}

function presenceRemember(value) {
  try {
    localStorage.setItem(presenceKey, value);
  } catch {
    // storage unavailable: the choice lasts as long as the page
  }
}


// Replies wait in an outbox kept in localStorage until the server acknowledges them,
// and are resent after every reconnect (the server stores a client_msg_id once).
// Errors worth resending later; any other error naming a reply is final for it.
const TRANSIENT_ERRORS = new Set(["rate_limited"]);
const outboxKey = `baton.console.${root.dataset.operator}.outbox`;
const outbox = new Map(readOutbox());
// replies the server refused, so they stay marked when their request is shown again
const refused = new Map();
// "Close the request" means close after sending: the reply (client_msg_id) whose ack
// sends the close of its request. Kept for the page's life (across reconnects).
const closeAfter = new Map();

function readOutbox() {
  try {
    const entries = JSON.parse(localStorage.getItem(outboxKey) || "[]");
    return Array.isArray(entries) ? entries.filter((entry) => Array.isArray(entry) && entry.length === 2) : [];
  } catch {
    return [];
  }
}

function saveOutbox() {
  try {
    localStorage.setItem(outboxKey, JSON.stringify([...outbox.entries()]));
  } catch {
    // storage unavailable: the outbox still lives as long as the page
  }
}

function send(frame) {
  if (socket && ready && socket.readyState === WebSocket.OPEN) socket.send(JSON.stringify(frame));
}

function flush() {
  for (const frame of outbox.values()) send(frame);
}

function newId() {
  const bytes = new Uint8Array(16);
  crypto.getRandomValues(bytes);
  return Array.from(bytes, (b) => b.toString(16).padStart(2, "0")).join("");
}

// the tab title counts everything waiting for this operator: requests to accept and
// unread messages in their conversations (from the snapshot at load, then live)
function badge() {
  let pending = 0;
  for (const request of requests.values()) {
    const name = section(request);
    if (name === "pending") pending += 1;
    else if (name === "mine") pending += request.unread || 0;
  }
  titleBadge(pending);
}

// an inline notice instead of alert(): it does not block, and the operator dismisses it
function notice(text) {
  const item = document.createElement("div");
  item.className = "notice";
  const message = document.createElement("span");
  message.textContent = text || "";
  const dismiss = document.createElement("button");
  dismiss.type = "button";
  dismiss.className = "dismiss";
  dismiss.textContent = "✕";
  dismiss.title = labels.dismiss;
  dismiss.setAttribute("aria-label", labels.dismiss);
  dismiss.addEventListener("click", () => item.remove());
  item.append(message, dismiss);
  $("notices").appendChild(item);
}

function offeredElsewhere(request) {
  return request.offered_to_id != null && request.offered_to_id !== me;
}

function offeredToMe(request) {
  return (request.status === "pending" || request.status === "queued") && request.offered_to_id != null && request.offered_to_id === me;
}

// "0:42": what is left of an offer to this operator
function countdown(deadline) {
  const seconds = Math.max(0, Math.floor((Date.parse(deadline) - Date.now()) / 1000));
  return `${Math.floor(seconds / 60)}:${String(seconds % 60).padStart(2, "0")}`;
}

function section(request) {
  if (rejecting.has(request.id)) return null;
  if (request.status === "pending" || request.status === "queued") return offeredElsewhere(request) ? null : "pending";
  if (request.status === "accepted") return request.operator_id === me ? "mine" : "others";
  if (request.status === "closed") return "closed";
  return null;
}

function renderLists() {
  const lists = { pending: [], mine: [], others: [], closed: [] };
  inbox.follow(requests);
  for (const request of requests.values()) {
    const name = section(request);
    if (name) lists[name].push(request);
  }
  for (const name of ["pending", "mine", "others"]) lists[name].sort(urgencyCompare);
  lists.closed.sort((a, b) => (b.closed_at || "").localeCompare(a.closed_at || ""));
  const focused = rowFocused(document.querySelector(".lists"));
  for (const [name, items] of Object.entries(lists)) {
    const list = $(`list-${name}`);
    list.replaceChildren(...items.map(listItem));
    $(`count-${name}`).textContent = String(items.length);
  }
  // the search results are rows too: drawn before the focus is given back
  inbox.redrawResults();
  rowRefocus(document.querySelector(".lists"), focused);
  badge();
}

// "4 min", "2 h": how long the visitor has been waiting for an answer
function waited(since) {
  const seconds = Math.max(0, (Date.now() - Date.parse(since)) / 1000);
  if (seconds < 60) return `${Math.floor(seconds)} s`;
  if (seconds < 3600) return `${Math.floor(seconds / 60)} min`;
  return `${Math.floor(seconds / 3600)} h`;
}

function listItem(request) {
  const item = document.createElement("li");
  item.dataset.request = String(request.id);
  if (request.id === selected) item.classList.add("selected");
  rowFocusable(item, request.id === selected);
  const title = document.createElement("div");
  title.className = "title";
  const name = document.createElement("span");
  name.className = "client";
  name.textContent = displayName(request, inbox.labels);
  title.appendChild(name);
  if (request.waiting_since && request.status !== "closed") {
    const waiting = document.createElement("span");
    waiting.className = "waiting";
    waiting.textContent = `${labels.waiting} ${waited(request.waiting_since)}`;
    title.appendChild(waiting);
  }
  if (offeredToMe(request) && request.offer_deadline) {
    const offer = document.createElement("span");
    offer.className = "offer";
    offer.dataset.deadline = request.offer_deadline;
    offer.textContent = `${labels.offered} ${countdown(request.offer_deadline)}`;
    title.appendChild(offer);
  }
  if (request.unread > 0) {
    item.classList.add("fresh");
    const unread = document.createElement("span");
    unread.className = "unread";
    unread.textContent = String(request.unread);
    unread.title = labels.unread;
    title.appendChild(unread);
  }
  const preview = document.createElement("div");
  preview.className = "preview";
  preview.textContent = request.preview || "";
  const sub = document.createElement("div");
  sub.className = "sub";
  sub.textContent = `${request.chat} · ${statusLabel(request.status)}${request.operator ? ` · ${request.operator}` : ""}`;
  item.append(title, preview, sub);
  // a colleague's conversation is theirs to read (the server refuses to stream it):
  // shown for the overview, not opened
  if (section(request) === "others") {
    item.classList.add("colleague");
    item.setAttribute("aria-disabled", "true");
    item.title = `${labels.taken} ${request.operator || ""}`;
  } else {
    item.addEventListener("click", () => select(request.id));
  }
  return rowDecorate(item, request, inbox.labels, me);
}

// the server's times are ISO 8601 in UTC with microseconds: compared as strings, so
// a message stored within the millisecond before its request still counts as older
function notBefore(time, since) {
  return !time || !since || time >= since;
}

// a message of a listed request (an inbox entry, or a message of the watched dialog):
// its row's preview, unread count and waiting time. Each message once, by its
// sequence: the channel layer may deliver an event twice (a retried publish), and an
// event may come after the snapshot that already counted its message; an older
// message never replaces the preview of a later one. Unread and waiting follow the
// server's rule: only the request's own messages count (not those before it opened,
// which a watch replays), and the visitor waits from the opening until a person
// answers, then from their next message
function inboxApply(request, message) {
  if (message.sequence <= (request.last_sequence || 0)) return;
  request.last_sequence = message.sequence;
  const attachments = Array.isArray(message.attachments) ? message.attachments : [];
  const preview = "preview" in message ? message.preview : message.text || (attachments[0] && attachments[0].kind);
  request.preview = (preview || "").slice(0, PREVIEW_CHARS);
  request.preview_author = message.author_kind;
  request.last_message_at = message.created_at;
  if (!notBefore(message.created_at, request.created_at)) return;
  if (message.author_kind === "client") {
    if (request.id !== selected) request.unread = (request.unread || 0) + 1;
    if (!request.waiting_since) request.waiting_since = message.created_at;
  } else if (message.author_kind === "operator" && request.status === "accepted") {
    request.waiting_since = null;
  }
}

// a request as the server now describes it, keeping the inbox facts this page has
function requestMerge(fresh) {
  const known = requests.get(fresh.id);
  const merged = { ...fresh };
  for (const field of INBOX_FIELDS) {
    if (!(field in fresh)) merged[field] = known ? known[field] : null;
  }
  if (!known) merged.unread = merged.unread || 0;
  // a name once known stays (a change published without the customer it came from)
  if (known && !fresh.client_name && known.client_name) merged.client_name = known.client_name;
  if (!merged.waiting_since && (fresh.status === "pending" || fresh.status === "queued")) merged.waiting_since = fresh.created_at;
  if (fresh.status === "closed") merged.unread = 0;
  requests.set(fresh.id, merged);
  const waiting = early.get(fresh.id);
  if (waiting) {
    early.delete(fresh.id);
    for (const message of waiting) inboxApply(merged, message);
  }
  return known;
}

// the close dialog's button says what it will do: send the reply, then close; or close
function sendLabel() {
  const confirm = $("close-confirm-yes");
  const text = $("reply-text").value.trim();
  confirm.textContent = text ? confirm.dataset.labelSendClose : confirm.dataset.labelClose;
  $("close-confirm-reply").hidden = !text;
}

function select(id) {
  typing.stop();
  typing.clear();
  selected = id;
  // opening a conversation reads it (the server marks it read on watch)
  const request = requests.get(id);
  if (request) request.unread = 0;
  $("transfer").hidden = true;
  sendLabel();
  lastSequence = 0;
  $("messages").replaceChildren();
  history.replaceState(null, "", `/console/requests/${id}/`);
  send({ type: "watch", request: id, last_sequence: 0 });
  drawPendingOf(id);
  renderLists();
}

function replyEnable(enabled) {
  for (const control of $("reply").elements) control.disabled = !enabled;
}

// the request on screen is no longer in any list (its chat was taken away, say): clear it
function detailClear() {
  selected = null;
  lastSequence = 0;
  $("messages").replaceChildren();
  $("detail").hidden = true;
  history.replaceState(null, "", "/console/");
}

function unavailable() {
  detailClear();
  replyEnable(false);
  $("empty").textContent = labels.unavailable;
  $("empty").hidden = false;
}

// back to the lists (on a phone they and the conversation take turns on screen): the
// server stops streaming it too, so its next messages count as unread in its row (and
// are not marked read for the visitor's "Seen")
function deselect() {
  typing.stop();
  typing.clear();
  send({ type: "unwatch" });
  detailClear();
  renderLists();
}

function renderDetail() {
  const request = requests.get(selected);
  if (!request) return;
  $("empty").hidden = true;
  $("detail").hidden = false;
  replyEnable(true);
  $("detail-client").textContent = displayName(request, inbox.labels);
  $("detail-chat").textContent = request.chat;
  const waiting = request.status === "pending" || request.status === "queued";
  const mine = request.status === "accepted" && request.operator_id === me;
  let status = statusLabel(request.status);
  if (request.status === "accepted" && !mine) status = `${labels.taken} ${request.operator}`;
  if (waiting && offeredToMe(request) && request.offer_deadline) status = `${status} · ${labels.offered} ${countdown(request.offer_deadline)}`;
  $("detail-status").textContent = status;
  $("accept").hidden = !waiting;
  $("reject").hidden = !waiting;
  $("transfer-open").hidden = !mine;
  if (!mine) $("transfer").hidden = true;
  $("close-request").hidden = !mine;
  if (!mine && $("close-confirm").open) $("close-confirm").close();
  $("reply").hidden = !mine;
  const note = handedOn.get(request.id);
  $("transferred-note").textContent = note || "";
  $("transferred-note").hidden = !note || mine;
  $("readonly").hidden = request.status !== "closed" || Boolean(note);
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

function pendingItem(clientMsgId) {
  return $("messages").querySelector(`[data-pending="${CSS.escape(clientMsgId)}"]`);
}

function replyItem(text) {
  const item = document.createElement("li");
  item.className = "from-operator";
  const body = document.createElement("div");
  body.className = "text";
  body.textContent = text;
  const meta = document.createElement("div");
  meta.className = "meta";
  meta.textContent = "…";
  item.append(body, meta);
  return item;
}

function markRefused(item, clientMsgId, detail) {
  delete item.dataset.pending;
  item.dataset.refused = clientMsgId;
  item.classList.add("failed");
  item.querySelector(".meta").textContent = `${labels.notSent}: ${detail || ""}`;
}

// unacknowledged (and refused) replies of the request on screen, below its history
function drawPendingOf(requestId) {
  for (const [clientMsgId, entry] of refused) {
    if (entry.request !== requestId || $("messages").querySelector(`[data-refused="${CSS.escape(clientMsgId)}"]`)) continue;
    const item = replyItem(entry.text);
    markRefused(item, clientMsgId, entry.detail);
    $("messages").appendChild(item);
  }
  for (const frame of outbox.values()) {
    if (frame.request !== requestId || pendingItem(frame.client_msg_id)) continue;
    const item = replyItem(frame.text);
    item.dataset.pending = frame.client_msg_id;
    $("messages").appendChild(item);
  }
  $("messages").scrollTop = $("messages").scrollHeight;
}

// the visitor's answers to a form, read-only, as "label: value"
function answersList(answers) {
  const list = document.createElement("dl");
  list.className = "answers";
  for (const answer of Array.isArray(answers) ? answers : []) {
    const term = document.createElement("dt");
    term.textContent = String(answer.label ?? "");
    const value = document.createElement("dd");
    value.textContent = String(answer.value ?? "");
    list.append(term, value);
  }
  return list;
}

function renderMessage(message) {
  if (message.client_msg_id) {
    const optimistic = pendingItem(message.client_msg_id);
    if (optimistic) optimistic.remove();
  }
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
  const attachments = Array.isArray(message.attachments) ? message.attachments : [];
  const answers = attachments.find((attachment) => attachment.kind === "form_answers");
  if (answers) {
    item.appendChild(answersList(answers.answers));
  } else {
    const text = document.createElement("div");
    text.className = "text";
    messageText(text, message.text);
    item.appendChild(text);
  }
  item.append(...attachmentNodes(attachments, labels));
  messageStamp(item, message.created_at);
  // stored messages go above the replies still waiting for their ack
  $("messages").insertBefore(item, $("messages").querySelector("[data-pending]"));
  daysMark($("messages"));
  $("messages").scrollTop = $("messages").scrollHeight;
}

function refuse(clientMsgId, detail) {
  // the goodbye was not sent: the request stays open, the box stays ticked
  closeAfter.delete(clientMsgId);
  const frame = outbox.get(clientMsgId);
  outbox.delete(clientMsgId);
  saveOutbox();
  refused.set(clientMsgId, { request: frame.request, text: frame.text, detail });
  const item = pendingItem(clientMsgId);
  if (item) markRefused(item, clientMsgId, detail);
  else notice(detail);
}

function handle(frame) {
  if (view(frame)) return;
  switch (frame.type) {
    case "requests": {
      const first = !ready;
      ready = true;
      me = frame.me;
      if (frame.presence) $("presence").value = frame.presence;
      requests.clear();
      early.clear();
      for (const request of frame.items) requests.set(request.id, request);
      inbox.snapshot(frame);
      if (selected && requests.has(selected)) requests.get(selected).unread = 0;
      if (selected && !requests.has(selected)) unavailable();
      renderLists();
      if (first && selected && requests.has(selected)) send({ type: "watch", request: selected, last_sequence: lastSequence });
      if (first) flush();
      break;
    }
    case "request_changed": {
      const known = requestMerge(frame.request);
      if (!known && section(frame.request) === "pending") announceRequest(requests.get(frame.request.id));
      renderLists();
      if (frame.request.id === selected) renderDetail();
      break;
    }
    case "watching": {
      // its last_sequence is the dialog's, not what this row has counted: keep the row's
      const { last_sequence: _dialogLast, ...summary } = frame.request;
      requestMerge(summary);
      requests.get(frame.request.id).unread = 0;
      renderDetail();
      renderLists();
      break;
    }
    case "typing":
      typing.receive(frame);
      break;
    case "message": {
      if (frame.message.author_kind === "client") typing.clear();
      const fresh = frame.message.sequence > lastSequence;
      renderMessage(frame.message);
      const request = requests.get(selected);
      if (fresh && request) {
        inboxApply(request, frame.message);
        renderLists();
        if (document.hidden && ready) announceMessage(request, frame.message);
      }
      break;
    }
    case "inbox": {
      const request = requests.get(frame.request);
      if (request) {
        const fresh = frame.message.sequence > (request.last_sequence || 0);
        inboxApply(request, frame.message);
        renderLists();
        if (fresh && (request.id !== selected || document.hidden)) announceMessage(request, frame.message);
      } else {
        const waiting = early.get(frame.request) || [];
        waiting.push(frame.message);
        early.delete(frame.request);
        early.set(frame.request, waiting.slice(-EARLY_MESSAGES));
        if (early.size > EARLY_REQUESTS) early.delete(early.keys().next().value);
      }
      break;
    }
    case "ack": {
      outbox.delete(frame.client_msg_id);
      saveOutbox();
      if (closeAfter.has(frame.client_msg_id)) {
        send({ type: "close", request: closeAfter.get(frame.client_msg_id) });
        closeAfter.delete(frame.client_msg_id);
      }
      // stored before (a resend) and already drawn from the history
      const optimistic = pendingItem(frame.client_msg_id);
      if (optimistic && frame.sequence <= lastSequence) optimistic.remove();
      break;
    }
    case "presence":
      // a change from this or another tab, or from Telegram: the toggle follows it
      $("presence").value = frame.presence;
      presenceRemember(frame.presence);
      break;
    case "heartbeat":
      // the presence lapsed (the page slept, say) although this console is open: ask
      // again for what the operator chose
      $("presence").value = frame.presence;
      if (frame.presence !== presenceChosen()) send({ type: "presence", presence: presenceChosen() });
      break;
    case "request_withdrawn": {
      requests.delete(frame.request);
      if (frame.offer_moved) notice(labels.offerMoved);
      if (frame.request === selected) {
        unavailable();
        $("empty").textContent = labels.offerGone;
      }
      renderLists();
      break;
    }
    case "closed_page":
      inbox.closedPage(frame);
      break;
    case "search_results":
      inbox.searchResults(frame);
      break;
    case "transfer_targets":
      if (frame.request === selected) transferFormFill(frame);
      break;
    case "canned_replies":
      canned.set(frame.request, frame.replies);
      break;
    case "transferred": {
      handedOn.set(frame.request, frame.to ? `${labels.transferredTo} ${frame.to}.` : labels.transferredBot);
      $("transfer").hidden = true;
      if (frame.request === selected) renderDetail();
      break;
    }
    case "transfer_received":
      attention.beep();
      notice(`${frame.from} ${labels.transferReceived}: ${frame.reason}`);
      break;
    case "error":
      if (frame.client_msg_id && outbox.has(frame.client_msg_id)) {
        if (TRANSIENT_ERRORS.has(frame.code)) setTimeout(flush, 1000);
        else refuse(frame.client_msg_id, frame.detail);
      } else if (frame.request && frame.request === selected && !$("transfer").hidden) {
        // a refused transfer: said in its form, which stays open to try again
        transferError(frame.detail || "");
      } else {
        notice(frame.detail);
      }
      if (frame.request) send({ type: "refresh" });
      break;
    default:
      break;
  }
}

// closed for good: say why and how to go on, and do not reconnect
function ended(code) {
  $("connection").textContent = labels.ended;
  $("ended-logged-out").hidden = code !== CLOSE_NOT_LOGGED_IN;
  $("ended-not-operator").hidden = code !== CLOSE_NOT_OPERATOR;
  $("ended").hidden = false;
  replyEnable(false);
  for (const button of $("detail").querySelectorAll(".actions button, .actions input")) button.disabled = true;
}

function connect() {
  const scheme = location.protocol === "https:" ? "wss" : "ws";
  const presence = encodeURIComponent(presenceChosen());
  socket = new WebSocket(`${scheme}://${location.host}/ws/console/?presence=${presence}`);
  ready = false;
  socket.addEventListener("open", () => {
    backoff = 500;
    $("connection").textContent = "";
  });
  socket.addEventListener("message", (event) => {
    try { handle(JSON.parse(event.data)); } catch (error) { console.error(error); }
  });
  socket.addEventListener("close", (event) => {
    socket = null;
    ready = false;
    if (event.code === CLOSE_NOT_LOGGED_IN || event.code === CLOSE_NOT_OPERATOR) {
      ended(event.code);
      return;
    }
    $("connection").textContent = labels.offline;
    setTimeout(connect, backoff + Math.random() * backoff);
    backoff = Math.min(backoff * 2, 15000);
  });
}

// --- attention: a new request, a message in a conversation not in front of the operator
function announceRequest(request) {
  attention.beep();
  attention.desktop(labels.newRequest, `${displayName(request, inbox.labels)} · ${request.chat}`, `baton-request-${request.id}`, () => select(request.id));
}

function announceMessage(request, message) {
  if (message.author_kind !== "client") return;
  // the operator's own conversations and those waiting for someone (not colleagues')
  if (!["pending", "mine"].includes(section(request))) return;
  attention.desktop(`${labels.newMessage} ${displayName(request, inbox.labels)}`, message.text || message.preview || "", `baton-request-${request.id}`, () => select(request.id));
}

function soundShow() {
  const muted = attention.isMuted();
  $("sound").textContent = muted ? labels.soundOff : labels.soundOn;
  $("sound").setAttribute("aria-pressed", String(!muted));
}

$("sound").addEventListener("click", () => {
  attention.setMuted(!attention.isMuted());
  soundShow();
});
soundShow();
$("notifications").hidden = attention.permission() !== "default";
$("notifications").addEventListener("click", async () => {
  await attention.askPermission();
  $("notifications").hidden = attention.permission() !== "default";
});

// --- accept, reject (with a moment to undo it), close (after a confirmation) -----------
function accept() {
  const request = requests.get(selected);
  if (request && (request.status === "pending" || request.status === "queued")) send({ type: "accept", request: selected });
}

function rejectUndone(id) {
  clearTimeout(rejecting.get(id));
  rejecting.delete(id);
  $("undo").querySelector(`[data-request="${id}"]`)?.remove();
  renderLists();
  if (!selected && requests.has(id)) select(id);
}

function rejectSend(id) {
  rejecting.delete(id);
  $("undo").querySelector(`[data-request="${id}"]`)?.remove();
  send({ type: "reject", request: id });
  renderLists();
}

function reject() {
  const id = selected;
  const request = requests.get(id);
  if (!request || rejecting.has(id)) return;
  rejecting.set(id, setTimeout(() => rejectSend(id), REJECT_UNDO_MS));
  const toast = document.createElement("div");
  toast.className = "undo-toast";
  toast.dataset.request = String(id);
  const text = document.createElement("span");
  text.textContent = `${labels.rejected} ${displayName(request, inbox.labels)}.`;
  const undo = document.createElement("button");
  undo.type = "button";
  undo.textContent = labels.undo;
  undo.addEventListener("click", () => rejectUndone(id));
  toast.append(text, undo);
  $("undo").appendChild(toast);
  // stop watching meanwhile: the visitor's next messages are not read (nor "Seen")
  deselect();
  undo.focus();
}

// leaving the page does not undo a reject the operator meant
window.addEventListener("pagehide", () => {
  for (const id of [...rejecting.keys()]) {
    clearTimeout(rejecting.get(id));
    rejectSend(id);
  }
});

function closeAsk() {
  const request = requests.get(selected);
  if (!request || request.status !== "accepted" || request.operator_id !== me || $("close-confirm").open) return;
  sendLabel();
  $("close-confirm").showModal();
}

function replySend(closing) {
  const text = $("reply-text").value.trim();
  if (!selected) return;
  if (!text) {
    if (closing) send({ type: "close", request: selected });
    return;
  }
  $("reply-text").value = "";
  const frame = { type: "message", request: selected, client_msg_id: newId(), text };
  if (closing) closeAfter.set(frame.client_msg_id, selected);
  outbox.set(frame.client_msg_id, frame);
  saveOutbox();
  drawPendingOf(selected);
  send(frame);
}

$("back").addEventListener("click", deselect);
$("accept").addEventListener("click", accept);
$("reject").addEventListener("click", reject);
$("close-request").addEventListener("click", closeAsk);
$("close-cancel").addEventListener("click", () => $("close-confirm").close());
$("close-confirm").addEventListener("close", () => {
  if ($("close-confirm").returnValue === "close") replySend(true);
  $("close-confirm").returnValue = "";
  if (!$("detail").hidden) $("reply-text").focus();
});
$("reply").addEventListener("submit", (event) => {
  event.preventDefault();
  replySend(false);
});
const openShortcuts = installShortcuts(
  {
    select,
    selected: () => selected,
    accept,
    close: closeAsk,
    search: () => ($("search") || $("reply-text")).focus(),
  },
  $("shortcuts"),
);
$("shortcuts-open").addEventListener("click", openShortcuts);

// the paperclip (attach.js): an uploaded file goes out as a reply naming its upload,
// through the outbox like any reply
attachInit({
  root,
  selected: () => selected,
  send: (requestId, upload) => {
    const frame = { type: "message", request: requestId, client_msg_id: newId(), text: "", attachments: [{ upload }] };
    outbox.set(frame.client_msg_id, frame);
    saveOutbox();
    // the operator may have opened another conversation while the file uploaded
    if (requestId === selected) drawPendingOf(requestId);
    send(frame);
  },
});

// --- transfer: to another operator of the chat (offline or full ones disabled) or back
// to the bot, with a reason ------------------------------------------------------------
function transferFormFill(frame) {
  const options = [new Option("—", "")];
  for (const target of frame.operators) {
    const option = new Option(`${target.name} · ${root.getAttribute(`data-presence-${target.presence}`) || target.presence} · ${target.load}/${target.max}`, String(target.id));
    option.disabled = !target.available;
    options.push(option);
  }
  if (frame.bot) options.push(new Option(labels.toBot, "bot"));
  $("transfer-target").replaceChildren(...options);
  $("transfer-error").hidden = true;
  $("transfer").hidden = false;
  $("transfer-reason").focus();
}

function transferError(text) {
  $("transfer-error").textContent = text;
  $("transfer-error").hidden = false;
}

$("transfer-open").addEventListener("click", () => {
  if (selected) send({ type: "transfer_targets", request: selected });
});
$("transfer-cancel").addEventListener("click", () => { $("transfer").hidden = true; });
$("transfer").addEventListener("submit", (event) => {
  event.preventDefault();
  const target = $("transfer-target").value;
  const reason = $("transfer-reason").value.trim();
  if (!target) return transferError(labels.targetRequired);
  if (!reason) return transferError(labels.reasonRequired);
  $("transfer-error").hidden = true;
  send({ type: "transfer", request: selected, to: target === "bot" ? "bot" : Number(target), reason });
  $("transfer-reason").value = "";
});

$("presence").value = presenceChosen();
$("presence").addEventListener("change", () => {
  presenceRemember($("presence").value);
  send({ type: "presence", presence: $("presence").value });
});

// the conversation view: the visitor's panel and private notes (static/console/panel.js)
const view = conversationView({ root, send, selected: () => selected, messages: $("messages") });
rowsKeyboard(document.querySelector(".lists"));
// "/" in the reply box: the canned replies of the request on screen, variables filled
// from what the page shows (the visitor's name: client_name when the list has it)
const canned = cannedPicker({
  input: $("reply-text"),
  label: root.dataset.labelCanned,
  context: () => {
    const request = requests.get(selected);
    if (!request) return null;
    const visitor = displayName(request, inbox.labels);
    return { request: request.id, visitor_name: visitor, operator_name: root.dataset.operatorName, chat_name: request.chat };
  },
});
// after the picker: Enter picks a canned reply while its list is open, else sends
composerKeys($("reply-text"), $("reply"));
const typing = consoleTypingAttach({
  field: $("reply-text"),
  line: $("typing-line"),
  template: root.dataset.labelTyping,
  send,
  selected: () => selected,
  mayType: (id) => requests.get(id)?.status === "accepted" && requests.get(id)?.operator_id === me,
  nameOf: (id) => (requests.has(id) ? displayName(requests.get(id), inbox.labels) : ""),
});
if (selected) drawPendingOf(selected);
connect();
setInterval(() => send({ type: "heartbeat" }), HEARTBEAT_MS);
// offers count down
setInterval(() => {
  for (const offer of document.querySelectorAll(".lists .offer")) offer.textContent = `${labels.offered} ${countdown(offer.dataset.deadline)}`;
  const request = requests.get(selected);
  if (request && offeredToMe(request)) renderDetail();
}, 1000);
// the waiting times move on
setInterval(() => { if (requests.size) renderLists(); }, 30000);
// every second the rows' waiting times and SLA countdowns move on (their text only)
setInterval(() => tick($("lists"), requests, inbox.labels, (since) => `${labels.waiting} ${waited(since)}`), 1000);
