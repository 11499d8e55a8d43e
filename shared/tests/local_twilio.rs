//! `make dev`'s Twilio (`local/local_twilio.py`) driven by the real handlers, in each Flex mode: a
//! press opens a chat it keeps, the agent's side sees the task with the bot's context and
//! history, the agent ends the chat, the chat-end webhook it sends is signed as Twilio signs and
//! closes the record through `flex-webhook`'s handler, the next press opens a new chat, and the
//! customer ends that one through `chat-graphql`'s handler.
//! Requests off Twilio's spec are refused, by Prism, with the reason.

use flex_handoff::handlers::channel::{ChannelState, channel_response};
use flex_handoff::handlers::graphql::{GraphqlState, graphql_response};
use flex_handoff::store::ChatStatus;
use flex_handoff::store::Slot;
use flex_handoff_testkit::channel::press;
use flex_handoff_testkit::graphql::operation;
use flex_handoff_testkit::{
    LocalTwilio, MotoServer, WebhookReceiver, channel_settings, dev_env, dev_settings, event_file,
    graphql_settings,
};
use serde_json::Value;

/// A plain HTTP client for the local servers; TLS is never used, but reqwest wants a provider.
fn client() -> reqwest::Client {
    let _ = rustls::crypto::ring::default_provider().install_default();
    reqwest::Client::new()
}

async fn get(url: &str) -> Value {
    let text = client()
        .get(url)
        .send()
        .await
        .unwrap()
        .text()
        .await
        .unwrap();
    serde_json::from_str(&text).unwrap()
}

async fn post(url: &str, form: &[(&str, &str)]) -> (u16, Value) {
    let response = client()
        .post(url)
        .basic_auth("SK22222222222222222222222222222222", Some("secret"))
        .form(form)
        .send()
        .await
        .unwrap();
    let status = response.status().as_u16();
    let text = response.text().await.unwrap();
    (status, serde_json::from_str(&text).unwrap())
}

/// What the agent's page reads of one chat: its task, context and messages.
async fn agents_view(twilio: &LocalTwilio, sid: &str) -> Value {
    let tasks = get(&format!("{}/local/tasks", twilio.endpoint)).await;
    tasks["tasks"]
        .as_array()
        .unwrap()
        .iter()
        .find(|chat| chat["channelSid"] == sid)
        .unwrap_or_else(|| panic!("no task for {sid}: {tasks}"))
        .clone()
}

fn context_body() -> String {
    let event: Value = serde_json::from_str(&event_file("channel-with-context.json")).unwrap();
    event["body"].as_str().unwrap().to_owned()
}

#[tokio::test(flavor = "multi_thread")]
async fn each_mode_opens_shows_the_agent_the_context_and_ends_through_a_signed_webhook() {
    let auth_token = dev_env()["TWILIO_AUTH_TOKEN"].clone();
    let twilio = LocalTwilio::start(&auth_token);
    let moto = MotoServer::start();
    let table = moto.create_channels_table();
    let receiver = WebhookReceiver::start().await;
    let webhook_url = receiver.url.clone();
    let settings = dev_settings(&[]);
    let webhook_state = receiver.state(&table, moto.dynamodb());
    let issuer = flex_handoff::token::TokenIssuer::from_settings(&settings);

    for mode in ["conversations", "chat", "interactions"] {
        let channel = channel_settings(&[
            ("FLEX_MODE", mode),
            ("CHANNELS_TABLE", &table),
            ("TWILIO_WEBHOOK_URL", &webhook_url),
            ("TWILIO_FLEX_API_URL", &twilio.endpoint),
            ("TWILIO_CHAT_API_URL", &twilio.endpoint),
            ("TWILIO_CONVERSATIONS_API_URL", &twilio.endpoint),
            ("TWILIO_TASKROUTER_API_URL", &twilio.endpoint),
        ]);
        let state = ChannelState::build(&settings, &channel, moto.dynamodb()).await;
        assert!(state.flex_flow.is_ok(), "{mode}: {:?}", state.flex_flow);
        let identity = format!("guest-local-{mode}");
        let token = issuer.mint(&identity, flex_handoff::unix_now()).jwt;
        let press = || press(&token).body(&context_body()).request();

        let opened = channel_response(&state, &press(), flex_handoff::unix_now())
            .await
            .unwrap();
        assert_eq!(opened.status(), 201, "{mode}: {:?}", opened.body());
        let opened: Value = serde_json::from_slice(opened.body().as_ref()).unwrap();
        assert_eq!(opened["contextDelivered"], true, "{mode}: {opened}");
        let sid = opened["channelSid"].as_str().unwrap().to_owned();

        // What the agent page reads: the task with the bot's context, and the history in order.
        let chat = agents_view(&twilio, &sid).await;
        assert_eq!(chat["customer"], "Ada", "{mode}");
        let attributes = &chat["task"]["attributes"];
        let context = if mode == "interactions" {
            &attributes["context"]
        } else {
            &attributes["pre_engagement_data"]["context"]
        };
        assert_eq!(context["intent"], "roaming_no_data", "{mode}: {attributes}");
        assert_eq!(
            context["attributes"]["tier"], "gold",
            "{mode}: {attributes}"
        );
        let history = chat["messages"][0]["body"].as_str().unwrap();
        assert!(
            history.contains("Customer: My mobile data stopped working"),
            "{mode}: {history}"
        );
        assert_eq!(chat["messages"][0]["author"], "bot-transcript");

        // The agent accepts: Flex adds them to the chat, and flex-webhook records when.
        let agent = format!("{}/local/chats/{sid}", twilio.endpoint);
        let (status, accepted) = post(&format!("{agent}/accept"), &[]).await;
        assert_eq!(
            (status, accepted["webhooks"].as_u64()),
            (200, Some(1)),
            "{mode}: {accepted}"
        );
        let joined = receiver.deliver_last(&webhook_state).await;
        assert_eq!(joined["result"], "accepted", "{mode}: {joined}");
        let record = state.store.chat(&sid).await.unwrap().unwrap();
        assert!(record.accepted_at.is_some(), "{mode}");

        // The agent replies and ends the chat; the webhook reaches flex-webhook's handler.
        assert_eq!(
            post(&format!("{agent}/messages"), &[("Body", "Hi Ada")])
                .await
                .0,
            201
        );
        let (status, ended) = post(&format!("{agent}/end"), &[]).await;
        assert_eq!(
            (status, ended["webhooks"].as_u64()),
            (200, Some(1)),
            "{mode}: {ended}"
        );
        let closed = receiver.deliver_last(&webhook_state).await;
        assert_eq!(closed["result"], "closed", "{mode}: {closed}");
        let record = state.store.chat(&sid).await.unwrap().unwrap();
        assert_eq!(record.status, ChatStatus::Closed, "{mode}");
        assert!(
            record.expires_at.is_some(),
            "{mode}: closed records get a TTL"
        );
        assert_eq!(
            state.store.active_slot(&identity).await.unwrap(),
            Slot::Empty,
            "{mode}"
        );

        let again = channel_response(&state, &press(), flex_handoff::unix_now())
            .await
            .unwrap();
        let again: Value = serde_json::from_slice(again.body().as_ref()).unwrap();
        let sid = again["channelSid"].as_str().unwrap().to_owned();
        assert_ne!(
            sid,
            chat["channelSid"].as_str().unwrap(),
            "{mode}: a new chat"
        );

        // The customer ends the new one (chat-graphql's endChat): Twilio's side as the mode
        // requires, each request checked by Prism, then the record; no webhook is needed.
        let hooks_before = receiver.received().await;
        let graphql = graphql_settings(&[
            ("CHANNELS_TABLE", &table),
            ("TWILIO_FLEX_API_URL", &twilio.endpoint),
            ("TWILIO_CHAT_API_URL", &twilio.endpoint),
            ("TWILIO_CONVERSATIONS_API_URL", &twilio.endpoint),
        ]);
        let graphql = GraphqlState::build(&settings, &graphql, moto.dynamodb());
        let end = operation(
            &token,
            "mutation($sid: ID!) { endChat(channelSid: $sid) { status } }",
            serde_json::json!({"sid": sid}),
        );
        let (response, _) =
            graphql_response(&graphql, &end.request(), flex_handoff::unix_now()).await;
        let ended: Value = serde_json::from_slice(response.body().as_ref()).unwrap();
        assert_eq!(
            (
                response.status().as_u16(),
                &ended["data"]["endChat"]["status"]
            ),
            (200, &Value::from("CLOSED")),
            "{mode}: {ended}"
        );
        let chat = agents_view(&twilio, &sid).await;
        let ended_state = if mode == "chat" { "inactive" } else { "closed" };
        assert_eq!(chat["state"], ended_state, "{mode}: {chat}");
        assert_eq!(chat["task"]["status"], "completed", "{mode}: {chat}");
        assert_eq!(
            state.store.chat(&sid).await.unwrap().unwrap().status,
            ChatStatus::Closed
        );
        assert_eq!(
            state.store.active_slot(&identity).await.unwrap(),
            Slot::Empty
        );
        assert_eq!(
            receiver.received().await,
            hooks_before,
            "{mode}: REST updates fire no webhook"
        );
    }
}

#[tokio::test(flavor = "multi_thread")]
async fn a_request_off_twilios_spec_is_refused_with_the_reason_and_changes_nothing() {
    let twilio = LocalTwilio::start(&dev_env()["TWILIO_AUTH_TOKEN"]);
    let (status, body) = post(
        &format!("{}/v2/WebChats", twilio.endpoint),
        &[("Identity", "guest-x")],
    )
    .await;
    assert!((400..500).contains(&status), "{status} {body}");
    let message = body["message"].as_str().unwrap();
    assert!(message.contains("Twilio's OpenAPI spec"), "{message}");
    assert!(
        message.contains("AddressSid"),
        "names what is missing: {message}"
    );
    let tasks = get(&format!("{}/local/tasks", twilio.endpoint)).await;
    assert_eq!(tasks["tasks"], serde_json::json!([]), "nothing was opened");
}
