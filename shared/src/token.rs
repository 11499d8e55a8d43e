//! Twilio Access Tokens: HS256 JWTs with a `chat` grant, in the shape Twilio's helper libraries
//! produce, and verification of the ones we issued (for guest refresh). `jsonwebtoken` encodes,
//! signs, pins the algorithm and checks issuer and subject; `exp`/`nbf` are checked here against
//! the request's `now`, because `jsonwebtoken` reads the system clock and cannot be handed one.
//!
//! Its crypto is [`hs256::PROVIDER`], HMAC-SHA256 over the RustCrypto `hmac` crate we already use:
//! the crate's `rust_crypto` backend links every algorithm's code (RSA, ECDSA, EdDSA) behind its
//! factory, and `aws_lc_rs` adds a C build; README "Dependencies" has the measurements.

use jsonwebtoken::errors::ErrorKind;
use jsonwebtoken::{Algorithm, DecodingKey, EncodingKey, Header, Validation};
use secrecy::{ExposeSecret, SecretString};
use serde::{Deserialize, Serialize};

use crate::config::Settings;
use crate::ids::is_valid_identity;

/// Clock skew tolerated between us and whoever checks `exp`/`nbf`.
pub const LEEWAY_SECONDS: i64 = 30;
/// Far above any token we mint (~600 bytes); bounds the work an attacker can make us do.
const MAX_TOKEN_LEN: usize = 4096;
/// `cty` of every Twilio Access Token: the Twilio "FPA" token format.
const TWILIO_CONTENT_TYPE: &str = "twilio-fpa;v=1";

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
    #[error("the token's identity is not a guest of this service")]
    NotAGuest,
    #[error("the guest identity has reached its maximum age: get a new token")]
    GuestTooOld,
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

#[derive(Serialize)]
struct Grants<'a> {
    identity: &'a str,
    chat: ChatGrant<'a>,
}

#[derive(Serialize)]
struct ChatGrant<'a> {
    service_sid: &'a str,
}

/// What we read of a presented token; `iss` and `sub` are `jsonwebtoken`'s to check.
#[derive(Deserialize)]
struct IncomingClaims {
    exp: i64,
    nbf: Option<i64>,
    grants: IncomingGrants,
}

#[derive(Deserialize)]
struct IncomingGrants {
    identity: Option<String>,
    chat: Option<IncomingChatGrant>,
}

#[derive(Deserialize)]
struct IncomingChatGrant {
    service_sid: String,
}

/// Mints and verifies chat tokens for one Twilio account, API key and chat service.
pub struct TokenIssuer {
    account_sid: String,
    api_key_sid: String,
    chat_service_sid: String,
    ttl_seconds: u32,
    header: Header,
    encoding_key: EncodingKey,
    decoding_key: DecodingKey,
    validation: Validation,
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
        // Ours or already installed: either way HS256 is what every token here goes through.
        let _ = hs256::PROVIDER.install_default();
        let secret = api_key_secret.expose_secret().as_bytes();
        let mut header = Header::new(Algorithm::HS256);
        header.cty = Some(TWILIO_CONTENT_TYPE.to_owned());
        // The algorithm comes from our configuration, never from the token: that defeats
        // `alg: none` and algorithm-confusion forgeries.
        let mut validation = Validation::new(Algorithm::HS256);
        validation.set_issuer(&[api_key_sid]);
        validation.sub = Some(account_sid.to_owned());
        validation.set_required_spec_claims(&["exp", "iss", "sub"]);
        validation.validate_aud = false;
        validation.validate_exp = false;
        validation.validate_nbf = false;
        Self {
            account_sid: account_sid.to_owned(),
            api_key_sid: api_key_sid.to_owned(),
            chat_service_sid: chat_service_sid.to_owned(),
            ttl_seconds,
            header,
            encoding_key: EncodingKey::from_secret(secret)
                .expect("configuration refuses an empty API key secret"),
            decoding_key: DecodingKey::from_secret(secret)
                .expect("configuration refuses an empty API key secret"),
            validation,
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
                identity,
                chat: ChatGrant {
                    service_sid: &self.chat_service_sid,
                },
            },
        };
        let jwt = jsonwebtoken::encode(&self.header, &claims, &self.encoding_key)
            .expect("HS256 over serializable claims cannot fail");
        IssuedToken {
            jwt,
            identity: identity.to_owned(),
            expires_at: exp,
        }
    }

    /// Verifies a token we issued: HS256 only, our signature, our API key and account, our chat
    /// service, and `exp`/`nbf` within [`LEEWAY_SECONDS`] of `now`.
    pub fn verify(&self, jwt: &str, now: i64) -> Result<VerifiedToken, TokenError> {
        if jwt.len() > MAX_TOKEN_LEN || jwt.split('.').count() != 3 {
            return Err(TokenError::Malformed);
        }
        let claims =
            jsonwebtoken::decode::<IncomingClaims>(jwt, &self.decoding_key, &self.validation)
                .map_err(|error| token_error(error.kind(), jwt))?
                .claims;
        let service_matches = claims
            .grants
            .chat
            .is_some_and(|chat| chat.service_sid == self.chat_service_sid);
        if !service_matches {
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
                identity,
                expires_at: claims.exp,
            }),
            _ => Err(TokenError::MissingIdentity),
        }
    }
}

/// The most a bot's context token may run ahead: it is made for one handoff, just before it.
pub const MAX_CONTEXT_TOKEN_SECONDS: i64 = 3600;

/// Why a bot context token was refused; told to the caller (it says nothing of the key).
#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
pub enum ContextTokenError {
    #[error("is not an HS256 JWT with sub, exp and a context object")]
    Malformed,
    #[error("is not signed with this deployment's bot context key")]
    BadSignature,
    #[error("has expired")]
    Expired,
    #[error("expires more than {MAX_CONTEXT_TOKEN_SECONDS} s ahead")]
    TooLongLived,
    #[error("was signed for another customer")]
    OtherCustomer,
}

/// Verifies the bot context a bot's backend signed for one customer (`contextToken`): an
/// HS256 JWT under the key it shares with us, `sub` the customer's identity, `exp` at most
/// [`MAX_CONTEXT_TOKEN_SECONDS`] ahead, and `context` the context object `POST /channel` takes.
/// A JWS rather than an HMAC over re-serialized JSON: the signature covers the exact bytes, so
/// the bot's backend needs no canonical JSON, only any JWT library.
pub struct ContextTokenVerifier {
    decoding_key: DecodingKey,
    validation: Validation,
}

impl std::fmt::Debug for ContextTokenVerifier {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("ContextTokenVerifier")
            .finish_non_exhaustive()
    }
}

#[derive(Deserialize)]
struct ContextClaims {
    sub: String,
    exp: i64,
    context: serde_json::Map<String, serde_json::Value>,
}

impl ContextTokenVerifier {
    pub fn new(key: &SecretString) -> Self {
        let _ = hs256::PROVIDER.install_default();
        let mut validation = Validation::new(Algorithm::HS256);
        validation.set_required_spec_claims(&["exp", "sub"]);
        validation.validate_aud = false;
        validation.validate_exp = false;
        validation.validate_nbf = false;
        Self {
            decoding_key: DecodingKey::from_secret(key.expose_secret().as_bytes())
                .expect("configuration refuses an empty bot context key"),
            validation,
        }
    }

    /// The context `jwt` carries, when it is signed with our key for `identity` and current
    /// at `now`.
    pub fn verify(
        &self,
        jwt: &str,
        identity: &str,
        now: i64,
    ) -> Result<serde_json::Value, ContextTokenError> {
        let claims =
            jsonwebtoken::decode::<ContextClaims>(jwt, &self.decoding_key, &self.validation)
                .map_err(|error| match error.kind() {
                    ErrorKind::InvalidSignature => ContextTokenError::BadSignature,
                    _ => ContextTokenError::Malformed,
                })?
                .claims;
        if now >= claims.exp.saturating_add(LEEWAY_SECONDS) {
            return Err(ContextTokenError::Expired);
        }
        if claims.exp - now > MAX_CONTEXT_TOKEN_SECONDS + LEEWAY_SECONDS {
            return Err(ContextTokenError::TooLongLived);
        }
        if claims.sub != identity {
            return Err(ContextTokenError::OtherCustomer);
        }
        Ok(serde_json::Value::Object(claims.context))
    }
}

/// Our account of why `jsonwebtoken` refused a token.
fn token_error(kind: &ErrorKind, jwt: &str) -> TokenError {
    match kind {
        ErrorKind::InvalidAlgorithm | ErrorKind::MissingAlgorithm => {
            TokenError::UnsupportedAlgorithm
        }
        ErrorKind::InvalidSignature => TokenError::BadSignature,
        ErrorKind::InvalidIssuer | ErrorKind::InvalidSubject => TokenError::ForeignIssuer,
        // `alg` values jsonwebtoken has no name for (`none`, `hs256`) fail its header parsing:
        // say that the algorithm is what is wrong, as for any other algorithm.
        _ if names_another_algorithm(jwt) => TokenError::UnsupportedAlgorithm,
        _ => TokenError::Malformed,
    }
}

fn names_another_algorithm(jwt: &str) -> bool {
    use base64::Engine as _;
    #[derive(Deserialize)]
    struct AlgOnly {
        alg: String,
    }
    let header = jwt.split('.').next().unwrap_or_default();
    base64::engine::general_purpose::URL_SAFE_NO_PAD
        .decode(header)
        .ok()
        .and_then(|json| serde_json::from_slice::<AlgOnly>(&json).ok())
        .is_some_and(|header| header.alg != "HS256")
}

/// A `jsonwebtoken` crypto provider that knows HS256 and nothing else.
mod hs256 {
    use hmac::{Hmac, KeyInit, Mac};
    use jsonwebtoken::crypto::{CryptoProvider, JwtSigner, JwtVerifier, KeyUtils};
    use jsonwebtoken::errors::{Error, ErrorKind};
    use jsonwebtoken::{Algorithm, DecodingKey, EncodingKey};
    use sha2::Sha256;
    use signature::{Signer, Verifier};

    pub static PROVIDER: CryptoProvider = CryptoProvider {
        signer_factory: signer,
        verifier_factory: verifier,
        // JWK thumbprints and key parsing: never used by Twilio tokens.
        key_utils: KeyUtils::new_unimplemented(),
    };

    struct Hs256(Hmac<Sha256>);

    fn keyed(algorithm: &Algorithm, key: &[u8]) -> Result<Hs256, Error> {
        if *algorithm != Algorithm::HS256 {
            return Err(ErrorKind::InvalidAlgorithm.into());
        }
        Hmac::new_from_slice(key)
            .map(Hs256)
            .map_err(|_| ErrorKind::InvalidKeyFormat.into())
    }

    fn signer(algorithm: &Algorithm, key: &EncodingKey) -> Result<Box<dyn JwtSigner>, Error> {
        Ok(Box::new(keyed(algorithm, key.as_bytes())?))
    }

    fn verifier(algorithm: &Algorithm, key: &DecodingKey) -> Result<Box<dyn JwtVerifier>, Error> {
        Ok(Box::new(keyed(algorithm, key.try_get_as_bytes()?)?))
    }

    impl Signer<Vec<u8>> for Hs256 {
        fn try_sign(&self, message: &[u8]) -> Result<Vec<u8>, signature::Error> {
            let mut mac = self.0.clone();
            mac.update(message);
            Ok(mac.finalize().into_bytes().to_vec())
        }
    }

    impl Verifier<Vec<u8>> for Hs256 {
        /// Constant-time comparison (`hmac`'s `verify_slice`).
        fn verify(&self, message: &[u8], tag: &Vec<u8>) -> Result<(), signature::Error> {
            let mut mac = self.0.clone();
            mac.update(message);
            mac.verify_slice(tag).map_err(|_| signature::Error::new())
        }
    }

    impl JwtSigner for Hs256 {
        fn algorithm(&self) -> Algorithm {
            Algorithm::HS256
        }
    }

    impl JwtVerifier for Hs256 {
        fn algorithm(&self) -> Algorithm {
            Algorithm::HS256
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use base64::Engine as _;
    use base64::engine::general_purpose::URL_SAFE_NO_PAD;
    use hmac::{Hmac, KeyInit, Mac};
    use serde_json::{Value, json};

    type HmacSha256 = Hmac<sha2::Sha256>;

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
    fn the_crypto_provider_knows_hs256_and_nothing_else() {
        let encoding = EncodingKey::from_secret(b"k").unwrap();
        let decoding = DecodingKey::from_secret(b"k").unwrap();
        for algorithm in [
            Algorithm::HS384,
            Algorithm::HS512,
            Algorithm::RS256,
            Algorithm::ES256,
        ] {
            assert!((hs256::PROVIDER.signer_factory)(&algorithm, &encoding).is_err());
            assert!((hs256::PROVIDER.verifier_factory)(&algorithm, &decoding).is_err());
        }
        let signer = (hs256::PROVIDER.signer_factory)(&Algorithm::HS256, &encoding).unwrap();
        let tag = signer.try_sign(b"message").unwrap();
        let verifier = (hs256::PROVIDER.verifier_factory)(&Algorithm::HS256, &decoding).unwrap();
        assert!(verifier.verify(b"message", &tag).is_ok());
        assert!(verifier.verify(b"messagE", &tag).is_err());
    }

    #[test]
    fn debug_output_never_contains_the_secret() {
        let issuer = issuer_with("s3cr3t-value-xyz", ACCOUNT, KEY, SERVICE);
        assert!(!format!("{issuer:?}").contains("s3cr3t-value-xyz"));
    }
}
