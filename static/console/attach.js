// Baton console: the paperclip in the reply form. A chosen file is uploaded over HTTP
// (POST /console/requests/<id>/uploads, with the page's CSRF token) for the request on
// screen; the server checks it by its content and answers with the upload's token, which
// console.js then sends in a reply frame through its outbox (docs/handoff.md
// "Attachments"). Progress and refusals are shown inline; text only via textContent.

function uploadFile(url, body, headers, onProgress) {
  return new Promise((resolve) => {
    const request = new XMLHttpRequest();
    request.open("POST", url);
    for (const [name, value] of Object.entries(headers)) request.setRequestHeader(name, value);
    request.responseType = "json";
    request.upload.addEventListener("progress", (event) => {
      if (event.lengthComputable) onProgress(Math.round((event.loaded / event.total) * 100));
    });
    request.addEventListener("load", () => resolve({ status: request.status, body: request.response || {} }));
    request.addEventListener("error", () => resolve({ status: 0, body: {} }));
    request.send(body);
  });
}

// root: the console's root (labels in data-label-*); selected(): the request on screen;
// send(requestId, token): send the upload in a reply to that request
export function attachInit({ root, selected, send }) {
  const button = document.getElementById("reply-attach");
  const input = document.getElementById("reply-file");
  const status = document.getElementById("reply-attach-status");
  if (!button || !input || !status) return;
  const csrf = document.querySelector("input[name=csrfmiddlewaretoken]");
  const labels = {
    uploading: root.dataset.labelUploading,
    failed: root.dataset.labelUploadFailed,
  };

  function show(text, refused) {
    status.textContent = text;
    status.classList.toggle("refused", Boolean(refused));
    status.setAttribute("role", refused ? "alert" : "status");
    status.hidden = !text;
  }

  button.addEventListener("click", () => input.click());
  input.addEventListener("change", async () => {
    const file = input.files && input.files[0];
    const requestId = selected();
    input.value = "";
    if (!file || !requestId) return;
    button.disabled = true;
    show(`${labels.uploading} ${file.name} 0%`, false);
    const body = new FormData();
    body.append("file", file, file.name);
    const answer = await uploadFile(
      `/console/requests/${requestId}/uploads`,
      body,
      csrf ? { "X-CSRFToken": csrf.value } : {},
      (percent) => show(`${labels.uploading} ${file.name} ${percent}%`, false),
    );
    button.disabled = false;
    if (answer.status === 201 && answer.body.upload) {
      show("", false);
      send(requestId, answer.body.upload);
    } else {
      show(answer.body.detail || labels.failed, true);
    }
    button.focus();
  });
}
