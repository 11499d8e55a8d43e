//! `create-channel` driven through its handler in tests: moto for DynamoDB, wiremock stand-ins
//! for Twilio, and the helpers that press the button and read what Twilio received.

use flex_handoff::config::Settings;
use flex_handoff::handlers::channel::ChannelSettings;
use flex_handoff::handlers::channel::{ChannelState, channel_response};
use flex_handoff::token::TokenIssuer;
use serde_json::{Value, json};
use wiremock::{MockServer, Request, ResponseTemplate};

use crate::env::dev_settings;
use crate::events::EventBuilder;
use crate::moto::MotoServer;
use crate::twilio::TwilioStandIns;

pub const WEBHOOK_URL: &str = "https://abc123.execute-api.eu-west-1.amazonaws.com/twilio/webhook";

/// A channels table on moto and Twilio stand-ins for one test.
pub struct Harness {
    _moto: MotoServer,
    pub twilio: TwilioStandIns,
    pub settings: Settings,
    pub channel: ChannelSettings,
    pub dynamodb: aws_sdk_dynamodb::Client,
}

impl Harness {
    /// Twilio stand-ins answer nothing until a test mounts responses.
    pub async fn start(mode: &str) -> Self {
        let moto = MotoServer::start();
        let table = moto.create_channels_table();
        let dynamodb = moto.dynamodb();
        let twilio = TwilioStandIns::start().await;
        let channel = twilio.channel_settings(&[
            ("FLEX_MODE", mode),
            ("CHANNELS_TABLE", table.as_str()),
            ("TWILIO_WEBHOOK_URL", WEBHOOK_URL),
            ("TWILIO_DEADLINE_MS", "3000"),
        ]);
        Self {
            _moto: moto,
            twilio,
            settings: dev_settings(&[]),
            channel,
            dynamodb,
        }
    }

    pub async fn state(&self) -> ChannelState {
        ChannelState::build(&self.settings, &self.channel, self.dynamodb.clone()).await
    }

    pub fn guest_token(&self, identity: &str) -> String {
        TokenIssuer::from_settings(&self.settings)
            .mint(identity, flex_handoff::unix_now())
            .jwt
    }

    pub fn flex(&self) -> &MockServer {
        &self.twilio.flex
    }
}

pub async fn requests(server: &MockServer, route: &str) -> Vec<Request> {
    TwilioStandIns::requests(server, route).await
}

pub fn created(body: Value) -> ResponseTemplate {
    ResponseTemplate::new(201).set_body_json(body)
}

pub fn twilio_error(status: u16, code: u32) -> ResponseTemplate {
    ResponseTemplate::new(status).set_body_json(json!({
        "code": code, "message": "Twilio says no", "more_info": "https://www.twilio.com/docs/errors", "status": status
    }))
}

pub fn press(token: &str) -> EventBuilder {
    EventBuilder::new("POST", "/channel").bearer(token)
}

pub async fn call(state: &ChannelState, event: EventBuilder) -> (u16, Value) {
    call_at(state, event, flex_handoff::unix_now()).await
}

/// [`call`] with the request's clock at `now` (Unix seconds).
pub async fn call_at(state: &ChannelState, event: EventBuilder, now: i64) -> (u16, Value) {
    let response = match channel_response(state, &event.request(), now).await {
        Ok(response) => response,
        Err(error) => error.into_response(),
    };
    let body = serde_json::from_slice(response.body().as_ref()).expect("JSON body");
    (response.status().as_u16(), body)
}

pub fn form(request: &Request) -> Vec<(String, String)> {
    url::form_urlencoded::parse(&request.body)
        .into_owned()
        .collect()
}

pub fn field<'a>(form: &'a [(String, String)], key: &str) -> Vec<&'a str> {
    form.iter()
        .filter(|(k, _)| k == key)
        .map(|(_, v)| v.as_str())
        .collect()
}
