/* Playback quality (QoE): what CMCD on the segment requests cannot tell the server. Start-up
   time, stalls, time at each rung, rung switches, the bandwidth estimate and errors, per source,
   reported to the viewing session (POST data-qoe-url; server: progress/qoe.py).

   Fed by watch.js through events on #player: "streamsite:source-change" (a source is chosen;
   start-up is timed from here), "streamsite:hls" (the <video> and its hls.js instance, before
   either plays), "streamsite:playing" (an embed proved it plays: its start-up) and
   "streamsite:playback-error" (the page's own errors: a server that never answered).

   Reports carry what changed since the last one, so the server adds them up: every 30 s, when
   the source changes, and with navigator.sendBeacon when the page is hidden. They go to the
   viewing session player.js starts (data-session-started), authenticated as heartbeats are:
   the playback token (in the body for the beacon, which cannot send headers) or the session
   cookie with the CSRF token. Viewers who are not signed in have no session: nothing is sent. */
(function () {
  "use strict";

  var REPORT_MS = 30000;
  var MAX_ERRORS = 32; // the server's bound per report

  var root = document.getElementById("player");
  var chosenUrl = root && root.getAttribute("data-qoe-url");
  if (!chosenUrl) {
    return;
  }
  var chosenId = root.getAttribute("data-session-id") || "";
  var token = root.getAttribute("data-progress-token") || "";

  var pending = {}; // source → what changed since its last report
  var now = function () {
    return window.performance.now();
  };
  var playback = null; // the source on screen: {source, chosenAt, started, stallAt, ...}

  function csrfToken() {
    var cookie = document.cookie.match(/(?:^|;\s*)csrftoken=([^;]+)/);
    return root.getAttribute("data-csrf-token") || (cookie && decodeURIComponent(cookie[1])) || "";
  }

  function blank(source) {
    return {
      source: source, startup_ms: null, stalls: 0, stalled_ms: 0, played_ms: {},
      switches_up: 0, switches_down: 0, bandwidth_kbps: null, errors: [], changed: false,
    };
  }

  function entry(source) {
    return pending[source] || (pending[source] = blank(source));
  }

  function note(source, change) {
    var item = entry(source);
    change(item);
    item.changed = true;
  }

  function error(source, code, fatal) {
    note(source, function (item) {
      if (item.errors.length < MAX_ERRORS) {
        item.errors.push({ code: String(code || "otherError").slice(0, 64), fatal: !!fatal });
      }
    });
    if (fatal) {
      // Worth reporting even if nothing ever plays: the viewer did press play.
      root.dispatchEvent(new CustomEvent("streamsite:start-session", { bubbles: true }));
    }
  }

  // --- Measuring the source on screen ---------------------------------------------------------

  function endStall(at) {
    if (playback && playback.stallAt !== null) {
      var stalledFor = at - playback.stallAt;
      playback.stallAt = null;
      note(playback.source, function (item) {
        item.stalled_ms += stalledFor;
      });
    }
  }

  function started(at) {
    if (!playback || playback.started) {
      return;
    }
    playback.started = true;
    var startup = at - playback.chosenAt;
    note(playback.source, function (item) {
      item.startup_ms = Math.max(0, Math.round(startup));
    });
  }

  function heightNow(state) {
    var hls = state.hls;
    if (hls && hls.currentLevel >= 0 && hls.levels[hls.currentLevel]) {
      return hls.levels[hls.currentLevel].height || 0;
    }
    return hls ? 0 : state.video.videoHeight || 0;
  }

  function watchVideo(state) {
    var video = state.video;
    function mine() {
      return playback === state;
    }
    video.addEventListener("play", function () {
      if (mine() && !state.started && video.getAttribute("data-autoplay") === "refused") {
        state.chosenAt = now(); // the browser waited for the viewer: time from their press
      }
    });
    video.addEventListener("playing", function () {
      if (!mine()) {
        return;
      }
      started(now());
      endStall(now());
      state.lastTime = video.currentTime;
    });
    video.addEventListener("waiting", function () {
      // The buffer ran dry while playing: a stall (a seek's wait is no stall).
      if (mine() && state.started && !video.seeking && !video.paused && state.stallAt === null) {
        state.stallAt = now();
        note(state.source, function (item) {
          item.stalls += 1;
        });
      }
    });
    ["pause", "seeking", "ended"].forEach(function (name) {
      video.addEventListener(name, function () {
        if (mine()) {
          endStall(now());
        }
      });
    });
    video.addEventListener("seeked", function () {
      if (mine()) {
        state.lastTime = video.currentTime;
      }
    });
    // Media time played, at the rung playing: jumps (seeks) are not played time.
    video.addEventListener("timeupdate", function () {
      if (!mine() || !state.started || video.paused || video.seeking) {
        return;
      }
      var step = video.currentTime - state.lastTime;
      state.lastTime = video.currentTime;
      if (step > 0 && step < 2) {
        var height = String(heightNow(state));
        note(state.source, function (item) {
          item.played_ms[height] = (item.played_ms[height] || 0) + step * 1000;
        });
      }
    });
  }

  function watchHls(state) {
    var hls = state.hls;
    var Hls = window.Hls;
    var previous = null;
    hls.on(Hls.Events.LEVEL_SWITCHED, function (event, data) {
      var level = hls.levels[data.level];
      if (playback !== state || !level) {
        return;
      }
      if (previous) {
        var up = level.height > previous.height ||
          (level.height === previous.height && level.bitrate > previous.bitrate);
        var same = level.height === previous.height && level.bitrate === previous.bitrate;
        if (!same) {
          note(state.source, function (item) {
            item[up ? "switches_up" : "switches_down"] += 1;
          });
        }
      }
      previous = level;
    });
    hls.on(Hls.Events.ERROR, function (event, data) {
      if (playback === state) {
        error(state.source, data.details, data.fatal);
      }
    });
  }

  root.addEventListener("streamsite:source-change", function (event) {
    if (playback) {
      endStall(now());
    }
    var previous = playback && playback.source;
    playback = {
      source: event.detail.provider, chosenAt: now(), started: false, stallAt: null,
      lastTime: 0, video: null, hls: null,
    };
    entry(playback.source);
    if (previous) {
      report(false); // what the last source did, while its figures are fresh
    }
  });

  root.addEventListener("streamsite:hls", function (event) {
    if (!playback) {
      return;
    }
    playback.video = event.detail.video;
    playback.hls = event.detail.hls;
    watchVideo(playback);
    if (playback.hls) {
      watchHls(playback);
    }
  });

  root.addEventListener("streamsite:playing", function () {
    if (playback && !playback.video) {
      started(now()); // an embed proved it plays
    }
  });

  root.addEventListener("streamsite:playback-error", function (event) {
    if (playback) {
      error(playback.source, event.detail.code, event.detail.fatal);
    }
  });

  // --- Reporting ------------------------------------------------------------------------------

  function sessionUrl() {
    var id = root.getAttribute("data-session-started");
    // The server keeps the id the page chose unless it was taken: then it names another.
    return id ? chosenUrl.replace(chosenId, id) : null;
  }

  var sentBandwidth = {}; // source → the estimate its last report carried

  function take() {
    var bodies = [];
    Object.keys(pending).forEach(function (source) {
      var item = pending[source];
      if (playback && playback.source === source && playback.hls &&
          playback.hls.bandwidthEstimate > 0) {
        var kbps = Math.round(playback.hls.bandwidthEstimate / 1000);
        if (kbps !== sentBandwidth[source]) { // a new estimate alone is worth a report
          item.bandwidth_kbps = kbps;
          item.changed = true;
        }
      }
      if (!item.changed) {
        return;
      }
      var body = { source: source, client_ts: Date.now() };
      ["stalls", "switches_up", "switches_down"].forEach(function (name) {
        if (item[name]) {
          body[name] = item[name];
        }
      });
      if (item.stalled_ms) {
        body.stalled_ms = Math.round(item.stalled_ms);
      }
      if (item.startup_ms !== null) {
        body.startup_ms = item.startup_ms;
      }
      if (item.bandwidth_kbps !== null) {
        body.bandwidth_kbps = item.bandwidth_kbps;
        sentBandwidth[source] = item.bandwidth_kbps;
      }
      var played = {};
      Object.keys(item.played_ms).forEach(function (height) {
        var ms = Math.round(item.played_ms[height]);
        if (ms > 0) {
          played[height] = ms;
        }
      });
      if (Object.keys(played).length) {
        body.played_ms = played;
      }
      if (item.errors.length) {
        body.errors = item.errors;
      }
      bodies.push(body);
      pending[source] = blank(source);
    });
    return bodies;
  }

  // A report that could not be delivered is added back to what is pending.
  function giveBack(body) {
    note(body.source, function (item) {
      ["stalls", "switches_up", "switches_down", "stalled_ms"].forEach(function (name) {
        item[name] += body[name] || 0;
      });
      if (body.startup_ms !== undefined && item.startup_ms === null) {
        item.startup_ms = body.startup_ms;
      }
      Object.keys(body.played_ms || {}).forEach(function (height) {
        item.played_ms[height] = (item.played_ms[height] || 0) + body.played_ms[height];
      });
      item.errors = (body.errors || []).concat(item.errors).slice(0, MAX_ERRORS);
    });
  }

  function report(leaving) {
    var url = sessionUrl();
    if (!url) {
      return; // no session yet: the figures wait for it
    }
    take().forEach(function (body) {
      if (leaving && navigator.sendBeacon) {
        body.progress_token = token;
        var blob = new Blob([JSON.stringify(body)], { type: "application/json" });
        if (navigator.sendBeacon(url, blob)) {
          return;
        }
        delete body.progress_token;
      }
      window.fetch(url, {
        method: "POST",
        credentials: "same-origin",
        keepalive: true,
        headers: {
          "Content-Type": "application/json",
          "X-CSRFToken": csrfToken(),
          "X-Progress-Token": token,
        },
        body: JSON.stringify(body),
      }).then(function (response) {
        if (response.status >= 500 || response.status === 429) {
          giveBack(body); // the next report carries it
        }
      }, function () {
        giveBack(body);
      });
    });
  }

  window.setInterval(function () {
    report(false);
  }, REPORT_MS);
  root.addEventListener("streamsite:session", function () {
    report(false);
  });
  // Leaving fires both; whatever the first sent, the second finds nothing new to send.
  document.addEventListener("visibilitychange", function () {
    if (document.visibilityState === "hidden") {
      endStall(now());
      report(true);
    }
  });
  window.addEventListener("pagehide", function () {
    endStall(now());
    report(true);
  });
})();
