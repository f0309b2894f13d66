/* Watch page: load the best server, move on to the next one when it does not load in time,
   and let the viewer switch servers by hand.

   A cross-origin iframe tells us one thing only: its `load` event. It fires when the player
   page has loaded, but also for the browser's own error page (connection refused), so this
   catches servers that hang; servers that are down are kept out of the list on the server side
   by the health probe and circuit breakers.

   #player's data-provider and data-provider-origin always describe the server on screen, and
   a "streamsite:source-change" event (bubbling, detail {provider, origin, url, reason}) is
   fired on #player at each switch, for scripts that listen to the player's postMessage events. */
(function () {
  "use strict";

  var player = document.getElementById("player");
  if (!player) {
    return;
  }
  var buttons = Array.prototype.slice.call(document.querySelectorAll(".server"));
  var nextButton = document.querySelector("[data-next-server]");
  var statusLine = document.getElementById("player-status");
  var timeoutMs = Math.max(500, parseFloat(player.getAttribute("data-load-timeout")) * 1000 || 8000);
  var template = player.querySelector(".player__frame[data-src]");
  var frame = null;
  var current = -1;
  var timer = null;
  var chosenByViewer = false;
  var failed = {};
  var slowNotice = false; // the status line says the current server is slow

  function label(index) {
    return buttons[index].textContent.trim();
  }

  function say(message, aboutSlowness) {
    statusLine.textContent = message;
    slowNotice = Boolean(aboutSlowness);
  }

  function nextUntried(from) {
    for (var step = 1; step < buttons.length; step += 1) {
      var index = (from + step) % buttons.length;
      if (!failed[index]) {
        return index;
      }
    }
    return -1;
  }

  // A fresh iframe per switch: changing `src` would add an entry to the tab's history for
  // every server tried, and a late event from the previous page could be taken for this one.
  function freshFrame(url, index) {
    var next = template.cloneNode(false);
    next.removeAttribute("data-src");
    next.title = template.title.replace(/Server \d+$/, label(index));
    next.addEventListener("load", function () {
      if (next !== frame) {
        return;
      }
      window.clearTimeout(timer);
      player.setAttribute("data-state", "playing");
      if (slowNotice) {
        say("");
      }
    });
    next.src = url;
    return next;
  }

  function show(index, reason) {
    var button = buttons[index];
    current = index;
    chosenByViewer = reason === "viewer";
    buttons.forEach(function (other, i) {
      other.setAttribute("aria-pressed", i === index ? "true" : "false");
    });
    player.setAttribute("data-provider", button.getAttribute("data-provider"));
    player.setAttribute("data-provider-origin", button.getAttribute("data-origin"));
    player.setAttribute("data-state", "loading");

    var replacement = freshFrame(button.getAttribute("data-url"), index);
    if (frame) {
      frame.replaceWith(replacement);
    } else {
      template.replaceWith(replacement);
    }
    frame = replacement;

    window.clearTimeout(timer);
    timer = window.setTimeout(onTimeout, timeoutMs);
    player.dispatchEvent(
      new CustomEvent("streamsite:source-change", {
        bubbles: true,
        detail: {
          provider: button.getAttribute("data-provider"),
          origin: button.getAttribute("data-origin"),
          url: button.getAttribute("data-url"),
          reason: reason,
        },
      })
    );
  }

  function onTimeout() {
    failed[current] = true;
    if (chosenByViewer) {
      // The viewer picked this server: keep it, but say what is going on.
      say(label(current) + " is slow to answer. Wait, or try another server.", true);
      return;
    }
    var next = nextUntried(current);
    if (next === -1) {
      player.setAttribute("data-state", "failed");
      say("None of the servers answered. Pick one to try again, or come back later.");
      return;
    }
    say(label(current) + " did not answer; switched to " + label(next) + ".");
    show(next, "timeout");
  }

  buttons.forEach(function (button, index) {
    button.addEventListener("click", function () {
      failed[index] = false;
      say("");
      show(index, "viewer");
    });
  });

  if (nextButton) {
    nextButton.addEventListener("click", function () {
      failed[current] = true;
      var next = nextUntried(current);
      if (next === -1) {
        failed = {};
        next = (current + 1) % buttons.length;
      }
      say("");
      show(next, "viewer");
    });
  }

  show(0, "initial");
})();
