// Baton widget frame: talks to Baton over one websocket (docs/protocol.md).
// Message text is always set with textContent (links: common/richtext.js, DOM nodes).
import { mediaHref, setRichText } from "../common/richtext.js";
import { composerFollowForms, formFoldable } from "./form_focus.js";
import { ratingControl } from "./rating.js";
import { runsMark, seenMark } from "./threads.js";
import { typingIndicator, typingSender } from "../common/typing.js";

import { attachInit } from "./attach.js";

const root = document.getElementById("baton-widget");
const chatKey = root.dataset.chat;
const labels = {
  connecting: root.dataset.labelConnecting,
  offline: root.dataset.labelOffline,
  waiting: root.dataset.labelWaiting,
  operator: root.dataset.labelOperator,
  closed: root.dataset.labelClosed,
  error: root.dataset.labelError,
  name: root.dataset.labelName,
  phone: root.dataset.labelPhone,
  email: root.dataset.labelEmail,
  submit: root.dataset.labelSubmit,
  thanks: root.dataset.labelThanks,
  queue: root.dataset.labelQueue,
  newChat: root.dataset.labelNewChat,
  document: root.dataset.labelDocument || "document",
  image: root.dataset.labelImage || "image",
  typing: root.dataset.labelTyping,
  seen: root.dataset.labelSeen || "Seen",
  formLater: root.dataset.labelFormLater,
  formReopen: root.dataset.labelFormReopen,
  rating: {
    group: root.dataset.labelRating,
    bad: root.dataset.labelRatingBad,
    good: root.dataset.labelRatingGood,
    stars: [1, 2, 3, 4, 5].map((count) => root.getAttribute(`data-label-star-${count}`)),
  },
};
// attachment kinds as the server spells them (chats.enums.AttachmentKind, in the page)
const ATTACHMENT = JSON.parse(document.getElementById("baton-attachment-kinds").textContent);
const endButton = document.getElementById("baton-end");
const endConfirm = document.getElementById("baton-end-confirm");
const endedBar = document.getElementById("baton-ended");
const list = document.getElementById("baton-messages");
const form = document.getElementById("baton-form");
const input = document.getElementById("baton-input");
const stateLine = document.getElementById("baton-state");
const headset = document.getElementById("baton-headset");
const headerAvatar = document.querySelector(".widget-header .avatar");
// the operator's typing, shown above the composer; the visitor's, sent while a person may read
const typingLine = typingIndicator(document.getElementById("baton-typing"), labels.typing);
const typingOut = typingSender((typing) => transmit({ type: "typing", typing }));
// how far operators have read (the seen frame), and the operator's name once known
let seenSequence = 0;
let operatorName = "";
let dialogStatus = "";

// localStorage may be unavailable (blocked third-party storage): fall back to memory
const memory = new Map();
const store = {
  get(name) {
    try { return localStorage.getItem(`baton.${chatKey}.${name}`); } catch { return memory.get(name) ?? null; }
  },
  set(name, value) {
    try { localStorage.setItem(`baton.${chatKey}.${name}`, value); } catch { memory.set(name, value); }
  },
  remove(name) {
    try { localStorage.removeItem(`baton.${chatKey}.${name}`); } catch { memory.delete(name); }
  },
};

let token = store.get("token");
if (!token) {
  token = root.dataset.freshToken;
  store.set("token", token);
}
let dialogId = store.get("dialog");
let lastSequence = 0;
let socket = null;
let greeted = false;
let backoff = 500;
let pingTimer = null;
let headsetOffered = false;
// the dialog is closed: nothing more goes to it, and the visitor's next step opens a new one
let ended = false;
// a new dialog was asked for from the ended state; the old history stays above a divider
let restarting = false;
// reconnect at once (the visitor is waiting), not after the backoff
let reconnectNow = false;
// unacknowledged frames survive a reload; resending is safe (client_msg_id)
const outbox = new Map(readOutbox());
const pageQueue = [];
// errors worth resending after a while; any other error that names a frame's
// client_msg_id is the server's final word on it, and the frame leaves the outbox
// (resending it first on every reconnect would block everything behind it)
// (not_stored: the server closes the socket; the reconnect resends the outbox in order)
const TRANSIENT_ERRORS = new Set(["rate_limited", "hello_required", "not_stored"]);
// which inline forms an answers message settles
const FORM_SELECTORS = {
  form: ".form-form",
  handoff_form: ".form-form",
  contact: ".contact-form",
  contact_form: ".contact-form",
  rate: ".rating",
};

function readOutbox() {
  try {
    const entries = JSON.parse(store.get("outbox") || "[]");
    return Array.isArray(entries) ? entries.filter((entry) => Array.isArray(entry) && entry.length === 2) : [];
  } catch {
    return [];
  }
}

function saveOutbox() {
  store.set("outbox", JSON.stringify([...outbox.entries()]));
}

function newId() {
  const bytes = new Uint8Array(16);
  crypto.getRandomValues(bytes);
  return Array.from(bytes, (b) => b.toString(16).padStart(2, "0")).join("");
}

function setState(text) {
  stateLine.textContent = text;
}

function statusLabel(status) {
  return { waiting: labels.waiting, operator: labels.operator, closed: labels.closed }[status] || "";
}

function applyStatus(status) {
  dialogStatus = status;
  // the header names the operator once one is connected (cut short with an ellipsis)
  setState(status === "operator" && operatorName ? `${operatorName} · ${labels.operator}` : statusLabel(status));
  headerAvatar.src = status === "operator" ? root.dataset.avatarOperator : root.dataset.avatarBot;
  if (status !== "operator" && status !== "waiting") typingOut.stop();
  const closed = status === "closed";
  ended = closed;
  if (headset) headset.hidden = status !== "bot" || !headsetOffered;
  // the visitor may end an open dialog whoever has it: the bot, the queue, an operator
  endButton.hidden = closed;
  endedBar.hidden = !closed || restarting;
  if (closed) endConfirm.hidden = true;
}

// from the ended state: reconnect, and the new hello opens a new dialog
function startNewChat() {
  if (!ended || restarting) return;
  restarting = true;
  endedBar.hidden = true;
  if (socket) {
    reconnectNow = true;
    socket.close(1000);
  } else {
    connect();
  }
}

function timeOf(iso) {
  return new Date(iso).toLocaleTimeString([], { hour: "2-digit", minute: "2-digit" });
}

// text null: a bubble without a text line (its attachment says it all)
function bubble(kind, text, authorName, createdAt) {
  const item = document.createElement("li");
  item.className = `message from-${kind}`;
  item.dataset.author = authorName || "";
  if (kind === "bot" || kind === "operator") {
    const avatar = document.createElement("img");
    avatar.className = "avatar";
    avatar.alt = "";
    avatar.src = kind === "bot" ? root.dataset.avatarBot : root.dataset.avatarOperator;
    item.appendChild(avatar);
  }
  const body = document.createElement("div");
  body.className = "body";
  if (authorName && kind === "operator") {
    const author = document.createElement("div");
    author.className = "author";
    author.textContent = authorName;
    body.appendChild(author);
  }
  if (text !== null) {
    const textNode = document.createElement("div");
    textNode.className = "text";
    setRichText(textNode, text);
    body.appendChild(textNode);
  }
  const meta = document.createElement("div");
  meta.className = "meta";
  meta.textContent = createdAt ? timeOf(createdAt) : "…";
  body.appendChild(meta);
  item.appendChild(body);
  return item;
}

function renderButtons(item, buttons) {
  if (!buttons || !buttons.length) return;
  const row = document.createElement("div");
  row.className = "buttons";
  for (const button of buttons) {
    let node;
    if (button.url) {
      node = document.createElement("a");
      node.href = /^https?:\/\//i.test(button.url) ? button.url : "#";
      node.target = "_blank";
      node.rel = "noopener noreferrer";
    } else {
      node = document.createElement("button");
      node.type = "button";
      node.addEventListener("click", () => sendFrame({ type: "button", button_id: button.id }));
    }
    node.className = "bot-button";
    node.textContent = button.label;
    row.appendChild(node);
  }
  item.querySelector(".body").appendChild(row);
}

function field(labelText, name, kind, required, choices) {
  const label = document.createElement("label");
  label.textContent = labelText + (required ? " *" : "");
  let input;
  if (kind === "choice") {
    input = document.createElement("select");
    for (const choice of ["", ...choices]) {
      const option = document.createElement("option");
      option.value = choice;
      option.textContent = choice;
      input.appendChild(option);
    }
  } else {
    input = document.createElement("input");
    input.type = kind === "email" ? "email" : kind === "phone" ? "tel" : "text";
    input.maxLength = 500;
  }
  input.name = name;
  input.required = Boolean(required);
  label.appendChild(input);
  return label;
}

function renderForm(item, type, fields, values) {
  const form = document.createElement("form");
  form.className = `inline-form ${type}-form`;
  for (const spec of fields) {
    const label = field(spec.label, spec.name, spec.kind, spec.required, spec.choices || []);
    const known = values && values[spec.name];
    if (typeof known === "string") label.querySelector("input, select").value = known;
    form.appendChild(label);
  }
  const submit = document.createElement("button");
  submit.type = "submit";
  submit.className = "bot-button";
  submit.textContent = labels.submit;
  form.appendChild(submit);
  form.addEventListener("submit", (event) => {
    event.preventDefault();
    const answers = {};
    for (const input of form.querySelectorAll("input, select")) answers[input.name] = input.value;
    transmit({ type, answers });
  });
  item.querySelector(".body").appendChild(form);
  formFoldable(form, { later: labels.formLater, reopen: labels.formReopen }, formsChanged);
}

// an open form takes the composer's place (one Send button: the form's)
function formsChanged() {
  const wasOpen = form.hidden;
  const open = composerFollowForms(list, form);
  if (open && !wasOpen) {
    const first = list.querySelector(".inline-form:not([data-folded]) input, .inline-form:not([data-folded]) select");
    if (first) first.focus({ preventScroll: true });
  }
}

function renderMedia(item, attachment) {
  // photos and documents carried from Telegram: fetched through our signed address
  const body = item.querySelector(".body");
  if (attachment.kind === ATTACHMENT.PHOTO) {
    // a bounded thumbnail (widget.css); the full image opens in a new tab
    const link = document.createElement("a");
    link.className = "photo-link";
    link.href = attachment.url;
    link.target = "_blank";
    link.rel = "noopener";
    const image = document.createElement("img");
    image.className = "photo";
    image.alt = attachment.file_name || labels.image;
    image.loading = "lazy";
    image.src = attachment.url;
    link.appendChild(image);
    body.appendChild(link);
  } else {
    const link = document.createElement("a");
    link.className = "document";
    link.href = attachment.url;
    link.target = "_blank";
    link.rel = "noopener";
    link.textContent = `📎 ${attachment.file_name || labels.document}`;
    body.appendChild(link);
  }
}

function renderAttachment(item, attachment) {
  // only an http(s) address once parsed (the server makes them; a stored value never
  // becomes a javascript: link)
  const href = mediaHref(attachment.url);
  if ((attachment.kind === ATTACHMENT.PHOTO || attachment.kind === ATTACHMENT.DOCUMENT) && href) {
    renderMedia(item, { ...attachment, url: href });
  } else if (attachment.kind === ATTACHMENT.HANDOFF_FORM) {
    renderForm(item, "form", attachment.fields.map((spec) => ({ ...spec, name: String(spec.id) })));
  } else if (attachment.kind === ATTACHMENT.CONTACT_FORM) {
    // values: what the visitor already typed in the pre-handoff form
    renderForm(item, "contact", [
      { label: labels.name, name: "name", kind: "text", required: false },
      { label: labels.phone, name: "phone", kind: "phone", required: false },
      { label: labels.email, name: "email", kind: "email", required: false },
    ], attachment.values);
  } else if (attachment.kind === ATTACHMENT.FORM_ANSWERS) {
    renderAnswers(item, attachment.answers);
  } else if (attachment.kind === ATTACHMENT.RATING) {
    const scale = Number(attachment.scale);
    const row = ratingControl(scale, labels.rating, (score) => transmit({ type: "rate", request: attachment.request, score }));
    item.querySelector(".body").appendChild(row);
  }
}

// the visitor's answers to a form, read-only
function renderAnswers(item, answers) {
  const answersList = document.createElement("dl");
  answersList.className = "answers";
  for (const answer of Array.isArray(answers) ? answers : []) {
    const term = document.createElement("dt");
    term.textContent = String(answer.label ?? "");
    const value = document.createElement("dd");
    value.textContent = String(answer.value ?? "");
    answersList.append(term, value);
  }
  item.querySelector(".body").prepend(answersList);
}

// forms already answered (live, or an answers message in the history) cannot be sent again
function finishForms(kind) {
  const selector = FORM_SELECTORS[kind];
  if (!selector) return;
  for (const node of list.querySelectorAll(selector)) {
    const reopen = node.nextElementSibling;
    if (reopen && reopen.classList.contains("form-reopen")) reopen.remove();
    const done = document.createElement("div");
    done.className = "meta";
    done.textContent = labels.thanks;
    node.replaceWith(done);
  }
  formsChanged();
}

function pendingBubble(clientMsgId) {
  return list.querySelector(`[data-pending="${CSS.escape(clientMsgId)}"]`);
}

// stored messages go above the visitor's unacknowledged ones, which stay last
function appendStored(item) {
  list.insertBefore(item, list.querySelector("[data-pending]"));
  runsMark(list);
  list.scrollTop = list.scrollHeight;
}

function drawPending(frame) {
  if (frame.type !== "message" || typeof frame.text !== "string" || pendingBubble(frame.client_msg_id)) return;
  const item = bubble("client", frame.text, "", null);
  item.dataset.pending = frame.client_msg_id;
  list.appendChild(item);
  runsMark(list);
  list.scrollTop = list.scrollHeight;
}

function renderMessage(message) {
  if (message.client_msg_id) {
    const optimistic = pendingBubble(message.client_msg_id);
    if (optimistic) optimistic.remove();
  }
  if (message.sequence <= lastSequence) return;
  lastSequence = message.sequence;
  const attachments = Array.isArray(message.attachments) ? message.attachments : [];
  const answers = attachments.find((attachment) => attachment.kind === ATTACHMENT.FORM_ANSWERS);
  const text = answers ? null : message.text;
  const item = bubble(message.author_kind, text, message.author_name, message.created_at);
  item.dataset.sequence = String(message.sequence);
  renderButtons(item, message.buttons);
  if (message.author_kind === "operator" && message.author_name) {
    operatorName = message.author_name;
    if (dialogStatus === "operator") applyStatus(dialogStatus);
  }
  // a message from the other side ends its "typing…"
  if (message.author_kind !== "client") typingLine.clear();
  for (const attachment of attachments) renderAttachment(item, attachment);
  appendStored(item);
  if (answers) finishForms(answers.of);
  else formsChanged();
  if (message.author_kind === "client") seenMark(list, seenSequence, labels.seen);
}

// the server refused this frame for good: it leaves the outbox, and the visitor sees which
function refuse(clientMsgId, detail) {
  outbox.delete(clientMsgId);
  saveOutbox();
  const item = pendingBubble(clientMsgId);
  if (!item) return false;
  delete item.dataset.pending;
  item.dataset.refused = clientMsgId;
  item.classList.add("failed");
  item.querySelector(".meta").textContent = labels.error;
  const reason = document.createElement("div");
  reason.className = "refusal";
  reason.textContent = detail || "";
  item.querySelector(".body").appendChild(reason);
  return true;
}

function notice(text) {
  const item = bubble("system", text, "", new Date().toISOString());
  item.classList.add("notice");
  appendStored(item);
}

function transmit(frame) {
  if (socket && greeted && !ended && socket.readyState === WebSocket.OPEN) {
    socket.send(JSON.stringify(frame));
  }
}

function sendFrame(frame) {
  const withId = { ...frame, client_msg_id: newId() };
  outbox.set(withId.client_msg_id, withId);
  saveOutbox();
  drawPending(withId);
  // after the end, what the visitor does goes to a new dialog (sent from the outbox)
  if (ended) startNewChat();
  else transmit(withId);
}

function flush() {
  for (const frame of outbox.values()) transmit(frame);
  while (pageQueue.length) transmit(pageQueue.shift());
}

function handle(frame) {
  switch (frame.type) {
    case "welcome": {
      const wasRestarting = restarting;
      restarting = false;
      if (frame.dialog !== dialogId) {
        if (wasRestarting) {
          const divider = document.createElement("li");
          divider.className = "divider";
          divider.textContent = labels.newChat;
          appendStored(divider);
        } else {
          list.replaceChildren();
        }
        lastSequence = 0;
        dialogId = frame.dialog;
        store.set("dialog", dialogId);
        for (const pending of outbox.values()) drawPending(pending);
      }
      greeted = true;
      headsetOffered = Boolean(frame.headset);
      seenSequence = Number(frame.seen) || 0;
      applyStatus(frame.status);
      if (ended && outbox.size && !wasRestarting) startNewChat();
      else flush();
      break;
    }
    case "message":
      renderMessage(frame.message);
      break;
    case "ack":
      outbox.delete(frame.client_msg_id);
      saveOutbox();
      break;
    case "status":
      applyStatus(frame.status);
      break;
    case "queue":
      setState(`${labels.waiting} · ${labels.queue} ${frame.position}`);
      break;
    case "headset":
      headsetOffered = true;
      if (headset) headset.hidden = false;
      break;
    case "done":
      finishForms(frame.of);
      break;
    case "typing":
      if (frame.typing) typingLine.show(frame.name);
      else typingLine.clear();
      if (frame.name && frame.name !== operatorName) {
        operatorName = String(frame.name);
        if (dialogStatus === "operator") applyStatus(dialogStatus);
      }
      break;
    case "seen":
      seenSequence = Math.max(seenSequence, Number(frame.sequence) || 0);
      seenMark(list, seenSequence, labels.seen);
      break;
    case "error":
      if (frame.code === "dialog_closed") {
        // it closed before the status reached us: a message goes to a new dialog,
        // anything else (a button of the old dialog) is dropped with the old dialog
        const refused = outbox.get(frame.client_msg_id);
        if (refused && refused.type !== "message") {
          outbox.delete(frame.client_msg_id);
          saveOutbox();
        }
        applyStatus("closed");
        if (outbox.size) startNewChat();
        break;
      }
      if (TRANSIENT_ERRORS.has(frame.code)) {
        if (frame.code === "rate_limited") setTimeout(flush, 1000);
        break;
      }
      if (frame.client_msg_id && outbox.has(frame.client_msg_id) && refuse(frame.client_msg_id, frame.detail)) break;
      if (frame.code !== "bad_token") notice(frame.detail);
      break;
    default:
      break;
  }
}

function connect() {
  if (socket) return;
  setState(labels.connecting);
  const scheme = location.protocol === "https:" ? "wss" : "ws";
  socket = new WebSocket(`${scheme}://${location.host}${root.dataset.socketPath}`);
  socket.addEventListener("open", () => {
    backoff = 500;
    socket.send(JSON.stringify({ type: "hello", token, last_sequence: lastSequence, dialog: dialogId }));
    pingTimer = setInterval(() => transmit({ type: "ping" }), 25000);
  });
  socket.addEventListener("message", (event) => {
    try { handle(JSON.parse(event.data)); } catch (error) { console.error(error); }
  });
  socket.addEventListener("close", (event) => {
    socket = null;
    greeted = false;
    clearInterval(pingTimer);
    if (event.code === 4401) {
      // the stored token is not valid for this chat: start over as a new visitor
      token = root.dataset.freshToken;
      store.set("token", token);
      store.remove("dialog");
      dialogId = null;
    }
    if (reconnectNow) {
      reconnectNow = false;
      connect();
      return;
    }
    if (ended && !restarting) {
      // nothing to resume: the visitor's next step opens a new dialog
      setState(labels.closed);
      return;
    }
    setState(labels.offline);
    const delay = backoff + Math.random() * backoff;
    backoff = Math.min(backoff * 2, 15000);
    setTimeout(connect, delay);
  });
}

function open() {
  store.set("open", "1");
  if (!ended) connect();
  input.focus();
}

// what the last visit left unacknowledged, shown as pending until the server has it
for (const pending of outbox.values()) drawPending(pending);

form.addEventListener("submit", (event) => {
  event.preventDefault();
  const text = input.value.trim();
  if (!text) return;
  input.value = "";
  typingOut.stop();
  sendFrame({ type: "message", text });
});
// the visitor's typing is told only while a person may read it (waiting or connected)
input.addEventListener("input", () => {
  if ((dialogStatus === "waiting" || dialogStatus === "operator") && input.value.trim()) typingOut.input();
  else typingOut.stop();
});
input.addEventListener("blur", () => typingOut.stop());

// the paperclip (attach.js): an uploaded file goes out as a message naming its upload
attachInit({
  root,
  token: () => token,
  canSend: () => greeted && !ended,
  send: (upload) => sendFrame({ type: "message", text: "", attachments: [{ upload }] }),
});

if (headset) headset.addEventListener("click", () => transmit({ type: "handoff" }));
// ending is asked once more in the page: a slip would end a conversation with a person
endButton.addEventListener("click", () => {
  endConfirm.hidden = false;
  document.getElementById("baton-end-no").focus();
});
document.getElementById("baton-end-yes").addEventListener("click", () => {
  endConfirm.hidden = true;
  transmit({ type: "close" });
});
document.getElementById("baton-end-no").addEventListener("click", () => {
  endConfirm.hidden = true;
});
document.getElementById("baton-new-chat").addEventListener("click", () => {
  startNewChat();
  input.focus();
});

document.getElementById("baton-close").addEventListener("click", () => {
  store.remove("open");
  window.parent.postMessage({ baton: "close" }, "*");
});

window.addEventListener("message", (event) => {
  if (event.source !== window.parent) return;
  const body = event.data || {};
  if (body.baton === "open") open();
  else if (body.baton === "close") store.remove("open");
  else if (body.baton === "page" && typeof body.url === "string") {
    const frame = { type: "page", url: body.url, title: String(body.title || ""), visited_at: Number(body.visited_at) || undefined };
    if (greeted) transmit(frame);
    else pageQueue.push(frame);
  }
});

// opened directly (not framed): behave as an open widget
if (window.parent === window) {
  open();
} else {
  window.parent.postMessage({ baton: "ready" }, "*");
  if (store.get("open")) {
    window.parent.postMessage({ baton: "reopen" }, "*");
    connect();
  } else if (dialogId) {
    connect();
  }
}
