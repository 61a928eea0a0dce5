// Accessibility of the console's lists (issue 13, point 7): each list (pending, mine,
// closed) is one Tab stop, its selected row or else its first; ↑/↓ move between its
// rows, Enter or Space open one, as a click would. A row keeps the focus when the lists
// are drawn again (every change and every 30 s replaces the rows).

const ROW = "li[data-request]";

// keyboard on the rows inside `container`: Enter / Space click, ↑ / ↓ move
export function rowsKeyboard(container) {
  container.addEventListener("keydown", (event) => {
    const row = event.target.closest && event.target.closest(ROW);
    if (!row || event.target !== row || event.altKey || event.ctrlKey || event.metaKey) return;
    if (event.key === "Enter" || event.key === " ") {
      event.preventDefault();
      row.click();
    } else if (event.key === "ArrowDown" || event.key === "ArrowUp") {
      const rows = [...row.parentElement.querySelectorAll(ROW)];
      const next = rows[rows.indexOf(row) + (event.key === "ArrowDown" ? 1 : -1)];
      if (!next) return;
      event.preventDefault();
      row.tabIndex = -1;
      next.tabIndex = 0;
      next.focus();
    }
  });
}

// a row marked as the one on screen when it is
export function rowFocusable(item, current) {
  item.tabIndex = -1;
  if (current) item.setAttribute("aria-current", "true");
}

// the id of the focused row (before the lists are replaced)
export function rowFocused(container) {
  const active = document.activeElement;
  return active && container.contains(active) && active.dataset ? active.dataset.request || null : null;
}

// after the lists are drawn: one Tab stop per list, and the focus given back to the
// row that had it
export function rowRefocus(container, requestId) {
  for (const list of container.querySelectorAll("ul")) {
    const rows = list.querySelectorAll(ROW);
    const stop = list.querySelector(`${ROW}[aria-current="true"]`) || rows[0];
    if (stop) stop.tabIndex = 0;
  }
  if (!requestId) return;
  const row = container.querySelector(`${ROW}[data-request="${CSS.escape(requestId)}"]`);
  if (row) {
    for (const other of row.parentElement.querySelectorAll(ROW)) other.tabIndex = -1;
    row.tabIndex = 0;
    row.focus();
  }
}
