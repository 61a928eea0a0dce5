// The paperclip of the console and the widget: a chosen file is uploaded over HTTP; the
// server checks it by its content and answers with the upload's token, which the page
// then sends in a message frame through its outbox. Progress and refusals are shown in
// a status line; text is always set with textContent.

// XMLHttpRequest, not fetch: only it reports upload progress
function uploadFile(url, body, headers, onProgress) {
  return new Promise((resolve) => {
    const request = new XMLHttpRequest();
    request.open("POST", url);
    request.responseType = "json";
    for (const [name, value] of Object.entries(headers)) request.setRequestHeader(name, value);
    request.upload.addEventListener("progress", (event) => {
      if (event.lengthComputable) onProgress(Math.round((event.loaded / event.total) * 100));
    });
    request.addEventListener("load", () => resolve({ status: request.status, body: request.response || {} }));
    request.addEventListener("error", () => resolve({ status: 0, body: {} }));
    request.send(body);
  });
}

// button, input (type=file), status: the elements; labels: {uploading, failed};
// refusal(): a reason not to upload now, or ""; target(): {url, headers, fields} for the
// upload, or null to do nothing; send(uploadToken, target): send it in a message
export function paperclip({ button, input, status, labels, refusal = () => "", target, send }) {
  if (!button || !input || !status) return;

  function show(text, refused) {
    status.textContent = text;
    status.classList.toggle("refused", Boolean(refused));
    status.setAttribute("role", refused ? "alert" : "status");
    status.hidden = !text;
  }

  button.addEventListener("click", () => {
    const reason = refusal();
    if (reason) show(reason, true);
    else input.click();
  });

  input.addEventListener("change", async () => {
    const file = input.files && input.files[0];
    const where = target();
    input.value = "";
    if (!file || !where) return;
    button.disabled = true;
    show(`${labels.uploading} ${file.name} 0%`, false);
    const body = new FormData();
    for (const [name, value] of Object.entries(where.fields || {})) body.append(name, value);
    body.append("file", file, file.name);
    const answer = await uploadFile(where.url, body, where.headers || {}, (percent) => {
      show(`${labels.uploading} ${file.name} ${percent}%`, false);
    });
    button.disabled = false;
    if (answer.status === 201 && answer.body.upload) {
      show("", false);
      send(answer.body.upload, where);
    } else {
      show(answer.body.detail || labels.failed, true);
    }
    button.focus();
  });
}
