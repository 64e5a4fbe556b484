// The study page's behaviour: search, topic filters, quiz mode, known marks. No network, no library.
(function () {
  "use strict";
  var notes = Array.prototype.slice.call(document.querySelectorAll("article.note"));
  var search = document.getElementById("search");
  var quiz = document.getElementById("quiz");
  var hideKnown = document.getElementById("hide-known");
  var status = document.getElementById("status");
  var empty = document.getElementById("empty");
  var tagBoxes = Array.prototype.slice.call(document.querySelectorAll('input[name="tag"]'));
  var STORAGE_KEY = "studykit-known:" + document.title;

  function loadKnown() {
    try { return JSON.parse(localStorage.getItem(STORAGE_KEY) || "{}"); } catch (e) { return {}; }
  }
  function saveKnown(known) {
    try { localStorage.setItem(STORAGE_KEY, JSON.stringify(known)); } catch (e) { /* private mode: keep in memory */ }
  }
  var known = loadKnown();

  notes.forEach(function (note) {
    var math = note.querySelectorAll("svg.math, img.math");
    var extra = Array.prototype.map.call(math, function (formula) {
      return formula.getAttribute("aria-label") || formula.getAttribute("alt");
    }).join(" ");
    note.dataset.text = (note.textContent + " " + extra).toLowerCase();
  });

  function setRevealed(note, revealed) {
    var button = note.querySelector("button.reveal");
    note.classList.toggle("concealed", !revealed);
    button.setAttribute("aria-expanded", revealed ? "true" : "false");
    button.textContent = revealed ? button.dataset.hide : button.dataset.show;
  }

  function applyFilters() {
    var words = search.value.toLowerCase().split(/\s+/).filter(Boolean);
    var tags = tagBoxes.filter(function (box) { return box.checked; }).map(function (box) { return box.value; });
    var shown = 0;
    notes.forEach(function (note) {
      var noteTags = note.dataset.tags.split(" ");
      var matches = words.every(function (w) { return note.dataset.text.indexOf(w) !== -1; }) &&
        (tags.length === 0 || tags.some(function (t) { return noteTags.indexOf(t) !== -1; })) &&
        !(hideKnown.checked && known[note.dataset.id]);
      note.hidden = !matches;
      var link = document.querySelector('.toc a[href="#' + note.id + '"]');
      if (link) { link.parentNode.hidden = !matches; }
      if (matches) { shown += 1; }
    });
    status.textContent = status.dataset.showing.replace("{shown}", shown).replace("{total}", notes.length);
    empty.hidden = shown !== 0;
  }

  notes.forEach(function (note) {
    var button = note.querySelector("button.reveal");
    button.addEventListener("click", function () {
      setRevealed(note, note.classList.contains("concealed"));
    });
    var box = note.querySelector(".known-box");
    box.checked = Boolean(known[note.dataset.id]);
    note.classList.toggle("is-known", box.checked);
    box.addEventListener("change", function () {
      if (box.checked) { known[note.dataset.id] = true; } else { delete known[note.dataset.id]; }
      note.classList.toggle("is-known", box.checked);
      saveKnown(known);
      applyFilters();
    });
  });

  quiz.addEventListener("change", function () {
    document.body.classList.toggle("quiz", quiz.checked);
    notes.forEach(function (note) { setRevealed(note, !quiz.checked); });
  });
  document.getElementById("reveal-all").addEventListener("click", function () {
    notes.forEach(function (note) { setRevealed(note, true); });
  });
  document.getElementById("hide-all").addEventListener("click", function () {
    notes.forEach(function (note) { setRevealed(note, false); });
  });
  search.addEventListener("input", applyFilters);
  hideKnown.addEventListener("change", applyFilters);
  tagBoxes.forEach(function (box) { box.addEventListener("change", applyFilters); });
  document.querySelector("form.controls").addEventListener("submit", function (event) { event.preventDefault(); });

  // Keyboard: "/" focuses search; "r" reveals or hides the question in view.
  document.addEventListener("keydown", function (event) {
    var typing = /^(INPUT|TEXTAREA|SELECT)$/.test(document.activeElement.tagName) && document.activeElement.type !== "checkbox";
    if (event.key === "/" && !typing) { event.preventDefault(); search.focus(); return; }
    if ((event.key === "r" || event.key === "R") && !typing && !event.ctrlKey && !event.metaKey) {
      var current = notes.filter(function (n) { return !n.hidden; }).find(function (n) {
        var box = n.getBoundingClientRect(); return box.bottom > 0;
      });
      if (current) { setRevealed(current, current.classList.contains("concealed")); }
    }
  });
  // Phones: the contents start closed, so the first question is on the first screen; wide screens show them open.
  var tocBox = document.getElementById("toc-box");
  var narrow = window.matchMedia("(max-width: 50rem)");
  function fitContents() { tocBox.open = !narrow.matches; }
  if (narrow.addEventListener) { narrow.addEventListener("change", fitContents); }
  fitContents();

  // A box that scrolls sideways (long code, a wide table or formula) takes keyboard focus, so it can be scrolled
  // without a mouse; one that fits does not clutter the tab order.
  var scrollers = Array.prototype.slice.call(document.querySelectorAll(".highlight, .math-display, table"));
  function markScrollable() {
    scrollers.forEach(function (box) {
      if (box.scrollWidth > box.clientWidth + 1) { box.setAttribute("tabindex", "0"); } else { box.removeAttribute("tabindex"); }
    });
  }
  var resizeTimer = null;
  window.addEventListener("resize", function () { clearTimeout(resizeTimer); resizeTimer = setTimeout(markScrollable, 150); });
  document.addEventListener("toggle", markScrollable, true);
  markScrollable();
  applyFilters();
})();
