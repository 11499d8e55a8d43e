//! `chat-graphql`'s handler in tests: moto for DynamoDB, wiremock stand-ins for Twilio, and the
//! helpers that open chats the way `create-channel` leaves them and ask GraphQL about them.

use flex_handoff::config::Settings;
use flex_handoff::flex::FlexMode;
use flex_handoff::handlers::graphql::{GraphqlState, graphql_response};
use flex_handoff::store::{ActiveChat, ChannelStore, InteractionSids};
use flex_handoff::token::TokenIssuer;
use serde_json::{Value, json};

use crate::env::dev_settings;
use crate::events::EventBuilder;
use crate::moto::{MotoServer, open_chat_as};
use crate::twilio::TwilioStandIns;

pub struct GraphqlHarness {
    _moto: MotoServer,
    pub twilio: TwilioStandIns,
    pub settings: Settings,
    pub state: GraphqlState,
    /// The same table as the state's, for arranging and asserting.
    pub store: ChannelStore,
    pub table: String,
    pub dynamodb: aws_sdk_dynamodb::Client,
}

impl GraphqlHarness {
    /// Twilio stand-ins answer nothing until a test mounts responses.
    pub async fn start(introspection: bool) -> Self {
        let moto = MotoServer::start();
        let table = moto.create_channels_table();
        let dynamodb = moto.dynamodb();
        let twilio = TwilioStandIns::start().await;
        let graphql = twilio.graphql_settings(&[
            ("CHANNELS_TABLE", &table),
            ("TWILIO_DEADLINE_MS", "3000"),
            ("GRAPHQL_INTROSPECTION", &introspection.to_string()),
        ]);
        let settings = dev_settings(&[]);
        let state = GraphqlState::build(&settings, &graphql, dynamodb.clone());
        Self {
            _moto: moto,
            twilio,
            store: ChannelStore::new(dynamodb.clone(), &table, graphql.closed_retention_days),
            settings,
            state,
            dynamodb,
            table,
        }
    }

    pub fn guest_token(&self, identity: &str) -> String {
        TokenIssuer::from_settings(&self.settings)
            .mint(identity, flex_handoff::unix_now())
            .jwt
    }

    /// Opens `identity`'s chat as `create-channel` does (claim, then activate), stamped
    /// `created_at`.
    pub async fn open(&self, identity: &str, sid: &str, mode: FlexMode, created_at: i64) {
        let interaction = (mode == FlexMode::Interactions).then(|| InteractionSids {
            interaction_sid: crate::STAND_IN_INTERACTION_SID.into(),
            channel_sid: crate::STAND_IN_INTERACTION_CHANNEL_SID.into(),
        });
        let chat = ActiveChat {
            identity: identity.into(),
            channel_sid: sid.into(),
            mode,
            created_at,
            confirmed_at: created_at,
            interaction,
        };
        open_chat_as(&self.store, &chat).await;
    }

    /// Runs an operation through the handler: (HTTP status, body).
    pub async fn ask(&self, event: EventBuilder) -> (u16, Value) {
        self.ask_at(event, flex_handoff::unix_now()).await
    }

    /// [`Self::ask`] with the request's clock at `now`.
    pub async fn ask_at(&self, event: EventBuilder, now: i64) -> (u16, Value) {
        let (response, _) = graphql_response(&self.state, &event.request(), now).await;
        let body = serde_json::from_slice(response.body().as_ref()).expect("JSON body");
        (response.status().as_u16(), body)
    }
}

/// `POST /graphql` with `query` and `variables`, as `token`'s holder.
pub fn operation(token: &str, query: &str, variables: Value) -> EventBuilder {
    EventBuilder::new("POST", "/graphql")
        .bearer(token)
        .body(&json!({"query": query, "variables": variables}).to_string())
}

/// The `extensions.code` of each error of a GraphQL answer.
pub fn error_codes(body: &Value) -> Vec<String> {
    body["errors"]
        .as_array()
        .into_iter()
        .flatten()
        .map(|error| {
            error["extensions"]["code"]
                .as_str()
                .unwrap_or("")
                .to_owned()
        })
        .collect()
}
