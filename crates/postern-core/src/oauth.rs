//! Sign-in through an OAuth 2.0 / OpenID Connect provider: the providers as configured, and the
//! pure decision of who a provider's answer makes the user (and whether they may come in).
//! The exchange itself (HTTP, tokens, signatures) lives in the server.

use url::{Host, Url};

use crate::users::UserTable;

/// What a provider is, which decides its endpoints and how its user is read.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ProviderKind {
    /// GitHub's OAuth apps: no ID token; the user from `/user`, the email from `/user/emails`.
    GitHub,
    /// Google: OpenID Connect with known endpoints (no discovery needed).
    Google,
    /// Any OpenID Connect provider, found by discovery from its `issuer`.
    Oidc,
}

impl ProviderKind {
    /// Whether the provider answers with an ID token that must be verified.
    pub fn is_oidc(self) -> bool {
        matches!(self, Self::Google | Self::Oidc)
    }
}

/// Whether postern may send credentials to `url`: https, or http on a loopback host (a local
/// provider, or a test). Applies to configured and to discovered endpoints alike.
pub fn is_safe_endpoint(url: &Url) -> bool {
    let loopback = match url.host() {
        Some(Host::Domain(domain)) => domain == "localhost",
        Some(Host::Ipv4(ip)) => ip.is_loopback(),
        Some(Host::Ipv6(ip)) => ip.is_loopback(),
        None => false,
    };
    url.scheme() == "https" || (url.scheme() == "http" && loopback)
}

/// One `[oauth.<id>]` provider, validated.
#[derive(Clone)]
pub struct OAuthProvider {
    /// The id in the config and in the URLs (`/api/oauth/login/<id>`).
    pub id: String,
    /// The button's text: "Sign in with <label>".
    pub label: String,
    pub kind: ProviderKind,
    pub client_id: String,
    pub client_secret: String,
    pub scopes: Vec<String>,
    /// The expected `iss` of ID tokens (OIDC and Google).
    pub issuer: Option<Url>,
    /// Endpoints; for a discovered provider, `None` means "from discovery".
    pub auth_url: Option<Url>,
    pub token_url: Option<Url>,
    pub userinfo_url: Option<Url>,
    pub jwks_url: Option<Url>,
    /// The claim that holds the user's groups (a list, or one comma-separated string).
    pub groups_claim: Option<String>,
    /// The claim that becomes `Remote-User`; the verified email when `None`.
    pub username_claim: Option<String>,
    pub allow: AllowList,
    /// Lets a provider user whose name is a local user's name sign in as that local user.
    pub link_local_users: bool,
}

impl std::fmt::Debug for OAuthProvider {
    // Never the client secret.
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("OAuthProvider")
            .field("id", &self.id)
            .field("kind", &self.kind)
            .field("client_id", &self.client_id)
            .field("issuer", &self.issuer.as_ref().map(Url::as_str))
            .finish_non_exhaustive()
    }
}

/// Who may sign in through a provider. Any one match admits: a listed email, a listed domain
/// (verified emails only), a listed group, or `all`.
#[derive(Debug, Clone, Default)]
pub struct AllowList {
    /// Lower case.
    pub emails: Vec<String>,
    /// Lower case, without `@`.
    pub domains: Vec<String>,
    pub groups: Vec<String>,
    pub all: bool,
}

impl AllowList {
    pub fn is_empty(&self) -> bool {
        !self.all && self.emails.is_empty() && self.domains.is_empty() && self.groups.is_empty()
    }

    fn admits(&self, verified_email: Option<&str>, groups: &[String]) -> bool {
        if self.all {
            return true;
        }
        if let Some(email) = verified_email.map(str::to_lowercase) {
            let domain = email.rsplit_once('@').map(|(_, domain)| domain);
            if self.emails.contains(&email)
                || domain.is_some_and(|domain| self.domains.iter().any(|d| d == domain))
            {
                return true;
            }
        }
        groups.iter().any(|group| self.groups.contains(group))
    }
}

/// What the provider said about the user, from the ID token, userinfo or the provider's API.
#[derive(Debug, Clone, Default)]
pub struct ProviderClaims {
    pub email: Option<String>,
    pub email_verified: bool,
    pub name: Option<String>,
    pub groups: Vec<String>,
    /// The value of `username_claim`, when one is configured.
    pub username: Option<String>,
}

/// Who the user becomes.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum SignInAs {
    /// A user known only through the provider; the session carries the identity.
    External {
        user: String,
        email: String,
        name: String,
        groups: Vec<String>,
    },
    /// A local user with this (canonical) name, linked by `link_local_users`.
    Local(String),
}

/// Why a provider's user may not sign in.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum Refusal {
    #[error("the provider did not say the email address is verified")]
    UnverifiedEmail,
    #[error("the provider sent no `{0}` claim to use as the user name")]
    NoUsername(String),
    #[error("`{0}` is a local user's name, and this provider may not sign in as local users")]
    LocalName(String),
    #[error("the account is not on this provider's allow-list")]
    NotAllowed,
}

/// Decides who the provider's user becomes, or why they may not sign in.
pub fn sign_in_as(
    provider: &OAuthProvider,
    claims: &ProviderClaims,
    users: &UserTable,
) -> Result<SignInAs, Refusal> {
    let verified_email = claims
        .email
        .as_deref()
        .filter(|email| claims.email_verified && !email.is_empty());
    let user = match provider.username_claim.as_deref() {
        // `username_claim = "email"` names the user by their email all the same: only a
        // verified one, or an account could take any address it typed in as its name.
        None | Some("email") => verified_email
            .map(str::to_owned)
            .ok_or(Refusal::UnverifiedEmail)?,
        Some(claim) => claims
            .username
            .clone()
            .filter(|name| !name.trim().is_empty())
            .ok_or_else(|| Refusal::NoUsername(claim.to_owned()))?,
    };
    // The name as the upstream will see it in `Remote-User` (control characters and outer
    // spaces dropped), so " bob" or "bob\t" cannot pass for someone else below.
    let user = crate::identity::header_safe(&user);
    if user.is_empty() {
        return Err(Refusal::NoUsername(
            provider.username_claim.clone().unwrap_or_default(),
        ));
    }
    let needs_email = !provider.allow.all
        && provider.allow.groups.is_empty()
        && (!provider.allow.emails.is_empty() || !provider.allow.domains.is_empty());
    if needs_email && verified_email.is_none() {
        return Err(Refusal::UnverifiedEmail);
    }
    if !provider.allow.admits(verified_email, &claims.groups) {
        return Err(Refusal::NotAllowed);
    }
    if let Some(local) = users.get(&user) {
        return if provider.link_local_users {
            Ok(SignInAs::Local(local.name.clone()))
        } else {
            Err(Refusal::LocalName(user))
        };
    }
    Ok(SignInAs::External {
        user,
        email: verified_email.unwrap_or_default().to_owned(),
        name: claims.name.clone().unwrap_or_default(),
        groups: claims.groups.clone(),
    })
}

#[cfg(test)]
mod tests;
