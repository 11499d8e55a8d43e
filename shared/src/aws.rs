//! AWS SDK wiring: one rustls (ring) HTTPS client and SDK config per cold start.

use aws_config::{BehaviorVersion, SdkConfig};
use aws_smithy_http_client::tls::{self, rustls_provider::CryptoMode};

use crate::config::ConfigError;

/// Loads the SDK config from the Lambda environment (region, credentials, and endpoint overrides
/// such as `AWS_ENDPOINT_URL_SECRETS_MANAGER` for local servers). Call once per cold start.
pub async fn sdk_config() -> SdkConfig {
    sdk_config_loader().load().await
}

/// The SDK config loader with our HTTPS client, for callers that override more settings.
pub fn sdk_config_loader() -> aws_config::ConfigLoader {
    // ring rather than the SDK's default aws-lc: no C/CMake build, smaller binary, same TLS.
    let http_client = aws_smithy_http_client::Builder::new()
        .tls_provider(tls::Provider::Rustls(CryptoMode::Ring))
        .build_https();
    aws_config::defaults(BehaviorVersion::latest()).http_client(http_client)
}

/// Reads the string value of a Secrets Manager secret.
pub async fn fetch_secret_string(aws: &SdkConfig, secret_id: &str) -> Result<String, ConfigError> {
    let client = aws_sdk_secretsmanager::Client::new(aws);
    let output = client
        .get_secret_value()
        .secret_id(secret_id)
        .send()
        .await
        .map_err(|error| ConfigError::Secret {
            reason: aws_sdk_secretsmanager::error::DisplayErrorContext(error).to_string(),
        })?;
    output.secret_string.ok_or_else(|| ConfigError::Secret {
        reason: "it has no string value".into(),
    })
}
