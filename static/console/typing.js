// Typing in the console (docs/handoff.md): the operator's typing in their accepted
// request goes to the visitor (throttled, never stored), and "Ann is typing…" shows
// under the watched conversation while its visitor types. console.js calls
// consoleTypingAttach once, passes "typing" frames to receive(), and calls clear() when
// a visitor's message arrives or another conversation is opened.
import { typingIndicator, typingSender } from "../common/typing.js";

// field: the reply input; line: the element for "… is typing…"; template: "%(name)s is
// typing…"; send(frame); selected(): the watched request id; mayType(id): whether the
// operator holds it; nameOf(id): its visitor's name
export function consoleTypingAttach({ field, line, template, send, selected, mayType, nameOf }) {
  const indicator = typingIndicator(line, template);
  // the request the operator's typing was told for: "stopped" goes to that one
  let typingIn = null;
  const sender = typingSender((typing) => {
    if (typingIn !== null) send({ type: "typing", request: typingIn, typing });
  });
  function stop() {
    sender.stop();
    typingIn = null;
  }
  field.addEventListener("input", () => {
    const request = selected();
    if (typingIn !== null && typingIn !== request) stop();
    if (request && mayType(request) && field.value.trim()) {
      typingIn = request;
      sender.input();
    } else {
      stop();
    }
  });
  field.addEventListener("blur", stop);
  if (field.form) field.form.addEventListener("submit", stop);
  return {
    receive(frame) {
      if (frame.request !== selected()) return;
      if (frame.typing) indicator.show(nameOf(frame.request));
      else indicator.clear();
    },
    clear() {
      indicator.clear();
    },
    stop,
  };
}
