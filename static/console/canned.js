// Canned replies in the console (issue 13, point 2): typing "/" at the start of the
// reply box opens the watched request's chat's replies, filtered as the operator types
// ("/tha" → /thanks). ↑/↓ move, Enter or Tab insert, Esc closes; a click inserts too.
// The box is an ARIA combobox and the list its listbox. The server sends each request's
// replies in a `canned_replies` frame after `watching` (docs/handoff.md); only the
// replies received for the request on screen are ever offered. Text is set with
// textContent only.

const VARIABLES = ["visitor_name", "operator_name", "chat_name"];
const SHOWN = 8;

// the reply's text with {visitor_name}, {operator_name} and {chat_name} filled in once
// (a value holding "{chat_name}" is not expanded again); unknown braces stay as typed
export function cannedFill(text, values) {
  return String(text).replace(/\{([^{}\s]*)\}/g, (whole, name) =>
    VARIABLES.includes(name) && values[name] != null ? String(values[name]) : whole);
}

// the replies whose shortcut starts with (or whose title contains) what follows "/"
export function cannedMatch(replies, query) {
  const wanted = query.toLowerCase();
  return replies
    .filter((reply) => reply.shortcut.toLowerCase().startsWith(wanted) || reply.title.toLowerCase().includes(wanted))
    .slice(0, SHOWN);
}

// input: the reply box; context(): { request, visitor_name, operator_name, chat_name }
// of the request on screen (null when none). Returns { set(requestId, replies) }.
export function cannedPicker({ input, context, label }) {
  const byRequest = new Map();
  const list = document.createElement("ul");
  list.id = "canned-list";
  list.className = "canned";
  list.setAttribute("role", "listbox");
  list.setAttribute("aria-label", label || "Canned replies");
  list.hidden = true;
  input.form.before(list);
  input.setAttribute("role", "combobox");
  input.setAttribute("aria-autocomplete", "list");
  input.setAttribute("aria-controls", list.id);
  input.setAttribute("aria-expanded", "false");

  let shown = [];
  let active = 0;
  // Esc closes the list until the text changes
  let dismissed = null;

  function close() {
    shown = [];
    list.hidden = true;
    list.replaceChildren();
    input.setAttribute("aria-expanded", "false");
    input.removeAttribute("aria-activedescendant");
  }

  function draw() {
    const options = shown.map((reply, index) => {
      const option = document.createElement("li");
      option.id = `canned-option-${index}`;
      option.setAttribute("role", "option");
      option.setAttribute("aria-selected", String(index === active));
      const shortcut = document.createElement("strong");
      shortcut.textContent = `/${reply.shortcut}`;
      const title = document.createElement("span");
      title.textContent = reply.title;
      option.append(shortcut, " ", title);
      // mousedown, not click: the box keeps its focus
      option.addEventListener("mousedown", (event) => {
        event.preventDefault();
        insert(reply);
      });
      return option;
    });
    list.replaceChildren(...options);
    list.hidden = false;
    input.setAttribute("aria-expanded", "true");
    input.setAttribute("aria-activedescendant", `canned-option-${active}`);
  }

  function update() {
    const match = /^\/(\S*)$/.exec(input.value);
    const current = context();
    const replies = current ? byRequest.get(current.request) || [] : [];
    if (!match || input.value === dismissed || !replies.length) return close();
    shown = cannedMatch(replies, match[1]);
    active = 0;
    if (!shown.length) return close();
    draw();
  }

  function insert(reply) {
    const current = context();
    if (!current) return close();
    input.value = cannedFill(reply.text, current);
    close();
    input.focus();
    input.setSelectionRange(input.value.length, input.value.length);
    // the page's own listeners (the Send button's label) see the new text
    input.dispatchEvent(new Event("input", { bubbles: true }));
  }

  input.addEventListener("input", () => {
    if (input.value !== dismissed) dismissed = null;
    update();
  });
  input.addEventListener("blur", close);
  input.addEventListener("keydown", (event) => {
    if (list.hidden || !shown.length) return;
    if (event.key === "ArrowDown" || event.key === "ArrowUp") {
      event.preventDefault();
      active = (active + (event.key === "ArrowDown" ? 1 : shown.length - 1)) % shown.length;
      draw();
    } else if (event.key === "Enter" || event.key === "Tab") {
      // instead of sending (Enter) or leaving the box (Tab)
      event.preventDefault();
      insert(shown[active]);
    } else if (event.key === "Escape") {
      event.preventDefault();
      dismissed = input.value;
      close();
    }
  });

  return {
    set(requestId, replies) {
      const valid = (Array.isArray(replies) ? replies : []).filter(
        (reply) => reply && typeof reply.shortcut === "string" && typeof reply.title === "string" && typeof reply.text === "string");
      byRequest.set(requestId, valid);
      update();
    },
  };
}
