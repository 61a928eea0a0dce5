// Baton widget: the paperclip (static/common/upload.js), uploading to
// POST /widget/<key>/uploads with the visitor token (docs/protocol.md "Attachments").
import { paperclip } from "../common/upload.js";

// root: the widget's root (labels in data-label-*); token(): the visitor token;
// canSend(): the conversation is open; send(token): send the upload in a message
export function attachInit({ root, token, canSend, send }) {
  paperclip({
    button: document.getElementById("baton-attach"),
    input: document.getElementById("baton-file"),
    status: document.getElementById("baton-attach-status"),
    labels: { uploading: root.dataset.labelUploading, failed: root.dataset.labelUploadFailed },
    refusal: () => (canSend() ? "" : root.dataset.labelUploadNotYet),
    target: () => ({ url: `/widget/${root.dataset.chat}/uploads`, fields: { token: token() } }),
    send: (upload) => send(upload),
  });
}
