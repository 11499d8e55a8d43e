//! `POST /channel`: open the caller's Flex chat, or hand back the one already open.

mod settings;

pub use settings::{
    ChannelSettings, DEFAULT_LIVENESS_CHECK_AFTER_SECONDS, LIVENESS_CHECK_AFTER_VAR,
};

use std::time::Duration;

use lambda_http::http::StatusCode;
use lambda_http::{Body, Request, Response};
use serde::{Deserialize, Serialize};
use serde_json::{Map, Value};

use crate::availability::{Availability, Hours};
use crate::clock::RequestClock;
use crate::config::Settings;
use crate::context::{BotContext, ContextError, ContextSource, is_deceptive, task};
use crate::error::ApiError;
use crate::flex::{Flex, FlexMode, NewChat};
use crate::handlers::availability::availability_response;
use crate::http::{
    json_response, parse_json_body_within, require_post, respond, rfc3339, within_limit,
};
use crate::identity::{Caller, Callers, NewGuests};
use crate::liveness::{self, Checked};
use crate::metrics::{self, ChatOutcome};
use crate::rate_limit::RateLimiter;
use crate::store::{ActiveChat, ChannelStore, ChatStatus, Claimed, Slot};
use crate::token::ContextTokenVerifier;
use crate::twilio::TwilioClient;

pub const MAX_FRIENDLY_NAME_CHARS: usize = 64;
/// `preEngagementData` rides on the agent's task, whose attribute budget it shares with the
/// bot context and Flex's own attributes (see [`task`]).
pub const MAX_PRE_ENGAGEMENT_BYTES: usize = task::MAX_PRE_ENGAGEMENT_BYTES;
/// The largest valid request with JSON's worst escaping (every transcript body made of
/// characters JSON escapes) is about 76 KiB; this route's limit sits above it. The other routes
/// keep [`crate::http::MAX_BODY_BYTES`].
pub const MAX_CHANNEL_BODY_BYTES: usize = 96 * 1024;
/// How long a claim on an identity's slot holds before another request may take it over. Above
/// the function timeout, so a live request never loses its claim to an impatient one.
pub const CLAIM_LEASE_SECONDS: i64 = 15;
const WAIT_POLL: Duration = Duration::from_millis(150);
/// How long a request waits for a concurrent one that is opening the same chat.
const MAX_WAIT: Duration = Duration::from_secs(8);

/// What `create-channel` builds once per cold start.
pub struct ChannelState {
    pub callers: Callers,
    pub flex: Flex,
    pub store: ChannelStore,
    /// The mode's configuration check (legacy: the Flex Flow), made once at cold start; `Err`
    /// holds what is wrong.
    pub flex_flow: Result<(), String>,
    /// A reused chat last confirmed live longer ago than this is checked with Twilio first.
    pub liveness_check_after_seconds: i64,
    /// New chats per client: each is an agent's task.
    pub new_chats: RateLimiter,
    /// Checks contexts the bot's backend signed; `None` without a bot context key.
    pub context_tokens: Option<ContextTokenVerifier>,
    /// The queue's opening hours (new chats only open while it is open) and statistics
    /// (`GET /availability`).
    pub availability: Availability,
}

impl ChannelState {
    /// Builds the state once per cold start, including legacy mode's Flex Flow check (logged
    /// when it fails: every request then gets 503 `flex_flow_misconfigured`).
    pub async fn build(
        settings: &Settings,
        channel_settings: &ChannelSettings,
        dynamodb: aws_sdk_dynamodb::Client,
    ) -> Self {
        let twilio = TwilioClient::new(&settings.twilio, channel_settings.twilio_deadline);
        let availability = Availability::new(
            dynamodb.clone(),
            &channel_settings.table,
            channel_settings.availability.clone(),
            twilio.clone(),
            &channel_settings.hosts.taskrouter,
        );
        let flex = channel_settings.flex(twilio, &settings.chat_service_sid);
        let flex_flow = flex.check_configuration().await;
        if let Err(problem) = &flex_flow {
            tracing::error!(%problem, "Flex Flow check failed: chats cannot be opened");
        }
        Self {
            callers: Callers::from_settings(settings),
            flex,
            new_chats: RateLimiter::new(
                dynamodb.clone(),
                &channel_settings.table,
                "new-chat",
                channel_settings.new_chats,
            ),
            store: ChannelStore::new(
                dynamodb,
                &channel_settings.table,
                channel_settings.closed_retention_days,
            ),
            flex_flow,
            liveness_check_after_seconds: i64::from(channel_settings.liveness_check_after_seconds),
            context_tokens: channel_settings
                .bot_context_key
                .as_ref()
                .map(ContextTokenVerifier::new),
            availability,
        }
    }
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields, rename_all = "camelCase")]
struct ChannelRequest {
    friendly_name: Option<String>,
    pre_engagement_data: Option<Map<String, Value>>,
    /// Checked by [`BotContext::parse`], whose errors name the field. Shown to the agent as
    /// customer-provided.
    context: Option<Value>,
    /// The same context signed by the bot's backend (`token::ContextTokenVerifier`), shown to
    /// the agent as verified. One or the other.
    context_token: Option<String>,
}

#[derive(Serialize)]
#[serde(rename_all = "camelCase")]
struct ChannelResponse<'a> {
    channel_sid: &'a str,
    identity: &'a str,
    mode: &'static str,
    status: &'static str,
    reused: bool,
    created_at: String,
    /// On a new chat only: whether the bot's history reached it (the chat works either way).
    #[serde(skip_serializing_if = "Option::is_none")]
    context_delivered: Option<bool>,
}

/// The Lambda entry point for `POST /channel` and `GET /availability`.
pub async fn handle_channel_request(state: &ChannelState, request: Request) -> Response<Body> {
    respond(request, |request| async move {
        if is_availability(&request) {
            let now_ms = crate::clock::unix_now_millis();
            availability_response(&state.callers, &state.availability, &request, now_ms).await
        } else {
            channel_response(state, &request, crate::clock::unix_now()).await
        }
    })
    .await
}

/// `GET /availability` shares this function (the template routes both here); a stage, when
/// API Gateway names one, comes before the route.
pub fn is_availability(request: &Request) -> bool {
    request.uri().path().ends_with("/availability")
}

pub async fn channel_response(
    state: &ChannelState,
    request: &Request,
    now: i64,
) -> Result<Response<Body>, ApiError> {
    require_post(request)?;
    let body: ChannelRequest = parse_json_body_within(request, MAX_CHANNEL_BODY_BYTES)?;
    let caller = state.callers.resolve(request, NewGuests::Forbidden, now)?;
    let name = customer_name(body.friendly_name.as_deref(), &caller)?;
    let pre_engagement_data = pre_engagement_data(body.pre_engagement_data)?;
    let context = bot_context(
        state.context_tokens.as_ref(),
        body.context.as_ref(),
        body.context_token.as_deref(),
        &caller.identity,
        now,
    )?;
    if let Err(problem) = &state.flex_flow {
        return Err(ApiError::FlexFlowMisconfigured(problem.clone()));
    }

    let mode = state.flex.mode();
    let clock = RequestClock::starting_at(now);
    let mut slot = state.store.active_slot(&caller.identity).await?;
    // At most one repair per request: a chat found after it was made by another request just now.
    let mut repaired = false;
    // A new chat is an agent's task: the client's limit is taken once, before the first claim.
    let mut limit_taken = false;
    loop {
        match slot {
            // A reused chat already has its context: nothing is posted again.
            Slot::Active(chat) => {
                let stale = clock.now() - chat.confirmed_at > state.liveness_check_after_seconds;
                if repaired || !stale || still_live(state, &chat, clock.now()).await? {
                    metrics::chat(ChatOutcome::Reused, chat.mode.as_str());
                    return respond_with(&chat, None);
                }
                // Its end never reached us: closed now, and this press opens a new chat.
                repaired = true;
                slot = state.store.active_slot(&caller.identity).await?;
            }
            Slot::Pending {
                lease_expires_at, ..
            } if lease_expires_at >= clock.now() => {
                // A concurrent press is opening this chat: wait for it rather than open a second.
                if clock.elapsed() >= MAX_WAIT {
                    return Err(ApiError::ChatBeingOpened);
                }
                tokio::time::sleep(WAIT_POLL).await;
                slot = state.store.active_slot(&caller.identity).await?;
            }
            free @ (Slot::Empty | Slot::Pending { .. }) => {
                // Taking over a dead request's claim completes its chat: not a new one.
                if matches!(free, Slot::Empty) && !limit_taken {
                    within_hours(state, clock.now()).await?;
                    within_limit(
                        &state.new_chats,
                        request,
                        "new chats from your network",
                        clock.now(),
                    )
                    .await?;
                    limit_taken = true;
                }
                let press = Press {
                    caller: &caller,
                    name: &name,
                    pre_engagement_data: &pre_engagement_data,
                    context: &context,
                    mode,
                    clock: &clock,
                };
                match claim_and_open(state, &press, free).await? {
                    Claiming::Answered(response) => return response,
                    Claiming::Taken(held) => slot = held,
                }
            }
        }
    }
}

/// A new chat opens only while the queue is open, unless its schedule queues chats anyway
/// (then the agent finds it at the next opening). A customer's open chat is answered at any hour.
async fn within_hours(state: &ChannelState, now: i64) -> Result<(), ApiError> {
    let schedule = state.availability.schedule(now * 1000).await?;
    match schedule.hours(now) {
        Hours::Open => Ok(()),
        Hours::Closed { .. } if schedule.queue_when_closed => Ok(()),
        Hours::Closed {
            next_open_at,
            message,
            ..
        } => Err(ApiError::OutsideHours {
            next_open_at: next_open_at.map(rfc3339).transpose()?,
            message,
        }),
    }
}

/// One press's request, checked, and its clock.
struct Press<'a> {
    caller: &'a Caller,
    name: &'a CustomerName,
    pre_engagement_data: &'a Map<String, Value>,
    context: &'a BotContext,
    mode: FlexMode,
    clock: &'a RequestClock,
}

/// What trying to claim a free slot came to.
enum Claiming {
    /// The claim was won, and the chat opened or not: the press's answer.
    Answered(Result<Response<Body>, ApiError>),
    /// Another request claimed the slot first: as it was read just after.
    Taken(Slot),
}

/// Claims `free` (empty, or a dead request's expired claim) and opens the chat under the claim.
async fn claim_and_open(
    state: &ChannelState,
    press: &Press<'_>,
    free: Slot,
) -> Result<Claiming, ApiError> {
    let identity = &press.caller.identity;
    let claim_id = uuid::Uuid::new_v4().to_string();
    // A takeover keeps the dead claim's handoff id: what it made is found by it.
    let (mut recovering, mut handoff_id) = match free {
        Slot::Pending { handoff_id, .. } => (true, handoff_id),
        _ => (false, claim_id.clone()),
    };
    let claimed = state
        .store
        .claim(
            identity,
            &claim_id,
            &handoff_id,
            press.mode,
            press.clock.now(),
            CLAIM_LEASE_SECONDS,
        )
        .await?;
    if let Claimed::Lost(held) = claimed {
        return Ok(Claiming::Taken(held));
    }
    let claimed_after = press.clock.elapsed();
    let opened = loop {
        let chat = NewChat {
            identity,
            friendly_name: &press.name.text,
            name_verified: press.name.verified,
            pre_engagement_data: press.pre_engagement_data,
            context: press.context,
            handoff_id: &handoff_id,
        };
        let claim = Claim {
            id: &claim_id,
            recovering,
            clock: press.clock,
            claimed_after,
        };
        match open_and_record(state, &claim, press.caller, &chat, press.mode).await {
            // What the dead request made has ended since: open afresh, once, under a new
            // handoff id recorded first.
            Err(failure) if failure.handoff_ended && recovering => {
                let fresh = uuid::Uuid::new_v4().to_string();
                if !state
                    .store
                    .renew_handoff(identity, &claim_id, &fresh)
                    .await?
                {
                    return Err(ApiError::ChatBeingOpened);
                }
                tracing::warn!("the handoff's chat had ended: opening a fresh one");
                handoff_id = fresh;
                recovering = false;
            }
            opened => break opened,
        }
    };
    let outcome = if opened.is_ok() {
        ChatOutcome::Opened
    } else {
        ChatOutcome::Failed
    };
    metrics::chat(outcome, press.mode.as_str());
    Ok(Claiming::Answered(match opened {
        Ok((chat, delivered)) => respond_with(&chat, Some(delivered)),
        // Twilio may have the chat: the claim stays, so the press after its lease completes
        // that chat instead of opening a second.
        Err(failure) if failure.chat_may_exist => {
            tracing::warn!("keeping the claim: Twilio may have opened the chat");
            Err(failure.error)
        }
        // Leave no claim for a chat that does not exist.
        Err(failure) => {
            if let Err(error) = state.store.release(identity, &claim_id).await {
                tracing::warn!(%error, "could not release the claim; its lease will expire");
            }
            Err(failure.error)
        }
    }))
}

/// Whether a reused chat not confirmed live for a while still is ([`liveness::check`]). Ended:
/// closed as its webhook would have closed it (`false`). Twilio not answering is no reason to
/// open a second chat: the recorded one is answered (`true`).
async fn still_live(state: &ChannelState, chat: &ActiveChat, now: i64) -> Result<bool, ApiError> {
    let checked = liveness::check(
        state.flex.chats(),
        &state.store,
        &chat.identity,
        &chat.channel_sid,
        chat.mode,
        now,
    )
    .await?;
    Ok(matches!(checked, Checked::Live | Checked::Unknown))
}

/// The claim a request holds on its caller's slot while it opens the chat.
struct Claim<'a> {
    id: &'a str,
    /// It took over an expired claim, whose request may have opened a chat before dying.
    recovering: bool,
    clock: &'a RequestClock,
    /// When, on the request's clock, the claim was won.
    claimed_after: Duration,
}

/// Why opening failed, whether the chat may exist in Twilio all the same, and whether the
/// handoff's name belongs to a chat that has ended.
struct Failure {
    error: ApiError,
    chat_may_exist: bool,
    handoff_ended: bool,
}

/// Opens the chat and records it; also says whether the bot's history reached it.
async fn open_and_record(
    state: &ChannelState,
    claim: &Claim<'_>,
    caller: &Caller,
    chat: &NewChat<'_>,
    mode: FlexMode,
) -> Result<(ActiveChat, bool), Failure> {
    let opened = state
        .flex
        .open_chat(chat, claim.recovering)
        .await
        .map_err(|failure| Failure {
            error: failure.error.into(),
            chat_may_exist: failure.chat_may_exist,
            handoff_ended: failure.handoff_ended,
        })?;
    // From here the chat exists in Twilio: every failure keeps the claim.
    let exists = |error: ApiError| Failure {
        error,
        chat_may_exist: true,
        handoff_ended: false,
    };
    let active = ActiveChat {
        identity: caller.identity.clone(),
        channel_sid: opened.channel_sid,
        mode,
        created_at: claim.clock.now(),
        confirmed_at: claim.clock.now(),
        interaction: opened.interaction,
    };
    if state
        .store
        .activate(claim.id, &active)
        .await
        .map_err(|error| exists(error.into()))?
    {
        tracing::info!(
            channel_sid = %active.channel_sid,
            %mode,
            context_delivered = opened.context_delivered,
            "chat opened"
        );
        Ok((active, opened.context_delivered))
    } else {
        // Another request holds the claim now. With a lease above the function timeout that
        // takes a store that let two claims win; say how long this one held it.
        let held = (claim.clock.elapsed() - claim.claimed_after).as_secs_f64();
        let cause = if held >= CLAIM_LEASE_SECONDS as f64 {
            "this request outlived its lease"
        } else {
            "another request took it over within the lease: the store let two claims win"
        };
        Err(exists(ApiError::Internal(format!(
            "claim lost while opening {} after {held:.1} s of a {CLAIM_LEASE_SECONDS} s lease: {cause}",
            active.channel_sid
        ))))
    }
}

/// `context_delivered` is `Some` for a chat this request opened, `None` for a reused one.
fn respond_with(
    chat: &ActiveChat,
    context_delivered: Option<bool>,
) -> Result<Response<Body>, ApiError> {
    let created_at = rfc3339(chat.created_at)?;
    let created = context_delivered.is_some();
    Ok(json_response(
        if created {
            StatusCode::CREATED
        } else {
            StatusCode::OK
        },
        &ChannelResponse {
            channel_sid: &chat.channel_sid,
            identity: &chat.identity,
            mode: chat.mode.as_str(),
            status: ChatStatus::Active.as_str(),
            reused: !created,
            created_at,
            context_delivered,
        },
    ))
}

/// The name the agent sees, and whether the identity provider vouches for it.
struct CustomerName {
    text: String,
    verified: bool,
}

/// The authorizer's `name` claim when it has a showable one: the body's `friendlyName` cannot
/// rename a signed-in customer. Else the body's (guests, or a claim without a name), else
/// "Customer". A `friendlyName` is checked either way, so a bad one is always refused.
fn customer_name(requested: Option<&str>, caller: &Caller) -> Result<CustomerName, ApiError> {
    let requested = requested
        .map(|requested| {
            let trimmed = requested.trim();
            if valid_friendly_name(trimmed) {
                Ok(trimmed)
            } else {
                Err(ApiError::InvalidBody(format!(
                    "friendlyName must be 1 to {MAX_FRIENDLY_NAME_CHARS} characters after trimming, with no control or bidirectional control characters"
                )))
            }
        })
        .transpose()?;
    if let Some(verified) = caller.display_name.as_deref().and_then(showable_claim) {
        return Ok(CustomerName {
            text: verified,
            verified: true,
        });
    }
    Ok(CustomerName {
        text: requested.unwrap_or("Customer").to_owned(),
        verified: false,
    })
}

/// The identity provider's name without what an agent must not be shown (control and
/// bidirectional control characters), cut to the name's length; `None` when nothing is left.
/// Cleaned rather than refused: the customer cannot change what their provider says.
fn showable_claim(claim: &str) -> Option<String> {
    let cleaned: String = claim
        .chars()
        .filter(|c| !c.is_control() && !is_deceptive(*c))
        .collect();
    let trimmed: String = cleaned
        .trim()
        .chars()
        .take(MAX_FRIENDLY_NAME_CHARS)
        .collect();
    let trimmed = trimmed.trim_end();
    (!trimmed.is_empty()).then(|| trimmed.to_owned())
}

fn valid_friendly_name(name: &str) -> bool {
    let chars = name.chars().count();
    (1..=MAX_FRIENDLY_NAME_CHARS).contains(&chars)
        && !name.chars().any(|c| c.is_control() || is_deceptive(c))
}

/// The press's bot context: `contextToken` signed by the bot's backend for this customer
/// (verified), or `context` as the browser sent it (customer-provided), or none.
fn bot_context(
    verifier: Option<&ContextTokenVerifier>,
    context: Option<&Value>,
    context_token: Option<&str>,
    identity: &str,
    now: i64,
) -> Result<BotContext, ApiError> {
    let refused = |reason: String| {
        ApiError::InvalidContext(ContextError {
            field: "contextToken".into(),
            reason,
        })
    };
    let Some(token) = context_token else {
        return Ok(BotContext::parse(context)?);
    };
    if context.is_some() {
        return Err(refused("send context or contextToken, not both".into()));
    }
    let verifier = verifier.ok_or_else(|| {
        refused("cannot be verified: this deployment has no bot context key".into())
    })?;
    let signed = verifier
        .verify(token, identity, now)
        .map_err(|error| refused(error.to_string()))?;
    let mut context = BotContext::parse(Some(&signed))?;
    context.source = ContextSource::BotVerified;
    Ok(context)
}

fn pre_engagement_data(data: Option<Map<String, Value>>) -> Result<Map<String, Value>, ApiError> {
    let data = data.unwrap_or_default();
    if task::to_json(&data).len() > MAX_PRE_ENGAGEMENT_BYTES {
        return Err(ApiError::InvalidBody(format!(
            "preEngagementData must be at most {MAX_PRE_ENGAGEMENT_BYTES} bytes of JSON"
        )));
    }
    Ok(data)
}
