/* Suggestions under the header's search box (the ARIA combobox pattern): titles appear as the
   viewer types, from GET /api/movies/suggest, asked at most once per pause in typing and once
   per text. Arrow keys move through them, Enter opens the one chosen (or searches, as before,
   when none is), Escape closes them. Without JavaScript the box is a plain search form. */
(function () {
  "use strict";

  var input = document.getElementById("header-search");
  var list = document.getElementById("header-search-suggestions");
  if (!input || !list || !window.fetch) {
    return;
  }
  var status = null; // the live region, made on first use so pages carry no empty one
  var url = input.getAttribute("data-suggest-url");
  var DELAY = 200;
  var MIN_LENGTH = 2;
  var answers = new Map(); // text → results, so going back over a word asks nothing again
  var timer = null;
  var controller = null;
  var active = -1;
  var options = [];

  input.setAttribute("role", "combobox");
  input.setAttribute("aria-autocomplete", "list");
  input.setAttribute("aria-expanded", "false");
  input.setAttribute("aria-controls", list.id);

  function close() {
    list.hidden = true;
    list.innerHTML = "";
    options = [];
    active = -1;
    input.setAttribute("aria-expanded", "false");
    input.removeAttribute("aria-activedescendant");
  }

  function choose(index) {
    options.forEach(function (option, i) {
      option.setAttribute("aria-selected", i === index ? "true" : "false");
    });
    active = index;
    if (index >= 0) {
      input.setAttribute("aria-activedescendant", options[index].id);
      options[index].scrollIntoView({ block: "nearest" });
    } else {
      input.removeAttribute("aria-activedescendant");
    }
  }

  function announce(message) {
    if (!status) {
      status = document.createElement("p");
      status.className = "visually-hidden";
      status.setAttribute("role", "status");
      status.setAttribute("aria-live", "polite");
      input.form.appendChild(status);
    }
    // A moment after the region exists, so screen readers notice the change.
    window.setTimeout(function () {
      status.textContent = message;
    }, 50);
  }

  function show(text, results) {
    if (input.value.trim() !== text) {
      return; // the viewer typed on while this was on its way
    }
    close();
    announce(
      results.length
        ? results.length + " suggestion" + (results.length === 1 ? "" : "s") + ", arrow keys to choose"
        : ""
    );
    if (!results.length) {
      return;
    }
    results.forEach(function (movie, i) {
      var option = document.createElement("li");
      option.id = "header-search-option-" + i;
      option.className = "suggestions__option";
      option.setAttribute("role", "option");
      option.setAttribute("aria-selected", "false");
      option.setAttribute("data-href", movie.page_url);
      var image = document.createElement("img");
      image.src = movie.poster_url;
      image.alt = "";
      image.width = 32;
      image.height = 48;
      var title = document.createElement("span");
      title.className = "suggestions__title";
      title.textContent = movie.title;
      option.appendChild(image);
      option.appendChild(title);
      if (movie.year) {
        var year = document.createElement("span");
        year.className = "suggestions__year";
        year.textContent = movie.year;
        option.appendChild(year);
      }
      // mousedown, not click: the box would lose focus (and close the list) first.
      option.addEventListener("mousedown", function (event) {
        event.preventDefault();
        window.location.assign(movie.page_url);
      });
      list.appendChild(option);
      options.push(option);
    });
    list.hidden = false;
    input.setAttribute("aria-expanded", "true");
  }

  function ask(text) {
    if (answers.has(text)) {
      show(text, answers.get(text));
      return;
    }
    if (controller) {
      controller.abort();
    }
    controller = new AbortController();
    var query = url + "?" + new URLSearchParams({ q: text }).toString();
    window
      .fetch(query, {
        credentials: "same-origin",
        headers: { Accept: "application/json" },
        signal: controller.signal,
      })
      .then(function (response) {
        return response.ok ? response.json() : { results: [] };
      })
      .then(function (body) {
        answers.set(text, body.results || []);
        show(text, body.results || []);
      })
      .catch(function () {
        /* aborted or offline: the form still searches on Enter */
      });
  }

  input.addEventListener("input", function () {
    window.clearTimeout(timer);
    var text = input.value.trim();
    if (text.length < MIN_LENGTH) {
      close();
      if (status) {
        status.textContent = "";
      }
      return;
    }
    timer = window.setTimeout(function () {
      ask(text);
    }, DELAY);
  });

  input.addEventListener("keydown", function (event) {
    if (event.key === "ArrowDown" || event.key === "ArrowUp") {
      if (!options.length) {
        return;
      }
      event.preventDefault();
      var step = event.key === "ArrowDown" ? 1 : -1;
      var next = active + step;
      if (next >= options.length) {
        next = 0;
      } else if (next < 0) {
        next = options.length - 1;
      }
      choose(next);
    } else if (event.key === "Enter" && active >= 0) {
      event.preventDefault();
      window.location.assign(options[active].getAttribute("data-href"));
    } else if (event.key === "Escape" && !list.hidden) {
      event.preventDefault();
      close();
    }
  });

  input.addEventListener("blur", function () {
    close();
  });
})();
