// Baton console: the paperclip in the reply form (static/common/upload.js), uploading to
// POST /console/requests/<id>/uploads with the page's CSRF token for the request on
// screen (docs/handoff.md "Attachments").
import { paperclip } from "../common/upload.js";

// root: the console's root (labels in data-label-*); selected(): the request on screen;
// send(requestId, token): send the upload in a reply to that request
export function attachInit({ root, selected, send }) {
  const csrf = document.querySelector("input[name=csrfmiddlewaretoken]");
  paperclip({
    button: document.getElementById("reply-attach"),
    input: document.getElementById("reply-file"),
    status: document.getElementById("reply-attach-status"),
    labels: { uploading: root.dataset.labelUploading, failed: root.dataset.labelUploadFailed },
    target: () => {
      const requestId = selected();
      if (!requestId) return null;
      const headers = csrf ? { "X-CSRFToken": csrf.value } : {};
      return { url: `/console/requests/${requestId}/uploads`, headers, requestId };
    },
    send: (upload, target) => send(target.requestId, upload),
  });
}
