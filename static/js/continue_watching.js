/* "Continue watching" row: the remove button takes a film out of the row through
   DELETE /api/streaming/progress/<id>. Without JavaScript the buttons stay hidden. */
(function () {
  "use strict";

  var row = document.querySelector("[data-continue-watching]");
  if (!row) {
    return;
  }
  var token = row.getAttribute("data-csrf-token") || "";

  function remove(button) {
    var item = button.closest("li");
    button.disabled = true;
    window.fetch(button.getAttribute("data-remove-url"), {
      method: "DELETE",
      credentials: "same-origin",
      headers: { "X-CSRFToken": token },
    }).then(function (response) {
      if (!response.ok) {
        throw new Error("HTTP " + response.status);
      }
      // Keep keyboard focus in the row: the next film, else the previous, else the heading.
      var neighbour = item.nextElementSibling || item.previousElementSibling;
      item.remove();
      if (neighbour) {
        neighbour.querySelector("a").focus();
      } else {
        row.remove();
        var rows = document.querySelector(".rows");
        if (rows) {
          rows.setAttribute("tabindex", "-1");
          rows.focus();
        }
      }
    }).catch(function () {
      button.disabled = false;
    });
  }

  Array.prototype.forEach.call(row.querySelectorAll(".continue__remove"), function (button) {
    button.hidden = false;
    button.addEventListener("click", function () {
      remove(button);
    });
  });
})();
