//! API Gateway HTTP API events: built in code, or read from `events/`, and their responses.

use serde_json::{Value, json};

use crate::env::workspace_root;

/// An API Gateway HTTP API (payload 2.0) event, as JSON text.
pub struct EventBuilder {
    event: Value,
}

impl EventBuilder {
    pub fn new(method: &str, path: &str) -> Self {
        let event = json!({
            "version": "2.0",
            "routeKey": format!("{method} {path}"),
            "rawPath": path,
            "rawQueryString": "",
            "headers": {"content-type": "application/json", "host": "api.example.com"},
            "requestContext": {
                "accountId": "123456789012",
                "apiId": "api1234567",
                "domainName": "api.example.com",
                "domainPrefix": "api",
                "http": {
                    "method": method, "path": path, "protocol": "HTTP/1.1",
                    "sourceIp": "203.0.113.10", "userAgent": "test"
                },
                "requestId": "req-test-1",
                "routeKey": format!("{method} {path}"),
                "stage": "$default",
                "time": "23/Nov/2026:10:00:00 +0000",
                "timeEpoch": 1_795_000_000_000_i64
            },
            "isBase64Encoded": false
        });
        Self { event }
    }

    pub fn body(mut self, body: &str) -> Self {
        self.event["body"] = json!(body);
        self
    }

    pub fn header(mut self, name: &str, value: &str) -> Self {
        self.event["headers"][name] = json!(value);
        self
    }

    /// The client address API Gateway reports (`requestContext.http.sourceIp`).
    pub fn source_ip(mut self, ip: &str) -> Self {
        self.event["requestContext"]["http"]["sourceIp"] = json!(ip);
        self
    }

    pub fn bearer(self, token: &str) -> Self {
        self.header("authorization", &format!("Bearer {token}"))
    }

    /// Claims as an API Gateway JWT authorizer passes them.
    pub fn claims(mut self, claims: &[(&str, &str)]) -> Self {
        let claims: serde_json::Map<String, Value> = claims
            .iter()
            .map(|(k, v)| ((*k).to_owned(), json!(v)))
            .collect();
        self.event["requestContext"]["authorizer"] =
            json!({"jwt": {"claims": claims, "scopes": null}});
        self
    }

    pub fn to_json(&self) -> String {
        self.event.to_string()
    }

    pub fn request(&self) -> lambda_http::Request {
        flex_handoff::lambda::request_from_event(&self.to_json()).expect("valid API Gateway event")
    }
}

/// An event file of `events/`, as text.
pub fn event_file(name: &str) -> String {
    std::fs::read_to_string(workspace_root().join("events").join(name)).expect("event file")
}

/// The body of an API Gateway response a function posted, parsed as JSON.
pub fn response_body(response: &Value) -> Value {
    let body = response["body"].as_str().expect("response has a body");
    let text = if response["isBase64Encoded"].as_bool() == Some(true) {
        use base64::Engine as _;
        String::from_utf8(
            base64::engine::general_purpose::STANDARD
                .decode(body)
                .unwrap(),
        )
        .unwrap()
    } else {
        body.to_owned()
    };
    serde_json::from_str(&text).expect("JSON body")
}
