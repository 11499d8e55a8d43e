//! Who the caller is. The server decides: the API Gateway JWT authorizer's `sub`, or for guests
//! a token we issued, or a fresh random guest id. Never anything the browser names.

use lambda_http::request::RequestContext;
use lambda_http::{Request, RequestExt, http};

use crate::config::Settings;
use crate::error::ApiError;
use crate::ids::is_valid_identity;
use crate::token::{TokenError, TokenIssuer};

/// How the identity was established; reported in logs, never trusted from the client.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum IdentitySource {
    /// `sub` of a JWT the API Gateway authorizer validated.
    Authorizer,
    /// A guest presenting a still-valid token we issued.
    GuestRefresh,
    /// A guest with no token: a new random identity.
    NewGuest,
}

#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Caller {
    pub identity: String,
    pub source: IdentitySource,
    /// The authorizer's `name` claim, if any: what an agent may be shown.
    pub display_name: Option<String>,
}

/// Whether this route may hand out a new guest identity (token minting) or needs an existing
/// one (everything that acts on behalf of a known caller).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum NewGuests {
    Allowed,
    Forbidden,
}

/// What every guest identity starts with; a guest token naming anything else is refused.
pub const GUEST_PREFIX: &str = "guest-";

/// A new guest identity, made at `now`: `guest-t<unix seconds>-<random>`. The time is what
/// bounds a guest's age without a lookup: the token that carries it is signed.
pub fn new_guest_identity(now: i64) -> String {
    format!("{GUEST_PREFIX}t{now}-{}", uuid::Uuid::new_v4().simple())
}

/// When a guest identity was made; `None` for one made before identities carried it.
pub fn guest_created_at(identity: &str) -> Option<i64> {
    let rest = identity.strip_prefix(GUEST_PREFIX)?.strip_prefix('t')?;
    let (created, random) = rest.split_once('-')?;
    (!random.is_empty() && created.bytes().all(|b| b.is_ascii_digit()))
        .then(|| created.parse().ok())
        .flatten()
}

/// Who may call, decided once per cold start: the issuer whose tokens identify guests, whether
/// guests may chat at all, and how long one guest identity lasts. Every handler decides its
/// caller through [`Self::resolve`].
#[derive(Debug)]
pub struct Callers {
    issuer: TokenIssuer,
    allow_guests: bool,
    guest_max_age_seconds: i64,
}

impl Callers {
    pub fn new(issuer: TokenIssuer, allow_guests: bool, guest_max_age_days: u32) -> Self {
        Self {
            issuer,
            allow_guests,
            guest_max_age_seconds: i64::from(guest_max_age_days) * 86_400,
        }
    }

    pub fn from_settings(settings: &Settings) -> Self {
        Self::new(
            TokenIssuer::from_settings(settings),
            settings.allow_guests,
            settings.guest_max_age_days,
        )
    }

    /// The issuer of guests' tokens (and the tokens `POST /token` mints).
    pub fn issuer(&self) -> &TokenIssuer {
        &self.issuer
    }

    /// Decides who the caller is.
    ///
    /// Authorizer claims win when present. Otherwise, with guests enabled, a bearer token must
    /// be one we issued for a guest identity (an invalid one is an error, never a silent new
    /// guest); with no bearer a new guest is created if the route allows it. A guest older than
    /// the maximum age is over: where new guests are allowed (a refresh) the caller becomes a
    /// new one, elsewhere the token is refused.
    pub fn resolve(
        &self,
        request: &Request,
        new_guests: NewGuests,
        now: i64,
    ) -> Result<Caller, ApiError> {
        if let Some(claims) = authorizer_claims(request) {
            let sub = claims.get("sub").ok_or(ApiError::Unauthorized)?;
            if !is_valid_identity(sub) {
                return Err(ApiError::InvalidIdentity);
            }
            return Ok(Caller {
                identity: sub.clone(),
                source: IdentitySource::Authorizer,
                display_name: claims.get("name").cloned(),
            });
        }
        if !self.allow_guests {
            return Err(ApiError::Unauthorized);
        }
        match bearer_token(request)? {
            Some(token) => {
                let verified = self
                    .issuer
                    .verify(token, now)
                    .map_err(ApiError::InvalidToken)?;
                // Our key signs tokens for signed-in customers too (in the authorizer's mode);
                // without an authorizer only a guest's may act.
                if !verified.identity.starts_with(GUEST_PREFIX) {
                    return Err(ApiError::InvalidToken(TokenError::NotAGuest));
                }
                // An identity made before identities carried their age is replaced at its next
                // refresh, so it lasts one token lifetime more at most.
                let over = match guest_created_at(&verified.identity) {
                    Some(created) => now - created > self.guest_max_age_seconds,
                    None => new_guests == NewGuests::Allowed,
                };
                match (over, new_guests) {
                    (false, _) => Ok(Caller {
                        identity: verified.identity,
                        source: IdentitySource::GuestRefresh,
                        display_name: None,
                    }),
                    (true, NewGuests::Allowed) => Ok(self.new_guest(now)),
                    (true, NewGuests::Forbidden) => {
                        Err(ApiError::InvalidToken(TokenError::GuestTooOld))
                    }
                }
            }
            None if new_guests == NewGuests::Allowed => Ok(self.new_guest(now)),
            None => Err(ApiError::Unauthorized),
        }
    }
}

impl Callers {
    fn new_guest(&self, now: i64) -> Caller {
        Caller {
            identity: new_guest_identity(now),
            source: IdentitySource::NewGuest,
            display_name: None,
        }
    }
}

fn authorizer_claims(request: &Request) -> Option<&std::collections::HashMap<String, String>> {
    match request.request_context_ref()? {
        RequestContext::ApiGatewayV2(context) => context
            .authorizer
            .as_ref()?
            .jwt
            .as_ref()
            .map(|jwt| &jwt.claims),
        _ => None,
    }
}

/// The token of an `Authorization: Bearer …` header; any other scheme is an invalid token.
fn bearer_token(request: &Request) -> Result<Option<&str>, ApiError> {
    let Some(value) = request.headers().get(http::header::AUTHORIZATION) else {
        return Ok(None);
    };
    let invalid = || ApiError::InvalidToken(TokenError::Malformed);
    let value = value.to_str().map_err(|_| invalid())?;
    match value.split_once(' ') {
        Some((scheme, token))
            if scheme.eq_ignore_ascii_case("bearer") && !token.trim().is_empty() =>
        {
            Ok(Some(token.trim()))
        }
        _ => Err(invalid()),
    }
}
