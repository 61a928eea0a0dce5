// Filter forms (dialogs, dashboard): empty fields are left out of the address, so
// that it reads ?status=closed&chat=3 rather than a row of "marker=&text=&...",
// and can be copied, bookmarked and read.
(function () {
  "use strict";
  document.querySelectorAll("form.filters[method=get]").forEach(function (form) {
    form.addEventListener("submit", function () {
      form.querySelectorAll("input, select").forEach(function (field) {
        if (field.name && field.value === "" && field.type !== "checkbox") field.disabled = true;
      });
      // back to this page from the browser's cache: the fields work again
      window.addEventListener("pageshow", function () {
        form.querySelectorAll("input, select").forEach(function (field) { field.disabled = false; });
      }, { once: true });
    });
  });
})();
