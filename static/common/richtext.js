// Message text as DOM nodes, shared by the console and the widget. Nothing here uses
// innerHTML: text stays text, and only http(s), mailto: and tel: links become anchors.

// a link candidate: a scheme we allow, or "www." (read as https); e-mail addresses too
const LINK = /\b(?:https?:\/\/|www\.)[^\s<>"'`]+|\bmailto:[^\s<>"'`]+|\b[\w.+-]+@[\w-]+(?:\.[\w-]+)+\b/giu;
// closing punctuation that ends a sentence rather than the link ("see https://x.org.")
const TRAILING = /[.,;:!?)\]}'"»”’]+$/u;
const SAFE_SCHEMES = new Set(["http:", "https:", "mailto:", "tel:"]);

// the URL an anchor may point at, or null: parsed by the browser, scheme checked after
// parsing (so "javascript:" in any spelling never passes)
export function safeHref(candidate) {
  let raw = String(candidate);
  if (/^www\./iu.test(raw)) raw = `https://${raw}`;
  else if (!/^[a-z][a-z0-9+.-]*:/iu.test(raw) && raw.includes("@")) raw = `mailto:${raw}`;
  try {
    const url = new URL(raw);
    return SAFE_SCHEMES.has(url.protocol) ? url.href : null;
  } catch {
    return null;
  }
}

function anchor(text, href) {
  const link = document.createElement("a");
  link.href = href;
  link.textContent = text;
  if (!href.startsWith("mailto:") && !href.startsWith("tel:")) {
    link.target = "_blank";
    link.rel = "noopener noreferrer nofollow";
  }
  return link;
}

// the nodes of a message's text: text nodes, with the links in it as anchors
export function richTextNodes(text) {
  const source = String(text ?? "");
  const nodes = [];
  let last = 0;
  for (const match of source.matchAll(LINK)) {
    let found = match[0];
    const trailing = found.match(TRAILING);
    if (trailing) found = found.slice(0, -trailing[0].length);
    const href = found && safeHref(found);
    if (!href) continue;
    if (match.index > last) nodes.push(document.createTextNode(source.slice(last, match.index)));
    nodes.push(anchor(found, href));
    last = match.index + found.length;
  }
  if (last < source.length) nodes.push(document.createTextNode(source.slice(last)));
  return nodes;
}

// put a message's text into an element (replacing what it held)
export function setRichText(element, text) {
  element.replaceChildren(...richTextNodes(text));
}

const MEDIA_SCHEMES = new Set(["http:", "https:"]);

// the address of an attachment (stored by our server, usually relative), or null when
// it is not an http(s) URL once the browser has parsed it
export function mediaHref(url) {
  if (typeof url !== "string" || !url) return null;
  try {
    const parsed = new URL(url, location.href);
    return MEDIA_SCHEMES.has(parsed.protocol) ? parsed.href : null;
  } catch {
    return null;
  }
}

// --- times: relative on screen, exact on hover -----------------------------------------

const relative = typeof Intl !== "undefined" && Intl.RelativeTimeFormat ? new Intl.RelativeTimeFormat(document.documentElement.lang || undefined, { numeric: "auto" }) : null;

// "just now", "5 minutes ago", "2 hours ago"; a day or more: the date and time
export function timeRelative(iso, now = Date.now()) {
  const then = Date.parse(iso);
  if (Number.isNaN(then)) return "";
  const seconds = Math.round((then - now) / 1000);
  if (relative && Math.abs(seconds) < 45) return relative.format(0, "second");
  if (relative && Math.abs(seconds) < 3600) return relative.format(Math.round(seconds / 60), "minute");
  if (relative && Math.abs(seconds) < 86400) return relative.format(Math.round(seconds / 3600), "hour");
  return timeExact(iso);
}

// the exact time in the page's language, e.g. for a title attribute
export function timeExact(iso) {
  const then = new Date(iso);
  if (Number.isNaN(then.getTime())) return "";
  return then.toLocaleString(document.documentElement.lang || undefined, { dateStyle: "medium", timeStyle: "short" });
}

// the local calendar day of a time, "2026-12-01", for day separators
export function dayKey(iso) {
  const then = new Date(iso);
  if (Number.isNaN(then.getTime())) return "";
  return `${then.getFullYear()}-${String(then.getMonth() + 1).padStart(2, "0")}-${String(then.getDate()).padStart(2, "0")}`;
}

// "Today", "Yesterday" (from Intl) or the date, for a day separator
export function dayLabel(iso, now = new Date()) {
  const then = new Date(iso);
  if (Number.isNaN(then.getTime())) return "";
  const midnight = (date) => new Date(date.getFullYear(), date.getMonth(), date.getDate()).getTime();
  const days = Math.round((midnight(then) - midnight(now)) / 86400000);
  if (relative && days >= -1 && days <= 0) {
    const label = relative.format(days, "day");
    return label.charAt(0).toLocaleUpperCase() + label.slice(1);
  }
  return then.toLocaleDateString(document.documentElement.lang || undefined, { dateStyle: "full" });
}

// a <time> element showing the relative time, the exact one on hover; refresh the
// text later with timesRefresh()
export function timeElement(iso) {
  const element = document.createElement("time");
  element.dateTime = iso;
  element.textContent = timeRelative(iso);
  element.title = timeExact(iso);
  return element;
}

// move every relative <time> under root on (call every 30 s or so)
export function timesRefresh(root) {
  for (const element of root.querySelectorAll("time[datetime]")) element.textContent = timeRelative(element.dateTime);
}
