// The dialog page's "copy link": the permanent link goes to the clipboard; where the
// clipboard is not allowed (an http page, an old browser) the link's text is selected
// so that Ctrl+C copies it.
"use strict";

(function () {
  const button = document.getElementById("copy-link");
  const input = document.getElementById("permalink");
  const status = document.getElementById("copy-status");
  if (!button || !input) return;

  function say(text) {
    if (status) status.textContent = text;
  }

  function selectForCopy() {
    input.focus();
    input.select();
    input.setSelectionRange(0, input.value.length);
    let copied = false;
    try {
      copied = document.execCommand("copy");
    } catch (error) {
      copied = false;
    }
    say(copied ? button.dataset.copied : button.dataset.select);
  }

  button.addEventListener("click", function () {
    if (navigator.clipboard && window.isSecureContext) {
      navigator.clipboard.writeText(input.value).then(
        function () { say(button.dataset.copied); },
        selectForCopy
      );
    } else {
      selectForCopy();
    }
  });

  input.addEventListener("focus", function () { input.select(); });
})();
