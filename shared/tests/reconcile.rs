//! Issue 21, point 3: the scheduled reconciler. Active chats not confirmed live for
//! `RECONCILE_AFTER_MINUTES` are found through the sparse live-chats index (no Scan), checked
//! with Twilio (one read each, within a budget), closed exactly as the webhook closes them when
//! ended, confirmed when live, left for the next run when Twilio does not say. Idempotent and
//! safe to run twice at once. DynamoDB is moto (table from template.yaml), Twilio wiremock.

use std::time::Duration;

use flex_handoff::flex::FlexMode;
use flex_handoff::handlers::reconcile::{ReconcileReport, ReconcileState, reconcile};
use flex_handoff::store::{ActiveChat, ChannelStore, ChatStatus, Slot};
use flex_handoff_testkit::{MotoServer, TwilioStandIns, dev_settings, open_chat_as};
use serde_json::json;
use wiremock::matchers::{method, path};
use wiremock::{Mock, ResponseTemplate};

const SERVICE: &str = "IS33333333333333333333333333333333";
const T0: i64 = 1_790_000_000;
const MINUTE: i64 = 60;

struct Harness {
    _moto: MotoServer,
    twilio: TwilioStandIns,
    state: ReconcileState,
}

impl Harness {
    async fn start(overrides: &[(&str, &str)]) -> Self {
        let moto = MotoServer::start();
        let table = moto.create_channels_table();
        let twilio = TwilioStandIns::start().await;
        twilio.answer_normally().await;
        let mut all = vec![
            ("CHANNELS_TABLE", table.as_str()),
            ("TWILIO_DEADLINE_MS", "1000"),
        ];
        all.extend_from_slice(overrides);
        let own = twilio.reconcile_settings(&all);
        let state = ReconcileState::build(&dev_settings(&[]), &own, moto.dynamodb());
        Self {
            _moto: moto,
            twilio,
            state,
        }
    }

    fn store(&self) -> &ChannelStore {
        &self.state.store
    }

    /// An active chat of `identity` in `mode`, opened (and so confirmed) at `at`.
    async fn open(&self, identity: &str, sid: &str, mode: FlexMode, at: i64) {
        let chat = ActiveChat {
            identity: identity.into(),
            channel_sid: sid.into(),
            mode,
            created_at: at,
            confirmed_at: at,
            interaction: None,
        };
        open_chat_as(self.store(), &chat).await;
    }

    /// What Twilio answers when the chat `sid` of `mode` is read.
    async fn twilio_says(&self, mode: FlexMode, sid: &str, answer: ResponseTemplate) {
        let (host, route) = match mode {
            FlexMode::Chat => (
                &self.twilio.chat,
                format!("/v2/Services/{SERVICE}/Channels/{sid}"),
            ),
            _ => (
                &self.twilio.conversations,
                format!("/v1/Services/{SERVICE}/Conversations/{sid}"),
            ),
        };
        Mock::given(method("GET"))
            .and(path(route))
            .respond_with(answer)
            .with_priority(1)
            .mount(host)
            .await;
    }

    /// Twilio reads so far (of the chat `sid` only, if given); a 503 is retried, so a failed
    /// check may read more than once.
    async fn reads(&self, sid: Option<&str>) -> usize {
        let mut reads = 0;
        for host in [&self.twilio.chat, &self.twilio.conversations] {
            reads += host
                .received_requests()
                .await
                .unwrap_or_default()
                .iter()
                .filter(|r| r.method.as_str() == "GET")
                .filter(|r| sid.is_none_or(|sid| r.url.path().ends_with(sid)))
                .count();
        }
        reads
    }

    async fn run(&self, now: i64) -> ReconcileReport {
        reconcile(&self.state, now, Duration::from_secs(60))
            .await
            .unwrap()
    }

    async fn status(&self, sid: &str) -> ChatStatus {
        self.store().chat(sid).await.unwrap().unwrap().status
    }
}

fn sid(n: u32) -> String {
    format!("CH{n:032x}")
}

fn live_conversation() -> ResponseTemplate {
    ResponseTemplate::new(200).set_body_json(json!({"state": "active"}))
}

fn closed_conversation() -> ResponseTemplate {
    ResponseTemplate::new(200).set_body_json(json!({"state": "closed"}))
}

fn inactive_channel() -> ResponseTemplate {
    ResponseTemplate::new(200).set_body_json(json!({"attributes": r#"{"status":"INACTIVE"}"#}))
}

fn unavailable() -> ResponseTemplate {
    ResponseTemplate::new(503)
        .set_body_json(json!({"code": 20503, "message": "down", "status": 503}))
}

#[tokio::test(flavor = "multi_thread")]
async fn a_run_closes_ended_chats_as_the_webhook_does_confirms_live_ones_and_leaves_doubt() {
    let h = Harness::start(&[]).await;
    h.open("ada", &sid(1), FlexMode::Conversations, T0).await;
    h.open("bob", &sid(2), FlexMode::Interactions, T0).await;
    h.open("cy", &sid(3), FlexMode::Chat, T0).await;
    h.open("di", &sid(4), FlexMode::Conversations, T0).await;
    // Opened just now: not stale, not read.
    h.open("eve", &sid(5), FlexMode::Conversations, T0 + 10 * MINUTE)
        .await;
    h.twilio_says(FlexMode::Conversations, &sid(1), closed_conversation())
        .await;
    h.twilio_says(FlexMode::Interactions, &sid(2), live_conversation())
        .await;
    h.twilio_says(FlexMode::Chat, &sid(3), inactive_channel())
        .await;
    h.twilio_says(FlexMode::Conversations, &sid(4), unavailable())
        .await;

    let now = T0 + 10 * MINUTE + 1;
    let report = h.run(now).await;
    assert_eq!(
        report,
        ReconcileReport {
            checked: 4,
            live: 1,
            repaired: 2,
            already_closed: 0,
            failed: 1,
            left_for_next_run: false,
        }
    );
    for (identity, ended) in [("ada", sid(1)), ("cy", sid(3))] {
        let record = h.store().chat(&ended).await.unwrap().unwrap();
        assert_eq!(record.status, ChatStatus::Closed);
        assert_eq!(
            (record.closed_at, record.expires_at),
            (Some(now), Some(now + 30 * 86_400))
        );
        assert_eq!(h.store().active_slot(identity).await.unwrap(), Slot::Empty);
    }
    let Slot::Active(bob) = h.store().active_slot("bob").await.unwrap() else {
        panic!("bob's chat is live");
    };
    assert_eq!(bob.confirmed_at, now);
    assert_eq!(
        h.status(&sid(4)).await,
        ChatStatus::Active,
        "doubt closes nothing"
    );
    assert_eq!(h.status(&sid(5)).await, ChatStatus::Active);
    assert_eq!(h.reads(Some(&sid(5))).await, 0);
    let reads_after_first = h.reads(None).await;
    let doubtful_reads = h.reads(Some(&sid(4))).await;

    // Run again: only the chat Twilio did not answer for is still stale.
    let again = h.run(now + 1).await;
    assert_eq!((again.checked, again.failed, again.repaired), (1, 1, 0));
    assert_eq!(
        h.reads(None).await - reads_after_first,
        h.reads(Some(&sid(4))).await - doubtful_reads,
        "only the doubtful chat was read again"
    );
}

#[tokio::test(flavor = "multi_thread")]
async fn a_run_is_bounded_and_takes_the_longest_unconfirmed_first_across_shards() {
    let h = Harness::start(&[("RECONCILE_MAX_CHECKS", "3")]).await;
    for n in 1..=6 {
        // Older first: chat n was opened n minutes after T0.
        h.open(
            &format!("guest-{n}"),
            &sid(n),
            FlexMode::Conversations,
            T0 + i64::from(n) * MINUTE,
        )
        .await;
        h.twilio_says(FlexMode::Conversations, &sid(n), closed_conversation())
            .await;
    }
    let report = h.run(T0 + 60 * MINUTE).await;
    assert_eq!(
        (report.checked, report.repaired, report.left_for_next_run),
        (3, 3, true)
    );
    for n in 1..=6 {
        let expected = if n <= 3 {
            ChatStatus::Closed
        } else {
            ChatStatus::Active
        };
        assert_eq!(h.status(&sid(n)).await, expected, "chat {n}");
    }
    let rest = h.run(T0 + 60 * MINUTE).await;
    assert_eq!(
        (rest.checked, rest.repaired, rest.left_for_next_run),
        (3, 3, false)
    );
    assert_eq!(h.run(T0 + 60 * MINUTE).await, ReconcileReport::default());
}

#[tokio::test(flavor = "multi_thread")]
async fn two_runs_at_once_close_each_chat_once_and_agree_on_the_records() {
    let h = Harness::start(&[]).await;
    for n in 1..=8 {
        h.open(&format!("guest-{n}"), &sid(n), FlexMode::Chat, T0)
            .await;
        h.twilio_says(FlexMode::Chat, &sid(n), inactive_channel())
            .await;
    }
    let now = T0 + 30 * MINUTE;
    let (a, b) = tokio::join!(h.run(now), h.run(now));
    // Every chat was repaired by exactly one run; the other, if it got there, found it closed.
    assert_eq!(a.repaired + b.repaired, 8, "{a:?} {b:?}");
    assert_eq!(
        a.checked + b.checked,
        8 + a.already_closed + b.already_closed
    );
    assert_eq!(a.failed + b.failed, 0);
    for n in 1..=8 {
        let record = h.store().chat(&sid(n)).await.unwrap().unwrap();
        assert_eq!(
            (record.status, record.closed_at),
            (ChatStatus::Closed, Some(now))
        );
        assert_eq!(
            h.store().active_slot(&format!("guest-{n}")).await.unwrap(),
            Slot::Empty
        );
    }
}

#[tokio::test(flavor = "multi_thread")]
async fn no_check_starts_without_time_for_its_twilio_read() {
    let h = Harness::start(&[]).await;
    h.open("ada", &sid(1), FlexMode::Conversations, T0).await;
    // Less left than one read's deadline plus the margin: nothing is started.
    let report = reconcile(&h.state, T0 + 60 * MINUTE, Duration::from_millis(2500))
        .await
        .unwrap();
    assert_eq!((report.checked, report.left_for_next_run), (0, true));
    assert_eq!(h.reads(None).await, 0);
}
