//! AWS SDK wiring: one rustls (ring) HTTPS client and SDK config per cold start.

use aws_config::{BehaviorVersion, SdkConfig};
use aws_smithy_http_client::tls::{self, TlsContext, TrustStore, rustls_provider::CryptoMode};

/// Loads the SDK config from the Lambda environment (region, credentials, and endpoint overrides
/// such as `AWS_ENDPOINT_URL_SECRETS_MANAGER` for local servers). Call once per cold start.
pub async fn sdk_config() -> SdkConfig {
    sdk_config_loader().load().await
}

/// The SDK config loader with our HTTPS client, for callers that override more settings.
pub fn sdk_config_loader() -> aws_config::ConfigLoader {
    // ring rather than the SDK's default aws-lc: no C/CMake build, smaller binary, same TLS.
    // Only the roots AWS endpoints chain to, compiled in: the platform's store meant reading
    // every file of /etc/ssl/certs at cold start, and parsing all of Mozilla's roots ~2 ms of a
    // ~4 ms init (BENCHMARKS.md).
    let trust = TrustStore::empty()
        .with_native_roots(false)
        .with_pem_certificate(AWS_ROOTS_PEM);
    let tls_context = TlsContext::builder()
        .with_trust_store(trust)
        .build()
        .expect("the compiled-in roots form a TLS context");
    let http_client = aws_smithy_http_client::Builder::new()
        .tls_provider(tls::Provider::Rustls(CryptoMode::Ring))
        .tls_context(tls_context)
        .build_https();
    aws_config::defaults(BehaviorVersion::latest()).http_client(http_client)
}

/// The roots of Amazon Trust Services, which every AWS service endpoint chains to: Amazon Root
/// CA 1-4, and Starfield Services Root G2 for older chains. Copied from Mozilla's set
/// (webpki-root-certs); a test keeps the copy equal to it.
const AWS_ROOTS_PEM: &[u8] = include_bytes!("aws_roots.pem");

/// Why a secret could not be read; the SDK's own account of it, never the secret's value.
#[derive(Debug, thiserror::Error)]
#[error("{0}")]
pub struct SecretError(String);

/// Reads the string value of a Secrets Manager secret.
pub async fn fetch_secret_string(aws: &SdkConfig, secret_id: &str) -> Result<String, SecretError> {
    let client = aws_sdk_secretsmanager::Client::new(aws);
    let output = client
        .get_secret_value()
        .secret_id(secret_id)
        .send()
        .await
        .map_err(|error| {
            SecretError(aws_sdk_secretsmanager::error::DisplayErrorContext(error).to_string())
        })?;
    output
        .secret_string
        .ok_or_else(|| SecretError("it has no string value".into()))
}

#[cfg(test)]
mod tests {
    use super::*;
    use base64::Engine as _;

    #[test]
    fn the_sdk_trusts_exactly_amazon_trust_services_roots_as_mozilla_ships_them() {
        const SUBJECTS: [&[u8]; 2] = [
            b"Amazon Root CA ",
            b"Starfield Services Root Certificate Authority - G2",
        ];
        let from_mozilla: Vec<Vec<u8>> = webpki_root_certs::TLS_SERVER_ROOT_CERTS
            .iter()
            .map(|cert| cert.as_ref().to_vec())
            .filter(|der| {
                SUBJECTS
                    .iter()
                    .any(|s| der.windows(s.len()).any(|w| w == *s))
            })
            .collect();
        let mut ours = decode_pem(AWS_ROOTS_PEM);
        let mut theirs = from_mozilla;
        ours.sort();
        theirs.sort();
        assert_eq!(
            ours.len(),
            5,
            "Amazon Root CA 1-4 and Starfield Services Root G2"
        );
        assert_eq!(ours, theirs);
    }

    fn decode_pem(pem: &[u8]) -> Vec<Vec<u8>> {
        let text = std::str::from_utf8(pem).unwrap();
        text.split("-----BEGIN CERTIFICATE-----\n")
            .skip(1)
            .map(|block| {
                let body = block.split("\n-----END CERTIFICATE-----").next().unwrap();
                base64::engine::general_purpose::STANDARD
                    .decode(body)
                    .unwrap()
            })
            .collect()
    }
}
