/* Rows of posters: "previous" and "next" buttons for people with a mouse and no sideways
   scroll wheel. They appear only while a row is wider than the screen, scroll it by about a
   screen, and are plain buttons, so Tab reaches them and Enter or Space presses them. Without
   JavaScript the rows still scroll (and Tab still walks through every card). */
(function () {
  "use strict";

  var reduceMotion = window.matchMedia("(prefers-reduced-motion: reduce)");
  var counter = 0;

  function button(direction, title, listId) {
    var element = document.createElement("button");
    element.type = "button";
    element.className = "row__button row__button--" + direction;
    element.setAttribute("aria-controls", listId);
    element.setAttribute("aria-label", (direction === "prev" ? "Previous: " : "Next: ") + title);
    element.innerHTML =
      '<svg viewBox="0 0 24 24" aria-hidden="true" focusable="false"><path d="' +
      (direction === "prev" ? "M15 5l-7 7 7 7" : "M9 5l7 7-7 7") +
      '"/></svg>';
    return element;
  }

  function enhance(row) {
    var list = row.querySelector(".row__list");
    var head = row.querySelector(".row__head");
    var heading = row.querySelector(".row__title");
    if (!list || !head || !heading || row.querySelector(".row__nav")) {
      return;
    }
    if (!list.id) {
      counter += 1;
      list.id = "row-list-" + counter;
    }
    var title = heading.textContent.trim();
    var nav = document.createElement("div");
    nav.className = "row__nav";
    nav.hidden = true;
    var prev = button("prev", title, list.id);
    var next = button("next", title, list.id);
    nav.appendChild(prev);
    nav.appendChild(next);
    head.appendChild(nav);

    function update() {
      var overflow = list.scrollWidth - list.clientWidth;
      var wasFocused = document.activeElement;
      nav.hidden = overflow <= 1;
      prev.disabled = list.scrollLeft <= 1;
      next.disabled = list.scrollLeft >= overflow - 1;
      // A button that just became disabled drops the keyboard focus: hand it to the other one.
      if (wasFocused === prev && prev.disabled && !next.disabled) {
        next.focus();
      } else if (wasFocused === next && next.disabled && !prev.disabled) {
        prev.focus();
      }
    }

    function scroll(direction) {
      list.scrollBy({
        left: direction * Math.max(list.clientWidth * 0.85, 160),
        behavior: reduceMotion.matches ? "auto" : "smooth",
      });
    }

    prev.addEventListener("click", function () {
      scroll(-1);
    });
    next.addEventListener("click", function () {
      scroll(1);
    });
    var pending = false;
    list.addEventListener(
      "scroll",
      function () {
        if (!pending) {
          pending = true;
          window.requestAnimationFrame(function () {
            pending = false;
            update();
          });
        }
      },
      { passive: true }
    );
    if ("ResizeObserver" in window) {
      new window.ResizeObserver(update).observe(list);
    } else {
      window.addEventListener("resize", update);
    }
    update();
  }

  Array.prototype.forEach.call(document.querySelectorAll(".row"), enhance);
})();
