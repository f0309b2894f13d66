/* Seek bar with previews, for our own HLS: hovering or dragging it shows the frame at that
   point, taken from the thumbnail sprites the pipeline made (videos/ladder.py), located by a
   WebVTT track whose cues read `thumbnails/sprite_000.jpg#xywh=x,y,w,h` (relative to the track).

   The bar is a native range input, so it is keyboard-operable and its aria-valuetext ("1:23
   of 20:00") is what assistive technology announces as the viewer seeks: arrows move 5 s,
   Page Up / Page Down a minute, Home / End to either end. The browser's own controls stay as
   they are; this bar adds what they cannot show.

   Fed by watch.js: "streamsite:hls" (our <video>, before it plays) and
   "streamsite:source-change" (the bar goes away with our HLS). The track's URL is the HLS
   server's data-thumbnails (signed like the playlists; empty: no previews, the bar stays). */
(function () {
  "use strict";

  var player = document.getElementById("player");
  var bar = document.querySelector(".seekbar");
  if (!player || !bar) {
    return;
  }
  var range = bar.querySelector("input[type=range]");
  var shownTime = bar.querySelector("[data-seek-current]");
  var shownDuration = bar.querySelector("[data-seek-duration]");
  var preview = bar.querySelector(".seekbar__preview");
  var frame = preview.querySelector(".seekbar__frame");
  var previewTime = preview.querySelector(".seekbar__preview-time");
  var server = document.querySelector(".server[data-kind=hls]");
  var trackUrl = server ? server.getAttribute("data-thumbnails") || "" : "";
  var cues = null; // [{start, end, url, x, y, w, h}] once the track is read
  var video = null;
  var dragging = false;

  function clock(seconds) {
    seconds = Math.max(0, Math.floor(seconds || 0));
    var hours = Math.floor(seconds / 3600);
    var minutes = Math.floor((seconds % 3600) / 60);
    var secs = seconds % 60;
    var mm = hours ? String(minutes).padStart(2, "0") : String(minutes);
    return (hours ? hours + ":" : "") + mm + ":" + String(secs).padStart(2, "0");
  }

  // --- The thumbnails track -------------------------------------------------------------------

  function seconds(stamp) {
    var parts = stamp.trim().split(":").map(parseFloat);
    return parts.reduce(function (total, part) {
      return total * 60 + part;
    }, 0);
  }

  function parseTrack(text, base) {
    var found = [];
    text.replace(/\r/g, "").split("\n\n").forEach(function (block) {
      var lines = block.split("\n").filter(Boolean);
      var timing = lines.findIndex(function (line) {
        return line.indexOf("-->") !== -1;
      });
      if (timing === -1 || !lines[timing + 1]) {
        return;
      }
      var times = lines[timing].split("-->");
      var target = lines[timing + 1].trim();
      var match = /#xywh=(\d+),(\d+),(\d+),(\d+)$/.exec(target);
      if (!match) {
        return;
      }
      found.push({
        start: seconds(times[0]),
        end: seconds(times[1].trim().split(/\s+/)[0]),
        url: new URL(target.slice(0, match.index), base).href,
        x: +match[1], y: +match[2], w: +match[3], h: +match[4],
      });
    });
    return found;
  }

  function loadTrack() {
    if (cues !== null || !trackUrl || !window.fetch) {
      return;
    }
    cues = [];
    var base = new URL(trackUrl, window.location.href).href;
    window.fetch(base, { credentials: "same-origin" }).then(function (response) {
      return response.ok ? response.text() : "";
    }).then(function (text) {
      cues = parseTrack(text, base);
    }, function () {
      cues = null; // try again with the next video
    });
  }

  function cueAt(time) {
    if (!cues) {
      return null;
    }
    for (var i = 0; i < cues.length; i += 1) {
      if (time >= cues[i].start && time < cues[i].end) {
        return cues[i];
      }
    }
    return cues.length && time >= cues[cues.length - 1].end ? cues[cues.length - 1] : null;
  }

  // --- The preview ----------------------------------------------------------------------------

  function showPreview(time, fraction) {
    var cue = cueAt(time);
    previewTime.textContent = clock(time);
    if (cue) {
      frame.hidden = false;
      frame.style.width = cue.w + "px";
      frame.style.height = cue.h + "px";
      frame.style.backgroundImage = 'url("' + cue.url + '")';
      frame.style.backgroundPosition = -cue.x + "px " + -cue.y + "px";
      frame.setAttribute("data-frame", cue.url.split("/").pop() + "#" + cue.x + "," + cue.y);
    } else {
      frame.hidden = true;
    }
    preview.hidden = false;
    // Centred over the point, kept within the bar.
    var width = preview.offsetWidth;
    var track = range.getBoundingClientRect();
    var left = fraction * track.width - width / 2;
    preview.style.left = Math.max(0, Math.min(track.width - width, left)) + "px";
  }

  function hidePreview() {
    if (!dragging) {
      preview.hidden = true;
    }
  }

  function duration() {
    return video && isFinite(video.duration) ? video.duration : 0;
  }

  function pointerTime(event) {
    var track = range.getBoundingClientRect();
    var fraction = Math.max(0, Math.min(1, (event.clientX - track.left) / track.width));
    return { time: fraction * duration(), fraction: fraction };
  }

  range.addEventListener("pointermove", function (event) {
    if (duration()) {
      var at = pointerTime(event);
      showPreview(at.time, at.fraction);
    }
  });
  range.addEventListener("pointerleave", hidePreview);
  range.addEventListener("pointerdown", function () {
    dragging = true;
  });
  document.addEventListener("pointerup", function () {
    if (dragging) {
      dragging = false;
      preview.hidden = true;
    }
  });

  // --- Seeking ----------------------------------------------------------------------------------

  function describe(time) {
    range.setAttribute("aria-valuetext", clock(time) + " of " + clock(duration()));
    shownTime.textContent = clock(time);
  }

  function seek(time) {
    if (!video || !duration()) {
      return;
    }
    time = Math.max(0, Math.min(duration(), time));
    range.value = String(time);
    describe(time);
    video.currentTime = time;
  }

  // Dragging (and a click on the bar): the frame follows; the video seeks once, on release.
  range.addEventListener("input", function () {
    var time = parseFloat(range.value);
    describe(time);
    if (dragging && duration()) {
      showPreview(time, time / duration());
    }
  });
  range.addEventListener("change", function () {
    seek(parseFloat(range.value));
  });

  var KEYS = { ArrowRight: 5, ArrowUp: 5, ArrowLeft: -5, ArrowDown: -5, PageUp: 60, PageDown: -60 };
  range.addEventListener("keydown", function (event) {
    if (!video) {
      return;
    }
    var step = KEYS[event.key];
    if (step) {
      seek(video.currentTime + step);
    } else if (event.key === "Home") {
      seek(0);
    } else if (event.key === "End") {
      seek(duration() - 0.5);
    } else {
      return;
    }
    event.preventDefault();
  });

  // --- Following the video ----------------------------------------------------------------------

  function follow(next) {
    video = next;
    function sync() {
      if (video !== next) {
        return;
      }
      range.max = String(duration());
      shownDuration.textContent = clock(duration());
      if (dragging) {
        return;
      }
      shownTime.textContent = clock(video.currentTime);
      // While the bar has the focus its value moves only when the viewer moves it: a value
      // text changing every quarter second would be read out every quarter second.
      if (document.activeElement !== range) {
        range.value = String(video.currentTime);
        range.setAttribute(
          "aria-valuetext", clock(video.currentTime) + " of " + clock(duration())
        );
      }
    }
    ["loadedmetadata", "durationchange", "timeupdate", "seeked"].forEach(function (name) {
      next.addEventListener(name, sync);
    });
    sync();
  }

  player.addEventListener("streamsite:hls", function (event) {
    follow(event.detail.video);
    loadTrack();
    bar.hidden = false;
  });
  player.addEventListener("streamsite:source-change", function (event) {
    if (event.detail.kind !== "hls") {
      video = null;
      bar.hidden = true;
      preview.hidden = true;
    }
  });
})();
