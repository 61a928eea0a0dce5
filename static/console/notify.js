// Attention: the tab title's count, a short tone (which the operator may mute) and
// desktop notifications (the Notification API, once the operator has allowed them).

const baseTitle = document.title;

export function titleBadge(count) {
  document.title = count > 0 ? `(${count}) ${baseTitle}` : baseTitle;
}

export function createAttention(operatorId) {
  const muteKey = `baton.console.${operatorId}.muted`;
  let muted = false;
  try {
    muted = localStorage.getItem(muteKey) === "1";
  } catch {
    // storage unavailable: sound on, for this page
  }

  function setMuted(value) {
    muted = Boolean(value);
    try {
      localStorage.setItem(muteKey, muted ? "1" : "0");
    } catch {
      // storage unavailable: the choice lasts as long as the page
    }
  }

  // one audio context for the page's life (browsers cap how many a page may open)
  let audio = null;

  function beep() {
    if (muted) return;
    try {
      audio = audio || new AudioContext();
      const tone = audio.createOscillator();
      tone.frequency.value = 880;
      tone.connect(audio.destination);
      tone.start();
      tone.stop(audio.currentTime + 0.15);
    } catch {
      // no audio available: the badge still shows
    }
  }

  const supported = typeof Notification !== "undefined";

  // "default": the operator has not been asked yet (the button to ask is shown)
  function permission() {
    return supported ? Notification.permission : "unsupported";
  }

  function askPermission() {
    if (!supported || Notification.permission !== "default") return Promise.resolve(permission());
    return Notification.requestPermission();
  }

  // a desktop notification, one per tag (a newer one for the same request replaces it);
  // clicking it brings the console forward and runs onClick
  function desktop(title, body, tag, onClick) {
    if (permission() !== "granted") return null;
    try {
      const note = new Notification(title, { body: String(body || "").slice(0, 200), tag, silent: true });
      note.addEventListener("click", () => {
        window.focus();
        if (onClick) onClick();
        note.close();
      });
      return note;
    } catch {
      return null;
    }
  }

  return { beep, desktop, askPermission, permission, isMuted: () => muted, setMuted };
}
