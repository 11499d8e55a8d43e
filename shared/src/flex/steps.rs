//! What every Flex mode does the same way: calls to the account's chat APIs ([`TwilioChats`]),
//! and the last steps of opening any chat ([`Opening`]): the chat-end webhook and the bot's
//! history, posted once each, picked up where a dead request left off.

use std::sync::atomic::{AtomicBool, Ordering};

use serde_json::Value;

use super::{FlexMode, InteractionSids, Liveness, NewChat, OpenedChat};
use crate::config::TwilioHosts;
use crate::context::history::{HISTORY_AUTHOR, HistoryMessage, history_messages};
use crate::ids::{SidKind, check_sid};
use crate::twilio::{TwilioClient, TwilioError};

/// The Twilio chat APIs a Flex mode opens chats on.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum ChatApi {
    /// Conversations (Flex UI 2.x): `/v1/Services/{IS}/Conversations/{CH}`.
    Conversations,
    /// Programmable Chat (Flex UI 1.x, legacy): `/v2/Services/{IS}/Channels/{CH}`.
    ProgrammableChat,
}

impl ChatApi {
    /// A message's author: the form parameter that sets it and the JSON field that reads it.
    fn author_names(self) -> (&'static str, &'static str) {
        match self {
            ChatApi::Conversations => ("Author", "author"),
            ChatApi::ProgrammableChat => ("From", "from"),
        }
    }

    /// A chat webhook's target field and method: Conversations spells its methods in lower case,
    /// Chat in upper case.
    fn webhook_target_and_method(self) -> (&'static str, &'static str) {
        match self {
            ChatApi::Conversations => ("Target", "post"),
            ChatApi::ProgrammableChat => ("Type", "POST"),
        }
    }
}

/// The account's chats: the client, where each API lives, and the chat service every mode opens
/// its chats in. Modes make every Twilio call through it.
pub struct TwilioChats {
    pub(super) twilio: TwilioClient,
    pub(super) hosts: TwilioHosts,
    pub(super) chat_service_sid: String,
}

impl TwilioChats {
    pub fn new(twilio: TwilioClient, hosts: TwilioHosts, chat_service_sid: &str) -> Self {
        Self {
            twilio,
            hosts,
            chat_service_sid: chat_service_sid.to_owned(),
        }
    }

    /// One chat's own resource in its chat API: `…/Conversations/{CH}` or `…/Channels/{CH}`.
    pub(super) fn chat_url(&self, api: ChatApi, sid: &str) -> String {
        let service = &self.chat_service_sid;
        match api {
            ChatApi::Conversations => format!(
                "{}/v1/Services/{service}/Conversations/{sid}",
                self.hosts.conversations
            ),
            ChatApi::ProgrammableChat => {
                format!("{}/v2/Services/{service}/Channels/{sid}", self.hosts.chat)
            }
        }
    }

    /// Sets `key` in the chat's own attributes (a conversation's or a legacy channel's JSON
    /// `attributes`), keeping the others: one read, one update. Twilio fires no webhook for it
    /// (no `X-Twilio-Webhook-Enabled`). Attributes that are not a JSON object are left as they
    /// are rather than replaced.
    pub async fn add_attribute(
        &self,
        mode: FlexMode,
        sid: &str,
        key: &str,
        value: Value,
    ) -> Result<(), TwilioError> {
        let url = self.chat_url(mode.chat_api(), sid);
        let chat = self.twilio.get("fetch chat", &url).await?;
        let attributes: Value =
            serde_json::from_str(chat["attributes"].as_str().unwrap_or("{}")).unwrap_or_default();
        let Value::Object(mut attributes) = attributes else {
            return Err(TwilioError::BadResponse {
                what: "fetch chat",
                reason: "its attributes are not a JSON object".into(),
            });
        };
        attributes.insert(key.to_owned(), value);
        let attributes = Value::Object(attributes).to_string();
        self.twilio
            .post(
                "update chat attributes",
                &url,
                &[("Attributes", &attributes)],
            )
            .await
            .map(drop)
    }

    /// `base` with `query` appended, its values encoded.
    pub(super) fn url_with(
        &self,
        what: &'static str,
        base: &str,
        query: &[(&str, &str)],
    ) -> Result<String, TwilioError> {
        let mut url = reqwest::Url::parse(base).map_err(|e| TwilioError::BadResponse {
            what,
            reason: format!("URL: {e}"),
        })?;
        url.query_pairs_mut().extend_pairs(query);
        Ok(url.into())
    }

    /// One read of what `url` names: ended as `ended` reads it (a 404 included, if `ended`
    /// says so), else live; any other failure is the caller's to weigh.
    pub(super) async fn read_liveness(
        &self,
        what: &'static str,
        url: &str,
        ended: impl Fn(&Result<Value, TwilioError>) -> bool,
    ) -> Result<Liveness, TwilioError> {
        let read = self.twilio.get(what, url).await;
        if ended(&read) {
            return Ok(Liveness::Ended);
        }
        read.map(|_| Liveness::Live)
    }

    /// Posts an update that ends what `url` names. When Twilio refuses it, the resource is read:
    /// if `ended` finds it ended already (the agent got there first), the update counts as done.
    pub(super) async fn update_to_end(
        &self,
        (update, fetch): (&'static str, &'static str),
        url: &str,
        form: &[(&str, &str)],
        ended: fn(&Result<Value, TwilioError>) -> bool,
    ) -> Result<(), TwilioError> {
        let refused = match self.twilio.post(update, url, form).await {
            Ok(_) => return Ok(()),
            Err(error @ TwilioError::Rejected { .. }) => error,
            Err(error) => return Err(error),
        };
        if ended(&self.twilio.get(fetch, url).await) {
            Ok(())
        } else {
            Err(refused)
        }
    }
}

/// A URL without its `#fragment` (the connection overrides Twilio reads and never sends).
fn without_fragment(url: &str) -> &str {
    url.split_once('#').map_or(url, |(base, _)| base)
}

/// A SID in Twilio's answer to `what`, checked to be of `kind`.
pub(super) fn sid_in(
    what: &'static str,
    value: &Value,
    kind: SidKind,
) -> Result<String, TwilioError> {
    let sid = value.as_str().unwrap_or_default();
    check_sid(kind, sid)
        .map(|()| sid.to_owned())
        .map_err(|reason| TwilioError::BadResponse {
            what,
            reason: format!("{kind:?} SID {reason}"),
        })
}

/// The name the agent sees on a new chat.
pub(super) fn chat_name(chat: &NewChat<'_>) -> String {
    format!("Chat with {}", chat.friendly_name)
}

/// One request opening one chat: what it opens, in which mode, with which history, and whether
/// anything has been created yet (a failure after that may leave the chat in Twilio).
pub(super) struct Opening<'a> {
    pub chats: &'a TwilioChats,
    pub mode: FlexMode,
    pub webhook_url: &'a str,
    pub chat: &'a NewChat<'a>,
    /// This request took over the claim of one that did not finish, which may have made the chat.
    pub recovering: bool,
    pub history: Vec<HistoryMessage>,
    created: AtomicBool,
    handoff_ended: AtomicBool,
}

impl<'a> Opening<'a> {
    pub fn new(
        chats: &'a TwilioChats,
        mode: FlexMode,
        webhook_url: &'a str,
        chat: &'a NewChat<'a>,
        recovering: bool,
    ) -> Self {
        Self {
            chats,
            mode,
            webhook_url,
            chat,
            recovering,
            history: history_messages(chat.context),
            created: AtomicBool::new(false),
            handoff_ended: AtomicBool::new(false),
        }
    }

    fn api(&self) -> ChatApi {
        self.mode.chat_api()
    }

    /// Notes that Twilio has made the chat (or may have): from here a failure keeps the claim.
    pub fn created(&self) {
        self.created.store(true, Ordering::Relaxed);
    }

    pub fn has_created(&self) -> bool {
        self.created.load(Ordering::Relaxed)
    }

    /// Notes that the chat this handoff's name found has ended, so nothing of it is live and the
    /// name cannot open another (a closed conversation keeps its unique name); answers the error
    /// that stands if the caller cannot start a fresh handoff.
    pub fn handoff_ended(&self) -> TwilioError {
        self.handoff_ended.store(true, Ordering::Relaxed);
        TwilioError::Rejected {
            what: "reopen a handoff",
            status: 409,
            code: 0,
            message: "the handoff's conversation has ended; a new handoff is needed".into(),
        }
    }

    pub fn has_ended_handoff(&self) -> bool {
        self.handoff_ended.load(Ordering::Relaxed)
    }

    /// `resource` (`Messages`, `Webhooks`) of one chat, in the mode's chat API.
    fn chat_resource(&self, sid: &str, resource: &str) -> String {
        format!("{}/{resource}", self.chats.chat_url(self.api(), sid))
    }

    /// A new chat's last steps: the chat-end webhook and the history, the first history message
    /// posted while the webhook registers.
    pub async fn hand_over(
        &self,
        sid: String,
        interaction: Option<InteractionSids>,
    ) -> Result<OpenedChat, TwilioError> {
        let (first, rest) = match self.history.split_first() {
            Some((first, _)) => (Some(first), 1),
            None => (None, 0),
        };
        let (webhook, first_posted) = tokio::join!(self.register_chat_webhook(&sid), async {
            match first {
                Some(message) => self.post_history(&sid, message).await,
                None => Ok(()),
            }
        });
        webhook?;
        let delivered = first_posted.is_ok() && self.post_history_from(&sid, rest).await;
        Ok(OpenedChat {
            channel_sid: sid,
            interaction,
            context_delivered: delivered,
        })
    }

    /// A dead request's chat, completed: the chat-end webhook unless it is there, and whichever
    /// history messages it does not have yet.
    pub async fn resume(
        &self,
        sid: String,
        interaction: Option<InteractionSids>,
    ) -> Result<OpenedChat, TwilioError> {
        self.ensure_chat_webhook(&sid).await?;
        let posted = if self.history.is_empty() {
            0
        } else {
            self.history_posted(&sid).await?
        };
        let delivered = self.post_history_from(&sid, posted).await;
        Ok(OpenedChat {
            channel_sid: sid,
            interaction,
            context_delivered: delivered,
        })
    }

    /// Posts the history from message `start` on, in order, stopping at the first failure.
    /// Whether all of them reached the chat.
    async fn post_history_from(&self, sid: &str, start: usize) -> bool {
        for message in self.history.iter().skip(start) {
            if self.post_history(sid, message).await.is_err() {
                return false;
            }
        }
        true
    }

    /// Posts one history message without `X-Twilio-Webhook-Enabled`, so no Studio flow or
    /// webhook fires for it. At most once: a repeat after a lost answer would show twice.
    /// A failure is logged and reported as `Err(())`: the chat stands without its history.
    async fn post_history(&self, sid: &str, message: &HistoryMessage) -> Result<(), ()> {
        let (author_parameter, _) = self.api().author_names();
        self.chats
            .twilio
            .create(
                "post history message",
                &self.chat_resource(sid, "Messages"),
                &[
                    (author_parameter, HISTORY_AUTHOR),
                    ("Body", &message.body),
                    ("Attributes", &message.attributes),
                ],
            )
            .await
            .map(drop)
            .map_err(|error| {
                tracing::warn!(channel_sid = %sid, %error, "history not delivered: the agent starts without the bot conversation");
            })
    }

    /// How many history messages the chat already has.
    async fn history_posted(&self, sid: &str) -> Result<usize, TwilioError> {
        let what = "list chat messages";
        let (_, author_field) = self.api().author_names();
        let url = self.chats.url_with(
            what,
            &self.chat_resource(sid, "Messages"),
            &[("PageSize", "100")],
        )?;
        let listed = self.chats.twilio.get(what, &url).await?;
        Ok(listed["messages"]
            .as_array()
            .into_iter()
            .flatten()
            .filter(|message| message[author_field] == HISTORY_AUTHOR)
            .count())
    }

    /// Registers the chat-end webhook on a chat a dead request may have registered it on already,
    /// only when ours is not among the chat's webhooks: Twilio keeps at most five per
    /// conversation (error 50361), so registering on every takeover would, after a few, leave a
    /// chat that no takeover can complete.
    async fn ensure_chat_webhook(&self, sid: &str) -> Result<(), TwilioError> {
        let what = "list chat webhooks";
        // A chat holds at most five, so one page of five lists them all (Conversations' spec
        // allows no larger page).
        let url = self.chats.url_with(
            what,
            &self.chat_resource(sid, "Webhooks"),
            &[("PageSize", "5")],
        )?;
        let listed = self.chats.twilio.get(what, &url).await?;
        let ours = listed["webhooks"]
            .as_array()
            .into_iter()
            .flatten()
            .filter_map(|webhook| webhook["configuration"]["url"].as_str())
            // Ours also when registered before the connection overrides changed.
            .any(|url| without_fragment(url) == without_fragment(self.webhook_url));
        if ours {
            return Ok(());
        }
        self.register_chat_webhook(sid).await
    }

    /// Registers our webhook on one chat for the events that end chats of this mode and the
    /// agent joining, which the webhook reads back ([`super::classify`]).
    pub async fn register_chat_webhook(&self, sid: &str) -> Result<(), TwilioError> {
        let (target, method) = self.api().webhook_target_and_method();
        let mut form = vec![
            (target, "webhook"),
            ("Configuration.Url", self.webhook_url),
            ("Configuration.Method", method),
        ];
        form.extend(
            self.mode
                .webhook_events()
                .map(|event_type| ("Configuration.Filters", event_type)),
        );
        self.chats
            .twilio
            .post(
                "register chat webhook",
                &self.chat_resource(sid, "Webhooks"),
                &form,
            )
            .await
            .map(drop)
    }
}
