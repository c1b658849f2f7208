// Passkeys (WebAuthn) for the portal: registering one on the Security page, and using one as the
// second step of signing in. The server's options arrive as JSON with base64url binary members;
// the browser's answer goes back the same way, in a form post with the page's CSRF token.
"use strict";
(function () {
  function b64uToBuf(s) {
    s = s.replace(/-/g, "+").replace(/_/g, "/");
    while (s.length % 4) s += "=";
    var bin = atob(s), out = new Uint8Array(bin.length);
    for (var i = 0; i < bin.length; i++) out[i] = bin.charCodeAt(i);
    return out.buffer;
  }
  function bufToB64u(buf) {
    var bytes = new Uint8Array(buf), bin = "";
    for (var i = 0; i < bytes.length; i++) bin += String.fromCharCode(bytes[i]);
    return btoa(bin).replace(/\+/g, "-").replace(/\//g, "_").replace(/=+$/, "");
  }
  function post(url, fields) {
    var body = new URLSearchParams();
    Object.keys(fields).forEach(function (k) { body.set(k, fields[k]); });
    return fetch(url, { method: "POST", body: body, credentials: "same-origin" });
  }
  function fail(form, msg) {
    var p = form.querySelector(".passkey-error");
    if (p) { p.textContent = msg; p.hidden = false; }
  }
  function credentialJSON(cred) {
    var r = cred.response, out = { id: cred.id, rawId: bufToB64u(cred.rawId), type: cred.type, response: {
      clientDataJSON: bufToB64u(r.clientDataJSON) } };
    if (r.attestationObject) {
      out.response.attestationObject = bufToB64u(r.attestationObject);
      if (r.getTransports) out.response.transports = r.getTransports();
    }
    if (r.authenticatorData) {
      out.response.authenticatorData = bufToB64u(r.authenticatorData);
      out.response.signature = bufToB64u(r.signature);
      if (r.userHandle) out.response.userHandle = bufToB64u(r.userHandle);
    }
    out.clientExtensionResults = cred.getClientExtensionResults ? cred.getClientExtensionResults() : {};
    return JSON.stringify(out);
  }
  function ceremony(form, optionsURL, finishURL, extra, create) {
    var csrf = form.querySelector("input[name=csrf_token]").value;
    var fields = Object.assign({ csrf_token: csrf }, extra());
    post(optionsURL, fields).then(function (res) {
      if (!res.ok) return res.json().then(function (e) { throw new Error(e.error || "The server refused."); });
      return res.json();
    }).then(function (opts) {
      var pk = opts.publicKey;
      pk.challenge = b64uToBuf(pk.challenge);
      if (pk.user) pk.user.id = b64uToBuf(pk.user.id);
      (pk.excludeCredentials || []).forEach(function (c) { c.id = b64uToBuf(c.id); });
      (pk.allowCredentials || []).forEach(function (c) { c.id = b64uToBuf(c.id); });
      return create ? navigator.credentials.create({ publicKey: pk }) : navigator.credentials.get({ publicKey: pk });
    }).then(function (cred) {
      fields.credential = credentialJSON(cred);
      return post(finishURL, fields);
    }).then(function (res) {
      return res.json().then(function (j) {
        if (!res.ok) throw new Error(j.error || "The passkey was not accepted.");
        window.location.assign(j.location);
      });
    }).catch(function (err) {
      fail(form, (err && err.message) || "The passkey did not answer.");
    });
  }
  document.addEventListener("DOMContentLoaded", function () {
    var add = document.getElementById("add-passkey");
    if (add) add.addEventListener("submit", function (ev) {
      ev.preventDefault();
      ceremony(add, "/account/security/passkeys/options", "/account/security/passkeys",
        function () { return { name: add.querySelector("input[name=name]").value }; }, true);
    });
    var use = document.getElementById("use-passkey");
    if (use) use.addEventListener("submit", function (ev) {
      ev.preventDefault();
      ceremony(use, "/login/mfa/passkey/options", "/login/mfa/passkey", function () {
        return { mfa_token: use.querySelector("input[name=mfa_token]").value, next: use.querySelector("input[name=next]").value };
      }, false);
    });
  });
})();
