// The rating asked at the end of a conversation: thumbs for the 2-point scale, stars
// for the 5-point one, numbers for 10. Every choice is a button with an accessible
// name; the stars are a radio group (arrow keys move, Enter or Space rates).

// labels: { bad, good, stars: ["1 star", …, "5 stars"], group }; onRate(score)
export function ratingControl(scale, labels, onRate) {
  if (scale === 2) return thumbs(labels, onRate);
  if (scale === 5) return stars(labels, onRate);
  return numbers(scale, labels, onRate);
}

function choice(text, name, score, onRate) {
  const button = document.createElement("button");
  button.type = "button";
  button.textContent = text;
  button.setAttribute("aria-label", name);
  button.title = name;
  button.dataset.score = String(score);
  button.addEventListener("click", () => onRate(score));
  return button;
}

function thumbs(labels, onRate) {
  const row = document.createElement("div");
  row.className = "buttons rating rating-thumbs";
  row.setAttribute("role", "group");
  if (labels.group) row.setAttribute("aria-label", labels.group);
  row.append(
    choice("👎", labels.bad || "1", 1, onRate),
    choice("👍", labels.good || "2", 2, onRate),
  );
  for (const button of row.children) button.className = "rating-choice";
  return row;
}

function stars(labels, onRate) {
  const row = document.createElement("div");
  row.className = "buttons rating rating-stars";
  row.setAttribute("role", "radiogroup");
  if (labels.group) row.setAttribute("aria-label", labels.group);
  const buttons = [];
  // hovering or moving with the arrows lights the stars up to the one pointed at
  const light = (upTo) => buttons.forEach((button, index) => button.classList.toggle("lit", index < upTo));
  const focusStar = (index) => {
    buttons.forEach((button, at) => {
      button.tabIndex = at === index ? 0 : -1;
      button.setAttribute("aria-checked", at === index ? "true" : "false");
    });
    buttons[index].focus();
    light(index + 1);
  };
  for (let score = 1; score <= 5; score += 1) {
    const name = (labels.stars && labels.stars[score - 1]) || String(score);
    const button = choice("★", name, score, onRate);
    button.className = "rating-choice star";
    button.setAttribute("role", "radio");
    button.setAttribute("aria-checked", "false");
    button.tabIndex = score === 1 ? 0 : -1;
    button.addEventListener("mouseenter", () => light(score));
    button.addEventListener("keydown", (event) => {
      const index = score - 1;
      if (event.key === "ArrowRight" || event.key === "ArrowUp") focusStar(Math.min(4, index + 1));
      else if (event.key === "ArrowLeft" || event.key === "ArrowDown") focusStar(Math.max(0, index - 1));
      else if (event.key === "Home") focusStar(0);
      else if (event.key === "End") focusStar(4);
      else return;
      event.preventDefault();
    });
    buttons.push(button);
    row.appendChild(button);
  }
  row.addEventListener("mouseleave", () => light(0));
  return row;
}

function numbers(scale, labels, onRate) {
  const row = document.createElement("div");
  row.className = "buttons rating";
  row.setAttribute("role", "group");
  if (labels.group) row.setAttribute("aria-label", labels.group);
  for (let score = 1; score <= scale; score += 1) {
    const button = choice(String(score), String(score), score, onRate);
    button.className = "bot-button";
    row.appendChild(button);
  }
  return row;
}
