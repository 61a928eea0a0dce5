// Typing, both ways (docs/protocol.md "Typing and seen"): what this side tells the server
// while its person types, and the "Olga is typing…" line for the other side's frames.
// Shared by the widget (widget.js) and the console (console/typing.js).

// while typing, at most one "typing" frame per SEND_EVERY_MS; "stopped" after IDLE_MS
// without a key, on send and on blur
export const SEND_EVERY_MS = 2000;
export const IDLE_MS = 4000;
// the other side's "typing" shows this long unless a new frame renews it
export const SHOW_MS = 6000;

// send(typing: boolean) puts the frame on the socket. Returns { input(), stop() }:
// call input() on every keystroke, stop() when the text was sent or the field left.
export function typingSender(send) {
  let sentAt = 0;
  let typing = false;
  let idle = null;
  function stop() {
    clearTimeout(idle);
    idle = null;
    if (!typing) return;
    typing = false;
    sentAt = 0;
    send(false);
  }
  function input() {
    const now = Date.now();
    if (!typing || now - sentAt >= SEND_EVERY_MS) {
      typing = true;
      sentAt = now;
      send(true);
    }
    clearTimeout(idle);
    idle = setTimeout(stop, IDLE_MS);
  }
  return { input, stop };
}

// The "<name> is typing…" line in `element` (hidden when nobody types). `template` holds
// "%(name)s" where the name goes. Returns { show(name), clear() }: show() (re)starts the
// SHOW_MS countdown after which the line clears itself.
export function typingIndicator(element, template) {
  let timer = null;
  function clear() {
    clearTimeout(timer);
    timer = null;
    element.hidden = true;
    element.textContent = "";
  }
  function show(name) {
    element.textContent = String(template || "%(name)s …").replace("%(name)s", String(name || ""));
    element.hidden = false;
    clearTimeout(timer);
    timer = setTimeout(clear, SHOW_MS);
  }
  return { show, clear };
}
