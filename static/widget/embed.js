/* Baton embed script: the one <script> tag a site adds. It draws the launcher and
   the messenger-link buttons, opens the chat frame (served by Baton) and reports
   the pages the visitor opens. Plain script, no dependencies. */
(function () {
  "use strict";
  var script = document.currentScript;
  if (!script || window.__batonLoaded) return;
  window.__batonLoaded = true;
  var chatKey = script.getAttribute("data-baton-chat");
  var base = new URL(script.src, location.href).origin;
  var frame = null;
  var panel = null;
  var opened = false;
  var row = null;
  // phones: the open chat fills the screen (its header's close button minimises it)
  var phone = window.matchMedia ? window.matchMedia("(max-width: 480px)") : null;
  var pageOverflow = null;
  var PANEL_DESKTOP = {
    position: "static", top: "", left: "", right: "", bottom: "", width: "370px",
    maxWidth: "calc(100vw - 40px)", height: "560px", maxHeight: "calc(100vh - 110px)",
    borderRadius: "12px", boxShadow: "0 8px 30px rgba(0,0,0,.25)",
  };
  var PANEL_PHONE = {
    position: "fixed", top: "0", left: "0", right: "0", bottom: "0", width: "100%",
    maxWidth: "none", height: "100%", maxHeight: "none", borderRadius: "0", boxShadow: "none",
  };

  function el(tag, styles) {
    var node = document.createElement(tag);
    Object.assign(node.style, styles || {});
    return node;
  }

  function post(body) {
    if (frame && frame.contentWindow) frame.contentWindow.postMessage(body, base);
  }

  function reportPage() {
    post({ baton: "page", url: location.href, title: document.title, visited_at: Date.now() });
  }

  function layout() {
    var full = Boolean(phone && phone.matches);
    Object.assign(panel.style, full ? PANEL_PHONE : PANEL_DESKTOP);
    panel.setAttribute("data-baton-layout", full ? "full" : "panel");
    // full screen: the launcher is under the chat (and would take taps); the page
    // behind does not scroll
    row.style.display = full && opened ? "none" : "flex";
    var lock = full && opened;
    if (lock && pageOverflow === null) {
      pageOverflow = document.documentElement.style.overflow;
      document.documentElement.style.overflow = "hidden";
    } else if (!lock && pageOverflow !== null) {
      document.documentElement.style.overflow = pageOverflow;
      pageOverflow = null;
    }
  }

  function setOpen(value) {
    opened = value;
    panel.style.display = value ? "block" : "none";
    layout();
    post({ baton: value ? "open" : "close" });
  }

  function build(config) {
    var root = el("div", {
      position: "fixed", right: "20px", bottom: "20px", zIndex: "2147483000",
      display: "flex", flexDirection: "column", alignItems: "flex-end", gap: "8px",
      fontFamily: "system-ui, sans-serif",
    });
    root.id = "baton-root";
    panel = el("div", {
      display: "none", width: "370px", maxWidth: "calc(100vw - 40px)", height: "560px",
      maxHeight: "calc(100vh - 110px)", borderRadius: "12px", overflow: "hidden",
      boxShadow: "0 8px 30px rgba(0,0,0,.25)", background: "#fff",
    });
    frame = el("iframe", { width: "100%", height: "100%", border: "0" });
    frame.src = config.frame_url;
    frame.title = config.launcher_label;
    frame.id = "baton-frame";
    panel.appendChild(frame);

    row = el("div", { display: "flex", gap: "8px", alignItems: "center" });
    (config.messenger_links || []).forEach(function (link) {
      if (!/^https?:\/\//i.test(link.url)) return;
      var anchor = el("a", {
        background: "#fff", color: "#1d2533", borderRadius: "18px", padding: "8px 12px",
        boxShadow: "0 2px 8px rgba(0,0,0,.2)", textDecoration: "none", fontSize: "14px",
      });
      anchor.href = link.url;
      anchor.target = "_blank";
      anchor.rel = "noopener noreferrer";
      anchor.className = "baton-messenger-link";
      anchor.textContent = link.label;
      row.appendChild(anchor);
    });
    var launcher = el("button", {
      background: config.launcher_color, color: config.launcher_text_color, border: "0",
      borderRadius: "28px", padding: "14px 20px", fontSize: "15px", cursor: "pointer",
      boxShadow: "0 4px 14px rgba(0,0,0,.25)",
    });
    launcher.type = "button";
    launcher.id = "baton-launcher";
    launcher.textContent = config.launcher_label;
    launcher.addEventListener("click", function () { setOpen(!opened); });
    row.appendChild(launcher);

    root.appendChild(panel);
    root.appendChild(row);
    document.body.appendChild(root);
    layout();
    if (phone && phone.addEventListener) phone.addEventListener("change", layout);

    window.addEventListener("message", function (event) {
      if (event.origin !== base || event.source !== frame.contentWindow) return;
      var body = event.data || {};
      if (body.baton === "ready") {
        reportPage();
        // opened before the frame had loaded: that "open" went to the blank page
        if (opened) post({ baton: "open" });
      } else if (body.baton === "close") setOpen(false);
      else if (body.baton === "reopen" && !opened) setOpen(true);
    });

    // single-page sites change pages without loading: report those too
    ["pushState", "replaceState"].forEach(function (name) {
      var original = history[name];
      history[name] = function () {
        var result = original.apply(this, arguments);
        setTimeout(reportPage, 0);
        return result;
      };
    });
    window.addEventListener("popstate", reportPage);
  }

  fetch(base + "/widget/" + encodeURIComponent(chatKey) + "/config")
    .then(function (response) {
      if (!response.ok) throw new Error("Baton: unknown chat " + chatKey);
      return response.json();
    })
    .then(function (config) {
      if (document.body) build(config);
      else document.addEventListener("DOMContentLoaded", function () { build(config); });
    })
    .catch(function (error) { console.error(error); });
})();
