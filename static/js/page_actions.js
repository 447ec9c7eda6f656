/* Page actions without inline handlers (the Content-Security-Policy forbids inline script):
   - [data-copy="<input id>"]: copy that field's value;
   - form[data-confirm="question"]: ask before submitting (the question is an escaped attribute, so
     user-supplied names never become script);
   - input[data-select-on-click]: select the whole value on click;
   - select[data-autosubmit]: submit its form when it changes;
   - a[data-history-back]: go back a page (the href is the fallback);
   - form[data-submit-once]: a second submit of the same page is ignored (a double click on Create
     version or Train made two versions or two jobs); coming back to the page (history) allows it again. */
(function () {
  "use strict";
  document.addEventListener("click", function (event) {
    var back = event.target.closest("[data-history-back]");
    if (back && window.history.length > 1) {
      event.preventDefault();
      window.history.back();
      return;
    }
    var select = event.target.closest("[data-select-on-click]");
    if (select) { select.select(); }
    var button = event.target.closest("[data-copy]");
    if (!button) return;
    var field = document.getElementById(button.getAttribute("data-copy"));
    field.select();
    var done = function () { button.textContent = "Copied"; setTimeout(function () { button.textContent = "Copy link"; }, 2000); };
    if (navigator.clipboard && window.isSecureContext) { navigator.clipboard.writeText(field.value).then(done, function () { document.execCommand("copy"); done(); }); }
    else { document.execCommand("copy"); done(); }
  });
  document.addEventListener("change", function (event) {
    var select = event.target.closest("[data-autosubmit]");
    if (select && select.form) select.form.submit();
  });
  document.addEventListener("submit", function (event) {
    var form = event.target;
    var question = form.getAttribute("data-confirm");
    if (question && !window.confirm(question)) { event.preventDefault(); return; }
    if (!form.hasAttribute("data-submit-once")) return;
    if (form.getAttribute("data-submitting")) { event.preventDefault(); return; }
    form.setAttribute("data-submitting", "1");
  });
  window.addEventListener("pageshow", function () {
    document.querySelectorAll("form[data-submitting]").forEach(function (form) { form.removeAttribute("data-submitting"); });
  });
})();
