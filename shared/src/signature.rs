//! `X-Twilio-Signature`: base64(HMAC-SHA1(auth token, URL + sorted POST parameters)), as Twilio
//! signs its webhooks. JSON bodies are signed through the URL: Twilio appends
//! `bodySHA256=<hex SHA-256 of the body>` to it and signs the URL alone.
//!
//! The URL is the public one Twilio called, from configuration: behind API Gateway the host,
//! stage and port the function sees are not what Twilio signed.

use std::collections::BTreeMap;

use base64::Engine as _;
use base64::engine::general_purpose::STANDARD;
use hmac::{Hmac, KeyInit, Mac};
use secrecy::{ExposeSecret, SecretString};
use sha1::Sha1;
use sha2::{Digest, Sha256};
use subtle::ConstantTimeEq;

type HmacSha1 = Hmac<Sha1>;

#[derive(Debug, PartialEq, Eq, thiserror::Error)]
pub enum SignatureError {
    #[error("the X-Twilio-Signature header is missing")]
    Missing,
    #[error("the X-Twilio-Signature header does not match the request")]
    Mismatch,
}

/// What was signed: form parameters, or a JSON body vouched for by `bodySHA256` in the URL.
pub enum SignedBody<'a> {
    Form(&'a [(String, String)]),
    Json(&'a [u8]),
}

pub struct WebhookVerifier {
    /// Keyed once per cold start with the account auth token.
    mac: HmacSha1,
    /// The configured public URL, without query, in the two spellings Twilio may have signed:
    /// with and without the scheme's default port.
    base_urls: [String; 2],
    /// `#` and the connection overrides the URL is registered with, if any. Twilio's documents
    /// do not say whether the fragment, which never travels in the request, is part of what it
    /// signs: a signature over the URL with it or without it is accepted (both need the token).
    fragment: Option<String>,
}

impl std::fmt::Debug for WebhookVerifier {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("WebhookVerifier")
            .field("base_urls", &self.base_urls)
            .finish_non_exhaustive()
    }
}

impl WebhookVerifier {
    /// `connection_overrides`: the fragment the URL is registered with (without `#`), if any.
    pub fn new(
        auth_token: &SecretString,
        public_url: &str,
        connection_overrides: Option<&str>,
    ) -> Self {
        let mac = HmacSha1::new_from_slice(auth_token.expose_secret().as_bytes())
            .expect("HMAC accepts keys of any length");
        Self {
            mac,
            base_urls: port_spellings(public_url),
            fragment: connection_overrides.map(|overrides| format!("#{overrides}")),
        }
    }

    /// Checks `signature` for a request whose query string is `query` (as received, without `?`).
    pub fn verify(
        &self,
        signature: Option<&str>,
        query: &str,
        body: SignedBody<'_>,
    ) -> Result<(), SignatureError> {
        let signature = signature
            .map(str::trim)
            .filter(|s| !s.is_empty())
            .ok_or(SignatureError::Missing)?;
        let expected = STANDARD
            .decode(signature)
            .map_err(|_| SignatureError::Mismatch)?;
        let params = match body {
            SignedBody::Form(params) => Some(params),
            SignedBody::Json(body) => {
                let claimed = query_value(query, "bodySHA256").ok_or(SignatureError::Mismatch)?;
                let actual = hex(&Sha256::digest(body));
                if !bool::from(actual.as_bytes().ct_eq(claimed.as_bytes())) {
                    return Err(SignatureError::Mismatch);
                }
                None
            }
        };
        let fragments = [Some(""), self.fragment.as_deref()];
        let matches = self.base_urls.iter().any(|base| {
            let url = if query.is_empty() {
                base.clone()
            } else {
                format!("{base}?{query}")
            };
            fragments.iter().flatten().any(|fragment| {
                let computed = self.sign(&format!("{url}{fragment}"), params);
                bool::from(computed.as_slice().ct_eq(&expected))
            })
        });
        if matches {
            Ok(())
        } else {
            Err(SignatureError::Mismatch)
        }
    }

    fn sign(&self, url: &str, params: Option<&[(String, String)]>) -> Vec<u8> {
        let mut mac = self.mac.clone();
        mac.update(url.as_bytes());
        if let Some(params) = params {
            // Sorted by key; a repeated key's distinct values sorted, as Twilio's libraries do.
            let mut sorted: BTreeMap<&str, Vec<&str>> = BTreeMap::new();
            for (key, value) in params {
                sorted.entry(key).or_default().push(value);
            }
            for (key, mut values) in sorted {
                values.sort_unstable();
                values.dedup();
                for value in values {
                    mac.update(key.as_bytes());
                    mac.update(value.as_bytes());
                }
            }
        }
        mac.finalize().into_bytes().to_vec()
    }
}

/// `url` with and without its scheme's default port (the query, if any, dropped).
fn port_spellings(url: &str) -> [String; 2] {
    let url = url.split('?').next().unwrap_or(url);
    let (scheme, rest) = url.split_once("://").unwrap_or(("https", url));
    let (authority, path) = match rest.find('/') {
        Some(i) => rest.split_at(i),
        None => (rest, ""),
    };
    let default_port = if scheme.eq_ignore_ascii_case("http") {
        "80"
    } else {
        "443"
    };
    let host = authority
        .strip_suffix(&format!(":{default_port}"))
        .unwrap_or(authority);
    let has_other_port = host
        .rsplit_once(':')
        .is_some_and(|(_, p)| p.bytes().all(|b| b.is_ascii_digit()));
    let without = format!("{scheme}://{host}{path}");
    let with = if has_other_port {
        without.clone()
    } else {
        format!("{scheme}://{host}:{default_port}{path}")
    };
    [without, with]
}

fn query_value<'a>(query: &'a str, name: &str) -> Option<std::borrow::Cow<'a, str>> {
    url::form_urlencoded::parse(query.as_bytes())
        .find(|(key, _)| key == name)
        .map(|(_, value)| value)
}

fn hex(bytes: &[u8]) -> String {
    bytes.iter().map(|b| format!("{b:02x}")).collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn pairs(items: &[(&str, &str)]) -> Vec<(String, String)> {
        items
            .iter()
            .map(|(k, v)| ((*k).to_owned(), (*v).to_owned()))
            .collect()
    }

    /// The vector Twilio's Python and Node libraries both compute.
    #[test]
    fn matches_twilios_reference_vector() {
        let verifier = WebhookVerifier::new(
            &SecretString::from("12345678901234567890123456789012"),
            "https://example.com/twilio/webhook",
            None,
        );
        let params = pairs(&[
            ("From", "+15551230000"),
            ("Body", "hello"),
            ("ChannelSid", "CH33333333333333333333333333333333"),
            ("EventType", "onMessageSent"),
        ]);
        let signature = Some("BWPNGVqZAc2LyHmQAw53Xk/e6E0=");
        assert_eq!(
            verifier.verify(signature, "foo=bar", SignedBody::Form(&params)),
            Ok(())
        );
        assert_eq!(
            verifier.verify(signature, "foo=baz", SignedBody::Form(&params)),
            Err(SignatureError::Mismatch)
        );
        assert_eq!(
            verifier.verify(None, "foo=bar", SignedBody::Form(&params)),
            Err(SignatureError::Missing)
        );
        assert_eq!(
            verifier.verify(Some("not base64!"), "foo=bar", SignedBody::Form(&params)),
            Err(SignatureError::Mismatch)
        );
    }

    #[test]
    fn port_spellings_cover_default_ports_only() {
        assert_eq!(
            port_spellings("https://api.example.com/twilio/webhook"),
            [
                "https://api.example.com/twilio/webhook",
                "https://api.example.com:443/twilio/webhook"
            ]
        );
        assert_eq!(
            port_spellings("https://api.example.com:443/twilio/webhook"),
            [
                "https://api.example.com/twilio/webhook",
                "https://api.example.com:443/twilio/webhook"
            ]
        );
        assert_eq!(
            port_spellings("http://127.0.0.1:9000/lambda-url/flex-webhook/"),
            [
                "http://127.0.0.1:9000/lambda-url/flex-webhook/",
                "http://127.0.0.1:9000/lambda-url/flex-webhook/"
            ]
        );
    }

    #[test]
    fn debug_does_not_show_the_key() {
        let verifier =
            WebhookVerifier::new(&SecretString::from("auth-token-xyz"), "https://a/b", None);
        assert!(!format!("{verifier:?}").contains("auth-token-xyz"));
    }
}
