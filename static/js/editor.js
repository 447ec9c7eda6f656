// Conversation editor: add/remove turns, keyboard shortcuts, and a guard against losing edits.
(function () {
  const form = document.getElementById("editor");
  if (!form) return;
  const turns = document.getElementById("turns");
  const template = document.getElementById("turn-template");
  let dirty = false;

  function nextRole() {
    const roles = [...turns.querySelectorAll("select[name=role]")].map((s) => s.value);
    const last = roles[roles.length - 1];
    return last === "user" ? "assistant" : "user";
  }

  function styleTurn(fieldset) {
    const select = fieldset.querySelector("select[name=role]");
    fieldset.className = "turn turn-" + select.value;
  }

  function addTurn(role) {
    const node = template.content.firstElementChild.cloneNode(true);
    node.querySelector("select[name=role]").value = role;
    turns.appendChild(node);
    styleTurn(node);
    dirty = true;
    return node;
  }

  document.getElementById("add-turn").addEventListener("click", () => {
    addTurn(nextRole()).querySelector("textarea").focus();
  });

  turns.addEventListener("click", (event) => {
    if (!event.target.classList.contains("remove-turn")) return;
    event.target.closest("fieldset").remove();
    dirty = true;
    form.dispatchEvent(new Event("input", { bubbles: true }));
  });

  turns.addEventListener("change", (event) => {
    if (event.target.name === "role") styleTurn(event.target.closest("fieldset"));
  });

  // Inline checks: a Fix answer carries the fixed turns; put them into the textareas.
  document.body.addEventListener("htmx:afterSwap", (event) => {
    const data = document.getElementById("fixed-messages");
    if (!data || !event.detail.target || event.detail.target.id !== "findings") return;
    const fixed = JSON.parse(data.textContent);
    data.remove();
    const areas = turns.querySelectorAll("textarea[name=content]");
    fixed.forEach((turn, index) => { if (areas[index]) areas[index].value = turn.content; });
    dirty = true;
  });

  // "Draft answer": the project's model writes the answer after the last user turn (annotation/_draft.html
  // lands in #draft-status and polls itself). Its text streams into that turn, which is read-only until
  // the draft ends; a drafted answer is then checked as typed text is, and its id goes with the next save
  // (the server keeps the draft from its own record, never from this page). A refusal or a failure
  // changes no turn: only the empty answer the draft was asked for is ever written.
  const draftButton = document.getElementById("draft-answer");
  const draftStatus = document.getElementById("draft-status");
  let drafting = null; // the textarea being written, while a draft is in progress

  function draftTarget(turn) {
    let areas = turns.querySelectorAll("textarea[name=content]");
    if (areas.length === turn) {
      addTurn("assistant");
      areas = turns.querySelectorAll("textarea[name=content]");
    }
    return areas[turn] || null;
  }

  function setDrafting(busy) {
    if (!draftButton) return;
    draftButton.disabled = busy;
    draftButton.textContent = busy ? "Drafting…" : "Draft answer";
    draftButton.setAttribute("aria-busy", busy ? "true" : "false");
  }

  function draftEnded() {
    if (drafting) {
      drafting.readOnly = false;
      drafting.removeAttribute("aria-busy");
    }
    drafting = null;
    setDrafting(false);
  }

  function draftLanded(box) {
    const state = box.dataset.state;
    if (state === "refused") { draftEnded(); return; }
    const data = box.querySelector("script[type='application/json']");
    const text = data ? JSON.parse(data.textContent) : "";
    if (!drafting) {
      drafting = draftTarget(parseInt(box.dataset.turn, 10));
      if (drafting) { drafting.readOnly = true; drafting.setAttribute("aria-busy", "true"); }
    }
    const area = drafting;
    if (area && (text || state === "succeeded")) area.value = text;
    if (state === "queued" || state === "running") { setDrafting(true); return; }
    draftEnded();
    if (!area) return;
    if (state === "succeeded") {
      const kept = document.createElement("input");
      kept.type = "hidden";
      kept.name = "draft_generation";
      kept.value = box.dataset.generation;
      form.appendChild(kept);
    }
    if (text || state === "succeeded") {
      dirty = true;
      area.dispatchEvent(new Event("change", { bubbles: true })); // the checks run on the drafted text
    }
  }

  if (draftButton && draftStatus) {
    draftButton.addEventListener("htmx:beforeRequest", () => setDrafting(true));
    document.body.addEventListener("htmx:beforeSwap", (event) => {
      if (event.detail.target !== draftStatus) return;
      const status = event.detail.xhr.status;
      if (status === 400 || status === 409 || status === 429) {
        // A refusal says what to fix (or that a cap was reached): shown, though htmx leaves errors out.
        event.detail.shouldSwap = true;
        event.detail.isError = false;
      } else if (status === 403 || status === 404) {
        event.detail.shouldSwap = false;
        event.detail.isError = false;
        draftStatus.textContent = "This draft can no longer be shown (signed out, or no longer allowed here). Reload the page.";
        draftEnded();
      }
    });
    document.body.addEventListener("htmx:afterSwap", (event) => {
      if (event.detail.target !== draftStatus) return;
      const box = draftStatus.querySelector(".draft");
      if (box) draftLanded(box);
    });
    // The server restarting or the network: a poll is tried again with a short note; a click says so.
    const pollFailed = (event) => {
      const element = event.detail.elt;
      if (!element || (!draftStatus.contains(element) && element !== draftButton)) return;
      if (!element.getAttribute("hx-get")) {
        draftStatus.textContent = "The server did not answer. Try again in a moment.";
        draftEnded();
        return;
      }
      element._failures = (element._failures || 0) + 1;
      const wait = Math.min(10, element._failures * 2);
      let note = element.querySelector(".poll-note");
      if (!note) {
        note = document.createElement("p");
        note.className = "small answer-hint poll-note";
        note.setAttribute("role", "note");
        element.insertBefore(note, element.firstChild);
      }
      note.textContent = "The server did not answer; trying again in " + wait + " s…";
      window.setTimeout(() => {
        if (!document.body.contains(element)) return;
        window.htmx.ajax("GET", element.getAttribute("hx-get"), { source: element, target: draftStatus, swap: "innerHTML" });
      }, wait * 1000);
    };
    document.body.addEventListener("htmx:responseError", pollFailed);
    document.body.addEventListener("htmx:sendError", pollFailed);
  }

  form.addEventListener("input", () => { dirty = true; });
  form.addEventListener("submit", () => { dirty = false; });
  window.addEventListener("beforeunload", (event) => {
    if (dirty) { event.preventDefault(); event.returnValue = ""; }
  });

  document.addEventListener("keydown", (event) => {
    if (!(event.ctrlKey || event.metaKey)) return;
    const action = event.key === "s" ? "save" : event.key === "Enter" ? "submit" : null;
    if (!action) return;
    event.preventDefault();
    form.querySelector(`button[value=${action}]`).click();
  });
})();
