/* "My list" buttons: each is a form that works on its own (a post, then back to the page);
   here it calls PUT or DELETE /api/me/list/<id> instead and flips in place, keeping the
   viewer where they are. If the call fails the form is sent the ordinary way. */
(function () {
  "use strict";

  var live = null; // the live region, made on first use so pages carry no empty one

  function announce(message) {
    if (!live) {
      live = document.createElement("p");
      live.className = "visually-hidden";
      live.setAttribute("role", "status");
      live.setAttribute("aria-live", "polite");
      document.body.appendChild(live);
    }
    // A moment after the region exists, so screen readers notice the change.
    window.setTimeout(function () {
      live.textContent = message;
    }, 50);
  }

  function render(form, onList) {
    var title = form.getAttribute("data-title");
    var button = form.querySelector("button");
    form.querySelector("input[name=action]").value = onList ? "remove" : "add";
    button.classList.toggle("is-on", onList);
    button.setAttribute(
      "aria-label",
      onList ? "Remove " + title + " from My list" : "Add " + title + " to My list"
    );
  }

  document.addEventListener("submit", function (event) {
    var form = event.target;
    if (!form.matches || !form.matches("form[data-my-list]") || form.dataset.sending) {
      return;
    }
    event.preventDefault();
    var adding = form.querySelector("input[name=action]").value === "add";
    var button = form.querySelector("button");
    form.dataset.sending = "1";
    button.setAttribute("aria-busy", "true");
    window
      .fetch(form.getAttribute("data-api-url"), {
        method: adding ? "PUT" : "DELETE",
        credentials: "same-origin",
        headers: {
          Accept: "application/json",
          "X-CSRFToken": form.querySelector("input[name=csrfmiddlewaretoken]").value,
        },
      })
      .then(function (response) {
        if (!response.ok) {
          throw new Error("HTTP " + response.status);
        }
        var title = form.getAttribute("data-title");
        // Every button for this film on the page (a card in two rows) tells the same.
        var url = form.getAttribute("data-api-url");
        Array.prototype.forEach.call(document.querySelectorAll("form[data-my-list]"), function (other) {
          if (other.getAttribute("data-api-url") === url) {
            render(other, adding);
          }
        });
        announce(adding ? title + " added to My list" : title + " removed from My list");
        delete form.dataset.sending;
        button.removeAttribute("aria-busy");
      })
      .catch(function () {
        form.submit(); // the ordinary way: the page view does the same and comes back here
      });
  });
})();
