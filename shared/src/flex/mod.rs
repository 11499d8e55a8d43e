//! Opening a Flex chat in the configured mode, handing the agent the bot's context, and
//! registering the chat-end webhook on it.
//!
//! Each mode's steps, with what runs concurrently (`‖`):
//! - conversations: `POST /v2/WebChats` → (chat-end webhook ‖ first history message) → the
//!   other history messages, in order. Flex's own orchestration makes the task.
//! - interactions: `POST ConversationWithParticipants` → (webhook ‖ first history message) →
//!   the other history messages → `POST /v1/Interactions`, which makes the task: the agent finds
//!   the history in place when accepting it.
//! - chat (legacy): `POST /v1/Channels` → (webhook ‖ first history message) → the rest.
//!
//! No create is repeated blindly (see [`TwilioClient::create`]); after a lost answer, what the
//! create made is looked for first. A web chat is among the identity's conversations, and only
//! when none is there is it created once more. A legacy channel is asked for again, which Flex
//! answers with the identity's open channel. A Conversation is created under the handoff's unique
//! name, so a repeat fails instead of making a second one, and the first is fetched by that name.
//! An Interaction is looked for by its task but never created twice within a request (its task
//! comes after its answer); a request taking over a dead one's claim looks for that task too.

use std::sync::atomic::{AtomicBool, Ordering};

use serde_json::{Map, Value, json};

use crate::chat_end::ChatApi;
use crate::config::{ChannelSettings, FlexMode, InteractionsRouting, TwilioHosts};
use crate::context::BotContext;
use crate::context::history::{HISTORY_AUTHOR, HistoryMessage, history_messages};
use crate::context::task;
use crate::ids::{SidKind, check_sid};
use crate::store::InteractionSids;
use crate::twilio::{TwilioClient, TwilioError};

/// What the agent sees of a new chat.
pub struct NewChat<'a> {
    pub identity: &'a str,
    pub friendly_name: &'a str,
    /// The caller's `preEngagementData`, at most [`task::MAX_BASE_BYTES`] of JSON.
    pub pre_engagement_data: &'a Map<String, Value>,
    pub context: &'a BotContext,
    /// The handoff's unique name: the Conversation's `UniqueName` and a task attribute in
    /// interactions mode, so what a request made can be found by the one that takes over.
    pub handoff_id: &'a str,
}

/// A chat Flex now has.
#[derive(Debug, PartialEq, Eq)]
pub struct OpenedChat {
    /// The channel (legacy) or conversation SID.
    pub channel_sid: String,
    pub interaction: Option<InteractionSids>,
    /// Whether every history message reached the chat; the chat is usable either way.
    pub context_delivered: bool,
}

pub struct Flex {
    twilio: TwilioClient,
    hosts: TwilioHosts,
    mode: FlexMode,
    chat_service_sid: String,
    webhook_url: String,
}

/// Why a chat could not be opened, and whether Twilio may hold it anyway.
#[derive(Debug)]
pub struct OpenFailure {
    pub error: TwilioError,
    /// Twilio may have made the chat: a create's answer was lost, a step after the create
    /// failed, or the request was completing a dead one's chat. The claim must then stay, so the
    /// press after its lease completes that chat instead of opening a second.
    pub chat_may_exist: bool,
}

/// What a task lookup found.
enum ExistingTask {
    None,
    /// A task for the handoff exists; its attributes name the Interaction when Flex made it.
    Found(Option<InteractionSids>),
}

impl Flex {
    pub fn new(twilio: TwilioClient, settings: &ChannelSettings, chat_service_sid: &str) -> Self {
        Self {
            twilio,
            hosts: settings.hosts.clone(),
            mode: settings.mode.clone(),
            chat_service_sid: chat_service_sid.to_owned(),
            webhook_url: settings.webhook_url.clone(),
        }
    }

    pub fn mode(&self) -> &FlexMode {
        &self.mode
    }

    fn chat_api(&self) -> ChatApi {
        match self.mode {
            FlexMode::Conversations { .. } | FlexMode::Interactions(_) => ChatApi::Conversations,
            FlexMode::Chat { .. } => ChatApi::ProgrammableChat,
        }
    }

    /// Legacy mode: checks once per cold start that the Flex Flow can take web chats. `Err`
    /// says what is wrong, for the log; the other modes have nothing to check.
    pub async fn check_flex_flow(&self) -> Result<(), String> {
        let FlexMode::Chat { flex_flow_sid } = &self.mode else {
            return Ok(());
        };
        let url = format!("{}/v1/FlexFlows/{flex_flow_sid}", self.hosts.flex);
        let flow = self
            .twilio
            .get("fetch Flex Flow", &url)
            .await
            .map_err(|e| e.to_string())?;
        let channel_type = flow["channel_type"].as_str().unwrap_or("missing");
        if !matches!(channel_type, "web" | "custom") {
            return Err(format!(
                "Flex Flow {flex_flow_sid} has channel_type {channel_type}; web chats need web or custom"
            ));
        }
        if flow["enabled"].as_bool() != Some(true) {
            return Err(format!("Flex Flow {flex_flow_sid} is disabled"));
        }
        Ok(())
    }

    /// Opens the chat so that an agent gets one task, with the bot's context on it and its
    /// history in it. `recovering`: this request took over the claim of one that did not
    /// finish, which may have opened the chat already; then that chat is completed instead.
    pub async fn open_chat(
        &self,
        chat: &NewChat<'_>,
        recovering: bool,
    ) -> Result<OpenedChat, OpenFailure> {
        let created = AtomicBool::new(false);
        self.open(chat, recovering, &created)
            .await
            .map_err(|error| OpenFailure {
                chat_may_exist: recovering
                    || created.load(Ordering::Relaxed)
                    || error.may_have_created(),
                error,
            })
    }

    /// [`Self::open_chat`]'s steps; `created` is set once a create has succeeded.
    async fn open(
        &self,
        chat: &NewChat<'_>,
        recovering: bool,
        created: &AtomicBool,
    ) -> Result<OpenedChat, TwilioError> {
        let history = history_messages(chat.context);
        match &self.mode {
            FlexMode::Conversations { address_sid } => {
                if recovering && let Some(sid) = self.find_open_conversation(chat.identity).await? {
                    return self.resume(sid, &history, None).await;
                }
                let pre_engagement =
                    task::to_json(&task::fit(chat.pre_engagement_data, chat.context));
                let chat_name = chat_name(chat);
                let url = format!("{}/v2/WebChats", self.hosts.flex);
                let form = [
                    ("AddressSid", address_sid.as_str()),
                    ("Identity", chat.identity),
                    ("CustomerFriendlyName", chat.friendly_name),
                    ("ChatFriendlyName", &chat_name),
                    ("PreEngagementData", &pre_engagement),
                ];
                let answer = match self.twilio.create("create web chat", &url, &form).await {
                    Ok(answer) => answer,
                    Err(error @ TwilioError::OutcomeUnknown { .. }) => {
                        // WebChats answers once the conversation exists, so what a lost answer
                        // made is among the identity's conversations by now.
                        match self.find_open_conversation(chat.identity).await {
                            Ok(Some(sid)) => {
                                created.store(true, Ordering::Relaxed);
                                tracing::warn!(channel_sid = %sid, %error, "found the web chat an unanswered create made");
                                return self.hand_over(sid, &history, None).await;
                            }
                            Ok(None) => {
                                tracing::warn!(%error, "no web chat came of the unanswered create: creating it once more");
                                self.twilio.create("create web chat", &url, &form).await?
                            }
                            Err(_) => return Err(error),
                        }
                    }
                    Err(error) => return Err(error),
                };
                created.store(true, Ordering::Relaxed);
                let sid = channel_sid("create web chat", &answer["conversation_sid"])?;
                self.hand_over(sid, &history, None).await
            }
            FlexMode::Chat { flex_flow_sid } => {
                let pre_engagement =
                    task::to_json(&task::fit(chat.pre_engagement_data, chat.context));
                let chat_name = chat_name(chat);
                let url = format!("{}/v1/Channels", self.hosts.flex);
                let form = [
                    ("FlexFlowSid", flex_flow_sid.as_str()),
                    ("Identity", chat.identity),
                    ("ChatUserFriendlyName", chat.friendly_name),
                    ("ChatFriendlyName", &chat_name),
                    ("Target", chat.identity),
                    ("PreEngagementData", &pre_engagement),
                ];
                // Flex returns the identity's active channel on this Flex Flow rather than
                // opening a second, so opening again is how a lost answer's channel, or a dead
                // request's, is found. Once per request: more would lean harder on that reuse.
                let answer = match self.twilio.create("create Flex channel", &url, &form).await {
                    Err(error @ TwilioError::OutcomeUnknown { .. }) => {
                        tracing::warn!(%error, "asking Flex again for the channel of an unanswered create");
                        created.store(true, Ordering::Relaxed);
                        self.twilio
                            .create("create Flex channel", &url, &form)
                            .await?
                    }
                    answer => answer?,
                };
                created.store(true, Ordering::Relaxed);
                let sid = channel_sid("create Flex channel", &answer["sid"])?;
                if recovering {
                    self.resume(sid, &history, None).await
                } else {
                    self.hand_over(sid, &history, None).await
                }
            }
            FlexMode::Interactions(routing) => {
                self.open_interaction(routing, chat, &history, recovering, created)
                    .await
            }
        }
    }

    async fn open_interaction(
        &self,
        routing: &InteractionsRouting,
        chat: &NewChat<'_>,
        history: &[HistoryMessage],
        recovering: bool,
        created: &AtomicBool,
    ) -> Result<OpenedChat, TwilioError> {
        let existing = if recovering {
            self.conversation_named(chat.handoff_id).await?
        } else {
            None
        };
        let Some(sid) = existing else {
            let sid = self.create_conversation(routing, chat).await?;
            created.store(true, Ordering::Relaxed);
            let opened = self.hand_over(sid, history, None).await?;
            let interaction = self
                .interaction_for(routing, &opened.channel_sid, chat)
                .await?;
            return Ok(OpenedChat {
                interaction,
                ..opened
            });
        };
        tracing::warn!(channel_sid = %sid, "completing a conversation a request that did not finish created");
        let interaction = match self.task_for(routing, chat.handoff_id).await? {
            ExistingTask::Found(interaction) => interaction,
            ExistingTask::None => {
                // Its history goes in before the task exists, as on the first attempt.
                let resumed = self.resume(sid.clone(), history, None).await?;
                let interaction = self.interaction_for(routing, &sid, chat).await?;
                return Ok(OpenedChat {
                    interaction,
                    ..resumed
                });
            }
        };
        self.resume(sid, history, interaction).await
    }

    /// `POST ConversationWithParticipants` under the handoff's unique name. Twilio refuses a
    /// second conversation of the same name (409), so the call may be repeated; after any
    /// failure that may hide a success, the conversation is fetched by that name.
    async fn create_conversation(
        &self,
        routing: &InteractionsRouting,
        chat: &NewChat<'_>,
    ) -> Result<String, TwilioError> {
        let what = "create conversation";
        let mut attributes = Map::new();
        attributes.insert("handoffId".into(), chat.handoff_id.into());
        let facts = chat.context.facts();
        if !facts.is_empty() {
            attributes.insert("context".into(), Value::Object(facts));
        }
        let participant = json!({ "identity": chat.identity }).to_string();
        let inactive = format!("PT{}M", routing.inactive_after_minutes);
        let closed = format!("PT{}M", routing.closed_after_minutes);
        let chat_name = chat_name(chat);
        let created = self
            .twilio
            .post(
                what,
                &format!(
                    "{}/v1/Services/{}/ConversationWithParticipants",
                    self.hosts.conversations, self.chat_service_sid
                ),
                &[
                    ("FriendlyName", &chat_name),
                    ("UniqueName", chat.handoff_id),
                    ("Attributes", &task::to_json(&attributes)),
                    ("Participant", &participant),
                    ("Timers.Inactive", &inactive),
                    ("Timers.Closed", &closed),
                ],
            )
            .await;
        let error = match created {
            Ok(created) => return channel_sid(what, &created["sid"]),
            Err(
                error @ (TwilioError::Rejected { status: 409, .. }
                | TwilioError::Unavailable { .. }
                | TwilioError::Timeout { .. }),
            ) => error,
            Err(error) => return Err(error),
        };
        match self.conversation_named(chat.handoff_id).await {
            Ok(Some(sid)) => {
                tracing::warn!(channel_sid = %sid, %error, "found the conversation an unanswered create made");
                Ok(sid)
            }
            Ok(None) if matches!(error, TwilioError::Rejected { .. }) => Err(error),
            Ok(None) | Err(_) => Err(TwilioError::OutcomeUnknown {
                what,
                reason: error.to_string(),
            }),
        }
    }

    /// The open conversation named `handoff_id`, if there is one.
    async fn conversation_named(&self, handoff_id: &str) -> Result<Option<String>, TwilioError> {
        let what = "fetch conversation by unique name";
        let name: String = url::form_urlencoded::byte_serialize(handoff_id.as_bytes()).collect();
        let url = self
            .hosts
            .chat_url(ChatApi::Conversations, &self.chat_service_sid, &name);
        match self.twilio.get(what, &url).await {
            Ok(conversation) if conversation["state"] == "closed" => Ok(None),
            Ok(conversation) => channel_sid(what, &conversation["sid"]).map(Some),
            Err(error) if error.is_not_found() => Ok(None),
            Err(error) => Err(error),
        }
    }

    /// The conversation's Interaction, created at most once. After a lost answer the task it
    /// made is looked for; Interactions answers before Flex makes the task, so finding none
    /// proves nothing and the failure stands (the claim stays and the press after its lease
    /// looks again). `None`: a task exists whose attributes do not name its Interaction.
    async fn interaction_for(
        &self,
        routing: &InteractionsRouting,
        conversation_sid: &str,
        chat: &NewChat<'_>,
    ) -> Result<Option<InteractionSids>, TwilioError> {
        match self
            .create_interaction(routing, conversation_sid, chat)
            .await
        {
            Ok(interaction) => Ok(Some(interaction)),
            Err(error @ TwilioError::OutcomeUnknown { .. }) => {
                match self.task_for(routing, chat.handoff_id).await {
                    Ok(ExistingTask::Found(interaction)) => {
                        tracing::warn!(%error, "found the task an unanswered interaction made");
                        Ok(interaction)
                    }
                    Ok(ExistingTask::None) | Err(_) => Err(error),
                }
            }
            Err(error) => Err(error),
        }
    }

    /// `POST /v1/Interactions`: the task, routed with the context's facts.
    async fn create_interaction(
        &self,
        routing: &InteractionsRouting,
        conversation_sid: &str,
        chat: &NewChat<'_>,
    ) -> Result<InteractionSids, TwilioError> {
        let what = "create interaction";
        let mut base = Map::new();
        base.insert("handoffId".into(), chat.handoff_id.into());
        base.insert("customerName".into(), chat.friendly_name.into());
        base.insert("from".into(), chat.friendly_name.into());
        let channel = json!({
            "type": "web",
            "initiated_by": "customer",
            "properties": { "media_channel_sid": conversation_sid },
        });
        let routing = json!({
            "type": "TaskRouter",
            "properties": {
                "workspace_sid": routing.workspace_sid,
                "workflow_sid": routing.workflow_sid,
                "task_channel_unique_name": routing.task_channel,
                "attributes": task::fit(&base, chat.context),
            },
        });
        let created = self
            .twilio
            .create(
                what,
                &format!("{}/v1/Interactions", self.hosts.flex),
                &[
                    ("Channel", &channel.to_string()),
                    ("Routing", &routing.to_string()),
                ],
            )
            .await?;
        let sid = |value: &Value, kind: SidKind| {
            let sid = value.as_str().unwrap_or_default();
            check_sid(kind, sid)
                .map(|()| sid.to_owned())
                .map_err(|reason| TwilioError::BadResponse {
                    what,
                    reason: format!("{kind:?} SID {reason}"),
                })
        };
        Ok(InteractionSids {
            interaction_sid: sid(&created["sid"], SidKind::Interaction)?,
            channel_sid: sid(&created["channel"]["sid"], SidKind::InteractionChannel)?,
        })
    }

    /// The task a dead request's Interaction made for `handoff_id`, found by its attributes.
    async fn task_for(
        &self,
        routing: &InteractionsRouting,
        handoff_id: &str,
    ) -> Result<ExistingTask, TwilioError> {
        let what = "list tasks of the handoff";
        let url = self.url_with(
            what,
            &format!(
                "{}/v1/Workspaces/{}/Tasks",
                self.hosts.taskrouter, routing.workspace_sid
            ),
            &[
                (
                    "EvaluateTaskAttributes",
                    &format!("handoffId == \"{handoff_id}\""),
                ),
                ("PageSize", "20"),
            ],
        )?;
        let listed = self.twilio.get(what, &url).await?;
        let Some(task) = listed["tasks"].as_array().and_then(|tasks| tasks.first()) else {
            return Ok(ExistingTask::None);
        };
        let attributes: Value = task["attributes"]
            .as_str()
            .and_then(|text| serde_json::from_str(text).ok())
            .unwrap_or(Value::Null);
        let sid = |name: &str, kind: SidKind| {
            attributes[name]
                .as_str()
                .filter(|sid| check_sid(kind, sid).is_ok())
                .map(str::to_owned)
        };
        Ok(ExistingTask::Found(
            sid("flexInteractionSid", SidKind::Interaction)
                .zip(sid(
                    "flexInteractionChannelSid",
                    SidKind::InteractionChannel,
                ))
                .map(|(interaction_sid, channel_sid)| InteractionSids {
                    interaction_sid,
                    channel_sid,
                }),
        ))
    }

    /// A new chat's last steps: the chat-end webhook and the history, the first history message
    /// posted while the webhook registers.
    async fn hand_over(
        &self,
        sid: String,
        history: &[HistoryMessage],
        interaction: Option<InteractionSids>,
    ) -> Result<OpenedChat, TwilioError> {
        let (first, rest) = match history.split_first() {
            Some((first, rest)) => (Some(first), rest),
            None => (None, &[][..]),
        };
        let (webhook, first_posted) = tokio::join!(self.register_close_webhook(&sid), async {
            match first {
                Some(message) => self.post_history(&sid, message).await,
                None => Ok(()),
            }
        });
        webhook?;
        let mut delivered = first_posted.is_ok();
        if delivered {
            for message in rest {
                if self.post_history(&sid, message).await.is_err() {
                    delivered = false;
                    break;
                }
            }
        }
        Ok(OpenedChat {
            channel_sid: sid,
            interaction,
            context_delivered: delivered,
        })
    }

    /// A dead request's chat, completed: the webhook again (a second registration is
    /// harmless) and whichever history messages it does not have yet.
    async fn resume(
        &self,
        sid: String,
        history: &[HistoryMessage],
        interaction: Option<InteractionSids>,
    ) -> Result<OpenedChat, TwilioError> {
        self.register_close_webhook(&sid).await?;
        let posted = if history.is_empty() {
            0
        } else {
            self.history_posted(&sid).await?
        };
        let mut delivered = true;
        for message in history.iter().skip(posted) {
            if self.post_history(&sid, message).await.is_err() {
                delivered = false;
                break;
            }
        }
        Ok(OpenedChat {
            channel_sid: sid,
            interaction,
            context_delivered: delivered,
        })
    }

    /// Posts one history message without `X-Twilio-Webhook-Enabled`, so no Studio flow or
    /// webhook fires for it. At most once: a repeat after a lost answer would show twice.
    /// A failure is logged and reported as `Err(())`: the chat stands without its history.
    async fn post_history(&self, sid: &str, message: &HistoryMessage) -> Result<(), ()> {
        let (author_parameter, _) = self.author_names();
        self.twilio
            .create(
                "post history message",
                &self.chat_url(sid, "Messages"),
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
        let (_, author_field) = self.author_names();
        let url = self.url_with(
            what,
            &self.chat_url(sid, "Messages"),
            &[("PageSize", "100")],
        )?;
        let listed = self.twilio.get(what, &url).await?;
        Ok(listed["messages"]
            .as_array()
            .into_iter()
            .flatten()
            .filter(|message| message[author_field] == HISTORY_AUTHOR)
            .count())
    }

    /// `resource` (`Messages`, `Webhooks`) of one chat, in the mode's chat API.
    fn chat_url(&self, sid: &str, resource: &str) -> String {
        let chat = self
            .hosts
            .chat_url(self.chat_api(), &self.chat_service_sid, sid);
        format!("{chat}/{resource}")
    }

    /// A message's author: the form parameter that sets it and the JSON field that reads it.
    fn author_names(&self) -> (&'static str, &'static str) {
        match self.chat_api() {
            ChatApi::Conversations => ("Author", "author"),
            ChatApi::ProgrammableChat => ("From", "from"),
        }
    }

    /// Registers our webhook for the chat-end events on one chat.
    pub async fn register_close_webhook(&self, sid: &str) -> Result<(), TwilioError> {
        let url = self.chat_url(sid, "Webhooks");
        match self.chat_api() {
            ChatApi::Conversations => {
                // This API's enum spells methods in lower case, unlike Chat's.
                self.register_webhook(
                    &url,
                    &[
                        ("Target", "webhook"),
                        ("Configuration.Url", &self.webhook_url),
                        ("Configuration.Method", "post"),
                    ],
                    ChatApi::Conversations,
                )
                .await
            }
            ChatApi::ProgrammableChat => {
                self.register_webhook(
                    &url,
                    &[
                        ("Type", "webhook"),
                        ("Configuration.Url", &self.webhook_url),
                        ("Configuration.Method", "POST"),
                    ],
                    ChatApi::ProgrammableChat,
                )
                .await
            }
        }
    }

    /// Conversations mode: the identity's newest `active` conversation in our service, which a
    /// dead request may have opened before it could record it.
    async fn find_open_conversation(&self, identity: &str) -> Result<Option<String>, TwilioError> {
        let what = "list participant conversations";
        let url = self.url_with(
            what,
            &format!(
                "{}/v1/Services/{}/ParticipantConversations",
                self.hosts.conversations, self.chat_service_sid
            ),
            &[("Identity", identity), ("PageSize", "50")],
        )?;
        let listed = self.twilio.get(what, &url).await?;
        let newest_active = listed["conversations"]
            .as_array()
            .into_iter()
            .flatten()
            .filter(|c| c["conversation_state"] == "active")
            .max_by_key(|c| {
                c["conversation_date_created"]
                    .as_str()
                    .unwrap_or("")
                    .to_owned()
            });
        newest_active
            .map(|c| channel_sid(what, &c["conversation_sid"]))
            .transpose()
    }

    fn url_with(
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

    /// Posts `form` plus one `Configuration.Filters` per chat-end event of `api`.
    async fn register_webhook(
        &self,
        url: &str,
        form: &[(&str, &str)],
        api: ChatApi,
    ) -> Result<(), TwilioError> {
        let mut form = form.to_vec();
        form.extend(
            api.end_event_types()
                .map(|event| ("Configuration.Filters", event)),
        );
        self.twilio
            .post("register chat webhook", url, &form)
            .await
            .map(drop)
    }
}

fn chat_name(chat: &NewChat<'_>) -> String {
    format!("Chat with {}", chat.friendly_name)
}

fn channel_sid(what: &'static str, value: &Value) -> Result<String, TwilioError> {
    let sid = value.as_str().unwrap_or_default();
    check_sid(SidKind::Channel, sid)
        .map(|()| sid.to_owned())
        .map_err(|reason| TwilioError::BadResponse {
            what,
            reason: format!("channel SID {reason}"),
        })
}
