/* Edit & approve: Ctrl/Cmd+Enter saves and approves, Esc goes back to the review screen. */
(function () {
  "use strict";
  document.addEventListener("keydown", function (e) {
    if (e.key === "Enter" && (e.ctrlKey || e.metaKey)) { e.preventDefault(); document.getElementById("review-edit-form").requestSubmit(); }
    else if (e.key === "Escape") { window.location = document.getElementById("back-to-review").href; }
  });
})();
