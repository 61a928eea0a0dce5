// Baton widget: the paperclip. A chosen file is uploaded over HTTP (POST
// /widget/<key>/uploads, with the visitor token); the server checks it by its content and
// answers with the upload's token, which widget.js then sends in a message frame
// through its outbox (docs/protocol.md "Attachments"). Progress and refusals are shown
// in the status line under the composer; text is always set with textContent.

// XMLHttpRequest, not fetch: only it reports upload progress
export function uploadFile(url, body, onProgress) {
  return new Promise((resolve) => {
    const request = new XMLHttpRequest();
    request.open("POST", url);
    request.responseType = "json";
    request.upload.addEventListener("progress", (event) => {
      if (event.lengthComputable) onProgress(Math.round((event.loaded / event.total) * 100));
    });
    request.addEventListener("load", () => resolve({ status: request.status, body: request.response || {} }));
    request.addEventListener("error", () => resolve({ status: 0, body: {} }));
    request.send(body);
  });
}

// root: the widget's root (labels in data-label-*); token(): the visitor token;
// canSend(): the conversation is open; send(token): send the upload in a message
export function attachInit({ root, token, canSend, send }) {
  const button = document.getElementById("baton-attach");
  const input = document.getElementById("baton-file");
  const status = document.getElementById("baton-attach-status");
  if (!button || !input || !status) return;
  const labels = {
    uploading: root.dataset.labelUploading,
    failed: root.dataset.labelUploadFailed,
    notYet: root.dataset.labelUploadNotYet,
  };

  function show(text, refused) {
    status.textContent = text;
    status.classList.toggle("refused", Boolean(refused));
    status.setAttribute("role", refused ? "alert" : "status");
    status.hidden = !text;
  }

  button.addEventListener("click", () => {
    if (!canSend()) {
      show(labels.notYet, true);
      return;
    }
    input.click();
  });

  input.addEventListener("change", async () => {
    const file = input.files && input.files[0];
    input.value = "";
    if (!file) return;
    button.disabled = true;
    show(`${labels.uploading} ${file.name} 0%`, false);
    const body = new FormData();
    body.append("token", token());
    body.append("file", file, file.name);
    const answer = await uploadFile(`/widget/${root.dataset.chat}/uploads`, body, (percent) => {
      show(`${labels.uploading} ${file.name} ${percent}%`, false);
    });
    button.disabled = false;
    if (answer.status === 201 && answer.body.upload) {
      show("", false);
      send(answer.body.upload);
    } else {
      show(answer.body.detail || labels.failed, true);
    }
    button.focus();
  });
}
