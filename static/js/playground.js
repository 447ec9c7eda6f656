/* The playground's answers while they are generated (no inline script: the site has a CSP).
   - [data-elapsed="<seconds>"]: counts on from the server's figure between two polls (the server
     sends the elapsed time by the database's clock, so this page's clock never has to agree with it);
   - a refused request (400: what to fix; 429: too many requests in flight) is shown in #answers (htmx leaves error answers out by default);
   - a poll that fails (the server restarting, the network) is tried again with a short note, instead of
     the answers silently stopping to grow. */
(function () {
  "use strict";

  function tick() {
    var now = performance.now();
    document.querySelectorAll("[data-elapsed]").forEach(function (element) {
      if (element._elapsedSince === undefined) element._elapsedSince = now;
      var seconds = parseFloat(element.getAttribute("data-elapsed")) + (now - element._elapsedSince) / 1000;
      if (!isNaN(seconds)) element.textContent = seconds.toFixed(1) + " s";
    });
  }
  window.setInterval(tick, 100);

  document.addEventListener("htmx:beforeSwap", function (event) {
    var target = event.detail.target;
    if (target && target.id === "answers" && (event.detail.xhr.status === 400 || event.detail.xhr.status === 429)) {
      event.detail.shouldSwap = true;
      event.detail.isError = false;
    }
  });

  function pollFailed(event) {
    var element = event.detail.elt;
    if (!element || !element.id || element.id.indexOf("generation-") !== 0 || !element.getAttribute("hx-get")) return;
    var status = event.detail.xhr ? event.detail.xhr.status : 0;
    var note = element.querySelector(".poll-note");
    if (!note) {
      note = document.createElement("p");
      note.className = "small answer-hint poll-note";
      note.setAttribute("role", "note");
      element.insertBefore(note, element.firstChild);
    }
    if (status === 403 || status === 404) {
      note.textContent = "These answers can no longer be shown (signed out, or the request is gone). Reload the page.";
      return;
    }
    element._pollFailures = (element._pollFailures || 0) + 1;
    var wait = Math.min(10, element._pollFailures * 2);
    note.textContent = "The server did not answer; trying again in " + wait + " s…";
    window.setTimeout(function () {
      if (!document.body.contains(element)) return;
      window.htmx.ajax("GET", element.getAttribute("hx-get"), { source: element, target: element, swap: "outerHTML" });
    }, wait * 1000);
  }
  document.addEventListener("htmx:responseError", pollFailed);
  document.addEventListener("htmx:sendError", pollFailed);
})();
