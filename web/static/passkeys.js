// Passkeys on postern's pages: "Sign in with a passkey" and passkey autofill on /login, the
// passkey choice on the second step (/totp), adding a passkey on /account (form#passkey-add),
// and "Confirm it's you" with a passkey (/account's re-authentication page). A static asset, so the Content-Security-Policy stays strict (no inline
// script). Everything it talks to is the JSON API under /api/webauthn/ (docs/api.md).
"use strict";

(function () {
  if (!window.PublicKeyCredential || !navigator.credentials) {
    return; // No WebAuthn here: the pages work as before, the passkey parts stay hidden.
  }

  function toBytes(base64url) {
    const base64 = base64url.replace(/-/g, "+").replace(/_/g, "/");
    const padded = base64 + "===".slice((base64.length + 3) % 4);
    return Uint8Array.from(atob(padded), (c) => c.charCodeAt(0));
  }

  function toBase64url(buffer) {
    const bytes = new Uint8Array(buffer);
    let text = "";
    for (const byte of bytes) {
      text += String.fromCharCode(byte);
    }
    return btoa(text).replace(/\+/g, "-").replace(/\//g, "_").replace(/=+$/, "");
  }

  function withIds(list) {
    return (list || []).map((entry) => Object.assign({}, entry, { id: toBytes(entry.id) }));
  }

  function creationOptions(json) {
    const options = Object.assign({}, json.publicKey);
    options.challenge = toBytes(options.challenge);
    options.user = Object.assign({}, options.user, { id: toBytes(options.user.id) });
    options.excludeCredentials = withIds(options.excludeCredentials);
    return options;
  }

  function requestOptions(json) {
    const options = Object.assign({}, json.publicKey);
    options.challenge = toBytes(options.challenge);
    options.allowCredentials = withIds(options.allowCredentials);
    return options;
  }

  // The credential as the API takes it: binary fields as base64url.
  function credentialJson(credential) {
    const response = credential.response;
    const json = {
      id: credential.id,
      rawId: toBase64url(credential.rawId),
      type: credential.type,
      clientExtensionResults: credential.getClientExtensionResults(),
      response: { clientDataJSON: toBase64url(response.clientDataJSON) },
    };
    if (response.attestationObject) {
      json.response.attestationObject = toBase64url(response.attestationObject);
      if (response.getTransports) {
        json.response.transports = response.getTransports();
      }
    } else {
      json.response.authenticatorData = toBase64url(response.authenticatorData);
      json.response.signature = toBase64url(response.signature);
      json.response.userHandle = response.userHandle ? toBase64url(response.userHandle) : null;
    }
    return json;
  }

  async function post(path, body, csrf) {
    const headers = { "Content-Type": "application/json" };
    if (csrf) {
      headers["X-CSRF-Token"] = csrf;
    }
    const response = await fetch(path, {
      method: "POST",
      headers: headers,
      credentials: "same-origin",
      body: JSON.stringify(body),
    });
    let json = {};
    try {
      json = await response.json();
    } catch (ignored) {
      // A body that is not JSON: the status says enough.
    }
    if (!response.ok) {
      const error = new Error(json.message || "The server refused the passkey (" + response.status + ").");
      error.status = response.status;
      error.body = json;
      throw error;
    }
    return json;
  }

  function say(id, message) {
    const region = document.getElementById(id);
    if (region) {
      region.textContent = message;
      region.hidden = !message;
    }
  }

  // What a person reads when the browser or the authenticator gives up.
  function explain(error) {
    if (error && error.name === "NotAllowedError") {
      return "The passkey request was cancelled or timed out. Try again.";
    }
    if (error && error.name === "InvalidStateError") {
      return "This passkey is already registered.";
    }
    return (error && error.message) || "Something went wrong with the passkey.";
  }

  // /login: a button, and autofill in the username field where the browser supports it.
  function setUpLogin(button) {
    let conditional = null;
    const form = document.getElementById("login-form");
    const redirect = form ? form.querySelector("input[name=redirect_uri]") : null;
    const remember = form ? form.querySelector("input[name=remember_me]") : null;

    async function signIn(mediation) {
      const controller = new AbortController();
      const options = requestOptions(await post("/api/webauthn/login/begin", {}));
      const request = { publicKey: options, signal: controller.signal };
      if (mediation) {
        request.mediation = mediation;
        conditional = controller;
      }
      const credential = await navigator.credentials.get(request);
      const done = await post("/api/webauthn/login/finish", {
        credential: credentialJson(credential),
        remember_me: Boolean(remember && remember.checked),
        redirect_uri: redirect && redirect.value ? redirect.value : null,
      });
      window.location.assign(done.redirectTo);
    }

    button.hidden = false;
    button.addEventListener("click", async () => {
      if (conditional) {
        conditional.abort();
        conditional = null;
      }
      button.disabled = true;
      say("passkey-error", "");
      try {
        await signIn(null);
      } catch (error) {
        say("passkey-error", explain(error));
        button.disabled = false;
      }
    });

    if (button.dataset.autofill === "true" && PublicKeyCredential.isConditionalMediationAvailable) {
      PublicKeyCredential.isConditionalMediationAvailable().then((available) => {
        if (!available) {
          return;
        }
        signIn("conditional").catch((error) => {
          if (error && error.name !== "AbortError") {
            say("passkey-error", explain(error));
          }
        });
      });
    }
  }

  // /totp: the passkey as the second step.
  function setUpSecondFactor(button) {
    button.hidden = false;
    button.addEventListener("click", async () => {
      button.disabled = true;
      say("passkey-error", "");
      try {
        const options = requestOptions(await post("/api/webauthn/second-factor/begin", {}));
        const credential = await navigator.credentials.get({ publicKey: options });
        const done = await post("/api/webauthn/second-factor/finish", {
          credential: credentialJson(credential),
        });
        window.location.assign(done.redirectTo);
      } catch (error) {
        if (error.status === 401 && /pending login/.test(error.message)) {
          window.location.assign("/login");
          return;
        }
        say("passkey-error", explain(error));
        button.disabled = false;
      }
    });
  }

  // form#passkey-add (data-csrf: the session's CSRF token): registers a passkey, then shows
  // the account page again. Without a recent authentication the server refuses the ceremony
  // (403, "reauthenticate"); the form is then posted as a plain form, whose answer is the
  // "Confirm it's you" page.
  function setUpRegistration(form) {
    form.hidden = false;
    form.addEventListener("submit", async (event) => {
      event.preventDefault();
      const csrf = form.dataset.csrf;
      const name = form.querySelector("input[name=name]");
      const submit = form.querySelector("button");
      submit.disabled = true;
      say("passkey-error", "");
      try {
        const options = creationOptions(await post("/api/webauthn/register/begin", {}, csrf));
        const credential = await navigator.credentials.create({ publicKey: options });
        await post(
          "/api/webauthn/register/finish",
          { name: name ? name.value : "", credential: credentialJson(credential) },
          csrf
        );
        window.location.assign("/account?done=passkey-added#passkeys");
      } catch (error) {
        if (error.status === 403 && error.body && error.body.reauthenticate) {
          form.submit();
          return;
        }
        say("passkey-error", explain(error));
        submit.disabled = false;
      }
    });
  }

  // button#passkey-reauth (data-csrf, data-section): "Confirm it's you" with a passkey.
  function setUpReauthentication(button) {
    button.hidden = false;
    button.addEventListener("click", async () => {
      const csrf = button.dataset.csrf;
      button.disabled = true;
      say("passkey-error", "");
      try {
        const options = requestOptions(await post("/api/webauthn/reauth/begin", {}, csrf));
        const credential = await navigator.credentials.get({ publicKey: options });
        const done = await post(
          "/api/webauthn/reauth/finish",
          { credential: credentialJson(credential), section: button.dataset.section || "" },
          csrf
        );
        window.location.assign(done.redirectTo);
      } catch (error) {
        say("passkey-error", explain(error));
        button.disabled = false;
      }
    });
  }

  const login = document.getElementById("passkey-signin");
  if (login) {
    setUpLogin(login);
  }
  const second = document.getElementById("passkey-second-factor");
  if (second) {
    setUpSecondFactor(second);
  }
  const add = document.getElementById("passkey-add");
  if (add) {
    setUpRegistration(add);
  }
  const reauth = document.getElementById("passkey-reauth");
  if (reauth) {
    setUpReauthentication(reauth);
  }
})();
