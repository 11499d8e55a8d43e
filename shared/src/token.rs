//! Twilio Access Tokens: HS256 JWTs with a `chat` grant, byte-for-byte in the shape Twilio's
//! helper libraries produce, and verification of the ones we issued (for guest refresh).

use base64::Engine as _;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use hmac::{Hmac, Mac};
use secrecy::{ExposeSecret, SecretString};
use serde::{Deserialize, Serialize};
use sha2::Sha256;

use crate::config::Settings;
use crate::ids::is_valid_identity;

type HmacSha256 = Hmac<Sha256>;

/// Clock skew tolerated between us and whoever checks `exp`/`nbf`.
pub const LEEWAY_SECONDS: i64 = 30;
/// Far above any token we mint (~600 bytes); bounds the work an attacker can make us do.
const MAX_TOKEN_LEN: usize = 4096;

/// The JOSE header of every Twilio Access Token (`cty` marks the Twilio "FPA" token format).
const HEADER_JSON: &str = r#"{"alg":"HS256","typ":"JWT","cty":"twilio-fpa;v=1"}"#;

#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
pub enum TokenError {
    #[error("the token is malformed")]
    Malformed,
    #[error("the token's algorithm is not HS256")]
    UnsupportedAlgorithm,
    #[error("the token's signature does not match")]
    BadSignature,
    #[error("the token was not issued by this service")]
    ForeignIssuer,
    #[error("the token has expired")]
    Expired,
    #[error("the token is not valid yet")]
    NotYetValid,
    #[error("the token carries no valid identity")]
    MissingIdentity,
}

/// A token we minted, with what the API response reports about it.
#[derive(Debug)]
pub struct IssuedToken {
    pub jwt: String,
    pub identity: String,
    pub expires_at: i64,
}

/// The facts a verified token vouches for.
#[derive(Debug, PartialEq, Eq)]
pub struct VerifiedToken {
    pub identity: String,
    pub expires_at: i64,
}

#[derive(Serialize)]
struct Claims<'a> {
    jti: String,
    iss: &'a str,
    sub: &'a str,
    iat: i64,
    nbf: i64,
    exp: i64,
    grants: Grants<'a>,
}

#[derive(Serialize, Deserialize)]
struct Grants<'a> {
    #[serde(borrow)]
    identity: Option<std::borrow::Cow<'a, str>>,
    chat: Option<ChatGrant<'a>>,
}

#[derive(Serialize, Deserialize)]
struct ChatGrant<'a> {
    #[serde(borrow)]
    service_sid: std::borrow::Cow<'a, str>,
}

#[derive(Deserialize)]
struct Header<'a> {
    #[serde(borrow)]
    alg: std::borrow::Cow<'a, str>,
}

#[derive(Deserialize)]
struct IncomingClaims<'a> {
    #[serde(borrow)]
    iss: std::borrow::Cow<'a, str>,
    #[serde(borrow)]
    sub: std::borrow::Cow<'a, str>,
    exp: i64,
    nbf: Option<i64>,
    #[serde(borrow)]
    grants: Grants<'a>,
}

/// Mints and verifies chat tokens for one Twilio account, API key and chat service.
pub struct TokenIssuer {
    account_sid: String,
    api_key_sid: String,
    chat_service_sid: String,
    ttl_seconds: u32,
    /// Keyed once per cold start; cloning a keyed HMAC skips re-deriving the pads per token.
    mac: HmacSha256,
    encoded_header: String,
}

impl std::fmt::Debug for TokenIssuer {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("TokenIssuer")
            .field("account_sid", &self.account_sid)
            .field("api_key_sid", &self.api_key_sid)
            .field("chat_service_sid", &self.chat_service_sid)
            .field("ttl_seconds", &self.ttl_seconds)
            .finish_non_exhaustive()
    }
}

impl TokenIssuer {
    pub fn new(
        account_sid: &str,
        api_key_sid: &str,
        api_key_secret: &SecretString,
        chat_service_sid: &str,
        ttl_seconds: u32,
    ) -> Self {
        let mac = HmacSha256::new_from_slice(api_key_secret.expose_secret().as_bytes())
            .expect("HMAC accepts keys of any length");
        Self {
            account_sid: account_sid.to_owned(),
            api_key_sid: api_key_sid.to_owned(),
            chat_service_sid: chat_service_sid.to_owned(),
            ttl_seconds,
            mac,
            encoded_header: URL_SAFE_NO_PAD.encode(HEADER_JSON),
        }
    }

    /// The issuer of the configured account, API key and chat service.
    pub fn from_settings(settings: &Settings) -> Self {
        Self::new(
            &settings.twilio.account_sid,
            &settings.twilio.api_key_sid,
            &settings.twilio.api_key_secret,
            &settings.chat_service_sid,
            settings.token_ttl_seconds,
        )
    }

    pub fn ttl_seconds(&self) -> u32 {
        self.ttl_seconds
    }

    /// Mints a token for `identity`, valid from `now` for the configured TTL.
    pub fn mint(&self, identity: &str, now: i64) -> IssuedToken {
        let exp = now + i64::from(self.ttl_seconds);
        let claims = Claims {
            jti: format!("{}-{now}", self.api_key_sid),
            iss: &self.api_key_sid,
            sub: &self.account_sid,
            iat: now,
            nbf: now,
            exp,
            grants: Grants {
                identity: Some(identity.into()),
                chat: Some(ChatGrant {
                    service_sid: self.chat_service_sid.as_str().into(),
                }),
            },
        };
        let payload = serde_json::to_vec(&claims).expect("claims serialize");
        let mut jwt = String::with_capacity(512);
        jwt.push_str(&self.encoded_header);
        jwt.push('.');
        URL_SAFE_NO_PAD.encode_string(payload, &mut jwt);
        let mut mac = self.mac.clone();
        mac.update(jwt.as_bytes());
        let signature = mac.finalize().into_bytes();
        jwt.push('.');
        URL_SAFE_NO_PAD.encode_string(signature, &mut jwt);
        IssuedToken {
            jwt,
            identity: identity.to_owned(),
            expires_at: exp,
        }
    }

    /// Verifies a token we issued: HS256 only, our signature, our API key and account, our chat
    /// service, and `exp`/`nbf` within [`LEEWAY_SECONDS`] of `now`.
    pub fn verify(&self, jwt: &str, now: i64) -> Result<VerifiedToken, TokenError> {
        if jwt.len() > MAX_TOKEN_LEN {
            return Err(TokenError::Malformed);
        }
        let mut parts = jwt.split('.');
        let (Some(header_b64), Some(payload_b64), Some(signature_b64), None) =
            (parts.next(), parts.next(), parts.next(), parts.next())
        else {
            return Err(TokenError::Malformed);
        };
        // Our own tokens carry exactly our header: skip parsing it. Anything else (Twilio's
        // libraries order the fields differently) is parsed and must say HS256: deciding the
        // algorithm from our configuration, not the token, defeats `alg: none` and
        // algorithm-confusion forgeries.
        if header_b64 != self.encoded_header {
            let header_json = decode_part(header_b64)?;
            let header: Header =
                serde_json::from_slice(&header_json).map_err(|_| TokenError::Malformed)?;
            if header.alg != "HS256" {
                return Err(TokenError::UnsupportedAlgorithm);
            }
        }
        let signature = decode_part(signature_b64)?;
        let mut mac = self.mac.clone();
        mac.update(&jwt.as_bytes()[..header_b64.len() + 1 + payload_b64.len()]);
        mac.verify_slice(&signature)
            .map_err(|_| TokenError::BadSignature)?;

        let payload = decode_part(payload_b64)?;
        let claims: IncomingClaims =
            serde_json::from_slice(&payload).map_err(|_| TokenError::Malformed)?;
        let service_matches = claims
            .grants
            .chat
            .as_ref()
            .is_some_and(|chat| chat.service_sid == self.chat_service_sid);
        if claims.iss != self.api_key_sid || claims.sub != self.account_sid || !service_matches {
            return Err(TokenError::ForeignIssuer);
        }
        if now >= claims.exp.saturating_add(LEEWAY_SECONDS) {
            return Err(TokenError::Expired);
        }
        if claims
            .nbf
            .is_some_and(|nbf| nbf > now.saturating_add(LEEWAY_SECONDS))
        {
            return Err(TokenError::NotYetValid);
        }
        match claims.grants.identity {
            Some(identity) if is_valid_identity(&identity) => Ok(VerifiedToken {
                identity: identity.into_owned(),
                expires_at: claims.exp,
            }),
            _ => Err(TokenError::MissingIdentity),
        }
    }
}

fn decode_part(part: &str) -> Result<Vec<u8>, TokenError> {
    URL_SAFE_NO_PAD
        .decode(part)
        .map_err(|_| TokenError::Malformed)
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::{Value, json};

    const ACCOUNT: &str = "AC00000000000000000000000000000001";
    const KEY: &str = "SK00000000000000000000000000000002";
    const SERVICE: &str = "IS00000000000000000000000000000003";
    const NOW: i64 = 1_800_000_000;

    fn issuer_with(secret: &str, account: &str, key: &str, service: &str) -> TokenIssuer {
        TokenIssuer::new(account, key, &SecretString::from(secret), service, 3600)
    }

    fn issuer() -> TokenIssuer {
        issuer_with("test-api-key-secret", ACCOUNT, KEY, SERVICE)
    }

    fn decode_json(part: &str) -> Value {
        serde_json::from_slice(&URL_SAFE_NO_PAD.decode(part).unwrap()).unwrap()
    }

    /// Signs arbitrary header/payload JSON with `secret`, as a forger who knows it would.
    fn sign(header: &Value, payload: &Value, secret: &str) -> String {
        let signing_input = format!(
            "{}.{}",
            URL_SAFE_NO_PAD.encode(header.to_string()),
            URL_SAFE_NO_PAD.encode(payload.to_string())
        );
        let mut mac = HmacSha256::new_from_slice(secret.as_bytes()).unwrap();
        mac.update(signing_input.as_bytes());
        let sig = URL_SAFE_NO_PAD.encode(mac.finalize().into_bytes());
        format!("{signing_input}.{sig}")
    }

    fn valid_payload() -> Value {
        json!({
            "jti": format!("{KEY}-{NOW}"), "iss": KEY, "sub": ACCOUNT,
            "iat": NOW, "nbf": NOW, "exp": NOW + 3600,
            "grants": {"identity": "guest-1", "chat": {"service_sid": SERVICE}}
        })
    }

    #[test]
    fn minted_token_has_twilio_header_and_claims() {
        let token = issuer().mint("alice", NOW);
        let parts: Vec<&str> = token.jwt.split('.').collect();
        assert_eq!(parts.len(), 3);
        assert_eq!(
            decode_json(parts[0]),
            json!({"alg": "HS256", "typ": "JWT", "cty": "twilio-fpa;v=1"})
        );
        assert_eq!(
            decode_json(parts[1]),
            json!({
                "jti": format!("{KEY}-{NOW}"), "iss": KEY, "sub": ACCOUNT,
                "iat": NOW, "nbf": NOW, "exp": NOW + 3600,
                "grants": {"identity": "alice", "chat": {"service_sid": SERVICE}}
            })
        );
        assert_eq!(token.expires_at, NOW + 3600);
        assert_eq!(token.identity, "alice");
    }

    #[test]
    fn minted_token_verifies_and_round_trips_identity() {
        let issuer = issuer();
        let token = issuer.mint("user:42", NOW);
        assert_eq!(
            issuer.verify(&token.jwt, NOW + 10),
            Ok(VerifiedToken {
                identity: "user:42".into(),
                expires_at: NOW + 3600
            })
        );
    }

    #[test]
    fn expiry_and_not_before_honour_the_leeway() {
        let issuer = issuer();
        let jwt = issuer.mint("alice", NOW).jwt;
        let exp = NOW + 3600;
        assert!(issuer.verify(&jwt, exp + LEEWAY_SECONDS - 1).is_ok());
        assert_eq!(
            issuer.verify(&jwt, exp + LEEWAY_SECONDS),
            Err(TokenError::Expired)
        );
        assert!(issuer.verify(&jwt, NOW - LEEWAY_SECONDS).is_ok());
        assert_eq!(
            issuer.verify(&jwt, NOW - LEEWAY_SECONDS - 1),
            Err(TokenError::NotYetValid)
        );
    }

    #[test]
    fn rejects_alg_none_and_other_algorithms() {
        let issuer = issuer();
        let payload = valid_payload();
        for alg in ["none", "HS512", "RS256", "hs256"] {
            let header = json!({"alg": alg, "typ": "JWT"});
            let forged = sign(&header, &payload, "test-api-key-secret");
            assert_eq!(
                issuer.verify(&forged, NOW),
                Err(TokenError::UnsupportedAlgorithm),
                "{alg}"
            );
        }
        let unsigned = format!(
            "{}.{}.",
            URL_SAFE_NO_PAD.encode(r#"{"alg":"none"}"#),
            URL_SAFE_NO_PAD.encode(payload.to_string())
        );
        assert_eq!(
            issuer.verify(&unsigned, NOW),
            Err(TokenError::UnsupportedAlgorithm)
        );
    }

    #[test]
    fn rejects_other_keys_and_tampering() {
        let issuer = issuer();
        let header = json!({"alg": "HS256", "typ": "JWT"});
        let other_key = sign(&header, &valid_payload(), "someone-elses-secret");
        assert_eq!(
            issuer.verify(&other_key, NOW),
            Err(TokenError::BadSignature)
        );

        let jwt = issuer.mint("alice", NOW).jwt;
        let parts: Vec<&str> = jwt.split('.').collect();
        let mut claims = decode_json(parts[1]);
        claims["grants"]["identity"] = json!("mallory");
        let tampered = format!(
            "{}.{}.{}",
            parts[0],
            URL_SAFE_NO_PAD.encode(claims.to_string()),
            parts[2]
        );
        assert_eq!(issuer.verify(&tampered, NOW), Err(TokenError::BadSignature));
    }

    #[test]
    fn rejects_tokens_of_another_account_key_or_service_even_if_signed_with_our_secret() {
        let ours = issuer();
        for (account, key, service) in [
            ("AC99999999999999999999999999999999", KEY, SERVICE),
            (ACCOUNT, "SK99999999999999999999999999999999", SERVICE),
            (ACCOUNT, KEY, "IS99999999999999999999999999999999"),
        ] {
            let theirs = issuer_with("test-api-key-secret", account, key, service);
            let jwt = theirs.mint("alice", NOW).jwt;
            assert_eq!(ours.verify(&jwt, NOW), Err(TokenError::ForeignIssuer));
        }
        let mut no_chat = valid_payload();
        no_chat["grants"] = json!({"identity": "alice"});
        let jwt = sign(&json!({"alg": "HS256"}), &no_chat, "test-api-key-secret");
        assert_eq!(ours.verify(&jwt, NOW), Err(TokenError::ForeignIssuer));
    }

    #[test]
    fn rejects_missing_or_invalid_identity() {
        let issuer = issuer();
        for identity in [json!(null), json!(""), json!("has space"), json!(42)] {
            let mut payload = valid_payload();
            payload["grants"]["identity"] = identity.clone();
            let jwt = sign(&json!({"alg": "HS256"}), &payload, "test-api-key-secret");
            assert!(issuer.verify(&jwt, NOW).is_err(), "{identity}");
        }
    }

    #[test]
    fn rejects_malformed_tokens() {
        let issuer = issuer();
        let jwt = issuer.mint("alice", NOW).jwt;
        for bad in [
            String::new(),
            "a.b".into(),
            format!("{jwt}.extra"),
            "!!!.###.$$$".into(),
            "x".repeat(MAX_TOKEN_LEN + 1),
        ] {
            assert_eq!(
                issuer.verify(&bad, NOW),
                Err(TokenError::Malformed),
                "{bad:.40}"
            );
        }
    }

    #[test]
    fn debug_output_never_contains_the_secret() {
        let issuer = issuer_with("s3cr3t-value-xyz", ACCOUNT, KEY, SERVICE);
        assert!(!format!("{issuer:?}").contains("s3cr3t-value-xyz"));
    }
}
