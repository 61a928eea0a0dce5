// How the message list reads: runs of messages by one author show one avatar (beside
// the LAST message of the run, where the run ends, as Messenger, iMessage and Intercom
// do) and the author's name once (on the first); "Seen" under the visitor's last message
// an operator has read.

function authorOf(item) {
  if (!item || !item.classList.contains("message") || item.classList.contains("notice")) return null;
  const kind = [...item.classList].find((name) => name.startsWith("from-"));
  return `${kind}|${item.dataset.author || ""}`;
}

// mark every message that continues its author's run (.run-next: no name) and every one
// the run goes on after (.run-more: no avatar)
export function runsMark(list) {
  const items = [...list.children];
  items.forEach((item, index) => {
    const author = authorOf(item);
    const before = authorOf(items[index - 1]);
    const after = authorOf(items[index + 1]);
    item.classList.toggle("run-next", author !== null && author === before);
    item.classList.toggle("run-more", author !== null && author === after);
  });
}

// "Seen" under the visitor's last stored message with a sequence up to `sequence`
export function seenMark(list, sequence, label) {
  for (const old of list.querySelectorAll(".seen")) old.remove();
  if (!sequence) return;
  const read = [...list.querySelectorAll(".from-client[data-sequence]")].filter((item) => Number(item.dataset.sequence) <= sequence);
  const last = read[read.length - 1];
  if (!last) return;
  const mark = document.createElement("div");
  mark.className = "seen";
  mark.textContent = label;
  last.querySelector(".body").appendChild(mark);
}
