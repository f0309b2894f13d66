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
  var helpBox = player.querySelector(".player__help");
  var helpButton = helpBox.querySelector("[data-try-server]");
  var failedBox = player.querySelector(".player__failed");
  var failedReason = failedBox.querySelector("[data-failed-reason]");
  var retryButton = failedBox.querySelector("[data-retry]");
  var defaultTimeout = parseFloat(player.getAttribute("data-load-timeout")) || 8;
  var frameTemplate = player.querySelector(".player__frame[data-src]");
  var videoTemplate = document.getElementById("player-video");
  var spinner = player.querySelector(".player__loading");
  var viewer = player.getAttribute("data-viewer") || "";
  var movieId = player.getAttribute("data-movie-id") || "";
  var sessionId = player.getAttribute("data-session-id") || "";
  var screen = null; // the iframe or <video> on screen
  var hls = null; // the hls.js instance playing it, if any
  var current = -1;
  var timer = null;
  var noticeTimer = null;
  var chosenByViewer = false;
  var proven = false; // the player on screen has proved it plays
  var failed = {};
  var notice = ""; // what the status line is about when it may go away by itself
  var offered = -1; // the server the in-player help button switches to

  if (frameTemplate) {
    frameTemplate.remove(); // copies of it play, one at a time
  }

  function label(index) {
    return buttons[index].textContent.trim();
  }

  function kindOf(index) {
    return buttons[index].getAttribute("data-kind") || "embed";
  }

  // Inside the player, where the viewer is looking: never below the fold.
  function say(message, about) {
    window.clearTimeout(noticeTimer);
    statusLine.textContent = message;
    notice = about || "";
  }

  function sayForAWhile(message, seconds) {
    say(message, "passing");
    noticeTimer = window.setTimeout(function () {
      if (notice === "passing") {
        say("");
      }
    }, seconds * 1000);
  }

  // The next server to try: our own HLS first while it has not failed (it plays whatever
  // the providers do), then the others in the order of the buttons.
  function nextUntried(from) {
    for (var index = 0; index < buttons.length; index += 1) {
      if (index !== from && !failed[index] && kindOf(index) === "hls") {
        return index;
      }
    }
    for (var step = 1; step < buttons.length; step += 1) {
      var other = (from + step) % buttons.length;
      if (!failed[other]) {
        return other;
      }
    }
    return -1;
  }

  function timeoutOf(index) {
    var seconds = parseFloat(buttons[index].getAttribute("data-timeout"));
    return Math.max(500, (seconds > 0 ? seconds : defaultTimeout) * 1000);
  }

  function emit(name, detail) {
    player.dispatchEvent(new CustomEvent(name, { bubbles: true, detail: detail }));
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

  // --- Playback info (what hls.js sees of the network and the buffer, live) --------------------

  var info = playbackInfo();

  function bufferAhead(video) {
    var now = video.currentTime;
    for (var i = 0; i < video.buffered.length; i += 1) {
      if (video.buffered.start(i) <= now + 0.1 && video.buffered.end(i) >= now) {
        return video.buffered.end(i) - now;
      }
    }
    return 0;
  }

  function bitrate(bitsPerSecond) {
    return bitsPerSecond >= 1e6
      ? (bitsPerSecond / 1e6).toFixed(1) + " Mb/s"
      : Math.round(bitsPerSecond / 1e3) + " kb/s";
  }

  // A disclosure: a button, and a panel over the picture, read again every second while open.
  function playbackInfo() {
    var toggle = document.getElementById("info-button");
    var panel = document.getElementById("playback-info");
    if (!toggle || !panel) {
      return null;
    }
    var fields = {};
    Array.prototype.forEach.call(panel.querySelectorAll("[data-info]"), function (field) {
      fields[field.getAttribute("data-info")] = field;
    });
    var ticker = null;

    function render() {
      var video = screen && screen.tagName === "VIDEO" ? screen : null;
      if (!video) {
        return;
      }
      var level = hls && hls.currentLevel >= 0 ? hls.currentLevel : -1;
      fields.rung.textContent = level === -1 ? "—"
        : levelNames[level] + (hls.autoLevelEnabled ? " (Auto)" : " (chosen)");
      fields.resolution.textContent = video.videoWidth
        ? video.videoWidth + " × " + video.videoHeight : "—";
      fields.bandwidth.textContent = hls && hls.bandwidthEstimate > 0
        ? bitrate(hls.bandwidthEstimate) : "—";
      fields.buffer.textContent = bufferAhead(video).toFixed(1) + " s";
      var counts = video.getVideoPlaybackQuality ? video.getVideoPlaybackQuality() : null;
      fields.dropped.textContent = counts
        ? counts.droppedVideoFrames + " of " + counts.totalVideoFrames : "—";
    }

    function open(on) {
      panel.hidden = !on;
      toggle.setAttribute("aria-expanded", on ? "true" : "false");
      window.clearInterval(ticker);
      if (on) {
        render();
        ticker = window.setInterval(render, 1000);
      }
    }

    toggle.addEventListener("click", function () {
      open(panel.hidden);
    });
    panel.addEventListener("keydown", function (event) {
      if (event.key === "Escape") {
        open(false);
        toggle.focus();
      }
    });
    panel.querySelector("[data-close]").addEventListener("click", function () {
      open(false);
      toggle.focus();
    });

    return {
      show: function (visible) {
        toggle.hidden = !visible;
        if (!visible) {
          open(false);
        }
      },
    };
  }

  // --- Players ----------------------------------------------------------------------------------
  // A player counts as playing only once it proves it: our <video> when its first frame is
  // decoded; an embed when its provider posts its ready message (data-ready-message: VidKing's
  // first PLAYER_EVENT), since the iframe's `load` fires for the browser's own error page too.
  // An embed whose provider posts nothing is trusted on `load`, with a "Not playing?" button
  // kept in the player. Without proof in the server's time (data-timeout), the page asks the
  // server to probe that provider and moves on by itself, saying so inside the player.

  // The in-player button: "Not playing? Try Server 2", or "Try Server 2" while one is slow.
  function offer(index, text) {
    offered = index;
    helpBox.hidden = index === -1;
    if (index !== -1) {
      helpButton.textContent = text + label(index);
    }
  }

  function proved(element) {
    if (element !== screen || proven) {
      return;
    }
    proven = true;
    window.clearTimeout(timer);
    player.setAttribute("data-state", "playing");
    if (notice === "switching") {
      sayForAWhile(statusLine.textContent.replace(/, trying .*$/, "; now playing " + label(current) + "."), 10);
    } else if (notice === "slow") {
      say("");
    }
    var trusted = kindOf(current) !== "hls" && !buttons[current].getAttribute("data-ready-message");
    offer(trusted ? nextUntried(current) : -1, "Not playing? Try ");
    emit("streamsite:playing", { kind: kindOf(current), provider: buttons[current].getAttribute("data-provider") });
  }

  // A provider's ready message: the "type" of its object (or of the JSON string of one), or
  // the whole message when it is a plain string.
  function isReadyMessage(data, expected) {
    if (typeof data === "string") {
      if (data === expected) {
        return true;
      }
      try {
        data = JSON.parse(data);
      } catch (error) {
        return false;
      }
    }
    return !!data && typeof data === "object" && data.type === expected;
  }

  window.addEventListener("message", function (message) {
    if (!screen || screen.tagName !== "IFRAME" || message.source !== screen.contentWindow ||
        message.origin !== buttons[current].getAttribute("data-origin")) {
      return; // only the player on screen can prove anything
    }
    var expected = buttons[current].getAttribute("data-ready-message");
    if (expected && isReadyMessage(message.data, expected)) {
      proved(screen);
    }
  });

  // A fresh iframe per switch: changing `src` would add an entry to the tab's history for
  // every server tried, and a late event from the previous page could be taken for this one.
  function freshFrame(url, index) {
    var next = frameTemplate.cloneNode(false);
    next.removeAttribute("data-src");
    next.title = frameTemplate.title.replace(/Server \d+$/, label(index));
    next.addEventListener("load", function () {
      if (!buttons[index].getAttribute("data-ready-message")) {
        proved(next); // the provider posts nothing: its page load is all there is to go on
      }
    });
    next.src = url;
    return next;
  }

  function freshVideo() {
    var video = videoTemplate.content.firstElementChild.cloneNode(true);
    video.addEventListener("loadeddata", function () {
      proved(video); // its first frame is decoded
    });
    video.addEventListener("play", function () {
      if (video === screen && notice === "press-play") {
        say("");
      }
    });
    return video;
  }

  // Autoplay, as the embeds do. A browser may refuse it until the viewer has interacted with
  // the site; the controls are there, and the player says what to do.
  function start(video) {
    var attempt = video.play();
    if (attempt && attempt.catch) {
      attempt.catch(function (error) {
        if (video === screen && error && error.name === "NotAllowedError") {
          video.setAttribute("data-autoplay", "refused"); // start-up is timed from the viewer's play
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

  // hls.js's options: Common Media Client Data (CTA-5004) on every request, as query
  // arguments (headers would need a CORS preflight from a CDN): this viewing session as sid
  // (hls.js draws one for viewers who are not signed in), the movie as cid. nginx logs them
  // and leaves them out of every cache key (deploy/nginx).
  function hlsConfig() {
    var cmcd = { contentId: movieId, useHeaders: false };
    if (sessionId) {
      cmcd.sessionId = sessionId;
    }
    return { autoStartLoad: false, cmcd: cmcd };
  }

  // Returns false when this browser can play HLS neither way.
  function playHls(video, url, startAt) {
    var Hls = window.Hls;
    if (Hls && Hls.isSupported()) {
      // hls.js's transmuxer runs in its own Web Worker (a blob: URL, allowed on this page
      // only), so segments are remuxed off the thread that runs the page and its menus.
      // Loading starts once the rung is chosen (a remembered one from the first segment on).
      var instance = new Hls(hlsConfig());
      var mediaRecoveries = 0;
      var refused = {}; // segment number → the rungs that answered 4xx for it
      hls = instance;
      // For what watches playback (static/js/qoe.js, the playback info panel): before any
      // event of this instance can fire.
      emit("streamsite:hls", { hls: instance, video: video });
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
          cannotPlay(video, "refused_everywhere");
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
        cannotPlay(video, null); // hls.js's own error event says which
      });
      instance.loadSource(url);
      instance.attachMedia(video);
      return true;
    }
    if (video.canPlayType(HLS_TYPE)) {
      emit("streamsite:hls", { hls: null, video: video });
      video.addEventListener("error", function () {
        cannotPlay(video, "media_error");
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
    if (info) {
      info.show(false);
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
    var kind = kindOf(index);
    var url = button.getAttribute("data-url");
    var position = parseFloat(player.getAttribute("data-position"));
    teardown();
    current = index;
    proven = false;
    chosenByViewer = reason === "viewer";
    failedBox.hidden = true;
    offer(-1);
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
    timer = window.setTimeout(onTimeout, timeoutOf(index));
    emit("streamsite:source-change", {
      kind: kind,
      provider: button.getAttribute("data-provider"),
      origin: button.getAttribute("data-origin"),
      url: url,
      reason: reason,
    });

    if (video) {
      setUpSubtitles(video);
      if (info) {
        info.show(true);
      }
      var startAt = parseFloat(player.getAttribute("data-start")) || 0;
      if (!playHls(video, url, startAt)) {
        cannotPlay(video, "not_supported");
      }
    }
  }

  // Every server failed: the player itself says so, with a button to start again.
  function giveUp(reason) {
    window.clearTimeout(timer);
    teardown();
    offer(-1);
    say("");
    player.setAttribute("data-state", "failed");
    failedReason.textContent = reason +
      (buttons.length > 1 ? " No other server could play it either." : "") +
      " Try again, or come back later.";
    failedBox.hidden = false;
  }

  // A provider's player gave no proof in time, or failed after: the server probes it now
  // (at most once every few seconds however many viewers say so; a report alone never counts
  // against the provider).
  function reportFailure(index, reason) {
    var url = buttons[index].getAttribute("data-report-url");
    if (!url || !window.fetch) {
      return;
    }
    window.fetch(url, {
      method: "POST",
      credentials: "omit",
      keepalive: true,
      headers: { "Content-Type": "application/json" },
      body: JSON.stringify({ reason: reason }),
    }).catch(function () {
      // Offline: the server's own probe finds out soon enough.
    });
  }

  function moveOn(from, why, cause) {
    failed[from] = true;
    var next = nextUntried(from);
    if (next === -1) {
      giveUp(why + ".");
      return;
    }
    say(why + ", trying " + label(next) + "…", "switching");
    show(next, cause);
  }

  // The server on screen failed for good (not merely slow): move on whoever chose it.
  // `code` is the watch page's own error code, null when hls.js's error event said it.
  function cannotPlay(element, code) {
    if (element !== screen) {
      return;
    }
    window.clearTimeout(timer);
    if (code) {
      emit("streamsite:playback-error", { code: code, fatal: true });
    }
    moveOn(current, label(current) + " could not play the film", "error");
  }

  function onTimeout() {
    var index = current;
    reportFailure(index, "no_answer");
    emit("streamsite:playback-error", { code: "no_answer", fatal: true });
    failed[index] = true;
    if (chosenByViewer) {
      // The viewer picked this server: keep it, but say what is going on and offer another.
      say(label(index) + " is slow to answer. Wait, or try another server.", "slow");
      offer(nextUntried(index), "Try ");
      return;
    }
    moveOn(index, label(index) + " did not answer", "timeout");
  }

  buttons.forEach(function (button, index) {
    button.addEventListener("click", function () {
      failed[index] = false;
      say("");
      show(index, "viewer");
    });
  });

  helpButton.addEventListener("click", function () {
    if (offered === -1) {
      return;
    }
    failed[current] = true;
    var index = offered;
    failed[index] = false;
    say("");
    show(index, "viewer");
  });

  retryButton.addEventListener("click", function () {
    failed = {};
    say("");
    show(nextUntried(-1), "retry");
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
