/* The PHQ-9 self-check, scored on the page as it is answered: no answer leaves the browser unless the
   visitor presses "Send my answers with a consultation request", which keeps them in this tab's
   sessionStorage for the consultation form (static/site.js puts them into its hidden `phq9` field).
   The words come from the page (templates/_phq9.html), the same the server shows without JavaScript. */
(function () {
  "use strict";

  var form = document.getElementById("phq9-form");
  var region = document.getElementById("phq9-result");
  var parts = document.getElementById("phq9-parts");
  if (!form || !region || !parts) return;
  var ITEMS = ["q1", "q2", "q3", "q4", "q5", "q6", "q7", "q8", "q9"];

  function answer(name) {
    var checked = form.querySelector("input[name=" + name + "]:checked");
    return checked ? Number(checked.value) : null;
  }

  // Kroenke 2001's bands, as content/phq9.py has them.
  function band(total) {
    if (total >= 20) return "severe";
    if (total >= 15) return "moderately-severe";
    if (total >= 10) return "moderate";
    if (total >= 5) return "mild";
    return "minimal";
  }

  function part(name, slots) {
    var node = parts.content.querySelector("[data-part=" + name + "]").cloneNode(true);
    Object.keys(slots || {}).forEach(function (slot) {
      node.querySelectorAll("[data-slot=" + slot + "]").forEach(function (el) { el.textContent = slots[slot]; });
    });
    return node;
  }

  // Two places in the live region, each changed only when what it says changes, so a screen reader hears
  // the crisis notice once and then each new score, not the whole region again at every answer.
  function place() {
    var box = { node: document.createElement("div"), key: "" };
    region.appendChild(box.node);
    return box;
  }
  var crisisBox = place(), scoreBox = place();
  function put(box, key, build) {
    if (box.key === key) return;
    box.key = key;
    box.node.replaceChildren.apply(box.node, build ? build() : []);
  }

  function answers() {
    var values = ITEMS.map(answer);
    var answered = values.filter(function (v) { return v !== null; });
    return {
      values: values,
      answered: answered.length,
      total: answered.reduce(function (a, b) { return a + b; }, 0),
      missing: values.map(function (v, i) { return v === null ? String(i + 1) : null; }).filter(Boolean)
    };
  }

  // What the form's answers are sent as, if the visitor chooses: nine digits, then the difficulty.
  function code(values) {
    var difficulty = answer("difficulty");
    return values.join("") + (difficulty === null ? "" : String(difficulty));
  }

  function render(asked) {
    var now = answers();
    // Item 9 above 0: the crisis notice, at once and first, whatever else is answered.
    put(crisisBox, now.values[8] > 0 ? "crisis" : "", now.values[8] > 0 && function () { return [part("crisis")]; });
    if (now.answered === ITEMS.length) {
      put(scoreBox, "band:" + now.total, function () {
        return [part("band-" + band(now.total), { total: String(now.total) }), part("next")];
      });
    } else if (asked) {
      put(scoreBox, "missing:" + now.missing.join(), function () {
        return [part("missing", { numbers: now.missing.join(", ") })];
      });
    } else if (now.answered) {
      put(scoreBox, "progress:" + now.total + ":" + now.answered, function () {
        return [part("progress", { total: String(now.total), answered: String(now.answered) })];
      });
    } else {
      put(scoreBox, "", null);
    }
    return now;
  }

  form.addEventListener("change", function () { render(false); });

  // "See my result" stays on the page: the score is already here. Focus goes to it, or to the first
  // question still unanswered.
  form.addEventListener("submit", function (event) {
    event.preventDefault();
    var now = render(true);
    if (now.missing.length) {
      form.querySelector("input[name=q" + now.missing[0] + "]").focus();
    } else {
      scoreBox.node.querySelector(".phq9-score-title").focus();
    }
  });

  // The visitor's choice to send the answers: kept in this tab only, for the consultation form.
  region.addEventListener("click", function (event) {
    if (!event.target.closest("[data-action=send]")) return;
    var now = answers();
    if (now.answered !== ITEMS.length) return;
    try {
      sessionStorage.setItem("phq9", code(now.values));
    } catch (e) {
      // Storage refused: the form comes without the answers, and its missing line says so.
    }
    location.assign(form.dataset.consultation);
  });

  // Back to the page with answers checked: show their result again. A browser that loads the page again
  // puts the answers back just before pageshow, after this script has run.
  render(false);
  addEventListener("pageshow", function () { render(false); });
})();
