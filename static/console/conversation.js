// The console's conversation view: each message's time, day separators, safe links,
// photos as thumbnails and documents as downloads, and private notes drawn among the
// messages at their time. Everything is built as DOM nodes (no innerHTML); links come
// from static/common/richtext.js, the one place that decides what becomes a link.

import { dayKey, dayLabel, mediaHref, setRichText, timeElement, timesRefresh } from "../common/richtext.js";


// a photo as a bounded thumbnail opening the full image; a document as a download
// with its file name; null for anything else (or an unsafe address)
export function attachmentNode(attachment, labels = {}) {
  if (!attachment || (attachment.kind !== "photo" && attachment.kind !== "document")) return null;
  const href = mediaHref(attachment.url);
  if (!href) return null;
  const name = typeof attachment.file_name === "string" ? attachment.file_name : "";
  const link = document.createElement("a");
  link.className = `media ${attachment.kind}`;
  link.href = href;
  link.target = "_blank";
  link.rel = "noopener noreferrer";
  if (attachment.kind === "photo") {
    const image = document.createElement("img");
    image.className = "thumbnail";
    image.alt = name || labels.image || "image";
    image.loading = "lazy";
    image.src = href;
    link.title = labels.openImage || "";
    link.appendChild(image);
  } else {
    link.download = name || "";
    link.textContent = `📎 ${name || labels.document || "document"}`;
  }
  return link;
}

// the nodes of a message's attachments that the page shows
export function attachmentNodes(attachments, labels = {}) {
  return (Array.isArray(attachments) ? attachments : []).map((item) => attachmentNode(item, labels)).filter(Boolean);
}

// the message's text with its safe links, into the element that holds it
export function messageText(element, text) {
  setRichText(element, text);
}

// a stored message's time under it: relative, exact on hover
export function messageStamp(item, createdAt) {
  if (!createdAt) return;
  item.dataset.createdAt = createdAt;
  const meta = document.createElement("div");
  meta.className = "meta";
  meta.appendChild(timeElement(createdAt));
  item.appendChild(meta);
}

// a separator before the first item of every day (items with data-created-at: stored
// messages and notes); redrawn after each insertion, so a note placed among earlier
// messages or a day that starts while the page is open is right too
export function daysMark(list) {
  for (const separator of list.querySelectorAll(":scope > li.day")) separator.remove();
  let previous = null;
  for (const item of [...list.children]) {
    const createdAt = item.dataset.createdAt;
    if (!createdAt) continue;
    const day = dayKey(createdAt);
    if (day !== previous) {
      const separator = document.createElement("li");
      separator.className = "day";
      // a list item of its own (a role="separator" inside an <ol> breaks the list for screen readers)
      separator.dataset.day = day;
      separator.textContent = dayLabel(createdAt);
      list.insertBefore(separator, item);
      previous = day;
    }
  }
}

// a private note, for operators only: labelled and styled apart from the messages
export function noteItem(note, labels = {}) {
  const item = document.createElement("li");
  item.className = "note";
  item.dataset.note = String(note.id);
  item.dataset.createdAt = note.created_at;
  const head = document.createElement("div");
  head.className = "note-head";
  const badge = document.createElement("span");
  badge.className = "note-badge";
  badge.textContent = labels.privateNote || "Private note";
  const author = document.createElement("span");
  author.className = "author";
  author.textContent = String(note.author ?? "");
  head.append(badge, author);
  const text = document.createElement("div");
  text.className = "text";
  setRichText(text, note.text);
  const meta = document.createElement("div");
  meta.className = "meta";
  meta.appendChild(timeElement(note.created_at));
  item.append(head, text, meta);
  return item;
}

// put a note among the messages at its time (each note once), above the replies
// still waiting for their ack
export function noteInsert(list, note, labels = {}) {
  if (list.querySelector(`:scope > li[data-note="${CSS.escape(String(note.id))}"]`)) return;
  const item = noteItem(note, labels);
  let before = null;
  for (const other of list.children) {
    if (other.dataset.pending || other.dataset.refused) {
      before = other;
      break;
    }
    const at = other.dataset.createdAt;
    if (at && !other.classList.contains("day") && Date.parse(at) > Date.parse(note.created_at)) {
      before = other;
      break;
    }
  }
  list.insertBefore(item, before);
  daysMark(list);
}

// move every relative time on the page on, every 30 s
export function timesStart(root, every = 30000) {
  return setInterval(() => timesRefresh(root), every);
}
