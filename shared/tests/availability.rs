//! Availability before the press, against a real DynamoDB stand-in (moto) and Twilio checked by
//! its OpenAPI specs: `GET /availability` (create-channel) from the local Twilio's real tasks and
//! workers, the opening hours' gate on new chats with the schedule changed by `flex-schedule`
//! without a redeploy, and the single-flight refresh: many callers over many instances make one
//! Twilio read per refresh interval, and a failing Twilio is not hammered.

use std::sync::Arc;

use flex_handoff::availability::cli;
use flex_handoff::availability::{Availability, AvailabilitySettings, ScheduleStore};
use flex_handoff::config::availability::TaskQueue;
use flex_handoff::handlers::channel::{ChannelState, handle_channel_request};
use flex_handoff::twilio::TwilioClient;
use flex_handoff_testkit::channel::press;
use flex_handoff_testkit::{
    EventBuilder, LocalTwilio, MotoServer, channel_settings, dev_env, dev_settings,
};
use serde_json::{Value, json};
use wiremock::matchers::{method, path_regex};
use wiremock::{Mock, MockServer, ResponseTemplate};

const QUEUE: &str = "WQ88888888888888888888888888888888";

fn client() -> reqwest::Client {
    let _ = rustls::crypto::ring::default_provider().install_default();
    reqwest::Client::new()
}

async fn local_post(url: &str, form: &[(&str, &str)]) {
    let response = client().post(url).form(form).send().await.unwrap();
    assert!(
        response.status().is_success(),
        "{url}: {}",
        response.status()
    );
}

async fn call(state: &ChannelState, event: EventBuilder) -> (u16, Value) {
    let response = handle_channel_request(state, event.request()).await;
    let status = response.status().as_u16();
    let body = serde_json::from_slice(response.body().as_ref()).unwrap_or(Value::Null);
    (status, body)
}

fn availability_event(token: &str) -> EventBuilder {
    EventBuilder::new("GET", "/availability").bearer(token)
}

/// `flex-schedule` as an operator runs it, on the test's table.
async fn flex_schedule(moto: &MotoServer, table: &str, args: &[&str], document: &str) -> String {
    let args: Vec<String> = args.iter().map(|arg| (*arg).to_owned()).collect();
    let document = document.to_owned();
    cli::run(
        &args,
        moto.dynamodb(),
        Some(table.to_owned()),
        move |_| Ok(document.clone()),
        flex_handoff::unix_now(),
    )
    .await
    .unwrap_or_else(|error| panic!("{args:?}: {error}"))
}

#[tokio::test(flavor = "multi_thread")]
async fn the_local_stack_answers_open_closed_and_no_agent_from_its_tasks_and_workers() {
    let twilio = LocalTwilio::start(&dev_env()["TWILIO_AUTH_TOKEN"]);
    let moto = MotoServer::start();
    let table = moto.create_channels_table();
    let settings = dev_settings(&[]);
    let channel = channel_settings(&[
        ("CHANNELS_TABLE", &table),
        ("TWILIO_FLEX_API_URL", &twilio.endpoint),
        ("TWILIO_CONVERSATIONS_API_URL", &twilio.endpoint),
        ("TWILIO_TASKROUTER_API_URL", &twilio.endpoint),
        // Every call reads the table and, when stale, Twilio: nothing hides a change here.
        ("AVAILABILITY_INSTANCE_CACHE_SECONDS", "0"),
        ("AVAILABILITY_REFRESH_SECONDS", "2"),
        ("NEW_CHATS_PER_MINUTE", "0"),
    ]);
    let state = ChannelState::build(&settings, &channel, moto.dynamodb()).await;
    let issuer = flex_handoff::token::TokenIssuer::from_settings(&settings);
    let now = flex_handoff::unix_now();
    let token = |who: &str| issuer.mint(&format!("guest-avail-{who}"), now).jwt;

    // Open (no schedule stored), both agents available, nobody waiting, no history: no estimate.
    let (status, body) = call(&state, availability_event(&token("a"))).await;
    assert_eq!(status, 200, "{body}");
    assert_eq!(body["open"], true, "{body}");
    assert_eq!(body["agentsAvailable"], 2, "{body}");
    assert_eq!(body["queueLength"], 0, "{body}");
    assert_eq!(body["waitEstimateSeconds"], Value::Null, "too thin: {body}");
    assert!(body["asOf"].is_string(), "{body}");

    // Three customers press; their tasks wait in the queue.
    let mut sids = Vec::new();
    for who in ["b", "c", "d"] {
        let (status, opened) = call(&state, press(&token(who))).await;
        assert_eq!(status, 201, "{opened}");
        sids.push(opened["channelSid"].as_str().unwrap().to_owned());
    }
    tokio::time::sleep(std::time::Duration::from_millis(2_100)).await;
    let (_, body) = call(&state, availability_event(&token("a"))).await;
    assert_eq!(body["queueLength"], 3, "{body}");
    // Agents accept all three: the window now holds enough samples for a range.
    for sid in &sids {
        local_post(
            &format!("{}/local/chats/{sid}/accept", twilio.endpoint),
            &[],
        )
        .await;
    }
    // The cumulative window is read again once its minute is up.
    let minute_later = flex_handoff::clock::unix_now_millis() + 61_000;
    let view = state.availability.current(minute_later).await.unwrap();
    assert_eq!(view.queue_length, Some(0), "{view:?}");
    assert_eq!(view.agents_available, Some(2), "{view:?}");
    let range = view
        .wait_estimate_seconds
        .expect("three accepted tasks are enough");
    assert!(range.low < range.high, "{view:?}");

    // No agent: both go offline on the agent page.
    for agent in ["Alex", "Sam"] {
        local_post(
            &format!("{}/local/workers/{agent}", twilio.endpoint),
            &[("Activity", "offline")],
        )
        .await;
    }
    // (The statistics stored a minute ahead: this instance goes on on that clock.)
    let view = state
        .availability
        .current(minute_later + 2_100)
        .await
        .unwrap();
    assert!(view.open, "{view:?}");
    assert_eq!(view.agents_available, Some(0), "{view:?}");
    assert_eq!(view.wait_estimate_seconds, None, "{view:?}");

    // Closed: an operator switches the queue closed, without a redeploy.
    flex_schedule(
        &moto,
        &table,
        &["set", "--queue", QUEUE, "schedule.json"],
        r#"{"timeZone":"Europe/Berlin","weekly":{"mon":["08:00-18:00"]}}"#,
    )
    .await;
    flex_schedule(
        &moto,
        &table,
        &[
            "close",
            "--queue",
            QUEUE,
            "--message",
            "Back after the team event",
        ],
        "",
    )
    .await;
    let (_, body) = call(&state, availability_event(&token("a"))).await;
    assert_eq!(body["open"], false, "{body}");
    assert_eq!(body["closedReason"], "closed_now", "{body}");
    assert_eq!(body["message"], "Back after the team event", "{body}");
    assert_eq!(
        body["agentsAvailable"],
        Value::Null,
        "not read at night: {body}"
    );
    let (status, refused) = call(&state, press(&token("e"))).await;
    assert_eq!(status, 409, "{refused}");
    assert_eq!(refused["error"]["code"], "outside_hours", "{refused}");
    assert_eq!(refused["error"]["nextOpenAt"], Value::Null, "{refused}");
    // A customer whose chat is open keeps it at any hour.
    let (status, reused) = call(&state, press(&token("b"))).await;
    assert_eq!((status, &reused["reused"]), (200, &json!(true)), "{reused}");
}

#[tokio::test(flavor = "multi_thread")]
async fn outside_hours_new_chats_get_409_with_the_next_opening_unless_the_schedule_queues() {
    let stand_ins = flex_handoff_testkit::TwilioStandIns::start().await;
    stand_ins.answer_normally().await;
    let moto = MotoServer::start();
    let table = moto.create_channels_table();
    let channel = stand_ins.channel_settings(&[
        ("CHANNELS_TABLE", &table),
        ("AVAILABILITY_INSTANCE_CACHE_SECONDS", "0"),
    ]);
    let state = ChannelState::build(&dev_settings(&[]), &channel, moto.dynamodb()).await;
    let issuer = flex_handoff::token::TokenIssuer::from_settings(&dev_settings(&[]));
    // Closed every day but Monday 08:00-09:00 in Berlin, and on no holiday: the next opening is
    // at most a week away, always at 08:00 local.
    let hours = r#"{"timeZone":"Europe/Berlin","weekly":{"mon":["08:00-09:00"]}}"#;
    flex_schedule(&moto, &table, &["set", "--queue", QUEUE, "-"], hours).await;
    let now = flex_handoff::unix_now();
    let schedule = flex_handoff::availability::Schedule::parse(hours).unwrap();
    let token = issuer.mint("guest-outside-hours", now).jwt;
    let (status, body) = call(&state, press(&token)).await;
    if schedule.hours(now) == flex_handoff::availability::Hours::Open {
        // The test runs within the hour the schedule is open: nothing to refuse.
        assert_eq!(status, 201, "{body}");
        return;
    }
    assert_eq!(status, 409, "{body}");
    assert_eq!(body["error"]["code"], "outside_hours");
    let next: jiff::Timestamp = body["error"]["nextOpenAt"]
        .as_str()
        .unwrap()
        .parse()
        .unwrap();
    let local = next.to_zoned(jiff::tz::TimeZone::get("Europe/Berlin").unwrap());
    assert_eq!(
        (local.weekday(), local.hour(), local.minute()),
        (jiff::civil::Weekday::Monday, 8, 0),
        "{body}"
    );
    assert!(next.as_second() - now <= 7 * 86_400, "{body}");
    assert!(
        stand_ins.flex.received_requests().await.unwrap().is_empty(),
        "no chat was opened"
    );
    // The schedule queues chats anyway: the press opens one, for the next opening.
    let queued = hours.replace("}}", r#"},"queueWhenClosed":true}"#);
    flex_schedule(&moto, &table, &["set", "--queue", QUEUE, "-"], &queued).await;
    let (status, body) = call(&state, press(&token)).await;
    assert_eq!(status, 201, "{body}");
}

#[tokio::test(flavor = "multi_thread")]
async fn malformed_schedules_and_unknown_queues_are_refused_and_nothing_is_written() {
    let moto = MotoServer::start();
    let table = moto.create_channels_table();
    let store = ScheduleStore::new(moto.dynamodb(), &table);
    for (args, document, says) in [
        (
            vec!["set", "--queue", QUEUE, "-"],
            r#"{"timeZone":"Berlin"}"#,
            "timeZone",
        ),
        (
            vec!["set", "--queue", QUEUE, "-"],
            r#"{"timeZone":"UTC","weekly":{"mon":["09:00-08:00"]}}"#,
            "weekly.mon",
        ),
        (vec!["set", "--queue", QUEUE, "-"], "not json", "invalid"),
        (
            vec!["set", "--queue", "billing", "-"],
            r#"{"timeZone":"UTC"}"#,
            "unknown queue",
        ),
        (vec!["close", "--queue", QUEUE], "", "--message"),
        (vec!["open", "--queue", QUEUE], "", "no schedule is stored"),
        (vec!["set", "--queue", QUEUE], "", "one command"),
        (vec!["set", "-"], "", "--queue"),
    ] {
        let owned: Vec<String> = args.iter().map(|arg| (*arg).to_owned()).collect();
        let document = document.to_owned();
        let error = cli::run(
            &owned,
            moto.dynamodb(),
            Some(table.clone()),
            move |_| Ok(document.clone()),
            0,
        )
        .await
        .unwrap_err();
        assert_eq!(error.exit_code(), 2, "{args:?}");
        assert!(error.to_string().contains(says), "{args:?}: {error}");
    }
    assert_eq!(store.get(QUEUE).await.unwrap(), None);
    assert_eq!(store.get("billing").await.unwrap(), None);

    // A document written around the command (by hand, with the AWS CLI) is a clear 503 with
    // the stored key in the log, never an open door or a panic.
    moto.dynamodb()
        .put_item()
        .table_name(&table)
        .item(
            "pk",
            aws_sdk_dynamodb::types::AttributeValue::S(format!("schedule#{QUEUE}")),
        )
        .item(
            "schedule",
            aws_sdk_dynamodb::types::AttributeValue::S("{\"timeZone\":1}".into()),
        )
        .send()
        .await
        .unwrap();
    let availability = availability_against(&moto, &table, "http://127.0.0.1:9", 10);
    let error = availability.current(1_000).await.unwrap_err();
    let api: flex_handoff::ApiError = error.into();
    assert_eq!(
        (api.status().as_u16(), api.code()),
        (503, "schedule_invalid")
    );
}

fn availability_against(
    moto: &MotoServer,
    table: &str,
    taskrouter: &str,
    refresh_seconds: u32,
) -> Availability {
    let settings = dev_settings(&[("TWILIO_TASKROUTER_API_URL", taskrouter)]);
    Availability::new(
        moto.dynamodb(),
        table,
        AvailabilitySettings {
            queue: Some(TaskQueue {
                workspace_sid: "WS66666666666666666666666666666666".into(),
                task_queue_sid: QUEUE.into(),
            }),
            refresh_seconds,
            instance_cache_seconds: 5,
        },
        TwilioClient::new(&settings.twilio, std::time::Duration::from_secs(3)),
        taskrouter,
    )
}

async fn taskrouter_answering(status: u16) -> MockServer {
    taskrouter_with_recent(status, 40, 50).await
}

/// TaskRouter with `accepted` tasks accepted in the cumulative window after `average` seconds.
async fn taskrouter_with_recent(status: u16, accepted: u64, average: u64) -> MockServer {
    let server = MockServer::start().await;
    Mock::given(method("GET"))
        .and(path_regex("/RealTimeStatistics$"))
        .respond_with(ResponseTemplate::new(status).set_body_json(json!({
            "total_available_workers": 4,
            "tasks_by_status": {"pending": 1, "reserved": 0},
            "longest_task_waiting_age": 12,
        })))
        .mount(&server)
        .await;
    Mock::given(method("GET"))
        .and(path_regex("/CumulativeStatistics$"))
        .respond_with(ResponseTemplate::new(status).set_body_json(json!({
            "reservations_accepted": accepted,
            "wait_duration_until_accepted": {"avg": average, "min": 0, "max": average, "total": accepted * average},
        })))
        .mount(&server)
        .await;
    server
}

async fn statistics_reads(server: &MockServer) -> (usize, usize) {
    let requests = server.received_requests().await.unwrap();
    let count = |suffix: &str| {
        requests
            .iter()
            .filter(|request| request.url.path().ends_with(suffix))
            .count()
    };
    (count("/RealTimeStatistics"), count("/CumulativeStatistics"))
}

#[tokio::test(flavor = "multi_thread")]
async fn many_callers_on_many_instances_make_one_twilio_read_per_refresh_interval() {
    let moto = MotoServer::start();
    let table = moto.create_channels_table();
    let twilio = taskrouter_answering(200).await;
    // Eight instances, each with its own cache, as eight warm Lambdas.
    let instances: Vec<Arc<Availability>> = (0..8)
        .map(|_| Arc::new(availability_against(&moto, &table, &twilio.uri(), 10)))
        .collect();
    let start = flex_handoff::clock::unix_now_millis();
    // 30 s of polling, a round every 2 s: all instances at once, each answering its callers one
    // after another as a Lambda instance does (40 per round, 4,800 answers in all).
    for round in 0..15_i64 {
        let now = start + round * 2_000;
        let rounds: Vec<_> = instances
            .iter()
            .map(|instance| {
                let instance = Arc::clone(instance);
                tokio::spawn(async move {
                    let mut views = Vec::new();
                    for caller in 0..40 {
                        views.push(instance.current(now + caller * 10).await.unwrap());
                    }
                    views
                })
            })
            .collect();
        for instance in rounds {
            for view in instance.await.unwrap() {
                assert_eq!(view.agents_available, Some(4), "round {round}");
                assert_eq!(view.queue_length, Some(1));
                // 50 s × (1 + 1/4) = 62.5 s expected: 30-120 s.
                assert_eq!(
                    view.wait_estimate_seconds,
                    Some(flex_handoff::availability::WaitRange { low: 30, high: 120 })
                );
            }
        }
    }
    // 30 s of polling with a 10 s interval: one refresh at 0, 10 and 20 s, each one
    // RealTimeStatistics read; the cumulative window is read once a minute.
    let (realtime, cumulative) = statistics_reads(&twilio).await;
    assert_eq!((realtime, cumulative), (3, 1));
    let refreshes: u64 = instances.iter().map(|instance| instance.refreshes()).sum();
    assert_eq!(refreshes, 3);
}

#[tokio::test(flavor = "multi_thread")]
async fn a_failing_twilio_is_read_once_per_interval_and_old_statistics_are_answered_meanwhile() {
    let moto = MotoServer::start();
    let table = moto.create_channels_table();
    let healthy = taskrouter_answering(200).await;
    let first = availability_against(&moto, &table, &healthy.uri(), 10);
    let start = flex_handoff::clock::unix_now_millis();
    let read = first.current(start).await.unwrap();
    assert_eq!(read.as_of_ms, Some(start));

    // Twilio fails from now on; another instance finds the statistics stale.
    let failing = taskrouter_answering(503).await;
    let second = availability_against(&moto, &table, &failing.uri(), 10);
    let later = start + 11_000;
    let stale = second.current(later).await.unwrap();
    assert_eq!(stale.agents_available, Some(4), "the stored statistics");
    assert_eq!(stale.as_of_ms, Some(start), "asOf says how old they are");
    let calls_after_failure = failing.received_requests().await.unwrap().len();
    assert!(calls_after_failure >= 1);
    // Within the interval after the failure nobody calls Twilio again, however many ask.
    let third = availability_against(&moto, &table, &failing.uri(), 10);
    for step in 1..20 {
        let view = third.current(later + step * 400).await.unwrap();
        assert_eq!(view.as_of_ms, Some(start));
    }
    assert_eq!(
        failing.received_requests().await.unwrap().len(),
        calls_after_failure
    );

    // With nothing stored, a failing first read is a clear upstream error, not a panic.
    let empty_table = moto.create_channels_table();
    let cold = availability_against(&moto, &empty_table, &failing.uri(), 10);
    let error: flex_handoff::ApiError = cold.current(start).await.unwrap_err().into();
    assert_eq!(
        (error.status().as_u16(), error.code()),
        (503, "upstream_unavailable")
    );
}

#[tokio::test(flavor = "multi_thread")]
async fn graphql_answers_the_same_availability_and_prices_it() {
    let harness = flex_handoff_testkit::graphql::GraphqlHarness::start(false).await;
    harness.twilio.answer_normally().await;
    let token = harness.guest_token("guest-graphql-availability");
    let query = "{ availability { open closedReason nextOpenAt timeZone agentsAvailable queueLength waitEstimateSeconds { low high } asOf } }";
    let (status, body) = harness
        .ask(flex_handoff_testkit::graphql::operation(
            &token,
            query,
            json!({}),
        ))
        .await;
    assert_eq!(status, 200, "{body}");
    let availability = &body["data"]["availability"];
    // The stand-ins' queue: 2 available, 1 waiting, 40 s average over 12 accepted tasks:
    // 40 × (1 + 1/2) = 60 s expected, 30-90 s, the high end rounded up to 2 min.
    assert_eq!(availability["open"], true, "{body}");
    assert_eq!(availability["agentsAvailable"], 2, "{body}");
    assert_eq!(availability["queueLength"], 1, "{body}");
    assert_eq!(
        availability["waitEstimateSeconds"],
        json!({"low": 30, "high": 120}),
        "{body}"
    );
    assert!(availability["asOf"].is_string(), "{body}");
    assert_eq!(
        availability["timeZone"], "UTC",
        "no schedule stored: {body}"
    );

    // Two in one request would be two refreshes: refused before anything runs.
    let twice = "{ a: availability { open } b: availability { open } }";
    let (status, body) = harness
        .ask(flex_handoff_testkit::graphql::operation(
            &token,
            twice,
            json!({}),
        ))
        .await;
    assert_eq!(status, 400, "{body}");
    assert_eq!(
        flex_handoff_testkit::graphql::error_codes(&body),
        vec!["QUERY_TOO_COSTLY"]
    );
    let (realtime, _) = statistics_reads(&harness.twilio.taskrouter).await;
    assert_eq!(realtime, 1, "the refused request read nothing");
}

#[tokio::test(flavor = "multi_thread")]
async fn where_twilio_s_waits_are_thin_our_recorded_acceptances_give_the_estimate() {
    use flex_handoff::availability::acceptance::{Acceptance, AcceptanceLog};
    use flex_handoff::availability::{WaitRange, WaitSource};
    use flex_handoff::flex::FlexMode;
    use flex_handoff::store::{ActiveChat, ChannelStore};

    let moto = MotoServer::start();
    // One accepted task in Twilio's window: too thin on its own.
    let twilio = taskrouter_with_recent(200, 1, 900).await;
    let now = flex_handoff::unix_now();

    // Without records of ours the estimate stays hidden.
    let bare = moto.create_channels_table();
    let view = availability_against(&moto, &bare, &twilio.uri(), 10)
        .current(now * 1000)
        .await
        .unwrap();
    assert_eq!(view.agents_available, Some(4));
    assert_eq!(view.wait_estimate_seconds, None);

    // Three chats accepted after 1, 2 and 3 minutes, as flex-webhook records them.
    let table = moto.create_channels_table();
    let store = ChannelStore::new(moto.dynamodb(), &table, 30);
    let log = AcceptanceLog::new(moto.dynamodb(), &table, QUEUE);
    for (index, waited) in [60, 120, 180].into_iter().enumerate() {
        let chat = ActiveChat {
            identity: format!("guest-{index}"),
            channel_sid: format!("CH{index:032}"),
            mode: FlexMode::Conversations,
            created_at: now - waited,
            confirmed_at: now - waited,
            interaction: None,
        };
        flex_handoff_testkit::open_chat_as(&store, &chat).await;
        let record = store.chat(&chat.channel_sid).await.unwrap().unwrap();
        assert_eq!(
            log.record(&record, "alex", now).await.unwrap(),
            Acceptance::Recorded {
                wait_seconds: waited
            }
        );
    }
    let availability = availability_against(&moto, &table, &twilio.uri(), 10);
    let view = availability.current(now * 1000).await.unwrap();
    // 120 s average × (1 + 1 waiting / 4 agents) = 150 s expected: 75-225 s -> 60-240.
    assert_eq!(
        view.wait_estimate_seconds,
        Some(WaitRange { low: 60, high: 240 })
    );
    let item = moto
        .dynamodb()
        .get_item()
        .table_name(&table)
        .key(
            "pk",
            aws_sdk_dynamodb::types::AttributeValue::S(format!("availability#{QUEUE}")),
        )
        .send()
        .await
        .unwrap()
        .item
        .unwrap();
    let stored: flex_handoff::availability::QueueStats =
        serde_json::from_str(item["stats"].as_s().unwrap()).unwrap();
    assert_eq!(
        (
            stored.accepted_recently,
            stored.average_wait_seconds,
            stored.wait_source
        ),
        (3, 120, WaitSource::Records)
    );
    // Reused, not re-read, until the next cumulative read.
    let again = availability_against(&moto, &table, &twilio.uri(), 10)
        .current(now * 1000 + 11_000)
        .await
        .unwrap();
    assert_eq!(again.wait_estimate_seconds, view.wait_estimate_seconds);
    assert_eq!(
        statistics_reads(&twilio).await,
        (3, 2),
        "bare, first, refresh"
    );
}
