//! Asking Twilio whether a chat is still live, in each Flex mode: one read of the mode's own
//! resource, read as its end events and its customer's end read it. (The reads are the ones
//! `twilio_contract.rs` replays to Prism when it ends chats.)

use std::time::Duration;

use flex_handoff::flex::{ChatRef, FlexMode, InteractionSids, Liveness, TwilioChats};
use flex_handoff::twilio::TwilioClient;
use flex_handoff_testkit::{
    STAND_IN_CHANNEL_SID, STAND_IN_CUSTOM_CONVERSATION_SID, STAND_IN_INTERACTION_CHANNEL_SID,
    STAND_IN_INTERACTION_SID, TwilioStandIns, dev_settings,
};
use serde_json::{Value, json};
use wiremock::matchers::{method, path};
use wiremock::{Mock, MockServer, ResponseTemplate};

const SERVICE: &str = "/v1/Services/IS33333333333333333333333333333333";

/// What Twilio answers the read.
enum Answer {
    Body(Value),
    Status(u16),
}

struct Case {
    mode: FlexMode,
    /// Where the mode's chat is read, and on which host.
    read: String,
    host: fn(&TwilioStandIns) -> &MockServer,
    channel_sid: &'static str,
}

fn cases() -> Vec<Case> {
    vec![
        Case {
            mode: FlexMode::Conversations,
            read: format!("{SERVICE}/Conversations/{STAND_IN_CUSTOM_CONVERSATION_SID}"),
            host: |hosts| &hosts.conversations,
            channel_sid: STAND_IN_CUSTOM_CONVERSATION_SID,
        },
        Case {
            mode: FlexMode::Interactions,
            read: format!("{SERVICE}/Conversations/{STAND_IN_CUSTOM_CONVERSATION_SID}"),
            host: |hosts| &hosts.conversations,
            channel_sid: STAND_IN_CUSTOM_CONVERSATION_SID,
        },
        Case {
            mode: FlexMode::Chat,
            read: format!(
                "/v2/Services/IS33333333333333333333333333333333/Channels/{STAND_IN_CHANNEL_SID}"
            ),
            host: |hosts| &hosts.chat,
            channel_sid: STAND_IN_CHANNEL_SID,
        },
    ]
}

/// The answers a live and an ended chat of `mode` get, as Twilio shapes them.
fn live_and_ended(mode: FlexMode) -> (Value, Value) {
    match mode {
        FlexMode::Conversations | FlexMode::Interactions => {
            (json!({"state": "active"}), json!({"state": "closed"}))
        }
        FlexMode::Chat => (
            json!({"attributes": r#"{"status":"ACTIVE","from":"Ada"}"#}),
            json!({"attributes": r#"{"status":"INACTIVE","from":"Ada"}"#}),
        ),
    }
}

async fn ask(case: &Case, answer: Answer) -> (Result<Liveness, String>, usize) {
    let hosts = TwilioStandIns::start().await;
    let host = (case.host)(&hosts);
    let response = match answer {
        Answer::Body(body) => ResponseTemplate::new(200).set_body_json(body),
        Answer::Status(status) => ResponseTemplate::new(status)
            .set_body_json(json!({"code": 20000 + status, "message": "m", "status": status})),
    };
    Mock::given(method("GET"))
        .and(path(case.read.as_str()))
        .respond_with(response)
        .mount(host)
        .await;
    let settings = dev_settings(&[]);
    let chats = TwilioChats::new(
        TwilioClient::new(&settings.twilio, Duration::from_millis(800)),
        hosts.channel_settings(&[]).hosts,
        &settings.chat_service_sid,
    );
    let interaction = InteractionSids {
        interaction_sid: STAND_IN_INTERACTION_SID.into(),
        channel_sid: STAND_IN_INTERACTION_CHANNEL_SID.into(),
    };
    let chat = ChatRef {
        channel_sid: case.channel_sid,
        interaction: (case.mode == FlexMode::Interactions).then_some(&interaction),
    };
    let liveness = chats
        .liveness(case.mode, &chat)
        .await
        .map_err(|e| e.to_string());
    let reads = host.received_requests().await.unwrap_or_default();
    assert!(
        reads.iter().all(|r| r.method.as_str() == "GET"),
        "{:?}: asking wrote",
        case.mode
    );
    for other in [
        &hosts.flex,
        &hosts.chat,
        &hosts.conversations,
        &hosts.taskrouter,
    ] {
        if !std::ptr::eq(other, host) {
            assert!(
                other
                    .received_requests()
                    .await
                    .unwrap_or_default()
                    .is_empty()
            );
        }
    }
    (liveness, reads.len())
}

#[tokio::test(flavor = "multi_thread")]
async fn each_mode_reads_its_chat_once_and_says_live_or_ended() {
    for case in cases() {
        let (live, ended) = live_and_ended(case.mode);
        assert_eq!(
            ask(&case, Answer::Body(live)).await,
            (Ok(Liveness::Live), 1),
            "{:?}",
            case.mode
        );
        assert_eq!(
            ask(&case, Answer::Body(ended)).await,
            (Ok(Liveness::Ended), 1),
            "{:?}",
            case.mode
        );
        // Removed or destroyed: ended as surely as closed.
        assert_eq!(
            ask(&case, Answer::Status(404)).await,
            (Ok(Liveness::Ended), 1),
            "{:?}",
            case.mode
        );
    }
}

#[tokio::test(flavor = "multi_thread")]
async fn when_twilio_does_not_say_nothing_is_concluded() {
    for case in cases() {
        for status in [403, 503] {
            let (liveness, reads) = ask(&case, Answer::Status(status)).await;
            assert!(liveness.is_err(), "{:?} {status}: {liveness:?}", case.mode);
            // A refusal is not retried; unavailability is, within the deadline.
            assert!(
                if status == 403 {
                    reads == 1
                } else {
                    reads >= 1
                },
                "{:?} {status}: {reads} reads",
                case.mode
            );
        }
    }
}
