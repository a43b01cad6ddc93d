/* Irreversible actions (core/templates/_macros.html confirm_action): each <details
   data-confirm> becomes a button that opens its form in a native modal <dialog>. The
   dialog's own button is the confirmation, so its check box is ticked and hidden; the
   server still refuses a form without confirm=yes. Without <dialog> support, or without
   JavaScript, the <details> stays as it is and the check box is asked for. */
(function () {
  "use strict";

  function upgrade(details) {
    var summary = details.querySelector("summary");
    var form = details.querySelector("form");
    if (!summary || !form) { return; }
    var dialog = document.createElement("dialog");
    dialog.className = "confirm-dialog";
    var title = form.querySelector(".confirm-title");
    if (title) {
      title.id = title.id || "confirm-title-" + Math.random().toString(36).slice(2);
      dialog.setAttribute("aria-labelledby", title.id);
    }
    var button = document.createElement("button");
    button.type = "button";
    button.className = summary.className;
    button.textContent = summary.textContent;
    if (summary.dataset.action) { button.dataset.action = summary.dataset.action; }
    button.setAttribute("aria-haspopup", "dialog");

    var check = form.querySelector("input[name=confirm]");
    if (check) {
      check.checked = true;
      var label = check.closest("label");
      if (label) { label.hidden = true; }
    }
    var cancel = form.querySelector(".confirm-cancel");
    if (cancel) {
      cancel.hidden = false;
      cancel.addEventListener("click", function () { dialog.close(); });
    }
    dialog.appendChild(form);
    var holder = document.createElement("span");
    holder.className = "confirm";
    holder.appendChild(button);
    holder.appendChild(dialog);
    details.replaceWith(holder);
    button.addEventListener("click", function () { dialog.showModal(); });
    // A click on the backdrop (outside the form) closes the dialog like Cancel.
    dialog.addEventListener("click", function (event) {
      if (event.target === dialog) { dialog.close(); }
    });
    if (details.open) { dialog.showModal(); }
  }

  function init() {
    if (typeof HTMLDialogElement !== "function") { return; }
    var all = document.querySelectorAll("details[data-confirm]");
    for (var i = 0; i < all.length; i++) { upgrade(all[i]); }
  }

  if (document.readyState === "loading") {
    document.addEventListener("DOMContentLoaded", init);
  } else {
    init();
  }
}());
