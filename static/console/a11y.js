// Accessibility of the console's lists (issue 13, point 7): a request row is reached
// with Tab and opened with Enter or Space, as a click would; a row keeps the focus when
// the lists are drawn again (every change and every 30 s replaces the rows).

// Enter / Space on a focused row (li[data-request]) inside `container` clicks it
export function rowsKeyboard(container) {
  container.addEventListener("keydown", (event) => {
    const row = event.target.closest && event.target.closest("li[data-request]");
    if (!row || event.target !== row || (event.key !== "Enter" && event.key !== " ")) return;
    event.preventDefault();
    row.click();
  });
}

// a row made focusable, marked as the one on screen when it is
export function rowFocusable(item, current) {
  item.tabIndex = 0;
  if (current) item.setAttribute("aria-current", "true");
}

// the id of the focused row (before the lists are replaced), and its focus given back
export function rowFocused(container) {
  const active = document.activeElement;
  return active && container.contains(active) && active.dataset ? active.dataset.request || null : null;
}

export function rowRefocus(container, requestId) {
  if (!requestId) return;
  const row = container.querySelector(`li[data-request="${CSS.escape(requestId)}"]`);
  if (row) row.focus();
}
