/* Admin: follow transcodes live. Every progress bar rendered with a data-progress-url (an
   asset still uploading, probing or transcoding) asks that URL every two seconds and shows
   the answer, until the asset is ready or has failed. No inline script: the CSP forbids it. */
(function () {
  "use strict";

  var INTERVAL_MS = 2000;

  function follow(element) {
    var url = element.getAttribute("data-progress-url");
    var bar = element.querySelector("progress");
    var label = element.querySelector("[data-status]");

    function poll() {
      fetch(url, { credentials: "same-origin", headers: { Accept: "application/json" } })
        .then(function (response) {
          return response.ok ? response.json() : null;
        })
        .then(function (state) {
          if (!state) {
            return;
          }
          bar.value = state.percent;
          label.textContent = state.done
            ? state.label + (state.error ? ": " + state.error.split("\n").pop() : "")
            : state.label + ", " + state.percent + "%";
          if (!state.done) {
            window.setTimeout(poll, INTERVAL_MS);
          }
        })
        .catch(function () {
          window.setTimeout(poll, INTERVAL_MS * 2);
        });
    }

    poll();
  }

  document.addEventListener("DOMContentLoaded", function () {
    document.querySelectorAll(".video-progress[data-progress-url]").forEach(function (element) {
      if (element.getAttribute("data-progress-url")) {
        follow(element);
      }
    });
  });
})();
