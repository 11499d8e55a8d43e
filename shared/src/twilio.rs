//! A small Twilio REST client: form-encoded requests with API key basic auth, bounded retries with
//! backoff and jitter inside one total deadline, and Twilio's error body decoded for the logs.

use std::sync::Arc;
use std::time::{Duration, Instant};

use reqwest::{Method, StatusCode};
use secrecy::{ExposeSecret, SecretString};
use serde_json::Value;

use crate::config::TwilioCredentials;

/// Attempts per call, the first included.
const MAX_ATTEMPTS: u32 = 4;
const BASE_BACKOFF: Duration = Duration::from_millis(100);
const MAX_BACKOFF: Duration = Duration::from_secs(2);

#[derive(Debug, thiserror::Error, PartialEq, Eq)]
pub enum TwilioError {
    /// A 4xx other than 429: retrying cannot help.
    #[error("Twilio rejected {what}: HTTP {status}, Twilio error {code}: {message}")]
    Rejected {
        what: &'static str,
        status: u16,
        code: u32,
        message: String,
    },
    /// 429, 5xx or connection failures outlasted the retries.
    #[error("Twilio unavailable for {what} after {attempts} attempts: {last}")]
    Unavailable {
        what: &'static str,
        attempts: u32,
        last: String,
    },
    #[error("Twilio did not answer {what} within {deadline_ms} ms")]
    Timeout {
        what: &'static str,
        deadline_ms: u128,
    },
    #[error("Twilio's answer to {what} is not what its API documents: {reason}")]
    BadResponse { what: &'static str, reason: String },
    /// A create that may have been performed without our hearing the answer (a 5xx, a timeout,
    /// a dropped connection). Retrying could create twice: find what the first attempt made.
    #[error("Twilio may have performed {what}, but its answer was lost: {reason}")]
    OutcomeUnknown { what: &'static str, reason: String },
}

impl TwilioError {
    /// Whether a failed create may still have been performed: then what it made must be looked
    /// for before anything is created again.
    pub fn may_have_created(&self) -> bool {
        matches!(
            self,
            TwilioError::OutcomeUnknown { .. } | TwilioError::Timeout { .. }
        )
    }

    /// The failure's kind, for metrics and logs.
    pub fn kind(&self) -> &'static str {
        match self {
            TwilioError::Rejected { .. } => "rejected",
            TwilioError::Unavailable { .. } => "unavailable",
            TwilioError::Timeout { .. } => "timeout",
            TwilioError::BadResponse { .. } => "bad_response",
            TwilioError::OutcomeUnknown { .. } => "outcome_unknown",
        }
    }

    /// Twilio answered that the resource does not exist.
    pub fn is_not_found(&self) -> bool {
        matches!(self, TwilioError::Rejected { status: 404, .. })
    }
}

/// Which failed attempts a call may repeat.
#[derive(Clone, Copy, PartialEq, Eq)]
enum Retries {
    /// Reads, and writes that cannot take effect twice.
    Any,
    /// Creates: only attempts Twilio certainly did not perform (429, no connection).
    UnlessPerformed,
}

/// Cheap to clone: clones share one connection pool.
#[derive(Clone)]
pub struct TwilioClient {
    http: reqwest::Client,
    api_key_sid: String,
    api_key_secret: SecretString,
    deadline: Duration,
}

impl std::fmt::Debug for TwilioClient {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("TwilioClient")
            .field("api_key_sid", &self.api_key_sid)
            .field("deadline", &self.deadline)
            .finish_non_exhaustive()
    }
}

enum Attempt {
    Done(Value),
    Fatal(TwilioError),
    Retry {
        reason: String,
        retry_after: Option<Duration>,
        /// Twilio may have performed the request (it was sent and not refused as a whole).
        maybe_performed: bool,
    },
}

impl TwilioClient {
    /// Builds the client once per cold start. `deadline` bounds each call, retries included.
    pub fn new(credentials: &TwilioCredentials, deadline: Duration) -> Self {
        // Mozilla's roots as compiled-in, already parsed trust anchors: the platform verifier
        // would read every CA file at cold start. ring, as the AWS SDK's client: one TLS stack.
        let roots = rustls::RootCertStore {
            roots: webpki_roots::TLS_SERVER_ROOTS.to_vec(),
        };
        let tls = rustls::ClientConfig::builder_with_provider(Arc::new(
            rustls::crypto::ring::default_provider(),
        ))
        .with_safe_default_protocol_versions()
        .expect("ring supports the default TLS versions")
        .with_root_certificates(roots)
        .with_no_client_auth();
        let http = reqwest::Client::builder()
            .tls_backend_preconfigured(tls)
            .connect_timeout(Duration::from_secs(2))
            .pool_idle_timeout(Duration::from_secs(50))
            .user_agent(concat!("flex-handoff/", env!("CARGO_PKG_VERSION")))
            .build()
            .expect("the HTTP client builds");
        Self {
            http,
            api_key_sid: credentials.api_key_sid.clone(),
            api_key_secret: credentials.api_key_secret.clone(),
            deadline,
        }
    }

    pub async fn get(&self, what: &'static str, url: &str) -> Result<Value, TwilioError> {
        self.call(what, Method::GET, url, &[], Retries::Any).await
    }

    /// A POST that is safe to repeat: an update, or a create Twilio itself deduplicates.
    pub async fn post(
        &self,
        what: &'static str,
        url: &str,
        form: &[(&str, &str)],
    ) -> Result<Value, TwilioError> {
        self.call(what, Method::POST, url, form, Retries::Any).await
    }

    /// A POST that creates something Twilio does not deduplicate: it is repeated only when
    /// Twilio certainly did not perform it, else it fails with [`TwilioError::OutcomeUnknown`].
    pub async fn create(
        &self,
        what: &'static str,
        url: &str,
        form: &[(&str, &str)],
    ) -> Result<Value, TwilioError> {
        self.call(what, Method::POST, url, form, Retries::UnlessPerformed)
            .await
    }

    /// One Twilio request, retries included, timed into the `TwilioLatency` metric.
    async fn call(
        &self,
        what: &'static str,
        method: Method,
        url: &str,
        form: &[(&str, &str)],
        retries: Retries,
    ) -> Result<Value, TwilioError> {
        let started = Instant::now();
        let result = self
            .call_with_retries(what, method, url, form, retries)
            .await;
        let outcome = result.as_ref().map_or_else(TwilioError::kind, |_| "ok");
        crate::metrics::twilio_call(what, outcome, started.elapsed().as_secs_f64() * 1000.0);
        result
    }

    async fn call_with_retries(
        &self,
        what: &'static str,
        method: Method,
        url: &str,
        form: &[(&str, &str)],
        retries: Retries,
    ) -> Result<Value, TwilioError> {
        let deadline = Instant::now() + self.deadline;
        let timeout = || TwilioError::Timeout {
            what,
            deadline_ms: self.deadline.as_millis(),
        };
        let mut attempt = 1;
        loop {
            let remaining = deadline.saturating_duration_since(Instant::now());
            if remaining.is_zero() {
                return Err(timeout());
            }
            let mut request = self
                .http
                .request(method.clone(), url)
                .basic_auth(&self.api_key_sid, Some(self.api_key_secret.expose_secret()))
                .timeout(remaining);
            if method == Method::POST {
                request = request.form(form);
            }
            let (reason, retry_after) = match self.attempt(what, request).await {
                Attempt::Done(value) => return Ok(value),
                Attempt::Fatal(error) => return Err(error),
                Attempt::Retry {
                    reason,
                    maybe_performed: true,
                    ..
                } if retries == Retries::UnlessPerformed => {
                    // Either way Twilio may have done it; a timeout keeps its own answer (504).
                    return Err(if Instant::now() >= deadline {
                        timeout()
                    } else {
                        TwilioError::OutcomeUnknown { what, reason }
                    });
                }
                Attempt::Retry {
                    reason,
                    retry_after,
                    ..
                } => (reason, retry_after),
            };
            if attempt >= MAX_ATTEMPTS {
                return Err(TwilioError::Unavailable {
                    what,
                    attempts: attempt,
                    last: reason,
                });
            }
            let pause = retry_after.unwrap_or_else(|| backoff(attempt));
            if Instant::now() + pause >= deadline {
                // Waiting as Twilio asks would overrun the deadline: say so now.
                return Err(if retry_after.is_some() {
                    TwilioError::Unavailable {
                        what,
                        attempts: attempt,
                        last: reason,
                    }
                } else {
                    timeout()
                });
            }
            tracing::warn!(
                what,
                attempt,
                reason,
                pause_ms = pause.as_millis() as u64,
                "retrying Twilio"
            );
            tokio::time::sleep(pause).await;
            attempt += 1;
        }
    }

    async fn attempt(&self, what: &'static str, request: reqwest::RequestBuilder) -> Attempt {
        let response = match request.send().await {
            Ok(response) => response,
            Err(error) => {
                return Attempt::Retry {
                    reason: if error.is_timeout() {
                        "timed out".into()
                    } else {
                        format!("connection failed: {error}")
                    },
                    retry_after: None,
                    // Only a connection never made certainly carried nothing to Twilio.
                    maybe_performed: !error.is_connect(),
                };
            }
        };
        let status = response.status();
        let retry_after = response
            .headers()
            .get(reqwest::header::RETRY_AFTER)
            .and_then(|v| v.to_str().ok())
            .and_then(|v| v.trim().parse::<u64>().ok())
            .map(Duration::from_secs);
        let body = match response.bytes().await {
            Ok(body) => body,
            Err(error) => {
                return Attempt::Retry {
                    reason: format!("response body lost: {error}"),
                    retry_after: None,
                    maybe_performed: true,
                };
            }
        };
        if status.is_success() {
            return match serde_json::from_slice(&body) {
                Ok(value) => Attempt::Done(value),
                Err(error) => Attempt::Fatal(TwilioError::BadResponse {
                    what,
                    reason: error.to_string(),
                }),
            };
        }
        let (code, message) = twilio_error(&body);
        if status == StatusCode::TOO_MANY_REQUESTS || status.is_server_error() {
            return Attempt::Retry {
                reason: format!("HTTP {}, Twilio error {code}: {message}", status.as_u16()),
                retry_after,
                // A 429 refuses the request as a whole; a 5xx may come after the work was done.
                maybe_performed: status != StatusCode::TOO_MANY_REQUESTS,
            };
        }
        Attempt::Fatal(TwilioError::Rejected {
            what,
            status: status.as_u16(),
            code,
            message,
        })
    }
}

/// Twilio's error body: `{"code": 20404, "message": "...", "more_info": "...", "status": 404}`.
fn twilio_error(body: &[u8]) -> (u32, String) {
    let value: Value = serde_json::from_slice(body).unwrap_or(Value::Null);
    let code = value["code"].as_u64().unwrap_or(0) as u32;
    let message = match value["message"].as_str() {
        Some(message) => message.chars().take(300).collect(),
        // Not Twilio's shape (a proxy, a mock): the start of the body still helps the operator.
        None => format!(
            "unexpected body: {}",
            String::from_utf8_lossy(body)
                .chars()
                .take(300)
                .collect::<String>()
        ),
    };
    (code, message)
}

/// Exponential backoff with "equal jitter": half fixed, half random, so retries spread out.
fn backoff(attempt: u32) -> Duration {
    let exp = BASE_BACKOFF
        .saturating_mul(1 << (attempt - 1).min(16))
        .min(MAX_BACKOFF);
    let half = exp / 2;
    half + half.mul_f64(rand::random::<f64>())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn backoff_grows_is_capped_and_jittered() {
        for attempt in 1..=8 {
            let exp = (BASE_BACKOFF * (1 << (attempt - 1))).min(MAX_BACKOFF);
            let pause = backoff(attempt);
            assert!(
                pause >= exp / 2 && pause <= exp,
                "attempt {attempt}: {pause:?}"
            );
        }
        let samples: std::collections::HashSet<_> = (0..20).map(|_| backoff(3)).collect();
        assert!(samples.len() > 1, "jitter varies the pause");
    }

    #[test]
    fn twilio_error_bodies_are_decoded() {
        let body =
            br#"{"code": 20404, "message": "The requested resource was not found", "status": 404}"#;
        assert_eq!(
            twilio_error(body),
            (20404, "The requested resource was not found".into())
        );
        assert_eq!(
            twilio_error(b"<html>"),
            (0, "unexpected body: <html>".into())
        );
    }
}
