/* A page-view count and small enhancements for the forms. All works without this file:
   the server checks every answer and re-renders the form with its messages. */
(function () {
  "use strict";

  // This tab's storage (never localStorage: it outlives the tab, and a shared phone keeps it). A browser
  // that refuses storage (a private window, a setting) just gets no drafts.
  var tab = {
    get: function (key) { try { return sessionStorage.getItem(key); } catch (e) { return null; } },
    set: function (key, value) { try { sessionStorage.setItem(key, value); } catch (e) { /* full or refused */ } },
    remove: function (key) { try { sessionStorage.removeItem(key); } catch (e) { /* refused */ } },
    keys: function () { try { return Object.keys(sessionStorage); } catch (e) { return []; } }
  };

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

  // A thank-you page: what was sent is safe on the server, so this tab forgets its draft (and, for a
  // consultation request, the self-check answers that went with it).
  var sent = document.querySelector("[data-sent]");
  if (sent) {
    tab.keys().forEach(function (key) {
      if (key.indexOf("draft:" + sent.dataset.sent + ":") === 0) tab.remove(key);
    });
    if (sent.dataset.sent === "consultation") tab.remove("phq9");
  }

  // -- Drafts: what the visitor typed into a form, kept in this tab until it is sent --------------------
  // Restored after a reload, the Back button or a crash of the tab's page. Never the honeypot nor the
  // hidden fields (per visit, or filled in by this script), nor a token.
  var forms = [document.getElementById("consultation"), document.getElementById("question")].filter(Boolean);
  var pristine = !document.getElementById("error-summary") && !document.getElementById("form-expired");
  var arrival = (performance.getEntriesByType && performance.getEntriesByType("navigation")[0] || {}).type;

  function draftKey(form) { return "draft:" + form.id + ":" + location.pathname; }

  function typed(form) {
    return Array.prototype.filter.call(form.elements, function (el) {
      return el.name && el.name !== "website" && !el.closest(".hp") &&
        ["hidden", "submit", "button"].indexOf(el.type) < 0;
    });
  }

  function readDraft(form) {
    try { return JSON.parse(tab.get(draftKey(form))) || null; } catch (e) { return null; }
  }

  // When the visitor first saw this form in this tab: a draft brought back after a crash is not a form
  // filled in within seconds, so the spam check measures from then.
  var shownAt = {};
  forms.forEach(function (form) {
    var draft = readDraft(form);
    shownAt[form.id] = draft && draft.since < Date.now() ? draft.since : Date.now();
    if (pristine && draft) {
      typed(form).forEach(function (el) {
        if (!(el.name in draft.fields)) return;
        var value = draft.fields[el.name];
        if (el.type === "radio") el.checked = el.value === value;
        else if (el.type === "checkbox") el.checked = value === true;
        else el.value = value;
      });
    }
    var save = function () {
      var fields = {};
      typed(form).forEach(function (el) {
        if (el.type === "radio") { if (el.checked) fields[el.name] = el.value; }
        else if (el.type === "checkbox") fields[el.name] = el.checked;
        else fields[el.name] = el.value;
      });
      tab.set(draftKey(form), JSON.stringify({ since: shownAt[form.id], fields: fields }));
    };
    form.addEventListener("input", save);
    form.addEventListener("change", save);
  });

  // How long the page was open before Send, for both forms (the consultation and a reader's question):
  // a form sent within a few seconds is kept aside as suspected spam for staff to review, never refused.
  // Without this script nothing is judged.
  var loadedAt = Date.now();
  document.addEventListener("submit", function (event) {
    var elapsed = event.target.elements.elapsed;
    var since = shownAt[event.target.id] || loadedAt;
    if (elapsed) elapsed.value = ((Date.now() - since) / 1000).toFixed(1);
  }, true);

  // -- Sending: one request per press, and never while offline ------------------------------------------
  // A send that cannot reach the server stays on the page with everything typed, and says so, rather than
  // leaving it for the browser's "no connection" page. The check is a HEAD of this page, which carries
  // nothing of the form; only when it answers is the form sent.
  function offlineNotice(form, show) {
    var notice = form.querySelector(".offline-message");
    if (!show) {
      if (notice) notice.parentNode.removeChild(notice);
      return;
    }
    if (!notice) {
      notice = document.createElement("p");
      notice.className = "offline-message";
      notice.setAttribute("role", "alert");
      var button = form.querySelector("button[type=submit]");
      button.parentNode.insertBefore(notice, button);
    }
    notice.textContent = form.dataset.offline;
  }

  function reachable() {
    if (navigator.onLine === false || !window.fetch) return Promise.resolve(navigator.onLine !== false);
    var abort = window.AbortController ? new AbortController() : null;
    var timer = abort && window.setTimeout(function () { abort.abort(); }, 10000);
    return fetch(location.pathname, { method: "HEAD", cache: "no-store", signal: abort && abort.signal })
      .then(function () { return true; }, function () { return false; })
      .then(function (ok) { window.clearTimeout(timer); return ok; });
  }

  forms.forEach(function (form) {
    var button = form.querySelector("button[type=submit]");
    var label = button ? button.textContent : "";
    var sending = false;
    function idle() {
      sending = false;
      if (button) {
        button.removeAttribute("aria-disabled");
        button.textContent = label;
      }
    }
    form.addEventListener("submit", function (event) {
      event.preventDefault();
      if (sending) return;
      sending = true;
      if (button && form.dataset.sending) {
        button.setAttribute("aria-disabled", "true");
        button.textContent = form.dataset.sending;
      }
      reachable().then(function (online) {
        offlineNotice(form, !online);
        if (!online) return idle();
        submitted = true;
        form.submit();
      });
    });
    // Coming back with the Back button: make the button usable again, and if the request went through
    // meanwhile (the thank-you page forgot the draft), empty the form the browser has just put back,
    // whether from memory or by filling in a page loaded again (which it does before this event).
    var submitted = false;
    window.addEventListener("pageshow", function (event) {
      idle();
      var back = event.persisted ? submitted : arrival === "back_forward";
      if (back && pristine && !tab.get(draftKey(form))) form.reset();
    });
  });

  var form = document.getElementById("consultation");
  if (!form) return;

  // A form shown again keeps its value.
  var referrer = form.elements.referrer;
  if (referrer && !referrer.value && from) referrer.value = from.origin;

  // After a failed submit, take the visitor (and a screen reader) straight to the list of problems.
  var summary = document.getElementById("error-summary");
  if (summary) summary.focus();

  // -- The self-check's answers, when the visitor chose to send them (static/phq9.js keeps them in this
  // tab); a line says they go with the request, and a button takes them out.
  // A page the server filled in (the self-check's result, a form shown again) keeps what it says.
  var phq9 = form.elements.phq9, attached = document.getElementById("phq9");
  function attachPhq9() {
    if (!phq9 || !attached || attached.hasAttribute("data-filled")) return;
    var code = tab.get("phq9");
    var valid = code && /^[0-3]{9}[0-3]?$/.test(code);
    phq9.value = valid ? code : "";
    attached.hidden = !valid;
    if (!valid) return;
    var total = 0;
    for (var i = 0; i < 9; i++) total += Number(code.charAt(i));
    attached.querySelector("[data-slot=phq9-total]").textContent = String(total);
  }
  // Again at every pageshow: coming back, the browser may have put an old value into the field.
  attachPhq9();
  window.addEventListener("pageshow", attachPhq9);
  if (phq9 && attached) {
    if (attached.classList.contains("field--error")) tab.remove("phq9");  // unreadable: left out
    var remove = attached.querySelector("[data-action=remove-phq9]");
    if (remove) {
      remove.hidden = false;
      var withoutScript = attached.querySelector("[data-no-script]");
      if (withoutScript) withoutScript.hidden = true;
      remove.addEventListener("click", function () {
        phq9.value = "";
        tab.remove("phq9");
        attached.querySelector(".phq9-attached-line").textContent = attached.dataset.removed;
        remove.parentNode.hidden = true;
        attached.focus();
      });
    }
  }

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
})();
