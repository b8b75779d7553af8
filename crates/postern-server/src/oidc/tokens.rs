//! The token endpoint's answer: an access token, an ID token signed with the client's
//! algorithm, and with `offline_access` a refresh token, all of one family.

use postern_core::UnixSeconds;
use postern_core::access;
use postern_core::identity::Identity;
use postern_core::oidc::OidcClient;
use postern_core::oidc::claims::{acr, amr, user_claims};
use postern_store::StoreError;
use serde_json::{Value, json};

use super::grants::{self, Subject, TokenGrant, TokenKind};
use crate::state::AppState;

impl Subject {
    /// The identity the ID token and userinfo release: a provider's user's groups under
    /// their `<provider>:<group>` names (`access::provider_groups` says why).
    pub fn identity(&self) -> Identity {
        let identity = Identity::new(&self.user, &self.email, &self.name, &self.groups);
        match &self.provider {
            // The names as `Identity::new` cleaned them (as `Remote-Groups` and the identity
            // token have them), then prefixed: one spelling in every token.
            Some(provider) => Identity::new(
                &self.user,
                &self.email,
                &self.name,
                &access::provider_groups(provider, &identity.groups),
            ),
            None => identity,
        }
    }

    /// The subject as access rules (the client's) see them, with the level of its sign-in.
    pub fn access(&self) -> access::Subject<'_> {
        access::Subject {
            user: &self.user,
            groups: &self.groups,
            level: self.level,
            provider: self.provider.as_deref(),
        }
    }
}

/// Why no tokens were issued.
pub enum IssueError {
    Store(StoreError),
    /// The signing key failed (logged).
    Signing,
}

impl From<StoreError> for IssueError {
    fn from(err: StoreError) -> Self {
        Self::Store(err)
    }
}

/// What the tokens are for.
pub struct Issue<'a> {
    pub client: &'a OidcClient,
    pub subject: &'a Subject,
    pub scopes: &'a [String],
    pub family: &'a str,
    /// The family's absolute end (set by the code exchange, kept by every refresh).
    pub family_expires_at: UnixSeconds,
    /// `Some` for the code exchange (the nonce, if the request had one); ID tokens from a
    /// refresh carry no nonce.
    pub nonce: Option<&'a str>,
}

pub async fn issue(
    state: &AppState,
    issue: &Issue<'_>,
    now: UnixSeconds,
) -> Result<Value, IssueError> {
    let client = issue.client;
    let access_ttl = client.access_token_ttl.as_secs();
    let grant = |expires_at| TokenGrant {
        client_id: client.id.clone(),
        scopes: issue.scopes.to_vec(),
        subject: issue.subject.clone(),
        family: issue.family.to_owned(),
        issued_at: now,
        expires_at,
        family_expires_at: issue.family_expires_at,
    };
    let access_expires = now.saturating_add(access_ttl).min(issue.family_expires_at);
    let access = grants::issue_token(state, TokenKind::Access, &grant(access_expires), now).await?;
    let mut answer = json!({
        "access_token": access,
        "token_type": "Bearer",
        "expires_in": access_expires.saturating_sub(now),
        "scope": issue.scopes.join(" "),
    });
    // Only an OpenID Connect answer carries one: a refresh that narrowed the scope to leave
    // `openid` out is plain OAuth (every authorization asks for `openid`).
    if issue.scopes.iter().any(|scope| scope == "openid") {
        answer["id_token"] = id_token(state, issue, now, access_expires)?.into();
    }
    if issue.scopes.iter().any(|scope| scope == "offline_access") {
        let refresh = grants::issue_token(
            state,
            TokenKind::Refresh,
            &grant(issue.family_expires_at),
            now,
        )
        .await?;
        answer["refresh_token"] = refresh.into();
    }
    Ok(answer)
}

fn id_token(
    state: &AppState,
    issue: &Issue<'_>,
    now: UnixSeconds,
    expires_at: UnixSeconds,
) -> Result<String, IssueError> {
    let provider = state.oidc.as_ref().ok_or(IssueError::Signing)?;
    let key = provider
        .config
        .keys
        .for_algorithm(issue.client.id_token_algorithm)
        .ok_or(IssueError::Signing)?;
    let subject = issue.subject;
    let mut claims = user_claims(&subject.identity(), &subject.sub, issue.scopes);
    claims.insert("iss".into(), provider.config.issuer.clone().into());
    claims.insert("aud".into(), issue.client.id.clone().into());
    claims.insert("azp".into(), issue.client.id.clone().into());
    claims.insert("iat".into(), now.into());
    claims.insert("exp".into(), expires_at.into());
    claims.insert("auth_time".into(), subject.auth_time.into());
    claims.insert(
        "amr".into(),
        amr(subject.level, subject.way_in, subject.federated).into(),
    );
    claims.insert("acr".into(), acr(subject.level).into());
    if let Some(nonce) = issue.nonce {
        claims.insert("nonce".into(), nonce.into());
    }
    key.sign(&claims).map_err(|err| {
        tracing::error!(error = %err, "an ID token could not be signed");
        IssueError::Signing
    })
}
