//! The GraphQL schema of the customer's chats: `availability` (before the press), `me` (who,
//! the active chat, the history, newest first, paged by opaque cursors), `chat(channelSid)` with
//! its rating and transcript (after the chat), and the `endChat` and `rateChat` mutations. Every
//! resolver acts for the request's caller only; another customer's chat reads as `null` or not
//! found.

use std::sync::{Arc, Mutex};

use async_graphql::{
    ComplexObject, Context, EmptySubscription, ErrorExtensions, ID, Object, Schema, SimpleObject,
};
use lambda_http::http::StatusCode;
use serde::{Deserialize, Serialize};

use crate::availability::{Availability, ClosedReason, WaitRange};
use crate::error::ApiError;
use crate::flex::transcript::{Attachment, Authors, MessageCursor, MessageRole, TranscriptMessage};
use crate::flex::{ChatRef, FlexMode, TwilioChats};
use crate::ids::{SidKind, check_sid};
use crate::store::{
    ChannelStore, ChatCursor, ChatRecord, ChatStatus, ChatSummary, CloseOutcome, MAX_PAGE_SIZE,
    Rated, Slot,
};

pub type ChatSchema = Schema<Query, Mutation, EmptySubscription>;

/// The deepest query the schema answers: `me { chats { edges { node { channelSid } } } }` is 5.
pub const MAX_DEPTH: usize = 6;
/// Each field costs 1; `chats` costs its page size times its selection. Two full pages of
/// every field fit; the third does not.
pub const MAX_COMPLEXITY: usize = 1200;
pub const DEFAULT_PAGE_SIZE: i32 = 20;
/// A transcript page when `first` is not given.
pub const DEFAULT_MESSAGES_PAGE_SIZE: i32 = 20;
/// The longest rating comment, in characters.
pub const MAX_COMMENT_CHARS: usize = 500;

/// What the account decides of what happens after a chat.
#[derive(Clone, Debug)]
pub struct AfterChat {
    /// How long after closing a chat can be rated.
    pub rating_window_seconds: i64,
    /// What the transcript calls every agent.
    pub agent_name: String,
    /// Transcript pages per customer: each is a Twilio read.
    pub transcript_pages: crate::rate_limit::RateLimiter,
}

/// The schema, built once per cold start with the services its resolvers use.
pub fn build_schema(
    store: ChannelStore,
    chats: TwilioChats,
    availability: Availability,
    after_chat: AfterChat,
    introspection: bool,
) -> ChatSchema {
    let builder = Schema::build(Query, Mutation, EmptySubscription)
        .data(store)
        .data(chats)
        .data(availability)
        .data(after_chat)
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
#[graphql(complex)]
pub struct Chat {
    /// The Conversation SID (Flex UI 2.x) or the Chat channel SID (legacy).
    pub channel_sid: ID,
    pub mode: FlexMode,
    pub status: ChatStatus,
    pub created_at: DateTime,
    /// When it closed; null while it is active.
    pub closed_at: Option<DateTime>,
    /// The chat's whole record, where the resolver read it (`chat`, `rateChat`): what `rating`
    /// and `messages` need. Lists hold summaries only.
    #[graphql(skip)]
    record: Option<Box<ChatRecord>>,
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
            record: None,
        })
    }
}

impl Chat {
    fn from_record(record: ChatRecord) -> Result<Self, ApiError> {
        let summary = Self::try_from(&ChatSummary::from(&record))?;
        Ok(Self {
            record: Some(Box::new(record)),
            ..summary
        })
    }

    /// The record, or why this field is not answered here.
    fn record(&self, field: &str) -> Result<&ChatRecord, ApiError> {
        self.record.as_deref().ok_or_else(|| {
            ApiError::InvalidArgument(format!(
                "{field} is read one chat at a time: select it on chat(channelSid) or rateChat"
            ))
        })
    }
}

/// The customer's rating of a chat.
#[derive(Clone, Debug, SimpleObject)]
#[graphql(name = "Rating")]
pub struct RatingView {
    /// 1 (worst) to 5 (best).
    pub score: u8,
    pub comment: Option<String>,
    pub rated_at: DateTime,
}

/// A message of a chat's transcript.
#[derive(Clone, Debug, SimpleObject)]
pub struct Message {
    /// "You" for the caller, "Bot" for the bot's conversation before the handoff, and the
    /// account's name for its agents ("Agent" unless configured): never an agent's identity.
    pub author: String,
    pub role: MessageRole,
    pub body: String,
    /// When Twilio received it; null when Twilio's date is unreadable.
    pub at: Option<DateTime>,
    /// Files attached, as Twilio describes them (no links: Twilio gives none).
    pub attachments: Vec<Attachment>,
}

impl TryFrom<TranscriptMessage> for Message {
    type Error = ApiError;

    fn try_from(message: TranscriptMessage) -> Result<Self, ApiError> {
        Ok(Self {
            author: message.author,
            role: message.role,
            body: message.body,
            at: message.at.map(date_time).transpose()?,
            attachments: message.attachments,
        })
    }
}

/// A page of a chat's messages, oldest first.
#[derive(SimpleObject)]
pub struct MessageConnection {
    pub nodes: Vec<Message>,
    pub page_info: PageInfo,
}

#[ComplexObject]
impl Chat {
    /// The caller's rating; null until they rate the chat. On `chat(channelSid)` and
    /// `rateChat` only.
    async fn rating(&self, ctx: &Context<'_>) -> async_graphql::Result<Option<RatingView>> {
        let record = self.record("rating").map_err(|e| fail(ctx, e))?;
        record
            .rating
            .as_ref()
            .map(|rating| {
                Ok(RatingView {
                    score: rating.score,
                    comment: rating.comment.clone(),
                    rated_at: date_time(rating.rated_at)?,
                })
            })
            .transpose()
            .map_err(|e| fail(ctx, e))
    }

    /// The chat's messages, oldest first: `first` (1 to 50; 20 when absent) after the cursor
    /// `after`. One Twilio read per page; readable while the record is kept. On
    /// `chat(channelSid)` only.
    async fn messages(
        &self,
        ctx: &Context<'_>,
        #[graphql(default_with = "Some(DEFAULT_MESSAGES_PAGE_SIZE)")] first: Option<i32>,
        after: Option<String>,
    ) -> async_graphql::Result<MessageConnection> {
        let record = self.record("messages").map_err(|e| fail(ctx, e))?;
        let chats = ctx.data::<TwilioChats>()?;
        let after_chat = ctx.data::<AfterChat>()?;
        let page_size = page_size(
            first.unwrap_or(DEFAULT_MESSAGES_PAGE_SIZE),
            1..=crate::flex::transcript::MAX_PAGE_SIZE,
        )
        .map_err(|e| fail(ctx, e))?;
        let after = cursor(after, MessageCursor::decode).map_err(|e| fail(ctx, e))?;
        let scope = scope(ctx)?;
        let verdict = after_chat
            .transcript_pages
            .take(&record.identity, scope.now_ms)
            .await
            .map_err(|e| fail(ctx, e.into()))?;
        if let crate::rate_limit::Verdict::Limited {
            retry_after_seconds,
        } = verdict
        {
            tracing::warn!(retry_after_seconds, "transcript pages rate limited");
            return Err(fail(
                ctx,
                ApiError::RateLimited {
                    what: "transcript pages for your chats",
                    retry_after_seconds,
                },
            ));
        }
        let authors = Authors {
            customer_identity: &record.identity,
            agent_name: &after_chat.agent_name,
        };
        let page = chats
            .transcript_page(
                record.mode,
                &record.channel_sid,
                page_size,
                after.as_ref(),
                &authors,
            )
            .await
            .map_err(|error| {
                let gone = matches!(
                    error,
                    crate::twilio::TwilioError::Rejected { status: 404, .. }
                );
                fail(
                    ctx,
                    if gone {
                        ApiError::TranscriptGone
                    } else {
                        ApiError::TranscriptUpstream(error)
                    },
                )
            })?;
        let nodes = page
            .messages
            .into_iter()
            .map(Message::try_from)
            .collect::<Result<Vec<_>, _>>()
            .map_err(|e| fail(ctx, e))?;
        Ok(MessageConnection {
            nodes,
            page_info: PageInfo {
                has_next_page: page.next.is_some(),
                end_cursor: page.next.map(|next| next.encode()),
            },
        })
    }
}

/// A rating's comment: trimmed, empty as none, at most [`MAX_COMMENT_CHARS`] characters, and no
/// control or bidirectional-override characters (line breaks and tabs allowed), so what an agent
/// or a report shows is what the customer saw.
fn rating_comment(comment: Option<String>) -> Result<Option<String>, ApiError> {
    let Some(comment) = comment
        .map(|c| c.trim().to_owned())
        .filter(|c| !c.is_empty())
    else {
        return Ok(None);
    };
    if comment.chars().count() > MAX_COMMENT_CHARS {
        return Err(ApiError::InvalidArgument(format!(
            "comment is longer than {MAX_COMMENT_CHARS} characters"
        )));
    }
    let hidden = |c: char| {
        (c.is_control() && c != '\n' && c != '\t')
            || matches!(c, '\u{202A}'..='\u{202E}' | '\u{2066}'..='\u{2069}' | '\u{200E}' | '\u{200F}')
    };
    if comment.chars().any(hidden) {
        return Err(ApiError::InvalidArgument(
            "comment holds control or text-direction characters".into(),
        ));
    }
    Ok(Some(comment))
}

/// The attribute the rating is copied to on the chat in Twilio.
pub const RATING_ATTRIBUTE: &str = "customerRating";

/// Copies the stored rating to the chat's attributes in Twilio, where an agent's Flex UI (a
/// plugin) or a report can read it. Best effort: the record holds the rating whatever Twilio
/// says, so a refusal is logged and the rating answered.
async fn copy_rating_to_chat(
    chats: &TwilioChats,
    record: &ChatRecord,
    rating: &crate::store::ChatRating,
) {
    let value = serde_json::json!({
        "score": rating.score,
        "comment": rating.comment,
        "ratedAt": crate::http::rfc3339(rating.rated_at).ok(),
    });
    if let Err(error) = chats
        .add_attribute(record.mode, &record.channel_sid, RATING_ATTRIBUTE, value)
        .await
    {
        tracing::warn!(channel_sid = %record.channel_sid, %error, "rating stored, not copied to the chat in Twilio");
    }
}

/// Whether `record` can be rated at `now`: why not, if it cannot.
fn check_ratable(record: &ChatRecord, now: i64, after_chat: &AfterChat) -> Result<(), ApiError> {
    if record.rating.is_some() {
        return Err(ApiError::AlreadyRated);
    }
    let Some(closed_at) = record
        .closed_at
        .filter(|_| record.status == ChatStatus::Closed)
    else {
        return Err(ApiError::ChatStillOpen);
    };
    if closed_at < now - after_chat.rating_window_seconds {
        return Err(ApiError::RatingWindowClosed {
            hours: (after_chat.rating_window_seconds / 3600) as u32,
        });
    }
    Ok(())
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

/// A `first` argument within `allowed`.
fn page_size(first: i32, allowed: std::ops::RangeInclusive<usize>) -> Result<usize, ApiError> {
    usize::try_from(first)
        .ok()
        .filter(|size| allowed.contains(size))
        .ok_or_else(|| {
            ApiError::InvalidArgument(format!(
                "first must be {} to {}",
                allowed.start(),
                allowed.end()
            ))
        })
}

/// An `after` argument, read by the `decode` of the cursors that field hands out.
fn cursor<T>(after: Option<String>, decode: fn(&str) -> Option<T>) -> Result<Option<T>, ApiError> {
    after
        .map(|text| {
            decode(&text).ok_or_else(|| {
                ApiError::InvalidArgument("after is not a cursor this API handed out".into())
            })
        })
        .transpose()
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
            .map(Chat::from_record)
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
        let page_size = page_size(first.unwrap_or(DEFAULT_PAGE_SIZE), 0..=MAX_PAGE_SIZE)
            .map_err(|e| fail(ctx, e))?;
        let after = cursor(after, ChatCursor::decode).map_err(|e| fail(ctx, e))?;
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

    /// Rates one of the caller's chats once it has closed: `score` 1 (worst) to 5 (best) and an
    /// optional `comment` (at most 500 characters). Once per chat: a second rating is refused
    /// (`ALREADY_RATED`), as is one after the rating window (24 h after closing unless
    /// configured).
    async fn rate_chat(
        &self,
        ctx: &Context<'_>,
        channel_sid: ID,
        score: i32,
        comment: Option<String>,
    ) -> async_graphql::Result<Chat> {
        let scope = scope(ctx)?;
        let store = ctx.data::<ChannelStore>()?;
        let after_chat = ctx.data::<AfterChat>()?;
        let chats = ctx.data::<TwilioChats>()?;
        let rated = async {
            let sid = channel_sid_argument(&channel_sid)?;
            let score = u8::try_from(score)
                .ok()
                .filter(|score| (1..=5).contains(score))
                .ok_or_else(|| ApiError::InvalidArgument("score must be 1 to 5".into()))?;
            let comment = rating_comment(comment)?;
            let mine = |record: Option<ChatRecord>| {
                record
                    .filter(|record| record.identity == scope.identity)
                    .ok_or(ApiError::ChatNotFound)
            };
            let mut record = mine(store.chat(sid).await?)?;
            check_ratable(&record, scope.now, after_chat)?;
            let rating = crate::store::ChatRating {
                score,
                comment,
                rated_at: scope.now,
            };
            let since = scope.now - after_chat.rating_window_seconds;
            match store.rate(sid, &scope.identity, &rating, since).await? {
                Rated::Stored => {
                    crate::metrics::chat_rated(score, record.mode.as_str());
                    tracing::info!(channel_sid = sid, score, "chat rated");
                    copy_rating_to_chat(chats, &record, &rating).await;
                    record.rating = Some(rating);
                    Chat::from_record(record)
                }
                // Changed since the read (another rating won): the record says why.
                Rated::Refused => {
                    check_ratable(&mine(store.chat(sid).await?)?, scope.now, after_chat)?;
                    Err(ApiError::AlreadyRated)
                }
            }
        };
        rated.await.map_err(|e| fail(ctx, e))
    }
}
