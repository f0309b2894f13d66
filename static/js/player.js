/* Watch progress: tells the server where the viewer is, so they can resume on any device.

   Fed by an HTML5 <video> inside the player element (HLS or a plain file) or by an embedded
   provider's postMessage events (VidKing's PLAYER_EVENT format), whichever is playing.

   Contract with the page: the player element (#player, else the first [data-movie-id]) carries
     data-movie-id          the movie
     data-progress-url      POST heartbeats here (present only for signed-in viewers)
     data-session-url       POST {movie_id} here once playback starts
     data-session-id        optional: the id the page chose for that session (CMCD's sid)
     data-provider-origin   the origin postMessage events must come from (kept current by
                            watch.js when the viewer switches servers)
     data-start             where to resume, in seconds (a <video> is seeked there once, when
                            it has its metadata; embeds get it through their start-time URL
                            parameter server-side)
   and this script keeps on it, for every viewer, signed in or not:
     data-position          where the viewer is now, in seconds, once anything has played
     data-progress-token    the playback token: authenticates this viewer's heartbeats for this
                            movie with no session lookup (server: progress/tokens.py). The
                            session cookie and CSRF token go along too, and take over when
                            the token has expired or names another movie (a queued heartbeat)
     data-csrf-token        optional; else the page's csrfmiddlewaretoken input or cookie.

   Sending: a heartbeat every 10 s while playing, and at once on play, pause, seek and end.
   When the page is hidden or left, navigator.sendBeacon posts a last one: beacons cannot carry
   headers, so that one is a form post with the playback token and Django's
   csrfmiddlewaretoken field in the body, which Django's CSRF check reads for form posts
   exactly as for a <form>. While offline (or
   when a send fails), heartbeats wait in localStorage — one per movie, the newest, at most
   QUEUE_LIMIT movies — and are sent when the browser is back online or on the next page. */
(function () {
  "use strict";

  var HEARTBEAT_MS = 10000;
  var QUEUE_KEY = "streamsite.progress.queue";
  var QUEUE_LIMIT = 20;
  var MAX_AGE_MS = 24 * 3600 * 1000; // the server refuses older heartbeats
  var EVENTS = { play: "play", pause: "pause", seeked: "seek", ended: "ended" };

  var root = document.getElementById("player") || document.querySelector("[data-movie-id]");
  if (!root) {
    return;
  }
  var progressUrl = root.getAttribute("data-progress-url");
  var sessionUrl = root.getAttribute("data-session-url");
  var movieId = parseInt(root.getAttribute("data-movie-id"), 10);
  var progressToken = root.getAttribute("data-progress-token") || "";
  var chosenSessionId = root.getAttribute("data-session-id") || "";

  function csrfToken() {
    var token = root.getAttribute("data-csrf-token");
    var input = document.querySelector("input[name=csrfmiddlewaretoken]");
    var cookie = document.cookie.match(/(?:^|;\s*)csrftoken=([^;]+)/);
    return token || (input && input.value) || (cookie && decodeURIComponent(cookie[1])) || "";
  }

  // --- The offline queue --------------------------------------------------------------------

  function readQueue() {
    try {
      var parsed = JSON.parse(window.localStorage.getItem(QUEUE_KEY) || "{}");
      return parsed && typeof parsed === "object" ? parsed : {};
    } catch (error) {
      return {};
    }
  }

  function writeQueue(queue) {
    try {
      window.localStorage.setItem(QUEUE_KEY, JSON.stringify(queue));
    } catch (error) {
      // Storage full or disabled: the heartbeat is lost, the next one will do.
    }
  }

  function enqueue(url, heartbeat) {
    var queue = readQueue();
    var key = String(heartbeat.movie);
    var held = queue[key];
    if (held && held.body.client_ts >= heartbeat.body.client_ts) {
      return; // coalesced: only the newest position per movie is worth sending
    }
    queue[key] = { url: url, body: heartbeat.body };
    var keys = Object.keys(queue);
    keys.sort(function (a, b) {
      return queue[a].body.client_ts - queue[b].body.client_ts;
    });
    while (keys.length > QUEUE_LIMIT) {
      delete queue[keys.shift()];
    }
    writeQueue(queue);
  }

  function dequeue(key, clientTs) {
    var queue = readQueue();
    if (queue[key] && queue[key].body.client_ts === clientTs) {
      delete queue[key];
      writeQueue(queue);
    }
  }

  // Delivered, or refused for good (4xx other than 408/429: retrying would not help).
  function settled(status) {
    return (status >= 200 && status < 300) ||
      (status >= 400 && status < 500 && status !== 408 && status !== 429);
  }

  function postJson(url, body) {
    return window.fetch(url, {
      method: "POST",
      credentials: "same-origin",
      headers: {
        "Content-Type": "application/json",
        "X-CSRFToken": csrfToken(),
        "X-Progress-Token": progressToken,
      },
      body: JSON.stringify(body),
    });
  }

  var flushing = false;

  function flushQueue() {
    if (flushing || navigator.onLine === false) {
      return;
    }
    var queue = readQueue();
    var keys = Object.keys(queue);
    if (!keys.length) {
      return;
    }
    flushing = true;
    (function next(index) {
      if (index >= keys.length) {
        flushing = false;
        return;
      }
      var item = queue[keys[index]];
      if (!item || !item.body || Date.now() - item.body.client_ts > MAX_AGE_MS) {
        dequeue(keys[index], item && item.body && item.body.client_ts);
        next(index + 1);
        return;
      }
      postJson(item.url, item.body).then(function (response) {
        if (settled(response.status)) {
          dequeue(keys[index], item.body.client_ts);
        }
        next(index + 1);
      }, function () {
        flushing = false; // still unreachable: keep everything for the next "online"
      });
    })(0);
  }

  window.addEventListener("online", flushQueue);
  flushQueue();

  // --- Where the viewer is (every viewer) -------------------------------------------------
  // Kept on the player element as data-position, so the next server the viewer switches to can
  // start there; passed on to the tracker below for signed-in viewers.

  var track = null; // the tracker's report(), for signed-in viewers

  function observe(event, position, duration) {
    if (isFinite(position) && position >= 0) {
      root.setAttribute("data-position", String(Math.round(position * 10) / 10));
    }
    if (track) {
      track(event, position, duration);
    }
  }

  // --- HTML5 video (plain file or HLS) ------------------------------------------------------

  // Media events do not bubble, but they pass the player element in the capture phase, so a
  // <video> added later (an HLS source chosen after load) is tracked too. data-start is read
  // when a video has its metadata, not before: watch.js sets it when it switches to a <video>
  // mid-film, and it is removed once used, so the next source does not jump back.
  function resume(video) {
    var startAt = parseFloat(root.getAttribute("data-start")) || 0;
    if (video.tagName !== "VIDEO" || !(startAt > 0 && startAt < video.duration)) {
      return;
    }
    root.removeAttribute("data-start");
    if (Math.abs(video.currentTime - startAt) >= 1) { // hls.js may be there already
      video.currentTime = startAt;
    }
  }
  root.addEventListener("loadedmetadata", function (event) { resume(event.target); }, true);
  // A cached video can have its metadata before this script runs; loadedmetadata is then gone.
  Array.prototype.forEach.call(root.querySelectorAll("video"), function (video) {
    if (video.readyState >= 1) { resume(video); }
  });
  ["play", "pause", "seeked", "ended"].forEach(function (name) {
    root.addEventListener(name, function (event) {
      var video = event.target;
      if (video.tagName === "VIDEO") {
        observe(EVENTS[name], video.currentTime, video.duration);
      }
    }, true);
  });
  root.addEventListener("timeupdate", function (event) {
    var video = event.target;
    if (video.tagName === "VIDEO" && !video.paused) {
      observe("timeupdate", video.currentTime, video.duration);
    }
  }, true);

  // --- Embedded providers (postMessage) -----------------------------------------------------

  function number(value) {
    return typeof value === "number" ? value : parseFloat(value);
  }

  // VidKing: {"type":"PLAYER_EVENT","data":{"event","currentTime","duration","progress"}},
  // sometimes as a JSON string. `progress` is a percentage, used only without currentTime.
  function parsePlayerEvent(data) {
    if (typeof data === "string") {
      try {
        data = JSON.parse(data);
      } catch (error) {
        return null;
      }
    }
    if (!data || typeof data !== "object" || data.type !== "PLAYER_EVENT" || !data.data) {
      return null;
    }
    var detail = data.data;
    var duration = number(detail.duration);
    var position = number(detail.currentTime);
    if (!isFinite(position) && isFinite(duration) && isFinite(number(detail.progress))) {
      position = (number(detail.progress) / 100) * duration;
    }
    var event = String(detail.event || "").toLowerCase();
    return { event: event === "seeked" ? "seek" : event, position: position, duration: duration };
  }

  window.addEventListener("message", function (message) {
    var origin = root.getAttribute("data-provider-origin");
    if (!origin || message.origin !== origin) {
      return; // only the provider on screen may move the position
    }
    var parsed = parsePlayerEvent(message.data);
    if (parsed) {
      observe(parsed.event, parsed.position, parsed.duration);
    }
  });

  if (!progressUrl || !movieId) {
    return; // not signed in: the queue of an earlier visit was still worth sending
  }

  // --- The tracker ---------------------------------------------------------------------------

  var state = { position: NaN, duration: NaN, playing: false, started: false };
  var sessionId = null;
  var timer = null;
  var lastBeaconAt = 0;

  function heartbeat(event) {
    var duration = state.duration;
    var position = state.position;
    if (!state.started || !isFinite(duration) || duration <= 0 || !isFinite(position)) {
      return null; // nothing played yet, or a live stream without a duration
    }
    var body = {
      position: Math.max(0, Math.min(position, duration)),
      duration: duration,
      event: event,
      client_ts: Date.now(),
    };
    if (sessionId) {
      body.session_id = sessionId;
    }
    return { movie: movieId, body: body };
  }

  function send(event) {
    var beat = heartbeat(event);
    if (!beat) {
      return;
    }
    if (navigator.onLine === false) {
      enqueue(progressUrl, beat);
      return;
    }
    postJson(progressUrl, beat.body).then(function (response) {
      if (settled(response.status)) {
        flushQueue(); // we are online: anything held back can go too
      } else {
        enqueue(progressUrl, beat);
      }
    }, function () {
      enqueue(progressUrl, beat);
    });
  }

  function beacon() {
    var beat = heartbeat("hide");
    var now = Date.now();
    if (!beat || now - lastBeaconAt < 1000) {
      return; // pagehide right after visibilitychange: one is enough
    }
    lastBeaconAt = now;
    if (navigator.onLine === false || !navigator.sendBeacon) {
      enqueue(progressUrl, beat);
      return;
    }
    var form = new URLSearchParams();
    Object.keys(beat.body).forEach(function (name) {
      form.append(name, String(beat.body[name]));
    });
    form.append("progress_token", progressToken);
    form.append("csrfmiddlewaretoken", csrfToken());
    if (!navigator.sendBeacon(progressUrl, form)) {
      enqueue(progressUrl, beat);
    }
  }

  // Under the id the page chose (data-session-id), which hls.js already names in its requests
  // (CMCD); the server answers the id it kept. Once it exists, data-session-started holds it
  // and "streamsite:session" is fired on the player element (static/js/qoe.js reports to it).
  var starting = false;

  function startSession() {
    if (!sessionUrl || sessionId || starting) {
      return;
    }
    var body = { movie_id: movieId };
    if (chosenSessionId) {
      body.session_id = chosenSessionId;
    }
    starting = true;
    postJson(sessionUrl, body).then(function (response) {
      return response.ok ? response.json() : null;
    }).then(function (session) {
      starting = false;
      if (session && session.session_id) {
        sessionId = session.session_id;
        root.setAttribute("data-session-started", sessionId);
        root.dispatchEvent(new CustomEvent("streamsite:session", {
          bubbles: true,
          detail: { sessionId: sessionId },
        }));
      }
    }, function () {
      starting = false; // offline: heartbeats work without a session
    });
  }

  // A player with something to report before anything played (a server that never answered)
  // starts the session too: the viewer did press play.
  root.addEventListener("streamsite:start-session", startSession);

  function setPlaying(playing) {
    state.playing = playing;
    if (playing && !timer) {
      timer = window.setInterval(function () {
        send("heartbeat");
      }, HEARTBEAT_MS);
    } else if (!playing && timer) {
      window.clearInterval(timer);
      timer = null;
    }
  }

  // One entry point for both sources: a position report, with the player event if any.
  function report(event, position, duration) {
    if (isFinite(position)) {
      state.position = position;
    }
    if (isFinite(duration) && duration > 0) {
      state.duration = duration;
    }
    if (event === "play" || event === "timeupdate") {
      if (!state.started) {
        state.started = true;
        startSession();
      }
      setPlaying(true);
      if (event === "play") {
        send("play");
      }
    } else if (event === "pause" || event === "ended") {
      setPlaying(false);
      send(event);
    } else if (event === "seek") {
      send("seek");
    }
  }

  track = report;

  // The source on screen was replaced (watch.js): its last events, a pause among them, never
  // reach us once it has left the page, so the tracker stops here, with the last position.
  root.addEventListener("streamsite:source-change", function () {
    if (state.playing) {
      setPlaying(false);
      send("pause");
    }
  });

  // --- Leaving the page ---------------------------------------------------------------------

  document.addEventListener("visibilitychange", function () {
    if (document.visibilityState === "hidden") {
      beacon();
    }
  });
  window.addEventListener("pagehide", beacon);
})();
