/* Watch page: load the best server, move on to the next one when it does not load in time or
   cannot play, and let the viewer switch servers by hand.

   Two kinds of server. An embed (a provider's player page) goes in a cross-origin iframe,
   which tells us one thing only: its `load` event. It fires when the player page has loaded,
   but also for the browser's own error page (connection refused), so this catches servers that
   hang; servers that are down are kept out of the list on the server side by the health probe
   and circuit breakers. Our own HLS (data-kind="hls") goes in a <video>: played by hls.js
   wherever hls.js runs, by the browser itself only where it does not (iPhones before iOS
   17.1 have no Media Source Extensions; desktop Chromium now claims native HLS too, but hls.js
   gives us the quality menu and its error reports). A <video> says more than an iframe: it has loaded when its
   first frame is decoded, and hls.js reports the errors it could not recover from (a segment
   still failing after its retries); the page then moves to the next server by itself.

   While our HLS is on screen the page offers a quality menu (Auto, or one rung of the ladder)
   and a subtitle menu (Off, or a language; rendered by the browser from the <track>s), both
   remembered per viewer on this device in localStorage.

   #player's data-kind, data-provider and data-provider-origin always describe the server on
   screen, and a "streamsite:source-change" event (bubbling, detail {kind, provider, origin,
   url, reason}) is fired on #player at each switch. When the viewer has watched part of the
   film (data-position, kept by player.js), the next server starts there: an embed through its
   start parameter (data-start-param), a <video> through data-start, which player.js seeks to. */
(function () {
  "use strict";

  var player = document.getElementById("player");
  if (!player) {
    return;
  }
  var HLS_TYPE = "application/vnd.apple.mpegurl";
  var buttons = Array.prototype.slice.call(document.querySelectorAll(".server"));
  var nextButton = document.querySelector("[data-next-server]");
  var statusLine = document.getElementById("player-status");
  var timeoutMs = Math.max(500, parseFloat(player.getAttribute("data-load-timeout")) * 1000 || 8000);
  var frameTemplate = player.querySelector(".player__frame[data-src]");
  var videoTemplate = document.getElementById("player-video");
  var spinner = player.querySelector(".player__loading");
  var viewer = player.getAttribute("data-viewer") || "";
  var screen = null; // the iframe or <video> on screen
  var hls = null; // the hls.js instance playing it, if any
  var current = -1;
  var timer = null;
  var chosenByViewer = false;
  var failed = {};
  var notice = ""; // what the status line is about when it may go away by itself

  if (frameTemplate) {
    frameTemplate.remove(); // copies of it play, one at a time
  }

  function label(index) {
    return buttons[index].textContent.trim();
  }

  function say(message, about) {
    statusLine.textContent = message;
    notice = about || "";
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

  // --- Remembered choices ---------------------------------------------------------------------

  function storageKey(name) {
    return "streamsite.player." + name + (viewer ? "." + viewer : "");
  }

  function remembered(name) {
    try {
      return window.localStorage.getItem(storageKey(name));
    } catch (error) {
      return null;
    }
  }

  function remember(name, value) {
    try {
      window.localStorage.setItem(storageKey(name), value);
    } catch (error) {
      // Storage full or disabled: the choice holds for this page only.
    }
  }

  // --- Menus (WAI-ARIA menu button: a <button> and a role=menu list of menuitemradio) --------

  function menu(name, onChoose) {
    var root = document.querySelector('[data-menu="' + name + '"]');
    if (!root) {
      return null;
    }
    var button = root.querySelector(".menu__button");
    var list = root.querySelector("[role=menu]");
    var value = root.querySelector("[data-menu-value]");

    function items() {
      return Array.prototype.slice.call(list.querySelectorAll("[role=menuitemradio]"));
    }

    function open(where) {
      var all = items();
      var checked = all.filter(function (item) {
        return item.getAttribute("aria-checked") === "true";
      })[0];
      list.hidden = false;
      button.setAttribute("aria-expanded", "true");
      var target = where === "first" ? all[0] : where === "last" ? all[all.length - 1] : checked;
      (target || all[0]).focus();
    }

    function close(refocus) {
      if (list.hidden) {
        return;
      }
      list.hidden = true;
      button.setAttribute("aria-expanded", "false");
      if (refocus) {
        button.focus();
      }
    }

    function move(step) {
      var all = items();
      var at = all.indexOf(document.activeElement);
      all[(at + step + all.length) % all.length].focus();
    }

    function choose(item) {
      close(true);
      onChoose(item.getAttribute("data-value"));
    }

    button.addEventListener("click", function () {
      if (list.hidden) {
        open("checked");
      } else {
        close(false);
      }
    });
    button.addEventListener("keydown", function (event) {
      if (event.key === "ArrowDown" || event.key === "ArrowUp") {
        event.preventDefault();
        open(event.key === "ArrowDown" ? "first" : "last");
      }
    });
    list.addEventListener("keydown", function (event) {
      var all = items();
      if (event.key === "ArrowDown") {
        move(1);
      } else if (event.key === "ArrowUp") {
        move(-1);
      } else if (event.key === "Home") {
        all[0].focus();
      } else if (event.key === "End") {
        all[all.length - 1].focus();
      } else if (event.key === "Escape") {
        close(true);
      } else if (event.key === "Enter" || event.key === " ") {
        if (all.indexOf(document.activeElement) !== -1) {
          choose(document.activeElement);
        }
      } else {
        if (event.key === "Tab") {
          close(false); // and let the focus move on
        }
        return;
      }
      event.preventDefault();
    });
    list.addEventListener("click", function (event) {
      var item = event.target.closest("[role=menuitemradio]");
      if (item) {
        choose(item);
      }
    });
    root.addEventListener("focusout", function (event) {
      if (!root.contains(event.relatedTarget)) {
        close(false);
      }
    });
    document.addEventListener("click", function (event) {
      if (!root.contains(event.target)) {
        close(false);
      }
    });

    return {
      show: function (visible) {
        root.hidden = !visible;
        if (!visible) {
          close(false);
        }
      },
      fill: function (entries) {
        list.textContent = "";
        entries.forEach(function (entry) {
          var item = document.createElement("li");
          item.className = "menu__item";
          item.setAttribute("role", "menuitemradio");
          item.setAttribute("aria-checked", "false");
          item.setAttribute("data-value", entry.value);
          item.tabIndex = -1;
          item.textContent = entry.label;
          list.appendChild(item);
        });
      },
      check: function (checked) {
        items().forEach(function (item) {
          var on = item.getAttribute("data-value") === checked;
          item.setAttribute("aria-checked", on ? "true" : "false");
          if (on) {
            value.textContent = item.textContent;
          }
        });
      },
      say: function (text) {
        value.textContent = text;
      },
    };
  }

  // --- Quality (hls.js levels) ----------------------------------------------------------------

  var quality = menu("quality", chooseQuality);
  var levelNames = [];

  function nameLevels(levels) {
    var heights = {};
    levels.forEach(function (level) {
      heights[level.height] = (heights[level.height] || 0) + 1;
    });
    return levels.map(function (level) {
      var kbps = Math.round(level.bitrate / 1000) + " kb/s";
      if (!level.height) {
        return kbps;
      }
      // Two rungs of one height (rare) are told apart by their bitrate.
      return level.height + "p" + (heights[level.height] > 1 ? " (" + kbps + ")" : "");
    });
  }

  // The rung to use for a remembered height: the tallest no taller (a choice made to save data
  // still holds on a film with another ladder), else the smallest there is.
  function levelFor(levels, height) {
    var best = -1;
    levels.forEach(function (level, index) {
      if (level.height <= height && (best === -1 || level.height > levels[best].height)) {
        best = index;
      }
    });
    if (best === -1) {
      levels.forEach(function (level, index) {
        if (best === -1 || level.height < levels[best].height) {
          best = index;
        }
      });
    }
    return best;
  }

  function setUpQuality(instance) {
    var levels = instance.levels;
    levelNames = nameLevels(levels);
    var order = levels.map(function (level, index) {
      return index;
    }).sort(function (a, b) {
      return levels[b].height - levels[a].height || levels[b].bitrate - levels[a].bitrate;
    });
    quality.fill([{ value: "auto", label: "Auto" }].concat(order.map(function (index) {
      return { value: String(index), label: levelNames[index] };
    })));
    var saved = remembered("quality");
    var chosen = saved && saved !== "auto" ? levelFor(levels, parseInt(saved, 10)) : -1;
    if (chosen !== -1) {
      instance.loadLevel = chosen; // manual from the first segment on
    }
    showQuality(instance);
    quality.show(levels.length > 1);
  }

  // What the button says: the rung chosen, or in Auto the rung Auto is playing.
  function showQuality(instance) {
    if (instance.autoLevelEnabled) {
      quality.check("auto");
      var playing = instance.currentLevel;
      quality.say(playing >= 0 && levelNames[playing] ? "Auto (" + levelNames[playing] + ")" : "Auto");
    } else {
      quality.check(String(instance.manualLevel));
    }
  }

  function chooseQuality(value) {
    if (!hls) {
      return;
    }
    if (value === "auto") {
      hls.loadLevel = -1; // the bandwidth estimate decides again from the next segment
      remember("quality", "auto");
    } else {
      var index = parseInt(value, 10);
      // At the next segment boundary, with what was buffered in the old rung dropped: the
      // picture changes within a segment and playback never stops to rebuffer.
      hls.nextLevel = index;
      remember("quality", String(hls.levels[index].height));
    }
    showQuality(hls);
  }

  // --- Subtitles (the <track>s of our <video>) ------------------------------------------------

  var subtitles = menu("subtitles", chooseSubtitles);

  function tracksOf(video) {
    return Array.prototype.map.call(video.querySelectorAll("track"), function (element) {
      return element.track;
    });
  }

  function showSubtitles(video, language) {
    var shown = "off";
    tracksOf(video).forEach(function (track) {
      var on = shown === "off" && language !== "off" && track.language === language;
      if (!on && language !== "off" && track.mode === "disabled") {
        // While one track is showing, Chromium's automatic selection turns on another as well
        // (when the <video> is new) unless the page has set that one's mode too; setting the
        // mode it already has does not count, so it goes through "hidden" (which fetches it).
        track.mode = "hidden";
      }
      track.mode = on ? "showing" : "disabled";
      if (on) {
        shown = language;
      }
    });
    subtitles.check(shown);
  }

  function chooseSubtitles(value) {
    if (screen && screen.tagName === "VIDEO") {
      showSubtitles(screen, value);
      remember("subtitles", value);
    }
  }

  function setUpSubtitles(video) {
    if (!subtitles) {
      return;
    }
    showSubtitles(video, remembered("subtitles") || "off");
    // The browser's own controls can switch tracks too: the menu follows.
    video.textTracks.addEventListener("change", function () {
      var showing = tracksOf(video).filter(function (track) {
        return track.mode === "showing";
      })[0];
      subtitles.check(showing ? showing.language : "off");
    });
    subtitles.show(true);
  }

  // --- Players ----------------------------------------------------------------------------------

  function loaded(element) {
    if (element !== screen) {
      return;
    }
    window.clearTimeout(timer);
    player.setAttribute("data-state", "playing");
    if (notice === "slow") {
      say("");
    }
  }

  // A fresh iframe per switch: changing `src` would add an entry to the tab's history for
  // every server tried, and a late event from the previous page could be taken for this one.
  function freshFrame(url, index) {
    var next = frameTemplate.cloneNode(false);
    next.removeAttribute("data-src");
    next.title = frameTemplate.title.replace(/Server \d+$/, label(index));
    next.addEventListener("load", function () {
      loaded(next);
    });
    next.src = url;
    return next;
  }

  function freshVideo() {
    var video = videoTemplate.content.firstElementChild.cloneNode(true);
    video.addEventListener("loadeddata", function () {
      loaded(video); // its first frame is decoded
    });
    video.addEventListener("play", function () {
      if (video === screen && notice === "press-play") {
        say("");
      }
    });
    return video;
  }

  // Autoplay, as the embeds do. A browser may refuse it until the viewer has interacted with
  // the site; the controls are there, and the status line says what to do.
  function start(video) {
    var attempt = video.play();
    if (attempt && attempt.catch) {
      attempt.catch(function (error) {
        if (video === screen && error && error.name === "NotAllowedError") {
          say("Press play to start.", "press-play");
        }
      });
    }
  }

  // True once every rung has answered a segment with a client error (404, 403, 410): that
  // segment will not come back however often it is asked for.
  function refusedEverywhere(instance, data, refused) {
    var code = data.response && data.response.code;
    if (data.details !== window.Hls.ErrorDetails.FRAG_LOAD_ERROR || !data.frag ||
        !(code >= 400 && code < 500)) {
      return false;
    }
    var rungs = refused[data.frag.sn] = refused[data.frag.sn] || {};
    rungs[data.frag.level] = true;
    return Object.keys(rungs).length >= instance.levels.length;
  }

  // Returns false when this browser can play HLS neither way.
  function playHls(video, url, startAt) {
    var Hls = window.Hls;
    if (Hls && Hls.isSupported()) {
      // hls.js's transmuxer runs in its own Web Worker (a blob: URL, allowed on this page
      // only), so segments are remuxed off the thread that runs the page and its menus.
      // Loading starts once the rung is chosen (a remembered one from the first segment on).
      var instance = new Hls({ autoStartLoad: false });
      var mediaRecoveries = 0;
      var refused = {}; // segment number → the rungs that answered 4xx for it
      hls = instance;
      instance.on(Hls.Events.MANIFEST_PARSED, function () {
        if (instance === hls) {
          setUpQuality(instance);
          instance.startLoad(startAt > 0 ? startAt : -1);
          start(video);
        }
      });
      instance.on(Hls.Events.LEVEL_SWITCHED, function () {
        if (instance === hls) {
          showQuality(instance);
        }
      });
      instance.on(Hls.Events.ERROR, function (event, data) {
        if (instance !== hls) {
          return;
        }
        if (!data.fatal && refusedEverywhere(instance, data, refused)) {
          // Gone, or a link no longer valid, in every rung: hls.js would go on asking for
          // half a minute (its retries are for outages) while the buffer runs dry.
          cannotPlay(video);
          return;
        }
        if (!data.fatal) {
          return; // hls.js retries and switches rungs by itself for the others
        }
        if (data.type === Hls.ErrorTypes.MEDIA_ERROR && mediaRecoveries < 1) {
          mediaRecoveries += 1; // a decoder hiccup: hls.js's documented recovery, once
          instance.recoverMediaError();
          return;
        }
        cannotPlay(video);
      });
      instance.loadSource(url);
      instance.attachMedia(video);
      return true;
    }
    if (video.canPlayType(HLS_TYPE)) {
      video.addEventListener("error", function () {
        cannotPlay(video);
      });
      video.src = url;
      start(video);
      return true;
    }
    return false;
  }

  function teardown() {
    if (hls) {
      hls.destroy(); // stops loading and detaches the <video>
      hls = null;
    }
    if (screen && screen.tagName === "VIDEO") {
      screen.pause();
      screen.removeAttribute("src");
      screen.load(); // aborts whatever the browser was still fetching
    }
    if (screen) {
      screen.remove();
      screen = null;
    }
    if (quality) {
      quality.show(false);
    }
    if (subtitles) {
      subtitles.show(false);
    }
  }

  // An embed URL starting where the viewer is, through the provider's own parameter.
  function startingAt(button, url, seconds) {
    var param = button.getAttribute("data-start-param");
    if (!param || !(seconds >= 1)) {
      return url;
    }
    try {
      var parsed = new URL(url);
      parsed.searchParams.set(param, String(Math.floor(seconds)));
      return parsed.href;
    } catch (error) {
      return url;
    }
  }

  function show(index, reason) {
    var button = buttons[index];
    var kind = button.getAttribute("data-kind") || "embed";
    var url = button.getAttribute("data-url");
    var position = parseFloat(player.getAttribute("data-position"));
    teardown();
    current = index;
    chosenByViewer = reason === "viewer";
    buttons.forEach(function (other, i) {
      other.setAttribute("aria-pressed", i === index ? "true" : "false");
    });
    player.setAttribute("data-kind", kind);
    player.setAttribute("data-provider", button.getAttribute("data-provider"));
    player.setAttribute("data-provider-origin", button.getAttribute("data-origin"));
    player.setAttribute("data-state", "loading");

    var video = null;
    if (kind === "hls") {
      if (position >= 1) {
        player.setAttribute("data-start", String(Math.floor(position)));
      }
      video = freshVideo();
      screen = video;
    } else {
      url = startingAt(button, url, position);
      screen = freshFrame(url, index);
    }
    player.insertBefore(screen, spinner);

    window.clearTimeout(timer);
    timer = window.setTimeout(onTimeout, timeoutMs);
    player.dispatchEvent(
      new CustomEvent("streamsite:source-change", {
        bubbles: true,
        detail: {
          kind: kind,
          provider: button.getAttribute("data-provider"),
          origin: button.getAttribute("data-origin"),
          url: url,
          reason: reason,
        },
      })
    );

    if (video) {
      setUpSubtitles(video);
      var startAt = parseFloat(player.getAttribute("data-start")) || 0;
      if (!playHls(video, url, startAt)) {
        cannotPlay(video);
      }
    }
  }

  // The server on screen failed for good (not merely slow): move on whoever chose it.
  function cannotPlay(element) {
    if (element !== screen) {
      return;
    }
    window.clearTimeout(timer);
    failed[current] = true;
    var next = nextUntried(current);
    if (next === -1) {
      player.setAttribute("data-state", "failed");
      say(
        label(current) + " could not play the film" +
          (buttons.length > 1 ? ", and no other server answered. Pick one to try again, or come back later." : ". Come back later.")
      );
      return;
    }
    say(label(current) + " could not play the film; switched to " + label(next) + ".");
    show(next, "error");
  }

  function onTimeout() {
    failed[current] = true;
    if (chosenByViewer) {
      // The viewer picked this server: keep it, but say what is going on.
      say(label(current) + " is slow to answer. Wait, or try another server.", "slow");
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
