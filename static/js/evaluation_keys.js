// Blind judging: keys 1 / 2 / t (tie) / b (both bad) press the matching verdict button.
(function () {
  "use strict";
  document.addEventListener("keydown", function (event) {
    if (event.ctrlKey || event.metaKey || event.altKey) return;
    var target = event.target;
    if (target && (target.tagName === "TEXTAREA" || target.tagName === "INPUT" || target.isContentEditable)) return;
    var form = document.getElementById("judgment-form");
    if (!form) return;
    var button = form.querySelector('button[data-key="' + event.key.toLowerCase() + '"]');
    if (!button) return;
    event.preventDefault();
    if (form.requestSubmit) form.requestSubmit(button); else button.click();
  });
})();
