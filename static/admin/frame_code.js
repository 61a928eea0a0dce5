// The frame code page: copy the snippet exactly as shown (no inline script, for the CSP).
document.addEventListener("click", (event) => {
  const button = event.target.closest("[data-copy-target]");
  if (!button) return;
  const source = document.getElementById(button.dataset.copyTarget);
  if (!source) return;
  const done = () => { button.textContent = button.dataset.copiedLabel; };
  if (navigator.clipboard && window.isSecureContext) {
    navigator.clipboard.writeText(source.value).then(done, () => {
      source.select();
      document.execCommand("copy");
      done();
    });
  } else {
    // plain http (a laptop): the clipboard API is missing, the old way still works
    source.select();
    document.execCommand("copy");
    done();
  }
});
