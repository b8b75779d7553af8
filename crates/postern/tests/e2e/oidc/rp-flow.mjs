// A relying party on openid-client 5 (certified by the OpenID Foundation) against postern's
// provider: discovery, the code flow with PKCE, userinfo, refresh with rotation (and the
// rotated token refused), introspection, revocation, and RP-initiated logout.
// Env: ISSUER, CLIENT_ID, CLIENT_SECRET, REDIRECT_URI, POST_LOGOUT_REDIRECT_URI, COOKIE (a
// signed-in postern session). Host names resolve to 127.0.0.1 (like an /etc/hosts entry).
// Prints one JSON object of what each step saw; exits 1 at the first step that fails.
import http from "node:http";
import { Issuer, custom, generators } from "openid-client";

const env = process.env;
function loopback(hostname, options, callback) {
  if (options && options.all) callback(null, [{ address: "127.0.0.1", family: 4 }]);
  else callback(null, "127.0.0.1", 4);
}
custom.setHttpOptionsDefaults({ lookup: loopback, timeout: 10000 });

// The browser's part: GET with postern's session cookie, one redirect read, not followed.
function browserGet(url) {
  return new Promise((resolve, reject) => {
    http
      .get(url, { lookup: loopback, headers: { cookie: env.COOKIE } }, (response) => {
        response.resume();
        resolve({ status: response.statusCode, location: response.headers.location });
      })
      .on("error", reject);
  });
}

const seen = {};
try {
  const issuer = await Issuer.discover(env.ISSUER);
  seen.issuer = issuer.issuer;
  const client = new issuer.Client({
    client_id: env.CLIENT_ID,
    client_secret: env.CLIENT_SECRET,
    redirect_uris: [env.REDIRECT_URI],
    post_logout_redirect_uris: [env.POST_LOGOUT_REDIRECT_URI],
    response_types: ["code"],
    token_endpoint_auth_method: "client_secret_basic",
    id_token_signed_response_alg: "RS256",
  });
  const code_verifier = generators.codeVerifier();
  const nonce = generators.nonce();
  const state = generators.state();
  const authorization = client.authorizationUrl({
    scope: "openid profile email groups offline_access",
    code_challenge: generators.codeChallenge(code_verifier),
    code_challenge_method: "S256",
    nonce,
    state,
  });
  const back = await browserGet(authorization);
  seen.authorize_status = back.status;
  const params = client.callbackParams(back.location);
  const tokens = await client.callback(env.REDIRECT_URI, params, { code_verifier, nonce, state });
  seen.id_token_claims = tokens.claims();
  seen.userinfo = await client.userinfo(tokens);
  const refreshed = await client.refresh(tokens);
  seen.refresh_rotated = refreshed.refresh_token !== tokens.refresh_token;
  seen.refreshed_sub = refreshed.claims().sub;
  try {
    await client.refresh(tokens.refresh_token);
    seen.reused_refresh = "accepted";
  } catch (error) {
    seen.reused_refresh = error.error ?? error.message;
  }
  // The reuse revoked the family: the refreshed access token is dead too.
  seen.after_reuse = (await client.introspect(refreshed.access_token)).active;
  const again = await client.callback(
    env.REDIRECT_URI,
    client.callbackParams((await browserGet(client.authorizationUrl({
      scope: "openid offline_access",
      code_challenge: generators.codeChallenge(code_verifier),
      code_challenge_method: "S256",
      state,
    }))).location),
    { code_verifier, state },
  );
  seen.introspected = await client.introspect(again.access_token);
  await client.revoke(again.refresh_token, "refresh_token");
  seen.after_revoke = (await client.introspect(again.access_token)).active;
  const logout = await browserGet(
    client.endSessionUrl({ id_token_hint: again.id_token, state: "bye-state" }),
  );
  seen.logout_location = logout.location;
  // What postern issued and the client sent: the test looks for each in postern's debug log.
  seen.secrets = [
    params.code,
    code_verifier,
    tokens.access_token,
    tokens.refresh_token,
    tokens.id_token,
    refreshed.access_token,
    refreshed.refresh_token,
    refreshed.id_token,
    again.access_token,
    again.refresh_token,
    again.id_token,
  ];
  console.log(JSON.stringify(seen));
} catch (error) {
  console.error(`${error.name}: ${error.message} ${JSON.stringify(error.error ?? "")}`);
  console.error(JSON.stringify(seen));
  process.exit(1);
}
