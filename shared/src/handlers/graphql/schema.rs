//! The GraphQL schema of the customer's chats: `availability` (before the press), `me` (who,
//! the active chat, the history, newest first, paged by opaque cursors), `chat(channelSid)` and
//! the `endChat` mutation. Every resolver
//! acts for the request's caller only; another customer's chat reads as `null` or not found.

use std::sync::{Arc, Mutex};

use async_graphql::{
    Context, EmptySubscription, ErrorExtensions, ID, Object, Schema, SimpleObject,
};
use lambda_http::http::StatusCode;
use serde::{Deserialize, Serialize};

use crate::availability::{Availability, ClosedReason, WaitRange};
use crate::error::ApiError;
use crate::flex::{ChatRef, FlexMode, TwilioChats};
use crate::ids::{SidKind, check_sid};
use crate::store::{
    ChannelStore, ChatCursor, ChatStatus, ChatSummary, CloseOutcome, MAX_PAGE_SIZE, Slot,
};

pub type ChatSchema = Schema<Query, Mutation, EmptySubscription>;

/// The deepest query the schema answers: `me { chats { edges { node { channelSid } } } }` is 5.
pub const MAX_DEPTH: usize = 6;
/// Each field costs 1; `chats` costs its page size times its selection. Two full pages of
/// every field fit; the third does not.
pub const MAX_COMPLEXITY: usize = 1200;
pub const DEFAULT_PAGE_SIZE: i32 = 20;

/// The schema, built once per cold start with the services its resolvers use.
pub fn build_schema(
    store: ChannelStore,
    chats: TwilioChats,
    availability: Availability,
    introspection: bool,
) -> ChatSchema {
    let builder = Schema::build(Query, Mutation, EmptySubscription)
        .data(store)
        .data(chats)
        .data(availability)
        .limit_depth(MAX_DEPTH)
        .limit_complexity(MAX_COMPLEXITY)
        .limit_directives(super::cost::MAX_DIRECTIVES);
    if introspection {
        builder.finish()
    } else {
        builder.disable_introspection().finish()
    }
}

/// The SDL of the schema: what `schema.graphql` holds, for the frontend's code generators.
pub fn sdl() -> String {
    Schema::build(Query, Mutation, EmptySubscription)
        .finish()
        .sdl()
}

/// One request's caller and clock, and the HTTP status of the first failure a resolver met.
pub struct RequestScope {
    pub identity: String,
    pub now: i64,
    /// `now` to the millisecond: availability's caches count in milliseconds.
    pub now_ms: i64,
    failure: Mutex<Option<StatusCode>>,
}

impl RequestScope {
    pub fn new(identity: String, now: i64) -> Arc<Self> {
        Self::at_millis(identity, now * 1000)
    }

    pub fn at_millis(identity: String, now_ms: i64) -> Arc<Self> {
        Arc::new(Self {
            identity,
            now: now_ms.div_euclid(1000),
            now_ms,
            failure: Mutex::new(None),
        })
    }

    /// The status of the first resolver failure, if any.
    pub fn failure(&self) -> Option<StatusCode> {
        *self
            .failure
            .lock()
            .unwrap_or_else(|poison| poison.into_inner())
    }

    fn record(&self, status: StatusCode) {
        let mut failure = self
            .failure
            .lock()
            .unwrap_or_else(|poison| poison.into_inner());
        failure.get_or_insert(status);
    }
}

/// A resolver's failure as a GraphQL error, its status kept for the HTTP answer.
fn fail(ctx: &Context<'_>, error: ApiError) -> async_graphql::Error {
    if let Ok(scope) = ctx.data::<Arc<RequestScope>>() {
        scope.record(error.status());
    }
    let code = error.answer().graphql_code;
    async_graphql::Error::new(error.caller_message()).extend_with(|_, e| e.set("code", code))
}

fn scope<'a>(ctx: &Context<'a>) -> async_graphql::Result<&'a Arc<RequestScope>> {
    ctx.data::<Arc<RequestScope>>()
}

/// A timestamp: RFC 3339, UTC, to the second.
#[derive(Clone, Debug, Serialize, Deserialize)]
#[serde(transparent)]
pub struct DateTime(String);

async_graphql::scalar!(
    DateTime,
    "DateTime",
    "A timestamp: RFC 3339, UTC, to the second, e.g. 2026-12-04T10:02:07Z."
);

fn date_time(unix_seconds: i64) -> Result<DateTime, ApiError> {
    crate::http::rfc3339(unix_seconds).map(DateTime)
}

/// A chat of the caller's with a Flex agent.
#[derive(Clone, Debug, SimpleObject)]
pub struct Chat {
    /// The Conversation SID (Flex UI 2.x) or the Chat channel SID (legacy).
    pub channel_sid: ID,
    pub mode: FlexMode,
    pub status: ChatStatus,
    pub created_at: DateTime,
    /// When it closed; null while it is active.
    pub closed_at: Option<DateTime>,
}

impl TryFrom<&ChatSummary> for Chat {
    type Error = ApiError;

    fn try_from(chat: &ChatSummary) -> Result<Self, ApiError> {
        Ok(Self {
            channel_sid: ID(chat.channel_sid.clone()),
            mode: chat.mode,
            status: chat.status,
            created_at: date_time(chat.created_at)?,
            closed_at: chat.closed_at.map(date_time).transpose()?,
        })
    }
}

#[derive(SimpleObject)]
pub struct ChatEdge {
    /// Pass as `after` to continue after this chat.
    pub cursor: String,
    pub node: Chat,
}

#[derive(SimpleObject)]
pub struct PageInfo {
    pub has_next_page: bool,
    /// The last edge's cursor; null on an empty page.
    pub end_cursor: Option<String>,
}

/// A page of the caller's chats, newest first.
#[derive(SimpleObject)]
pub struct ChatConnection {
    pub edges: Vec<ChatEdge>,
    pub page_info: PageInfo,
}

/// Before the press: whether the team is open, who is there and roughly how long the wait is,
/// for the queue the caller's chat would be routed to.
#[derive(SimpleObject, Serialize)]
#[graphql(name = "Availability")]
#[serde(rename_all = "camelCase")]
pub struct QueueAvailability {
    pub open: bool,
    /// Why it is closed; null while open.
    pub closed_reason: Option<ClosedReason>,
    /// The operators' message while they switched the queue closed.
    pub message: Option<String>,
    /// When it opens next; null while open, while switched closed, or with no opening ahead.
    pub next_open_at: Option<DateTime>,
    /// The team's IANA time zone, to show `nextOpenAt` as its local time.
    pub time_zone: String,
    /// Agents available now; null while closed or when the statistics are unknown.
    pub agents_available: Option<u64>,
    /// The likely wait until an agent accepts, in seconds; null when the data is too thin to
    /// say (README, "Availability").
    pub wait_estimate_seconds: Option<WaitRange>,
    /// Chats waiting for an agent now; null as `agentsAvailable`.
    pub queue_length: Option<u64>,
    /// When the statistics were read from Twilio.
    pub as_of: Option<DateTime>,
}

impl QueueAvailability {
    /// The one shape of the answer: GraphQL's `availability` and `GET /availability`'s body.
    pub fn from_view(view: crate::availability::AvailabilityView) -> Result<Self, ApiError> {
        Ok(Self {
            open: view.open,
            closed_reason: view.closed_reason,
            message: view.message,
            next_open_at: view.next_open_at.map(date_time).transpose()?,
            time_zone: view.time_zone,
            agents_available: view.agents_available,
            wait_estimate_seconds: view.wait_estimate_seconds,
            queue_length: view.queue_length,
            as_of: view
                .as_of_ms
                .map(|ms| date_time(ms.div_euclid(1000)))
                .transpose()?,
        })
    }
}

/// A channel SID argument, checked before anything is read.
fn channel_sid_argument(channel_sid: &ID) -> Result<&str, ApiError> {
    check_sid(SidKind::Channel, channel_sid)
        .map(|()| channel_sid.as_str())
        .map_err(|reason| ApiError::InvalidArgument(format!("channelSid {reason}")))
}

pub struct Query;

#[Object]
impl Query {
    /// Before the press: open or closed, agents available and the likely wait (as `GET
    /// /availability`).
    async fn availability(&self, ctx: &Context<'_>) -> async_graphql::Result<QueueAvailability> {
        let scope = scope(ctx)?;
        let availability = ctx.data::<Availability>()?;
        let now_ms = scope.now_ms;
        let view = availability
            .current(now_ms)
            .await
            .map_err(|e| fail(ctx, e.into()))?;
        QueueAvailability::from_view(view).map_err(|e| fail(ctx, e))
    }

    /// The caller: who the server decided they are, and their chats.
    async fn me(&self) -> Me {
        Me
    }

    /// One of the caller's chats; null when no chat of theirs has this SID.
    async fn chat(
        &self,
        ctx: &Context<'_>,
        channel_sid: ID,
    ) -> async_graphql::Result<Option<Chat>> {
        let scope = scope(ctx)?;
        let store = ctx.data::<ChannelStore>()?;
        let sid = channel_sid_argument(&channel_sid).map_err(|e| fail(ctx, e))?;
        let record = store
            .chat(sid)
            .await
            .map_err(|e| fail(ctx, e.into()))?
            .filter(|record| record.identity == scope.identity);
        record
            .map(|record| Chat::try_from(&ChatSummary::from(&record)))
            .transpose()
            .map_err(|e| fail(ctx, e))
    }
}

/// The caller.
pub struct Me;

#[Object]
impl Me {
    /// The caller's chat identity: the authenticated `sub`, or the guest id of their token.
    async fn identity(&self, ctx: &Context<'_>) -> async_graphql::Result<String> {
        Ok(scope(ctx)?.identity.clone())
    }

    /// The chat an agent has with the caller now; null when there is none (or it is still
    /// being opened).
    async fn active_chat(&self, ctx: &Context<'_>) -> async_graphql::Result<Option<Chat>> {
        let scope = scope(ctx)?;
        let store = ctx.data::<ChannelStore>()?;
        match store.active_slot(&scope.identity).await {
            Ok(Slot::Active(chat)) => Chat::try_from(&ChatSummary::from(&chat))
                .map(Some)
                .map_err(|e| fail(ctx, e)),
            Ok(Slot::Empty | Slot::Pending { .. }) => Ok(None),
            Err(error) => Err(fail(ctx, error.into())),
        }
    }

    /// The caller's chats, newest first: `first` (0 to 50; 20 when absent or null) after the
    /// cursor `after`.
    #[graphql(
        complexity = "2 + first.unwrap_or(DEFAULT_PAGE_SIZE).clamp(0, 50) as usize * child_complexity"
    )]
    async fn chats(
        &self,
        ctx: &Context<'_>,
        #[graphql(default_with = "Some(DEFAULT_PAGE_SIZE)")] first: Option<i32>,
        after: Option<String>,
    ) -> async_graphql::Result<ChatConnection> {
        let scope = scope(ctx)?;
        let store = ctx.data::<ChannelStore>()?;
        let page_size = usize::try_from(first.unwrap_or(DEFAULT_PAGE_SIZE))
            .ok()
            .filter(|size| *size <= MAX_PAGE_SIZE)
            .ok_or_else(|| {
                fail(
                    ctx,
                    ApiError::InvalidArgument(format!("first must be 0 to {MAX_PAGE_SIZE}")),
                )
            })?;
        let after = after
            .map(|cursor| {
                ChatCursor::decode(&cursor).ok_or_else(|| {
                    fail(
                        ctx,
                        ApiError::InvalidArgument(
                            "after is not a cursor this API handed out".into(),
                        ),
                    )
                })
            })
            .transpose()?;
        let page = store
            .chats_of(&scope.identity, page_size, after.as_ref())
            .await
            .map_err(|e| fail(ctx, e.into()))?;
        let edges = page
            .chats
            .iter()
            .map(|chat| {
                Ok(ChatEdge {
                    cursor: ChatCursor::after(chat).encode(),
                    node: Chat::try_from(chat)?,
                })
            })
            .collect::<Result<Vec<_>, ApiError>>()
            .map_err(|e| fail(ctx, e))?;
        Ok(ChatConnection {
            page_info: PageInfo {
                has_next_page: page.has_next_page,
                end_cursor: edges.last().map(|edge| edge.cursor.clone()),
            },
            edges,
        })
    }
}

pub struct Mutation;

#[Object]
impl Mutation {
    /// Ends one of the caller's chats: in Twilio as its Flex mode requires, then in the record,
    /// as when the agent ends it. Ending a closed chat answers it as it is. If Twilio fails the
    /// chat stays open, record and all, and the error says so.
    async fn end_chat(&self, ctx: &Context<'_>, channel_sid: ID) -> async_graphql::Result<Chat> {
        let scope = scope(ctx)?;
        let store = ctx.data::<ChannelStore>()?;
        let chats = ctx.data::<TwilioChats>()?;
        let sid = channel_sid_argument(&channel_sid).map_err(|e| fail(ctx, e))?;
        let ended = async {
            let record = store
                .chat(sid)
                .await?
                .filter(|record| record.identity == scope.identity)
                .ok_or(ApiError::ChatNotFound)?;
            if record.status == ChatStatus::Closed {
                return Chat::try_from(&ChatSummary::from(&record));
            }
            let chat = ChatRef {
                channel_sid: &record.channel_sid,
                interaction: record.interaction.as_ref(),
            };
            chats
                .end(record.mode, &chat)
                .await
                .map_err(ApiError::ChatNotEnded)?;
            // The same transition as the agent's end. The webhook's may come first: then the
            // record holds its close time.
            let closed = match store.close_chat(&record, scope.now).await? {
                CloseOutcome::Closed => {
                    tracing::info!(channel_sid = sid, "chat ended by the customer");
                    ChatSummary {
                        status: ChatStatus::Closed,
                        closed_at: Some(scope.now),
                        ..ChatSummary::from(&record)
                    }
                }
                CloseOutcome::AlreadyClosed | CloseOutcome::Unknown => {
                    let record = store.chat(sid).await?.ok_or(ApiError::ChatNotFound)?;
                    ChatSummary::from(&record)
                }
            };
            Chat::try_from(&closed)
        };
        ended.await.map_err(|e| fail(ctx, e))
    }
}
