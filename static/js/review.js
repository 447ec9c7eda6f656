// Review screen: every decision by keyboard. a approve · r reject (digit = reason, Enter sends) ·
// c request changes (Enter sends) · e edit & approve · j / n next · k previous · Esc cancel.
(function () {
  "use strict";
  const root = document.querySelector("[data-review]");
  if (!root) return;

  // The address names the example on screen: after a decision (a redirect through the queue) or a refused
  // one (the page is the answer to a POST to …/decide/), it becomes /review/<this example>/, so a reload
  // or a shared link opens this example, never the previous one and never a form re-post.
  const here = root.dataset.url;
  if (here && window.location.pathname + window.location.search !== here) {
    window.history.replaceState(null, "", here);
  }

  const panels = {
    reject: document.getElementById("reject-panel"),
    changes: document.getElementById("changes-panel"),
  };
  const approveForm = document.getElementById("approve-form");
  const approveButton = document.getElementById("approve-button");

  function isTyping(target) {
    return target && target.closest && target.closest("input, textarea, select, [contenteditable='true']");
  }

  function closePanels() {
    Object.values(panels).forEach((panel) => panel && (panel.hidden = true));
  }

  function openPanel(name) {
    const panel = panels[name];
    if (!panel) return;
    closePanels();
    panel.hidden = false;
    if (name === "changes") {
      panel.querySelector("textarea").focus();
    } else {
      const checked = panel.querySelector("input[name=reason]:checked");
      (checked || panel.querySelector("input[name=reason]")).focus();
    }
    panel.scrollIntoView({ block: "nearest" });
  }

  function go(url) {
    if (url) window.location.assign(url);
  }

  document.querySelectorAll("[data-open]").forEach((button) => {
    button.addEventListener("click", () => openPanel(button.dataset.open.replace("-panel", "")));
  });

  // Inside a panel: a digit picks a reason, Enter sends, Shift+Enter is a new line, Esc cancels.
  Object.values(panels).forEach((panel) => {
    if (!panel) return;
    panel.addEventListener("keydown", (event) => {
      if (event.key === "Escape") {
        event.preventDefault();
        closePanels();
        document.activeElement.blur();
        return;
      }
      if (event.key === "Enter" && !event.shiftKey && !event.isComposing) {
        event.preventDefault();
        panel.requestSubmit();
        return;
      }
      const inText = event.target.tagName === "TEXTAREA";
      if (!inText && /^[1-9]$/.test(event.key)) {
        const radios = panel.querySelectorAll("input[name=reason]");
        const radio = radios[Number(event.key) - 1];
        if (radio) {
          event.preventDefault();
          radio.checked = true;
          panel.querySelector("textarea").focus();
        }
      }
    });
  });

  document.addEventListener("keydown", (event) => {
    if (event.ctrlKey || event.metaKey || event.altKey || event.defaultPrevented) return;
    if (isTyping(event.target)) return;
    switch (event.key) {
      case "a":
        if (approveForm && approveButton && !approveButton.disabled) {
          event.preventDefault();
          approveForm.requestSubmit(approveButton);
        }
        break;
      case "r":
        event.preventDefault();
        openPanel("reject");
        break;
      case "c":
        event.preventDefault();
        openPanel("changes");
        break;
      case "e":
        if (root.dataset.editUrl) {
          event.preventDefault();
          go(root.dataset.editUrl);
        }
        break;
      case "j":
      case "n":
        event.preventDefault();
        go(root.dataset.nextUrl);
        break;
      case "k":
        event.preventDefault();
        go(root.dataset.prevUrl);
        break;
      case "Escape":
        closePanels();
        break;
      default:
        break;
    }
  });
})();
