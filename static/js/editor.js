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

  document.getElementById("add-turn").addEventListener("click", () => {
    const node = template.content.firstElementChild.cloneNode(true);
    node.querySelector("select[name=role]").value = nextRole();
    turns.appendChild(node);
    styleTurn(node);
    node.querySelector("textarea").focus();
    dirty = true;
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
