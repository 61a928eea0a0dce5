// The visitor's side panel of the console's conversation view, and its private notes
// box. The page asks for the panel after each `watching` (a `visitor_panel` frame) and
// gets the request's notes with it; later notes come as `note` frames. Text is always
// set as DOM nodes (textContent, or richtext.js for safe links).

import { safeHref, setRichText, timeElement } from "../common/richtext.js";
import { noteInsert, timesStart } from "./conversation.js";

const $ = (id) => document.getElementById(id);

function newId() {
  const bytes = new Uint8Array(16);
  crypto.getRandomValues(bytes);
  return `note-${Array.from(bytes, (b) => b.toString(16).padStart(2, "0")).join("")}`;
}

function none(text) {
  const item = document.createElement("li");
  item.className = "none";
  item.textContent = text;
  return item;
}

// the Customer the visitor is bound to: name, phone (tel: link), e-mail (mailto: link)
export function customerRows(customer, labels) {
  const rows = [];
  if (!customer) return rows;
  const add = (label, value, href) => {
    if (!value) return;
    const term = document.createElement("dt");
    term.textContent = label;
    const detail = document.createElement("dd");
    const safe = href && safeHref(href);
    if (safe) {
      const link = document.createElement("a");
      link.href = safe;
      link.textContent = value;
      detail.appendChild(link);
    } else {
      detail.textContent = value;
    }
    rows.push(term, detail);
  };
  add(labels.name, customer.name);
  add(labels.phone, customer.phone, customer.phone ? `tel:${customer.phone}` : null);
  add(labels.email, customer.email, customer.email ? `mailto:${customer.email}` : null);
  return rows;
}

// a page the visitor opened: its title, its address as text with a link only for a
// safe scheme, and when
export function pageItem(page) {
  const item = document.createElement("li");
  if (page.title) {
    const title = document.createElement("div");
    title.className = "page-title";
    title.textContent = page.title;
    item.appendChild(title);
  }
  const url = document.createElement("div");
  url.className = "page-url";
  setRichText(url, page.url);
  item.append(url, timeElement(page.visited_at));
  return item;
}

// an earlier conversation: a link to it when this operator may open it, else text
export function previousItem(previous, statusLabel) {
  const item = document.createElement("li");
  const words = [previous.chat, statusLabel(previous.status), previous.operator].filter(Boolean).join(" · ");
  const holder = previous.link ? document.createElement("a") : document.createElement("span");
  if (previous.link) holder.href = `/console/requests/${Number(previous.id)}/`;
  holder.append(timeElement(previous.created_at), document.createTextNode(` · ${words}`));
  item.appendChild(holder);
  return item;
}

export function panelRender(panel, { labels, statusLabel }) {
  // named as the list names the visitor (inbox.js displayName)
  const client = panel.client || {};
  $("panel-client").textContent = client.name || (client.alias ? `${labels.visitor} ${client.alias}` : "");
  $("panel-channel").textContent = panel.client ? panel.client.channel_label : "";
  const customer = customerRows(panel.customer, labels);
  $("panel-customer").replaceChildren(...customer);
  $("panel-customer-none").hidden = customer.length > 0;
  const pages = (panel.pages || []).map(pageItem);
  $("panel-pages").replaceChildren(...(pages.length ? pages : [none(labels.none)]));
  const markers = (panel.markers || []).map((hit) => {
    const item = document.createElement("li");
    const name = document.createElement("span");
    name.className = "marker";
    name.textContent = hit.marker;
    item.append(name, document.createTextNode(" "), timeElement(hit.created_at));
    return item;
  });
  $("panel-markers").replaceChildren(...(markers.length ? markers : [none(labels.none)]));
  const previous = (panel.previous || []).map((item) => previousItem(item, statusLabel));
  $("panel-previous").replaceChildren(...(previous.length ? previous : [none(labels.none)]));
}

function panelClear() {
  for (const id of ["panel-client", "panel-channel"]) $(id).textContent = "";
  for (const id of ["panel-customer", "panel-pages", "panel-markers", "panel-previous"]) $(id).replaceChildren();
}

// Wire the panel and the notes box to the console's socket. `send` sends a frame (the
// console's, which drops it while offline), `selected()` is the request on screen.
// Returns a frame handler: true when the frame was the panel's alone.
export function conversationView({ root, send, selected, messages }) {
  const labels = {
    privateNote: root.dataset.labelPrivateNote || "Private note",
    none: root.dataset.labelNone || "—",
    name: root.dataset.labelCustomerName || "Name",
    phone: root.dataset.labelCustomerPhone || "Phone",
    email: root.dataset.labelCustomerEmail || "E-mail",
    sending: root.dataset.labelNoteSending || "…",
    image: root.dataset.labelImage || "image",
    visitor: root.dataset.labelVisitor || "Visitor",
  };
  const statusLabel = (status) => root.getAttribute(`data-status-${status}`) || status;
  // notes sent and not answered yet: resent after a reconnect (stored once by id)
  const pending = new Map();
  const panel = $("visitor-panel");
  const toggle = $("panel-toggle");
  const open = (opened) => {
    panel.classList.toggle("open", opened);
    toggle.setAttribute("aria-expanded", String(opened));
  };
  toggle.addEventListener("click", () => open(!panel.classList.contains("open")));
  $("panel-close").addEventListener("click", () => {
    open(false);
    toggle.focus();
  });
  const noteError = (text) => {
    $("note-error").textContent = text || "";
    $("note-error").hidden = !text;
  };
  $("note-form").addEventListener("submit", (event) => {
    event.preventDefault();
    const text = $("note-text").value;
    const request = selected();
    if (!request || !text.trim()) return;
    noteError("");
    const frame = { type: "note", request, client_msg_id: newId(), text };
    pending.set(frame.client_msg_id, frame);
    $("note-status").textContent = labels.sending;
    send(frame);
  });
  timesStart(root);

  return function handle(frame) {
    switch (frame.type) {
      case "requests":
        // (re)connected: notes still unanswered are sent again
        for (const note of pending.values()) send(note);
        return false;
      case "watching":
        if (frame.request.id === selected()) {
          panelClear();
          noteError("");
          send({ type: "visitor_panel", request: frame.request.id });
        }
        return false;
      case "visitor_panel":
        if (frame.request === selected()) {
          panelRender(frame.panel, { labels, statusLabel });
          for (const note of frame.notes || []) noteInsert(messages, note, labels);
        }
        return true;
      case "note": {
        const mine = frame.client_msg_id && pending.get(frame.client_msg_id);
        if (mine) {
          pending.delete(frame.client_msg_id);
          $("note-status").textContent = "";
          if ($("note-text").value === mine.text) $("note-text").value = "";
        }
        if (frame.request === selected()) noteInsert(messages, frame.note, labels);
        return true;
      }
      case "error":
        if (frame.client_msg_id && pending.has(frame.client_msg_id)) {
          pending.delete(frame.client_msg_id);
          $("note-status").textContent = "";
          noteError(frame.detail);
          return true;
        }
        return false;
      default:
        return false;
    }
  };
}
