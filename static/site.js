/* A page-view count and small enhancements for the form. All works without this file:
   the server checks every answer and re-renders the form with its messages. */
(function () {
  "use strict";

  // The other site that sent the visitor (a search engine, say).
  var from;
  try { from = new URL(document.referrer); } catch (e) { /* none */ }
  if (from && from.origin === location.origin) from = null;

  // One page view, counted without cookies (docs/site.md, "Counting page views").
  addEventListener("pageshow", function () {
    if (navigator.globalPrivacyControl || !navigator.sendBeacon) return;
    var tags = new URLSearchParams(location.search), data = new URLSearchParams({ path: location.pathname });
    ["utm_source", "utm_medium", "utm_campaign"].forEach(function (k) { if (tags.get(k)) data.set(k, tags.get(k)); });
    if (from) data.set("from", from.hostname);
    navigator.sendBeacon("/v", data);
  });

  // How long the page was open before Send, for both forms (the consultation and a reader's question):
  // a form sent within a few seconds is kept aside as suspected spam for staff to review, never refused.
  // Without this script nothing is judged.
  var shownAt = Date.now();
  document.addEventListener("submit", function (event) {
    var elapsed = event.target.elements.elapsed;
    if (elapsed) elapsed.value = ((Date.now() - shownAt) / 1000).toFixed(1);
  }, true);

  var form = document.getElementById("consultation");
  if (!form) return;

  // A form shown again keeps its value.
  var referrer = form.elements.referrer;
  if (referrer && !referrer.value && from) referrer.value = from.origin;

  // After a failed submit, take the visitor (and a screen reader) straight to the list of problems.
  var summary = document.getElementById("error-summary");
  if (summary) summary.focus();

  // The same words the server uses, in the page's language: the form carries them (templates/_form.html),
  // so a message never changes between the browser and the server.
  var words = form.dataset;
  var checks = {
    full_name: function (v) { return v ? "" : words.nameMissing; },
    phone: function (v) {
      if (!v) return words.phoneMissing;
      var digits = v.replace(/\D/g, "").length;
      return digits >= 10 && digits <= 15 ? "" : words.phoneInvalid;
    },
    email: function (v) {
      if (!v) return words.emailMissing;
      return /^[^\s@,<>"]+@[^\s@,<>"]+\.[^\s@,<>"]+$/.test(v) ? "" : words.emailInvalid;
    }
  };

  function describedBy(input, id, add) {
    var ids = (input.getAttribute("aria-describedby") || "").split(/\s+/).filter(function (x) { return x && x !== id; });
    if (add) ids.push(id);
    if (ids.length) input.setAttribute("aria-describedby", ids.join(" "));
    else input.removeAttribute("aria-describedby");
  }

  function show(input, message) {
    var id = input.id + "-error";
    var box = input.parentNode;
    var el = document.getElementById(id);
    if (message) {
      if (!el) {
        el = document.createElement("p");
        el.className = "error-message";
        el.id = id;
        box.insertBefore(el, input);
      }
      el.textContent = "";
      var hidden = document.createElement("span");
      hidden.className = "visually-hidden";
      hidden.textContent = words.error;
      el.appendChild(hidden);
      el.appendChild(document.createTextNode(" " + message));
      input.setAttribute("aria-invalid", "true");
      box.classList.add("field--error");
    } else {
      if (el) el.parentNode.removeChild(el);
      input.removeAttribute("aria-invalid");
      box.classList.remove("field--error");
    }
    describedBy(input, id, Boolean(message));
  }

  // A message appearing while a mouse button is down would move the button or choice under the pointer
  // and swallow the click (the Send button, most often): wait until the click has landed.
  var pointerDown = false;
  var pending = [];
  function flush() {
    pointerDown = false;
    window.setTimeout(function () {
      while (pending.length) pending.shift()();
    }, 0);
  }
  document.addEventListener("pointerdown", function () { pointerDown = true; }, true);
  document.addEventListener("pointerup", flush, true);
  document.addEventListener("pointercancel", flush, true);

  Object.keys(checks).forEach(function (name) {
    var input = form.elements[name];
    if (!input) return;
    // Speak up when the visitor leaves a field they filled in wrongly, not while they type.
    input.addEventListener("blur", function () {
      var value = input.value.trim();
      if (!value && input.getAttribute("aria-invalid") !== "true") return;
      var update = function () { show(input, checks[name](input.value.trim())); };
      if (pointerDown) pending.push(update);
      else update();
    });
    // Once a message is showing, clear it as soon as the answer is right.
    input.addEventListener("input", function () {
      if (input.getAttribute("aria-invalid") === "true" && !checks[name](input.value.trim())) show(input, "");
    });
  });

  // One request per press: show progress and ignore a second click while the first is on its way.
  var button = form.querySelector("button[type=submit]");
  var label = button ? button.textContent : "";
  var sending = false;
  form.addEventListener("submit", function (event) {
    if (sending) { event.preventDefault(); return; }
    sending = true;
    if (button) {
      button.setAttribute("aria-disabled", "true");
      button.textContent = words.sending;
    }
  });
  // Coming back with the Back button restores the page from memory: make the button usable again.
  window.addEventListener("pageshow", function () {
    sending = false;
    if (button) {
      button.removeAttribute("aria-disabled");
      button.textContent = label;
    }
  });
})();
