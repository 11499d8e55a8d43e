//! AWS SDK wiring, once per cold start: one rustls (ring) HTTPS client, and each service
//! client's configuration built straight from what Lambda puts in the environment.
//!
//! In Lambda the region and the function role's credentials are environment variables
//! (`AWS_REGION`, `AWS_ACCESS_KEY_ID`, `AWS_SECRET_ACCESS_KEY`, `AWS_SESSION_TOKEN`), and local
//! servers are named by `AWS_ENDPOINT_URL_<SERVICE>` or `AWS_ENDPOINT_URL`. Reading those
//! directly skips `aws_config`'s provider chains and profile-file lookups. (Most of what remains
//! above the cold-start floor is the SDK client's own construction: BENCHMARKS.md.) Without
//! static credentials in the environment (a developer's `AWS_PROFILE`, SSO, a container role)
//! the generic chain is used. Tests build their clients the same way, from the variables a
//! function process gets.

use aws_config::{BehaviorVersion, SdkConfig};
use aws_sdk_dynamodb::config::{ConfigBag, HttpClient, RuntimeComponents, SharedHttpClient};
use aws_smithy_http_client::tls::{self, TlsContext, TrustStore, rustls_provider::CryptoMode};
use aws_smithy_runtime_api::box_error::BoxError;
use aws_smithy_runtime_api::client::connector_metadata::ConnectorMetadata;
use aws_smithy_runtime_api::client::http::{HttpConnectorSettings, SharedHttpConnector};
use secrecy::{ExposeSecret, SecretString};

/// Where the credentials read from the environment came from, as the SDK reports it.
const ENVIRONMENT_PROVIDER: &str = "EnvironmentVariables";

/// What Lambda (or a local run that mimics it) provides, read once.
#[derive(Debug)]
pub struct LambdaEnvironment {
    region: String,
    access_key_id: String,
    secret_access_key: SecretString,
    session_token: Option<SecretString>,
    /// `AWS_ENDPOINT_URL`, for every service without its own override.
    endpoint_url: Option<String>,
    /// `AWS_ENDPOINT_URL_DYNAMODB`.
    dynamodb_endpoint_url: Option<String>,
    /// `AWS_ENDPOINT_URL_SECRETS_MANAGER`.
    secrets_manager_endpoint_url: Option<String>,
}

/// One service client's configuration from [`LambdaEnvironment`]: the same five settings for
/// every service, whose config builders are distinct types.
macro_rules! service_config {
    ($sdk:ident, $lambda:expr, $endpoint_override:ident) => {{
        let lambda: &LambdaEnvironment = $lambda;
        let mut builder = $sdk::Config::builder()
            .behavior_version($sdk::config::BehaviorVersion::latest())
            .region($sdk::config::Region::new(lambda.region.clone()))
            .credentials_provider(lambda.credentials())
            .http_client(https_client())
            .timeout_config(timeouts());
        if let Some(url) = lambda.endpoint_url(&lambda.$endpoint_override) {
            builder = builder.endpoint_url(url);
        }
        builder.build()
    }};
}

impl LambdaEnvironment {
    /// `None` unless a region and static credentials are both set.
    pub fn from_env(env: impl Fn(&str) -> Option<String>) -> Option<Self> {
        let var = |name: &str| env(name).filter(|value| !value.is_empty());
        Some(Self {
            region: var("AWS_REGION").or_else(|| var("AWS_DEFAULT_REGION"))?,
            access_key_id: var("AWS_ACCESS_KEY_ID")?,
            secret_access_key: var("AWS_SECRET_ACCESS_KEY")?.into(),
            session_token: var("AWS_SESSION_TOKEN").map(SecretString::from),
            endpoint_url: var("AWS_ENDPOINT_URL"),
            dynamodb_endpoint_url: var("AWS_ENDPOINT_URL_DYNAMODB"),
            secrets_manager_endpoint_url: var("AWS_ENDPOINT_URL_SECRETS_MANAGER"),
        })
    }

    fn process() -> Option<Self> {
        Self::from_env(|name| std::env::var(name).ok())
    }

    pub fn dynamodb_client(&self) -> aws_sdk_dynamodb::Client {
        aws_sdk_dynamodb::Client::from_conf(service_config!(
            aws_sdk_dynamodb,
            self,
            dynamodb_endpoint_url
        ))
    }

    pub fn secrets_manager_client(&self) -> aws_sdk_secretsmanager::Client {
        aws_sdk_secretsmanager::Client::from_conf(service_config!(
            aws_sdk_secretsmanager,
            self,
            secrets_manager_endpoint_url
        ))
    }

    fn credentials(&self) -> aws_sdk_dynamodb::config::Credentials {
        aws_sdk_dynamodb::config::Credentials::new(
            &self.access_key_id,
            self.secret_access_key.expose_secret(),
            self.session_token
                .as_ref()
                .map(|token| token.expose_secret().to_owned()),
            None,
            ENVIRONMENT_PROVIDER,
        )
    }

    /// The service's own endpoint override, else the global one.
    fn endpoint_url<'a>(&'a self, service_override: &'a Option<String>) -> Option<&'a str> {
        service_override.as_deref().or(self.endpoint_url.as_deref())
    }
}

/// The DynamoDB client, configured from the environment. Call once per cold start.
pub async fn dynamodb_client() -> aws_sdk_dynamodb::Client {
    client(
        LambdaEnvironment::dynamodb_client,
        aws_sdk_dynamodb::Client::new,
    )
    .await
}

/// The Secrets Manager client, configured from the environment. Call once per cold start.
pub async fn secrets_manager_client() -> aws_sdk_secretsmanager::Client {
    client(
        LambdaEnvironment::secrets_manager_client,
        aws_sdk_secretsmanager::Client::new,
    )
    .await
}

/// `direct` from Lambda's variables when they are complete, else `generic` from `aws_config`'s
/// provider chains and profiles.
async fn client<C>(
    direct: impl FnOnce(&LambdaEnvironment) -> C,
    generic: impl FnOnce(&SdkConfig) -> C,
) -> C {
    match LambdaEnvironment::process() {
        Some(lambda) => direct(&lambda),
        None => {
            let config = aws_config::defaults(BehaviorVersion::latest())
                .http_client(https_client())
                .timeout_config(timeouts())
                .load()
                .await;
            generic(&config)
        }
    }
}

/// How long one attempt of an AWS call may take, its connection included.
pub const ATTEMPT_TIMEOUT: std::time::Duration = std::time::Duration::from_secs(2);
/// How long one AWS call may take, the SDK's retries included: well inside the 10 s function
/// timeout and the 15 s claim lease, so a hanging call cannot outlive the claim it works under.
pub const OPERATION_TIMEOUT: std::time::Duration = std::time::Duration::from_secs(5);
const CONNECT_TIMEOUT: std::time::Duration = std::time::Duration::from_secs(1);

/// The SDK sets no operation or attempt timeout by default: a call could hang until Lambda
/// kills the function.
fn timeouts() -> aws_sdk_dynamodb::config::timeout::TimeoutConfig {
    aws_sdk_dynamodb::config::timeout::TimeoutConfig::builder()
        .connect_timeout(CONNECT_TIMEOUT)
        .operation_attempt_timeout(ATTEMPT_TIMEOUT)
        .operation_timeout(OPERATION_TIMEOUT)
        .build()
}

/// The HTTPS client every AWS client uses, its connector built on the first request.
fn https_client() -> SharedHttpClient {
    SharedHttpClient::new(ConnectorOnFirstRequest(tls_https_client()))
}

/// The SDK's hyper client without its check at client construction. That check builds a TLS
/// connector and drops it, so that a platform's certificate files are read at init rather than
/// on the first request; ours are compiled in, and the first request builds (and caches) its
/// own connector anyway, so the check only doubled that work: about 240k of the 715k
/// instructions `Client::from_conf` took (BENCHMARKS.md). It can never fail (it returns
/// `Ok(())` whatever the connector), so nothing is left unchecked: a bad TLS context fails in
/// [`tls_https_client`], at init, as before.
#[derive(Debug)]
struct ConnectorOnFirstRequest(SharedHttpClient);

impl HttpClient for ConnectorOnFirstRequest {
    fn http_connector(
        &self,
        settings: &HttpConnectorSettings,
        components: &RuntimeComponents,
    ) -> SharedHttpConnector {
        self.0.http_connector(settings, components)
    }

    // `validate_base_client_config`: the trait's own, which checks nothing.

    fn validate_final_config(
        &self,
        components: &RuntimeComponents,
        config: &ConfigBag,
    ) -> Result<(), BoxError> {
        self.0.validate_final_config(components, config)
    }

    fn connector_metadata(&self) -> Option<ConnectorMetadata> {
        self.0.connector_metadata()
    }
}

/// The SDK's hyper client over rustls with our roots.
fn tls_https_client() -> SharedHttpClient {
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
    aws_smithy_http_client::Builder::new()
        .tls_provider(tls::Provider::Rustls(CryptoMode::Ring))
        .tls_context(tls_context)
        .build_https()
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
pub async fn fetch_secret_string(
    client: &aws_sdk_secretsmanager::Client,
    secret_id: &str,
) -> Result<String, SecretError> {
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

    fn lambda_env(vars: &[(&str, &str)]) -> Option<LambdaEnvironment> {
        let vars: std::collections::HashMap<String, String> = vars
            .iter()
            .map(|(k, v)| ((*k).to_owned(), (*v).to_owned()))
            .collect();
        LambdaEnvironment::from_env(|name| vars.get(name).cloned())
    }

    #[test]
    fn lambda_environment_needs_a_region_and_static_credentials() {
        let full = [
            ("AWS_REGION", "eu-west-1"),
            ("AWS_ACCESS_KEY_ID", "AKIDEXAMPLE"),
            ("AWS_SECRET_ACCESS_KEY", "secret"),
            ("AWS_SESSION_TOKEN", "session"),
        ];
        let lambda = lambda_env(&full).expect("complete");
        assert_eq!(lambda.region, "eu-west-1");
        assert_eq!(
            lambda.session_token.as_ref().map(|t| t.expose_secret()),
            Some("session")
        );
        for missing in ["AWS_REGION", "AWS_ACCESS_KEY_ID", "AWS_SECRET_ACCESS_KEY"] {
            let partial: Vec<_> = full
                .iter()
                .copied()
                .filter(|(k, _)| *k != missing)
                .collect();
            assert!(lambda_env(&partial).is_none(), "without {missing}");
        }
        let default_region = [
            ("AWS_DEFAULT_REGION", "us-east-2"),
            ("AWS_ACCESS_KEY_ID", "AKIDEXAMPLE"),
            ("AWS_SECRET_ACCESS_KEY", "secret"),
        ];
        assert_eq!(lambda_env(&default_region).unwrap().region, "us-east-2");
    }

    #[test]
    fn a_service_endpoint_override_wins_over_the_global_one() {
        let base = [
            ("AWS_REGION", "eu-west-1"),
            ("AWS_ACCESS_KEY_ID", "AKIDEXAMPLE"),
            ("AWS_SECRET_ACCESS_KEY", "secret"),
            ("AWS_ENDPOINT_URL", "http://127.0.0.1:1"),
        ];
        let global = lambda_env(&base).unwrap();
        assert_eq!(
            global.endpoint_url(&global.dynamodb_endpoint_url),
            Some("http://127.0.0.1:1")
        );
        let mut with_own = base.to_vec();
        with_own.push(("AWS_ENDPOINT_URL_DYNAMODB", "http://127.0.0.1:2"));
        let own = lambda_env(&with_own).unwrap();
        assert_eq!(
            own.endpoint_url(&own.dynamodb_endpoint_url),
            Some("http://127.0.0.1:2")
        );
        assert_eq!(
            own.endpoint_url(&own.secrets_manager_endpoint_url),
            Some("http://127.0.0.1:1")
        );
    }

    #[test]
    fn debug_output_never_shows_the_secret_key() {
        let lambda = lambda_env(&[
            ("AWS_REGION", "eu-west-1"),
            ("AWS_ACCESS_KEY_ID", "AKIDEXAMPLE"),
            ("AWS_SECRET_ACCESS_KEY", "wJalrXUtnFEMI"),
        ])
        .unwrap();
        assert!(!format!("{lambda:?}").contains("wJalrXUtnFEMI"));
        assert!(!format!("{:?}", lambda.credentials()).contains("wJalrXUtnFEMI"));
    }

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
