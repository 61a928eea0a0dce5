// The chat's colours as CSS custom properties on the widget page. A classic script in
// <head> (so they apply before the first paint) instead of an inline <style>, which the
// Content-Security-Policy forbids; setting properties through the CSSOM is allowed.
(function () {
  "use strict";
  var data = document.currentScript.dataset;
  var root = document.documentElement.style;
  [
    ["botColor", "--bot-color"],
    ["operatorColor", "--operator-color"],
    ["userColor", "--user-color"],
    ["buttonColor", "--button-color"],
    ["buttonTextColor", "--button-text-color"],
  ].forEach(function (pair) {
    if (data[pair[0]]) {
      root.setProperty(pair[1], data[pair[0]]);
    }
  });
})();
