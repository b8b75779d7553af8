"""A second relying party, in Python: Authlib (OAuth2Session over requests, and its JOSE for
the ID token) walks discovery, the code flow with PKCE, the ID token's signature and claims
through the JWKS, userinfo and a refresh against postern's provider.
Env: ISSUER, CLIENT_ID, CLIENT_SECRET, REDIRECT_URI, COOKIE (a signed-in postern session).
Host names under example.com resolve to 127.0.0.1 (like an /etc/hosts entry).
Prints one JSON object of what each step saw; exits 1 at the first step that fails."""
import json
import os
import secrets
import socket
import sys

_getaddrinfo = socket.getaddrinfo


def _loopback(host, *args, **kwargs):
    if isinstance(host, str) and host.endswith("example.com"):
        host = "127.0.0.1"
    return _getaddrinfo(host, *args, **kwargs)


socket.getaddrinfo = _loopback

import requests  # noqa: E402
from authlib.integrations.requests_client import OAuth2Session  # noqa: E402
from authlib.jose import JsonWebKey, jwt  # noqa: E402

env = os.environ
seen = {}
try:
    discovery = requests.get(
        env["ISSUER"] + "/.well-known/openid-configuration", timeout=10
    ).json()
    seen["issuer"] = discovery["issuer"]
    client = OAuth2Session(
        env["CLIENT_ID"],
        env["CLIENT_SECRET"],
        scope="openid profile email offline_access",
        redirect_uri=env["REDIRECT_URI"],
        code_challenge_method="S256",
        token_endpoint_auth_method="client_secret_basic",
    )
    verifier = secrets.token_urlsafe(48)
    nonce = secrets.token_urlsafe(16)
    url, state = client.create_authorization_url(
        discovery["authorization_endpoint"], nonce=nonce, code_verifier=verifier
    )
    back = requests.get(
        url, headers={"Cookie": env["COOKIE"]}, allow_redirects=False, timeout=10
    )
    seen["authorize_status"] = back.status_code
    token = client.fetch_token(
        discovery["token_endpoint"],
        authorization_response=back.headers["Location"],
        code_verifier=verifier,
        state=state,
    )
    keys = JsonWebKey.import_key_set(requests.get(discovery["jwks_uri"], timeout=10).json())
    claims = jwt.decode(
        token["id_token"],
        keys,
        claims_options={
            "iss": {"essential": True, "value": discovery["issuer"]},
            "aud": {"essential": True, "value": env["CLIENT_ID"]},
            "nonce": {"essential": True, "value": nonce},
        },
    )
    claims.validate()
    seen["id_token_claims"] = dict(claims)
    seen["userinfo"] = client.get(discovery["userinfo_endpoint"]).json()
    refreshed = client.refresh_token(
        discovery["token_endpoint"], refresh_token=token["refresh_token"]
    )
    seen["refresh_rotated"] = refreshed["refresh_token"] != token["refresh_token"]
    print(json.dumps(seen))
except Exception as error:  # any failure is the test's failure, with what was seen
    print(f"{type(error).__name__}: {error}", file=sys.stderr)
    print(json.dumps(seen, default=str), file=sys.stderr)
    sys.exit(1)
