// One Send button while a form is open: an unanswered form in the conversation (the
// pre-handoff form, the contact form) takes the composer's place, so the visitor sees the
// form's own Send and nothing else to press. "Not now" folds the form away and brings the
// composer back; "Fill in the form" opens it again.

// labels: { later: "Not now", reopen: "Fill in the form" }
export function formFoldable(form, labels, onChange) {
  const later = document.createElement("button");
  later.type = "button";
  later.className = "plain-button form-later";
  later.textContent = labels.later;
  const reopen = document.createElement("button");
  reopen.type = "button";
  reopen.className = "plain-button form-reopen";
  reopen.textContent = labels.reopen;
  reopen.hidden = true;
  later.addEventListener("click", () => {
    form.hidden = true;
    form.dataset.folded = "1";
    reopen.hidden = false;
    onChange();
    reopen.focus();
  });
  reopen.addEventListener("click", () => {
    form.hidden = false;
    delete form.dataset.folded;
    reopen.hidden = true;
    onChange();
    const first = form.querySelector("input, select");
    if (first) first.focus();
  });
  form.appendChild(later);
  form.after(reopen);
  return reopen;
}

// hide the composer while an open (not folded) form is in the list; returns whether one is
// (a form above the last "New chat" divider belongs to an ended dialog: it does not count)
export function composerFollowForms(list, composer) {
  const dividers = list.querySelectorAll(".divider");
  const divider = dividers[dividers.length - 1];
  const open = [...list.querySelectorAll(".inline-form:not([data-folded])")].some(
    (form) => !divider || Boolean(divider.compareDocumentPosition(form) & Node.DOCUMENT_POSITION_FOLLOWING),
  );
  composer.hidden = open;
  return open;
}
