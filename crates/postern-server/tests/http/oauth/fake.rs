//! Small local fakes of Google's and GitHub's endpoints, each a tokio task on 127.0.0.1:0:
//! Google's token, userinfo and key-set endpoints (ID tokens signed RS256 with a fixed test
//! key), and GitHub's token, `/user` and `/user/emails`. The token endpoints check the client
//! credentials, the redirect URI and the PKCE verifier, as the real ones do.

use std::collections::HashMap;
use std::convert::Infallible;
use std::sync::{Arc, Mutex};

use base64::Engine;
use base64::engine::general_purpose::{STANDARD, URL_SAFE_NO_PAD};
use bytes::Bytes;
use http::{Request, Response, StatusCode};
use http_body_util::{BodyExt, Full};
use hyper::body::Incoming;
use hyper::service::service_fn;
use hyper_util::rt::TokioIo;
use serde_json::{Value, json};
use sha2::{Digest, Sha256};
use tokio::net::TcpListener;
use url::Url;

/// A 2048-bit RSA key for the fakes only (PKCS#8 DER, base64), and its public half as JWK fields.
pub const RSA_PKCS8: &str = "MIIEvQIBADANBgkqhkiG9w0BAQEFAASCBKcwggSjAgEAAoIBAQCRZNgN8XlijLdPgEuInmJbFijqKy1qd0+c1AiuL01Q64MGZrSr3eR0oP9dz0GfIHnYL9KRE8BfgN0J+LVG+CNqGfclpAcWhuetU3Cb5nG1LnSpMMQRifQNs5ihY9kqXC/3gxdvbAw1X7G7kAZmcyWmOClpB5W2XCae+hTKL+iMF6n+qKuaA81bWk1peZWzztl0OgE3kQS6acMzB5h/QaDve+XF+5adaaEHpyOoLpdpapXQLi80Ut3il015Cvf5dmJr73bFTdV1NmmDQefbtKuhgm54/yJpU1fte75E5csxH97Oq8EGlwGlweai48rC9KEkgvMymlZAhtJEZFFAY6fBAgMBAAECggEADJNY3qfetGfwaQdzQQ9V+YPqqQpwBK/qKmnqkEpWGSQtso2Knfz0yCOuwsns5psT/t9wCo1XS8tlEvo4j7lhsskpJ8/OryOfAU5gxJNDjYTFoWau5sd0XQUGNBtjSrcrjPCBQ+loCuvKfysfapgWDxD3f/age+PvkTuXNb+8EPXPpICPR4g8Yp1jGte4utunO8jQsp2EbFEhJqczq9vXDBL2B26ksYN1Ky/RuxA1isCouSDabkP6L1Mh6sEcgMyLQ4Fw/6D+byD8LRF3LOl3RX1FiYeOCQ/f8avDbZOFgTw2L3IuaJGhfhoA8L6RnfKd+oB0QVsGlBX11zE+e711+wKBgQDElQGTj19+Kriu6B6Vb6SqOw9lDhxWnKfgjd+bDdR/8WPZtkBZY1xZxW4RE9HzbJmi7g5kT1tnAS6vrj5Hi3JvOgXjpp9pqnhHOow2WOUNTYxNXLB+z87I+I/Q72ywPUEM3DEW7MR5dxJQzcnGe/4lCzPPypuJ6kAbPHrMbbLBEwKBgQC9Vwlxl+hN4xN8IHIqcaAe2t3Elb6Enrb1JhPPgr7O7/U5AJgqUccQ5l1APlTM3Fu7dOtbYmhqmvyrKksEkgHepOKenEEU08dbEpl0y+BjR+a6Wo8DrR9ClgEr2Fq68xH9+Q5lPYVkigaiA9I3Mkpr4WEUGt5lxPdYqIbJfgmiWwKBgHQIK50IhGn5F3eN5Pd5pW0hXS3dzVZGM0T1GOXxnNtEBRbtX0AjyM/oG9aSp1sSYADumKoWuTGsXf0uUO5z3cDPM8iygeehykrowPgXMmPOwSCstDS1vi2boW/G0pWYIjxP/92zNSko4jO1tAKnD1SYLyXYRkR6cwpggW8G1PrnAoGAP59tlvQapYF2XLFya3y+919IQfSnjlze0cW3xnUCtPrBBiSC/UV5hN5D24CWcjhhwr3pEE4jFB98Y+/UQXbmlfAGDpIm9F6tkJbRZgPUJMhWaaxgfjXAWVmajycmZcej9hmokrB3kG8pB2wNSWrmwxV6z4yvyrbC/tGyaSanCh0CgYEAsIiQyBNV4J6/TN35nNd9usnGs4SMBYJXTWIjmhfsYeMWWzNJu2WkC/+qJ/Mygah851Q3EdXEx8x+M9vCNlv3aWiSATh5nlPctARWD14n8qnnoqUHPHI2fzyXqAYyDllL1QCGdHqaApKRP4Q+t9+nqS0P1R8lRqT093PPxwB/1jw=";
pub const RSA_N: &str = "kWTYDfF5Yoy3T4BLiJ5iWxYo6istandPnNQIri9NUOuDBma0q93kdKD_Xc9BnyB52C_SkRPAX4DdCfi1Rvgjahn3JaQHFobnrVNwm-ZxtS50qTDEEYn0DbOYoWPZKlwv94MXb2wMNV-xu5AGZnMlpjgpaQeVtlwmnvoUyi_ojBep_qirmgPNW1pNaXmVs87ZdDoBN5EEumnDMweYf0Gg73vlxfuWnWmhB6cjqC6XaWqV0C4vNFLd4pdNeQr3-XZia-92xU3VdTZpg0Hn27SroYJueP8iaVNX7Xu-ROXLMR_ezqvBBpcBpcHmouPKwvShJILzMppWQIbSRGRRQGOnwQ";
pub const RSA_E: &str = "AQAB";

pub const CLIENT_ID: &str = "postern-client";
pub const CLIENT_SECRET: &str = "provider-secret";

/// Who the fake says the user is, and how it misbehaves.
#[derive(Clone)]
pub struct Account {
    pub email: String,
    pub email_verified: bool,
    pub name: String,
    pub groups: Vec<String>,
    /// GitHub's `login`.
    pub login: String,
    /// `aud` of the ID token; the client id when `None`.
    pub audience: Option<String>,
    /// Breaks the ID token's signature.
    pub bad_signature: bool,
    /// Puts this nonce in the ID token instead of the sign-in's.
    pub nonce: Option<String>,
    /// The `issuer` the discovery document names; the fake's own URL when `None`.
    pub discovery_issuer: Option<String>,
    /// The token endpoint the discovery document names; the fake's own when `None`.
    pub discovery_token_endpoint: Option<String>,
}

impl Default for Account {
    fn default() -> Self {
        Self {
            email: "carol@example.org".into(),
            email_verified: true,
            name: "Carol Provider".into(),
            groups: vec!["staff".into()],
            login: "carol".into(),
            audience: None,
            bad_signature: false,
            nonce: None,
            discovery_issuer: None,
            discovery_token_endpoint: None,
        }
    }
}

struct Grant {
    challenge: String,
    nonce: String,
    redirect_uri: String,
}

#[derive(Default)]
struct Shared {
    base: String,
    account: Account,
    grants: HashMap<String, Grant>,
    counter: u64,
}

pub struct FakeProvider {
    pub base: String,
    shared: Arc<Mutex<Shared>>,
    task: tokio::task::JoinHandle<()>,
}

impl Drop for FakeProvider {
    fn drop(&mut self) {
        self.task.abort();
    }
}

impl FakeProvider {
    pub async fn start(account: Account) -> Self {
        let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
        let base = format!("http://{}", listener.local_addr().unwrap());
        let shared = Arc::new(Mutex::new(Shared {
            base: base.clone(),
            account,
            ..Shared::default()
        }));
        let served = Arc::clone(&shared);
        let task = tokio::spawn(async move {
            loop {
                let Ok((stream, _)) = listener.accept().await else {
                    return;
                };
                let shared = Arc::clone(&served);
                tokio::spawn(async move {
                    let service = service_fn(move |request| {
                        let shared = Arc::clone(&shared);
                        async move { Ok::<_, Infallible>(answer(&shared, request).await) }
                    });
                    let _ = hyper::server::conn::http1::Builder::new()
                        .serve_connection(TokioIo::new(stream), service)
                        .await;
                });
            }
        });
        Self { base, shared, task }
    }

    /// The `[oauth.google]` table pointing at this fake.
    pub fn google_config(&self, extra: &str) -> String {
        let base = &self.base;
        format!(
            "[oauth.google]\nclient_id = \"{CLIENT_ID}\"\nclient_secret = \"{CLIENT_SECRET}\"\n\
             auth_url = \"{base}/auth\"\ntoken_url = \"{base}/token\"\n\
             userinfo_url = \"{base}/userinfo\"\njwks_url = \"{base}/certs\"\n{extra}\n"
        )
    }

    /// The `[oauth.github]` table pointing at this fake.
    pub fn github_config(&self, extra: &str) -> String {
        let base = &self.base;
        format!(
            "[oauth.github]\nclient_id = \"{CLIENT_ID}\"\nclient_secret = \"{CLIENT_SECRET}\"\n\
             auth_url = \"{base}/login/oauth/authorize\"\n\
             token_url = \"{base}/login/oauth/access_token\"\nuserinfo_url = \"{base}/user\"\n{extra}\n"
        )
    }

    /// What the provider does when the user signs in at `authorization_url`: remembers the
    /// PKCE challenge and nonce, and returns a code for the callback.
    pub fn sign_in(&self, authorization_url: &str) -> String {
        let url = Url::parse(authorization_url).unwrap();
        let query: HashMap<String, String> = url.query_pairs().into_owned().collect();
        assert_eq!(query["response_type"], "code");
        assert_eq!(query["client_id"], CLIENT_ID);
        assert_eq!(query["code_challenge_method"], "S256");
        let mut shared = self.shared.lock().unwrap();
        shared.counter += 1;
        let code = format!("code-{}", shared.counter);
        shared.grants.insert(
            code.clone(),
            Grant {
                challenge: query["code_challenge"].clone(),
                nonce: query.get("nonce").cloned().unwrap_or_default(),
                redirect_uri: query["redirect_uri"].clone(),
            },
        );
        code
    }
}

async fn answer(shared: &Mutex<Shared>, request: Request<Incoming>) -> Response<Full<Bytes>> {
    let path = request.uri().path().to_owned();
    let authorization = request
        .headers()
        .get("authorization")
        .and_then(|value| value.to_str().ok())
        .unwrap_or_default()
        .to_owned();
    let body = request.into_body().collect().await.unwrap().to_bytes();
    let form: HashMap<String, String> = serde_urlencoded::from_bytes(&body).unwrap_or_default();
    let shared = &mut *shared.lock().unwrap();
    let account = shared.account.clone();
    match path.as_str() {
        "/token" | "/login/oauth/access_token" => {
            let github = path != "/token";
            let client_ok = if github {
                form.get("client_id").map(String::as_str) == Some(CLIENT_ID)
                    && form.get("client_secret").map(String::as_str) == Some(CLIENT_SECRET)
            } else {
                authorization
                    == format!(
                        "Basic {}",
                        STANDARD.encode(format!("{CLIENT_ID}:{CLIENT_SECRET}"))
                    )
            };
            if !client_ok {
                return json_answer(StatusCode::UNAUTHORIZED, json!({"error": "invalid_client"}));
            }
            let Some(grant) = form.get("code").and_then(|code| shared.grants.remove(code)) else {
                return json_answer(StatusCode::BAD_REQUEST, json!({"error": "invalid_grant"}));
            };
            let verifier = form.get("code_verifier").cloned().unwrap_or_default();
            let pkce_ok =
                URL_SAFE_NO_PAD.encode(Sha256::digest(verifier.as_bytes())) == grant.challenge;
            if !pkce_ok || form.get("redirect_uri") != Some(&grant.redirect_uri) {
                return json_answer(StatusCode::BAD_REQUEST, json!({"error": "invalid_grant"}));
            }
            if github {
                return json_answer(
                    StatusCode::OK,
                    json!({"access_token": "gh-access", "token_type": "bearer", "scope": "read:user,user:email"}),
                );
            }
            let nonce = account.nonce.clone().unwrap_or(grant.nonce);
            json_answer(
                StatusCode::OK,
                json!({
                    "access_token": "google-access",
                    "token_type": "Bearer",
                    "expires_in": 3600,
                    "id_token": id_token(&account, &nonce),
                }),
            )
        }
        "/.well-known/openid-configuration" => {
            let base = &shared.base;
            json_answer(
                StatusCode::OK,
                json!({
                    "issuer": account.discovery_issuer.clone().unwrap_or_else(|| base.clone()),
                    "authorization_endpoint": format!("{base}/auth"),
                    "token_endpoint": account
                        .discovery_token_endpoint
                        .clone()
                        .unwrap_or_else(|| format!("{base}/token")),
                    "userinfo_endpoint": format!("{base}/userinfo"),
                    "jwks_uri": format!("{base}/certs"),
                }),
            )
        }
        "/userinfo" => json_answer(
            StatusCode::OK,
            json!({
                "sub": "google-sub-1",
                "email": account.email,
                "email_verified": account.email_verified,
                "name": account.name,
                "groups": account.groups,
            }),
        ),
        "/certs" => json_answer(
            StatusCode::OK,
            json!({"keys": [{"kty": "RSA", "kid": "test-key", "alg": "RS256", "use": "sig", "n": RSA_N, "e": RSA_E}]}),
        ),
        "/user" => json_answer(
            StatusCode::OK,
            json!({"login": account.login, "id": 42, "name": account.name, "email": "public@example.net"}),
        ),
        "/user/orgs" => json_answer(
            StatusCode::OK,
            json!(
                account
                    .groups
                    .iter()
                    .map(|login| json!({"login": login, "id": 7}))
                    .collect::<Vec<_>>()
            ),
        ),
        "/user/emails" => json_answer(
            StatusCode::OK,
            json!([
                {"email": "old@example.net", "primary": false, "verified": true},
                {"email": account.email, "primary": true, "verified": account.email_verified},
            ]),
        ),
        _ => json_answer(StatusCode::NOT_FOUND, json!({"error": "not found"})),
    }
}

/// An RS256 ID token as Google issues one (email claims in the token, no groups).
fn id_token(account: &Account, nonce: &str) -> String {
    let now = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .unwrap()
        .as_secs();
    let header = json!({"alg": "RS256", "kid": "test-key", "typ": "JWT"});
    let claims = json!({
        "iss": "https://accounts.google.com",
        "aud": account.audience.clone().unwrap_or_else(|| CLIENT_ID.into()),
        "sub": "google-sub-1",
        "iat": now,
        "exp": now + 3600,
        "nonce": nonce,
        "email": account.email,
        "email_verified": account.email_verified,
        "name": account.name,
    });
    let encode = |value: &Value| URL_SAFE_NO_PAD.encode(value.to_string());
    let signed = format!("{}.{}", encode(&header), encode(&claims));
    let key =
        ring::signature::RsaKeyPair::from_pkcs8(&STANDARD.decode(RSA_PKCS8).unwrap()).unwrap();
    let mut signature = vec![0; key.public().modulus_len()];
    key.sign(
        &ring::signature::RSA_PKCS1_SHA256,
        &ring::rand::SystemRandom::new(),
        signed.as_bytes(),
        &mut signature,
    )
    .unwrap();
    if account.bad_signature {
        signature[10] ^= 0x55;
    }
    format!("{signed}.{}", URL_SAFE_NO_PAD.encode(signature))
}

fn json_answer(status: StatusCode, body: Value) -> Response<Full<Bytes>> {
    Response::builder()
        .status(status)
        .header("content-type", "application/json")
        .body(Full::new(Bytes::from(body.to_string())))
        .unwrap()
}
