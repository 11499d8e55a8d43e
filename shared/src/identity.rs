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

/// Who may call, decided once per cold start: the issuer whose tokens identify guests, and
/// whether guests may chat at all. Every handler decides its caller through [`Self::resolve`].
#[derive(Debug)]
pub struct Callers {
    issuer: TokenIssuer,
    allow_guests: bool,
}

impl Callers {
    pub fn new(issuer: TokenIssuer, allow_guests: bool) -> Self {
        Self {
            issuer,
            allow_guests,
        }
    }

    pub fn from_settings(settings: &Settings) -> Self {
        Self::new(TokenIssuer::from_settings(settings), settings.allow_guests)
    }

    /// The issuer of guests' tokens (and the tokens `POST /token` mints).
    pub fn issuer(&self) -> &TokenIssuer {
        &self.issuer
    }

    /// Decides who the caller is.
    ///
    /// Authorizer claims win when present. Otherwise, with guests enabled, a bearer token must
    /// be one we issued (an invalid one is an error, never a silent new guest); with no bearer a
    /// new guest is created if the route allows it.
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
                Ok(Caller {
                    identity: verified.identity,
                    source: IdentitySource::GuestRefresh,
                    display_name: None,
                })
            }
            None if new_guests == NewGuests::Allowed => Ok(Caller {
                identity: format!("guest-{}", uuid::Uuid::new_v4()),
                source: IdentitySource::NewGuest,
                display_name: None,
            }),
            None => Err(ApiError::Unauthorized),
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
