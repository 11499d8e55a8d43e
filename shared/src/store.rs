//! The channels table in DynamoDB. Two kinds of item share it (single-table design):
//!
//! - `active#<identity>`: the identity's one current chat, `pending` while a request creates it
//!   (with a claim id and a lease) and `active` once Twilio has it. Its existence is the lock that
//!   makes concurrent presses create one chat. Deleted when the chat closes.
//! - `chat#<channel SID>`: the record of each chat, kept as history after it closes until the
//!   TTL attribute `expiresAt` passes.
//!
//! An identity's active chat and a channel's record are key lookups. Two sparse indexes, each
//! holding only the items that carry its key attributes:
//!
//! - [`CHATS_BY_IDENTITY_INDEX`] on (`identity`, `createdAt`), an identity's history: only chat
//!   records carry `identity`, so the `active#` pointers (whose key already names the identity)
//!   stay out of it.
//! - [`LIVE_CHATS_INDEX`] on (`liveShard`, `confirmedAt`), active chats by when Twilio last
//!   confirmed them live (their opening counts): only active pointers carry `liveShard`, and a
//!   pointer is deleted when its chat closes, so the reconciler reads the oldest-confirmed live
//!   chats without a Scan. `liveShard` spreads them over [`LIVE_SHARDS`] index partitions.
//!
//! No Scan anywhere.

use std::collections::HashMap;

use aws_sdk_dynamodb::Client;
use aws_sdk_dynamodb::error::{DisplayErrorContext, ProvideErrorMetadata, SdkError};
use aws_sdk_dynamodb::types::{AttributeValue, Delete, Put, TransactWriteItem, Update};

pub use crate::flex::InteractionSids;
use crate::flex::{FlexMode, UnknownMode};

/// Partition key attribute name; the template and tests use the same.
pub const KEY: &str = "pk";
/// When the agent accepted a chat (epoch seconds), on its record.
pub const ACCEPTED_AT: &str = "acceptedAt";
/// TTL attribute name (epoch seconds), set on closed chat records.
pub const TTL_ATTRIBUTE: &str = "expiresAt";
/// The global secondary index of chat records by identity, newest first by `createdAt`;
/// template.yaml defines it with this name and projects what [`ChatSummary`] reads.
pub const CHATS_BY_IDENTITY_INDEX: &str = "chats-by-identity";
/// The index of active chats by when they were last confirmed live; template.yaml defines it.
pub const LIVE_CHATS_INDEX: &str = "live-chats-by-confirmation";
/// How many index partitions active chats are spread over (by identity), so confirmations of
/// many chats do not all write one index partition.
pub const LIVE_SHARDS: u32 = 4;
/// The most chats one [`ChannelStore::chats_of`] page holds.
pub const MAX_PAGE_SIZE: usize = 50;

#[derive(Debug, thiserror::Error)]
pub enum StoreError {
    #[error("DynamoDB {operation} failed: {detail}")]
    Unavailable {
        operation: &'static str,
        detail: String,
    },
    /// An item holds a value we never write: corrupted, or written by something else.
    #[error("the item {key} is unreadable: {detail}")]
    Unreadable { key: String, detail: String },
}

// The one place a chat's status is written and read; GraphQL shows it as it is. (No doc comment:
// it would become the schema's description of the enum.)
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, async_graphql::Enum)]
pub enum ChatStatus {
    /// An agent has the chat, or will.
    Active,
    /// The agent or the customer ended it.
    Closed,
}

impl ChatStatus {
    pub fn as_str(self) -> &'static str {
        match self {
            ChatStatus::Active => "active",
            ChatStatus::Closed => "closed",
        }
    }

    fn parse(stored: &str) -> Option<Self> {
        [ChatStatus::Active, ChatStatus::Closed]
            .into_iter()
            .find(|status| status.as_str() == stored)
    }
}

/// The state of an identity's slot: `pending` while a request opens its chat, `active` after.
const SLOT_PENDING: &str = "pending";
const SLOT_ACTIVE: &str = "active";

/// An identity's current chat slot.
#[derive(Debug, PartialEq, Eq)]
pub enum Slot {
    Empty,
    Pending {
        claim_id: String,
        /// The name the chat is created under (a Conversation's `UniqueName`, a task attribute),
        /// kept by every claim that takes over, so a chat a dead request made can be found.
        handoff_id: String,
        lease_expires_at: i64,
    },
    Active(ActiveChat),
}

/// What a [`ChannelStore::claim`] came to.
#[derive(Debug, PartialEq, Eq)]
pub enum Claimed {
    Won,
    /// Another request holds the slot: as it was read just after the refusal, so the caller
    /// need not read it again.
    Lost(Slot),
}

impl Claimed {
    pub fn won(&self) -> bool {
        matches!(self, Claimed::Won)
    }
}

#[derive(Clone, Debug, PartialEq, Eq)]
pub struct ActiveChat {
    pub identity: String,
    pub channel_sid: String,
    pub mode: FlexMode,
    pub created_at: i64,
    /// When Twilio last confirmed the chat live; its opening counts, so a new chat has
    /// `created_at`. A pointer written before confirmations were recorded reads as its creation.
    pub confirmed_at: i64,
    /// Interactions mode: the Interaction (`KD…`) and its channel (`UO…`), which closing the
    /// interaction needs. Recorded on the chat's record only.
    pub interaction: Option<InteractionSids>,
}

/// An active chat as [`LIVE_CHATS_INDEX`] lists it, for the reconciler.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct LiveChat {
    pub identity: String,
    pub channel_sid: String,
    pub mode: FlexMode,
    pub confirmed_at: i64,
}

/// A chat's record, by channel SID.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct ChatRecord {
    pub identity: String,
    pub channel_sid: String,
    pub mode: FlexMode,
    pub status: ChatStatus,
    pub created_at: i64,
    pub updated_at: i64,
    pub closed_at: Option<i64>,
    /// When an agent joined the chat: Flex adds them on accepting its task (flex-webhook
    /// records it: the availability module's acceptance log).
    pub accepted_at: Option<i64>,
    pub expires_at: Option<i64>,
    pub interaction: Option<InteractionSids>,
    /// The customer's rating, once given.
    pub rating: Option<ChatRating>,
}

/// The customer's rating of a closed chat.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct ChatRating {
    /// 1 to 5.
    pub score: u8,
    pub comment: Option<String>,
    pub rated_at: i64,
}

/// What [`ChannelStore::rate`] came to.
#[derive(Debug, PartialEq, Eq)]
pub enum Rated {
    Stored,
    /// The condition failed: rated meanwhile, closed too long ago, not closed, or not the
    /// caller's. The record, read again, says which.
    Refused,
}

/// What a customer's list of chats shows of each: what the identity index projects.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct ChatSummary {
    pub channel_sid: String,
    pub mode: FlexMode,
    pub status: ChatStatus,
    pub created_at: i64,
    pub closed_at: Option<i64>,
}

impl From<&ChatRecord> for ChatSummary {
    fn from(record: &ChatRecord) -> Self {
        Self {
            channel_sid: record.channel_sid.clone(),
            mode: record.mode,
            status: record.status,
            created_at: record.created_at,
            closed_at: record.closed_at,
        }
    }
}

impl From<&ActiveChat> for ChatSummary {
    fn from(chat: &ActiveChat) -> Self {
        Self {
            channel_sid: chat.channel_sid.clone(),
            mode: chat.mode,
            status: ChatStatus::Active,
            created_at: chat.created_at,
            closed_at: None,
        }
    }
}

/// Where a page of an identity's chats starts: just after this chat, in the index's order. The
/// identity is the caller's, never the cursor's, so a cursor cannot reach another's chats.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct ChatCursor {
    pub created_at: i64,
    pub channel_sid: String,
}

impl ChatCursor {
    pub fn after(chat: &ChatSummary) -> Self {
        Self {
            created_at: chat.created_at,
            channel_sid: chat.channel_sid.clone(),
        }
    }

    /// Opaque to clients: base64url of `<createdAt>.<channel SID>`.
    pub fn encode(&self) -> String {
        use base64::Engine as _;
        base64::engine::general_purpose::URL_SAFE_NO_PAD
            .encode(format!("{}.{}", self.created_at, self.channel_sid))
    }

    /// `None` for anything [`Self::encode`] did not make.
    pub fn decode(text: &str) -> Option<Self> {
        use base64::Engine as _;
        let bytes = base64::engine::general_purpose::URL_SAFE_NO_PAD
            .decode(text)
            .ok()?;
        let text = String::from_utf8(bytes).ok()?;
        let (created_at, channel_sid) = text.split_once('.')?;
        crate::ids::check_sid(crate::ids::SidKind::Channel, channel_sid).ok()?;
        Some(Self {
            created_at: created_at.parse().ok().filter(|at: &i64| *at >= 0)?,
            channel_sid: channel_sid.to_owned(),
        })
    }
}

/// One page of an identity's chats, newest first.
#[derive(Debug, PartialEq, Eq)]
pub struct ChatPage {
    pub chats: Vec<ChatSummary>,
    pub has_next_page: bool,
}

/// What closing a chat did.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum CloseOutcome {
    Closed,
    AlreadyClosed,
    Unknown,
}

pub struct ChannelStore {
    client: Client,
    table: String,
    closed_retention_seconds: i64,
}

pub(crate) fn s(value: impl Into<String>) -> AttributeValue {
    AttributeValue::S(value.into())
}

pub(crate) fn n(value: i64) -> AttributeValue {
    AttributeValue::N(value.to_string())
}

fn active_key(identity: &str) -> AttributeValue {
    s(format!("active#{identity}"))
}

pub(crate) fn chat_key(channel_sid: &str) -> AttributeValue {
    s(format!("chat#{channel_sid}"))
}

/// The [`LIVE_CHATS_INDEX`] partition an identity's active chat is listed in: FNV-1a of the
/// identity, so it is stable across processes and releases.
fn live_shard(identity: &str) -> String {
    let hash = identity.bytes().fold(0x811c_9dc5_u32, |hash, byte| {
        (hash ^ u32::from(byte)).wrapping_mul(0x0100_0193)
    });
    shard_name(hash % LIVE_SHARDS)
}

fn shard_name(shard: u32) -> String {
    format!("live#{shard}")
}

pub(crate) fn get_s(item: &HashMap<String, AttributeValue>, name: &str) -> Option<String> {
    item.get(name)?.as_s().ok().cloned()
}

pub(crate) fn get_n(item: &HashMap<String, AttributeValue>, name: &str) -> Option<i64> {
    item.get(name)?.as_n().ok()?.parse().ok()
}

pub(crate) fn store_error<E, R>(operation: &'static str, error: SdkError<E, R>) -> StoreError
where
    E: std::error::Error + Send + Sync + 'static,
    R: std::fmt::Debug + Send + Sync + 'static,
{
    StoreError::Unavailable {
        operation,
        detail: DisplayErrorContext(error).to_string(),
    }
}

const RATING: &str = "rating";

/// The rating as the record stores it, if any.
fn rating_in(item: &HashMap<String, AttributeValue>) -> Result<Option<ChatRating>, StoreError> {
    let Some(score) = get_n(item, RATING) else {
        return Ok(None);
    };
    let score = u8::try_from(score)
        .ok()
        .filter(|score| (1..=5).contains(score))
        .ok_or_else(|| unreadable(item, format!("rating {score} is not 1 to 5")))?;
    Ok(Some(ChatRating {
        score,
        comment: get_s(item, "ratingComment"),
        rated_at: get_n(item, "ratedAt").unwrap_or_default(),
    }))
}

/// The chat's mode as the item stores it.
fn mode_in(item: &HashMap<String, AttributeValue>) -> Result<FlexMode, StoreError> {
    get_s(item, "mode")
        .unwrap_or_default()
        .parse()
        .map_err(|UnknownMode(stored)| unreadable(item, format!("mode {stored:?} is no Flex mode")))
}

/// The chat's status as the item stores it.
fn status_in(item: &HashMap<String, AttributeValue>) -> Result<ChatStatus, StoreError> {
    let stored = get_s(item, "status").unwrap_or_default();
    ChatStatus::parse(&stored)
        .ok_or_else(|| unreadable(item, format!("status {stored:?} is no chat status")))
}

fn unreadable(item: &HashMap<String, AttributeValue>, detail: String) -> StoreError {
    StoreError::Unreadable {
        key: get_s(item, KEY).unwrap_or_default(),
        detail,
    }
}

/// A conditional write's result: `Ok(true)` written, `Ok(false)` its condition did not hold.
pub(crate) fn conditional<T, E, R>(
    operation: &'static str,
    result: Result<T, SdkError<E, R>>,
) -> Result<bool, StoreError>
where
    E: ProvideErrorMetadata + std::error::Error + Send + Sync + 'static,
    R: std::fmt::Debug + Send + Sync + 'static,
{
    match result {
        Ok(_) => Ok(true),
        Err(error) if is_condition_failure(&error) => Ok(false),
        Err(error) => Err(store_error(operation, error)),
    }
}

fn is_condition_failure<E: ProvideErrorMetadata, R>(error: &SdkError<E, R>) -> bool {
    let code = error.as_service_error().and_then(|e| e.code());
    match code {
        Some("ConditionalCheckFailedException") => true,
        // The message lists one cancellation reason per item of the transaction.
        Some("TransactionCanceledException") => error
            .as_service_error()
            .and_then(|e| e.message())
            .is_some_and(|m| m.contains("ConditionalCheckFailed")),
        _ => false,
    }
}

impl ChannelStore {
    pub fn new(client: Client, table: &str, closed_retention_days: u32) -> Self {
        Self {
            client,
            table: table.to_owned(),
            closed_retention_seconds: i64::from(closed_retention_days) * 86_400,
        }
    }

    pub async fn active_slot(&self, identity: &str) -> Result<Slot, StoreError> {
        let output = self
            .client
            .get_item()
            .table_name(&self.table)
            .key(KEY, active_key(identity))
            .consistent_read(true)
            .send()
            .await
            .map_err(|e| store_error("GetItem", e))?;
        let Some(item) = output.item else {
            return Ok(Slot::Empty);
        };
        match (get_s(&item, "state").as_deref(), get_s(&item, "channelSid")) {
            (Some(SLOT_ACTIVE), Some(channel_sid)) => {
                let created_at = get_n(&item, "createdAt").unwrap_or_default();
                Ok(Slot::Active(ActiveChat {
                    identity: identity.to_owned(),
                    channel_sid,
                    mode: mode_in(&item)?,
                    created_at,
                    confirmed_at: get_n(&item, "confirmedAt").unwrap_or(created_at),
                    interaction: None,
                }))
            }
            _ => {
                let claim_id = get_s(&item, "claimId").unwrap_or_default();
                Ok(Slot::Pending {
                    handoff_id: get_s(&item, "handoffId").unwrap_or_else(|| claim_id.clone()),
                    claim_id,
                    lease_expires_at: get_n(&item, "leaseExpiresAt").unwrap_or_default(),
                })
            }
        }
    }

    /// Claims the right to create the identity's chat: wins if the slot is empty or its pending
    /// claim's lease has run out (a crashed request); else says what holds it.
    pub async fn claim(
        &self,
        identity: &str,
        claim_id: &str,
        handoff_id: &str,
        mode: FlexMode,
        now: i64,
        lease_seconds: i64,
    ) -> Result<Claimed, StoreError> {
        let result = self
            .client
            .put_item()
            .table_name(&self.table)
            // No `identity` attribute: it would put the pointer in the identity index.
            .item(KEY, active_key(identity))
            .item("state", s(SLOT_PENDING))
            .item("claimId", s(claim_id))
            .item("handoffId", s(handoff_id))
            .item("mode", s(mode.as_str()))
            .item("leaseExpiresAt", n(now + lease_seconds))
            .item("updatedAt", n(now))
            .condition_expression(
                "attribute_not_exists(#pk) OR (#state = :pending AND #lease < :now)",
            )
            .expression_attribute_names("#pk", KEY)
            .expression_attribute_names("#state", "state")
            .expression_attribute_names("#lease", "leaseExpiresAt")
            .expression_attribute_values(":pending", s(SLOT_PENDING))
            .expression_attribute_values(":now", n(now))
            .send()
            .await;
        match result {
            Ok(_) => Ok(Claimed::Won),
            // The SDK repeats a call whose answer it lost; the repeat of a claim that was written
            // fails its own condition. A claim id is never reused, so finding it means we won.
            Err(error) if is_condition_failure(&error) => match self.active_slot(identity).await? {
                Slot::Pending { claim_id: held, .. } if held == claim_id => Ok(Claimed::Won),
                slot => Ok(Claimed::Lost(slot)),
            },
            Err(error) => Err(store_error("PutItem", error)),
        }
    }

    /// Gives our claim a new handoff id: the old one names a chat that has ended, whose name
    /// cannot be used again. Written before anything is created under the new name, so a request
    /// taking over later looks for what this one makes. `Ok(false)`: the claim is not ours now.
    pub async fn renew_handoff(
        &self,
        identity: &str,
        claim_id: &str,
        handoff_id: &str,
    ) -> Result<bool, StoreError> {
        let result = self
            .client
            .update_item()
            .table_name(&self.table)
            .key(KEY, active_key(identity))
            .update_expression("SET handoffId = :handoff")
            .condition_expression("#claim = :claim AND #state = :pending")
            .expression_attribute_names("#claim", "claimId")
            .expression_attribute_names("#state", "state")
            .expression_attribute_values(":handoff", s(handoff_id))
            .expression_attribute_values(":claim", s(claim_id))
            .expression_attribute_values(":pending", s(SLOT_PENDING))
            .send()
            .await;
        conditional("UpdateItem", result)
    }

    /// Gives up a claim (the Twilio call failed), so the next press starts afresh.
    pub async fn release(&self, identity: &str, claim_id: &str) -> Result<(), StoreError> {
        let result = self
            .client
            .delete_item()
            .table_name(&self.table)
            .key(KEY, active_key(identity))
            .condition_expression("#claim = :claim AND #state = :pending")
            .expression_attribute_names("#claim", "claimId")
            .expression_attribute_names("#state", "state")
            .expression_attribute_values(":claim", s(claim_id))
            .expression_attribute_values(":pending", s(SLOT_PENDING))
            .send()
            .await;
        // Not ours, or gone already: nothing to give up.
        conditional("DeleteItem", result).map(drop)
    }

    /// Turns our claim into the active chat and writes the chat's record, atomically, both
    /// stamped with `chat.created_at`. `Ok(false)`: the claim was lost (our lease ran out and
    /// another request took over) and the slot holds another chat.
    pub async fn activate(&self, claim_id: &str, chat: &ActiveChat) -> Result<bool, StoreError> {
        let opened_at = n(chat.created_at);
        let slot = Update::builder()
            .table_name(&self.table)
            .key(KEY, active_key(&chat.identity))
            .update_expression(
                "SET #state = :active, channelSid = :sid, createdAt = :now, updatedAt = :now, confirmedAt = :confirmed, liveShard = :shard REMOVE leaseExpiresAt",
            )
            .condition_expression("#claim = :claim AND #state = :pending")
            .expression_attribute_names("#state", "state")
            .expression_attribute_names("#claim", "claimId")
            .expression_attribute_values(":confirmed", n(chat.confirmed_at))
            .expression_attribute_values(":shard", s(live_shard(&chat.identity)))
            .expression_attribute_values(":active", s(SLOT_ACTIVE))
            .expression_attribute_values(":pending", s(SLOT_PENDING))
            .expression_attribute_values(":sid", s(&chat.channel_sid))
            .expression_attribute_values(":now", opened_at.clone())
            .expression_attribute_values(":claim", s(claim_id))
            .build()
            .expect("update has table, key and expression");
        let mut record = Put::builder()
            .table_name(&self.table)
            .item(KEY, chat_key(&chat.channel_sid))
            .item("identity", s(&chat.identity))
            .item("channelSid", s(&chat.channel_sid))
            .item("mode", s(chat.mode.as_str()))
            .item("status", s(ChatStatus::Active.as_str()))
            .item("createdAt", opened_at.clone())
            .item("updatedAt", opened_at);
        if let Some(interaction) = &chat.interaction {
            record = record
                .item("interactionSid", s(&interaction.interaction_sid))
                .item("interactionChannelSid", s(&interaction.channel_sid));
        }
        let record = record.build().expect("put has table and item");
        let result = self
            .client
            .transact_write_items()
            .transact_items(TransactWriteItem::builder().update(slot).build())
            .transact_items(TransactWriteItem::builder().put(record).build())
            .send()
            .await;
        match result {
            Ok(_) => Ok(true),
            // DynamoDB answers the SDK's repeat of a committed transaction by its client request
            // token; past that, the slot itself says whether this chat is the active one.
            Err(error) if is_condition_failure(&error) => Ok(matches!(
                self.active_slot(&chat.identity).await?,
                Slot::Active(active) if active.channel_sid == chat.channel_sid
            )),
            Err(error) => Err(store_error("TransactWriteItems", error)),
        }
    }

    pub async fn chat(&self, channel_sid: &str) -> Result<Option<ChatRecord>, StoreError> {
        let output = self
            .client
            .get_item()
            .table_name(&self.table)
            .key(KEY, chat_key(channel_sid))
            .consistent_read(true)
            .send()
            .await
            .map_err(|e| store_error("GetItem", e))?;
        let Some(item) = output.item else {
            return Ok(None);
        };
        Ok(Some(ChatRecord {
            identity: get_s(&item, "identity").unwrap_or_default(),
            channel_sid: get_s(&item, "channelSid").unwrap_or_default(),
            mode: mode_in(&item)?,
            status: status_in(&item)?,
            created_at: get_n(&item, "createdAt").unwrap_or_default(),
            updated_at: get_n(&item, "updatedAt").unwrap_or_default(),
            closed_at: get_n(&item, "closedAt"),
            accepted_at: get_n(&item, ACCEPTED_AT),
            expires_at: get_n(&item, TTL_ATTRIBUTE),
            interaction: get_s(&item, "interactionSid").map(|interaction_sid| InteractionSids {
                interaction_sid,
                channel_sid: get_s(&item, "interactionChannelSid").unwrap_or_default(),
            }),
            rating: rating_in(&item)?,
        }))
    }

    /// The identity's chats, newest first: `first` of them (at most [`MAX_PAGE_SIZE`]) after
    /// `after`. One Query of the identity index for `first + 1` items: the extra one says whether
    /// there is a next page without a second, possibly empty, read.
    pub async fn chats_of(
        &self,
        identity: &str,
        first: usize,
        after: Option<&ChatCursor>,
    ) -> Result<ChatPage, StoreError> {
        let first = first.min(MAX_PAGE_SIZE);
        let mut query = self
            .client
            .query()
            .table_name(&self.table)
            .index_name(CHATS_BY_IDENTITY_INDEX)
            .key_condition_expression("#identity = :identity")
            .expression_attribute_names("#identity", "identity")
            .expression_attribute_values(":identity", s(identity))
            .scan_index_forward(false)
            .limit(first as i32 + 1);
        if let Some(cursor) = after {
            query = query.set_exclusive_start_key(Some(HashMap::from([
                (KEY.to_owned(), chat_key(&cursor.channel_sid)),
                ("identity".to_owned(), s(identity)),
                ("createdAt".to_owned(), n(cursor.created_at)),
            ])));
        }
        let output = query.send().await.map_err(|e| store_error("Query", e))?;
        let mut chats = output
            .items
            .unwrap_or_default()
            .iter()
            // A pointer written before pointers stopped carrying `identity` is in the index
            // until its chat closes: it is not a chat.
            .filter(|item| get_s(item, KEY).is_some_and(|key| key.starts_with("chat#")))
            .map(|item| {
                Ok(ChatSummary {
                    channel_sid: get_s(item, "channelSid").unwrap_or_default(),
                    mode: mode_in(item)?,
                    status: status_in(item)?,
                    created_at: get_n(item, "createdAt").unwrap_or_default(),
                    closed_at: get_n(item, "closedAt"),
                })
            })
            .collect::<Result<Vec<_>, StoreError>>()?;
        let has_next_page = chats.len() > first;
        chats.truncate(first);
        Ok(ChatPage {
            chats,
            has_next_page,
        })
    }

    /// Records that Twilio has just confirmed the identity's active chat `channel_sid` live, so
    /// neither a reuse nor the reconciler asks again for a while. `Ok(false)`: the slot holds
    /// something else now (the chat closed, or a newer confirmation came first); nothing changed.
    pub async fn confirm(
        &self,
        identity: &str,
        channel_sid: &str,
        now: i64,
    ) -> Result<bool, StoreError> {
        let result = self
            .client
            .update_item()
            .table_name(&self.table)
            .key(KEY, active_key(identity))
            .update_expression("SET confirmedAt = :now, liveShard = :shard")
            .condition_expression(
                "#state = :active AND channelSid = :sid AND (attribute_not_exists(confirmedAt) OR confirmedAt < :now)",
            )
            .expression_attribute_names("#state", "state")
            .expression_attribute_values(":active", s(SLOT_ACTIVE))
            .expression_attribute_values(":sid", s(channel_sid))
            .expression_attribute_values(":now", n(now))
            .expression_attribute_values(":shard", s(live_shard(identity)))
            .send()
            .await;
        conditional("UpdateItem", result)
    }

    /// Up to `limit` active chats of one [`LIVE_CHATS_INDEX`] shard (`0..LIVE_SHARDS`) last
    /// confirmed live before `before`, the longest unconfirmed first. One Query, no Scan.
    pub async fn unconfirmed(
        &self,
        shard: u32,
        before: i64,
        limit: usize,
    ) -> Result<Vec<LiveChat>, StoreError> {
        if limit == 0 {
            return Ok(Vec::new());
        }
        let output = self
            .client
            .query()
            .table_name(&self.table)
            .index_name(LIVE_CHATS_INDEX)
            .key_condition_expression("liveShard = :shard AND confirmedAt < :before")
            .expression_attribute_values(":shard", s(shard_name(shard)))
            .expression_attribute_values(":before", n(before))
            .scan_index_forward(true)
            .limit(i32::try_from(limit).unwrap_or(i32::MAX))
            .send()
            .await
            .map_err(|e| store_error("Query", e))?;
        output
            .items
            .unwrap_or_default()
            .iter()
            .map(|item| {
                let key = get_s(item, KEY).unwrap_or_default();
                let identity = key.strip_prefix("active#").ok_or_else(|| {
                    unreadable(item, "an index entry that is no active chat".into())
                })?;
                Ok(LiveChat {
                    identity: identity.to_owned(),
                    channel_sid: get_s(item, "channelSid").unwrap_or_default(),
                    mode: mode_in(item)?,
                    confirmed_at: get_n(item, "confirmedAt").unwrap_or_default(),
                })
            })
            .collect()
    }

    /// Closes a chat Twilio says has ended, exactly as its chat-end webhook would, and frees the
    /// identity's slot if it still points at the chat (also when the record was closed already,
    /// or is gone: a pointer must never outlive its chat). Idempotent.
    pub async fn close_ended(
        &self,
        identity: &str,
        channel_sid: &str,
        now: i64,
    ) -> Result<CloseOutcome, StoreError> {
        let outcome = self.close(channel_sid, now).await?;
        if outcome != CloseOutcome::Closed {
            let result = self
                .client
                .delete_item()
                .table_name(&self.table)
                .key(KEY, active_key(identity))
                .condition_expression("#state = :active AND channelSid = :sid")
                .expression_attribute_names("#state", "state")
                .expression_attribute_values(":active", s(SLOT_ACTIVE))
                .expression_attribute_values(":sid", s(channel_sid))
                .send()
                .await;
            // Pointing elsewhere, or gone: nothing of this chat is left to free.
            conditional("DeleteItem", result)?;
        }
        Ok(outcome)
    }

    /// Stores the customer's rating of a chat, once: only while the chat is `identity`'s,
    /// closed, no earlier than `closed_since`, and unrated. One conditional update, so two
    /// concurrent ratings store one.
    pub async fn rate(
        &self,
        channel_sid: &str,
        identity: &str,
        rating: &ChatRating,
        closed_since: i64,
    ) -> Result<Rated, StoreError> {
        let mut update = self
            .client
            .update_item()
            .table_name(&self.table)
            .key(KEY, chat_key(channel_sid))
            .condition_expression(
                "#identity = :identity AND #status = :closed AND #closedAt >= :since AND attribute_not_exists(#rating)",
            )
            .expression_attribute_names("#identity", "identity")
            .expression_attribute_names("#closedAt", "closedAt")
            .expression_attribute_names("#status", "status")
            .expression_attribute_names("#rating", RATING)
            .expression_attribute_values(":identity", s(identity))
            .expression_attribute_values(":closed", s(ChatStatus::Closed.as_str()))
            .expression_attribute_values(":since", n(closed_since))
            .expression_attribute_values(":score", n(i64::from(rating.score)))
            .expression_attribute_values(":at", n(rating.rated_at));
        update = match &rating.comment {
            Some(comment) => update
                .update_expression("SET #rating = :score, ratedAt = :at, ratingComment = :comment")
                .expression_attribute_values(":comment", s(comment)),
            None => update.update_expression("SET #rating = :score, ratedAt = :at"),
        };
        let stored = conditional("UpdateItem", update.send().await)?;
        Ok(if stored {
            Rated::Stored
        } else {
            Rated::Refused
        })
    }

    /// Marks the chat closed (history until its TTL) and frees the identity's slot, atomically.
    /// Idempotent: Twilio retries webhooks.
    pub async fn close(&self, channel_sid: &str, now: i64) -> Result<CloseOutcome, StoreError> {
        match self.chat(channel_sid).await? {
            Some(record) => self.close_chat(&record, now).await,
            None => Ok(CloseOutcome::Unknown),
        }
    }

    /// [`Self::close`] for a record the caller has just read.
    pub async fn close_chat(
        &self,
        record: &ChatRecord,
        now: i64,
    ) -> Result<CloseOutcome, StoreError> {
        let channel_sid = record.channel_sid.as_str();
        if record.status == ChatStatus::Closed {
            return Ok(CloseOutcome::AlreadyClosed);
        }
        let close_record = Update::builder()
            .table_name(&self.table)
            .key(KEY, chat_key(channel_sid))
            .update_expression(
                "SET #status = :closed, closedAt = :now, updatedAt = :now, #ttl = :ttl",
            )
            .condition_expression("#status = :active")
            .expression_attribute_names("#status", "status")
            .expression_attribute_names("#ttl", TTL_ATTRIBUTE)
            .expression_attribute_values(":closed", s(ChatStatus::Closed.as_str()))
            .expression_attribute_values(":active", s(ChatStatus::Active.as_str()))
            .expression_attribute_values(":now", n(now))
            .expression_attribute_values(":ttl", n(now + self.closed_retention_seconds))
            .build()
            .expect("update has table, key and expression");
        let free_slot = Delete::builder()
            .table_name(&self.table)
            .key(KEY, active_key(&record.identity))
            .condition_expression("attribute_not_exists(#pk) OR channelSid = :sid")
            .expression_attribute_names("#pk", KEY)
            .expression_attribute_values(":sid", s(channel_sid))
            .build()
            .expect("delete has table and key");
        let result = self
            .client
            .transact_write_items()
            .transact_items(TransactWriteItem::builder().update(close_record).build())
            .transact_items(TransactWriteItem::builder().delete(free_slot).build())
            .send()
            .await;
        match result {
            Ok(_) => Ok(CloseOutcome::Closed),
            Err(error) if is_condition_failure(&error) => Ok(CloseOutcome::AlreadyClosed),
            Err(error) => Err(store_error("TransactWriteItems", error)),
        }
    }
}
