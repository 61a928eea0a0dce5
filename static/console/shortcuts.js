// Keyboard shortcuts of the console and their help overlay (the <dialog id="shortcuts">).
// Letters are read from event.code, so they work in every keyboard layout and with Alt on
// a Mac (where Alt+A types "å").

// true while the operator types somewhere: plain letters are theirs then, not ours
function typing(target) {
  return target instanceof HTMLElement && (target.isContentEditable || ["INPUT", "TEXTAREA", "SELECT"].includes(target.tagName));
}

// the rows of the conversation lists as the operator sees them, top to bottom
function visibleRows() {
  return [...document.querySelectorAll(".lists li[data-request]")].filter((row) => row.offsetParent !== null);
}

// the id of the conversation `step` rows above (-1) or below (+1) the selected one
export function neighbour(selected, step) {
  const rows = visibleRows();
  if (!rows.length) return null;
  const index = rows.findIndex((row) => Number(row.dataset.request) === selected);
  const next = index < 0 ? (step > 0 ? 0 : rows.length - 1) : index + step;
  if (next < 0 || next >= rows.length) return null;
  return Number(rows[next].dataset.request);
}

// Enter sends, Shift+Enter is a new line (and Enter while an input method composes is
// the input method's)
export function composerKeys(textarea, form) {
  textarea.addEventListener("keydown", (event) => {
    if (event.defaultPrevented || event.key !== "Enter" || event.shiftKey || event.isComposing || event.altKey || event.ctrlKey || event.metaKey) return;
    event.preventDefault();
    form.requestSubmit();
  });
}

// actions: { select(id), selected(), accept(), close(), search() }; each returns nothing
export function installShortcuts(actions, help) {
  const openHelp = () => {
    if (!help.open) help.showModal();
  };
  help.querySelector("[data-close]")?.addEventListener("click", () => help.close());
  document.addEventListener("keydown", (event) => {
    if (event.defaultPrevented || event.ctrlKey || event.metaKey) return;
    if (help.open || document.querySelector("dialog[open]")) return;
    let handled = true;
    if (event.altKey && (event.key === "ArrowDown" || event.key === "ArrowUp")) {
      const id = neighbour(actions.selected(), event.key === "ArrowDown" ? 1 : -1);
      if (id != null) actions.select(id);
    } else if (event.altKey && event.code === "KeyA") {
      actions.accept();
    } else if (event.altKey && event.code === "KeyC") {
      actions.close();
    } else if (event.altKey && event.code === "KeyK") {
      actions.search();
    } else if (!event.altKey && !typing(event.target) && event.key === "/") {
      actions.search();
    } else if (!event.altKey && !typing(event.target) && event.key === "?") {
      openHelp();
    } else {
      handled = false;
    }
    if (handled) event.preventDefault();
  });
  return openHelp;
}
