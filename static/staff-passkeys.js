/* Passkeys on the staff pages (WebAuthn): "Add a passkey", "Sign in with a passkey", confirming it is
   you. A button with data-passkey asks the server for options, hands them to the browser, and sends the
   browser's answer back; the server checks everything (staff/passkeys.py). Without this file, or in a
   browser without passkeys, the buttons stay hidden and the password works as before. */
(function () {
  "use strict";
  if (!window.PublicKeyCredential || !navigator.credentials) return;

  function toBytes(text) {
    var base64 = text.replace(/-/g, "+").replace(/_/g, "/");
    var binary = atob(base64 + "===".slice((base64.length + 3) % 4));
    return Uint8Array.from(binary, function (c) { return c.charCodeAt(0); });
  }

  function toText(buffer) {
    var binary = String.fromCharCode.apply(null, new Uint8Array(buffer));
    return btoa(binary).replace(/\+/g, "-").replace(/\//g, "_").replace(/=+$/, "");
  }

  function withBytes(options) {
    options.challenge = toBytes(options.challenge);
    if (options.user) options.user.id = toBytes(options.user.id);
    (options.excludeCredentials || []).concat(options.allowCredentials || []).forEach(function (c) {
      c.id = toBytes(c.id);
    });
    return options;
  }

  function asJSON(credential) {
    var r = credential.response, response = { clientDataJSON: toText(r.clientDataJSON) };
    if (r.attestationObject) {
      response.attestationObject = toText(r.attestationObject);
      if (r.getTransports) response.transports = r.getTransports();
    } else {
      response.authenticatorData = toText(r.authenticatorData);
      response.signature = toText(r.signature);
      if (r.userHandle) response.userHandle = toText(r.userHandle);
    }
    return {
      id: credential.id,
      rawId: toText(credential.rawId),
      type: credential.type,
      response: response,
      authenticatorAttachment: credential.authenticatorAttachment || null,
      clientExtensionResults: credential.getClientExtensionResults()
    };
  }

  function Moved() {}

  function post(url, token, body) {
    return fetch(url, {
      method: "POST",
      credentials: "same-origin",
      headers: { "Content-Type": "application/json", "Accept": "application/json", "X-CSRFToken": token },
      body: JSON.stringify(body || {})
    }).then(function (answer) {
      // Sent to another page (to confirm it is you first, or to log in again): go there.
      if (answer.redirected || (answer.headers.get("Content-Type") || "").indexOf("json") < 0) {
        location.assign(answer.url);
        throw new Moved();
      }
      return answer.json().then(function (data) {
        if (!answer.ok) throw new Error(data.error || "That did not work. Please try again.");
        return data;
      });
    });
  }

  function start(button) {
    var status = document.getElementById(button.getAttribute("data-status"));
    var kind = button.getAttribute("data-passkey");
    var token = button.getAttribute("data-csrf");
    var say = function (text) { if (status) status.textContent = text; };
    button.disabled = true;
    say("Waiting for your passkey…");
    post(button.getAttribute("data-options-url"), token)
      .then(function (options) {
        var publicKey = withBytes(options);
        return kind === "add" ? navigator.credentials.create({ publicKey: publicKey })
                              : navigator.credentials.get({ publicKey: publicKey });
      })
      .then(function (credential) {
        var body = { credential: asJSON(credential), next: button.getAttribute("data-next") || "" };
        var nameField = document.getElementById(button.getAttribute("data-name-field") || "");
        if (nameField) body.name = nameField.value;
        return post(button.getAttribute("data-url"), token, body);
      })
      .then(function (done) { location.assign(done.redirect); })
      .catch(function (error) {
        button.disabled = false;
        if (error instanceof Moved) return;
        say(error && error.name === "NotAllowedError"
          ? "Cancelled, or no passkey for this site on this device."
          : (error && error.message) || "That did not work. Please try again.");
      });
  }

  Array.prototype.forEach.call(document.querySelectorAll("[data-passkey]"), function (button) {
    button.hidden = false;
    button.addEventListener("click", function () { start(button); });
  });
})();
