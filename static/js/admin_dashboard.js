/* The admin dashboard's tiles, kept live: every 10 seconds while the page is visible, the
   figures are read again from /admin/dashboard.json and put in place. */
(function () {
  "use strict";

  var board = document.querySelector("[data-dashboard-url]");
  if (!board || !window.fetch) {
    return;
  }
  var url = board.getAttribute("data-dashboard-url");
  var updated = board.querySelector("[data-dashboard-updated]");
  var PERIOD = 10000;

  function apply(tiles) {
    tiles.forEach(function (tile) {
      var element = board.querySelector('[data-tile="' + tile.key + '"]');
      if (!element) {
        return;
      }
      element.querySelector("[data-tile-value]").textContent = tile.value;
      element.querySelector("[data-tile-detail]").textContent = tile.detail;
      element.className = element.className.replace(/\bss-tile--\w+/, "ss-tile--" + tile.state);
    });
    updated.textContent = "updated " + new Date().toLocaleTimeString();
  }

  function refresh() {
    if (document.hidden) {
      return;
    }
    window
      .fetch(url, { credentials: "same-origin", headers: { Accept: "application/json" } })
      .then(function (response) {
        if (!response.ok) {
          throw new Error("HTTP " + response.status);
        }
        return response.json();
      })
      .then(function (body) {
        apply(body.tiles);
      })
      .catch(function () {
        updated.textContent = "not updating (the last try failed)";
      });
  }

  window.setInterval(refresh, PERIOD);
  document.addEventListener("visibilitychange", refresh);
})();
