// Dashboard: a bar of a chart by day (or month) opens the dialogs of that period.
// The links are in the chart's table (for the keyboard and screen readers); a
// click on a bar follows the table's link of the same day.
(function () {
  "use strict";
  document.addEventListener("click", function (event) {
    var bar = event.target.closest("figure[data-day-links] rect[data-category]");
    if (!bar) return;
    var figure = bar.closest("figure");
    var day = bar.getAttribute("data-category");
    var links = figure.querySelectorAll("a[data-day]");
    for (var n = 0; n < links.length; n++) {
      if (links[n].getAttribute("data-day") === day) {
        window.location.assign(links[n].href);
        return;
      }
    }
  });
})();
