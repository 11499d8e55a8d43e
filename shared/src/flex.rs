//! Opening a Flex chat in either Flex generation, and registering the chat-end webhook on it.

use serde_json::Value;

use crate::chat_end::ChatApi;
use crate::config::{ChannelSettings, FlexMode, TwilioHosts};
use crate::ids::{SidKind, check_sid};
use crate::twilio::{TwilioClient, TwilioError};

/// What the agent sees of a new chat.
pub struct NewChat<'a> {
    pub identity: &'a str,
    pub friendly_name: &'a str,
    /// JSON object text, passed to Flex for routing and shown to the agent.
    pub pre_engagement_data: &'a str,
}

pub struct Flex {
    twilio: TwilioClient,
    hosts: TwilioHosts,
    mode: FlexMode,
    chat_service_sid: String,
    webhook_url: String,
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

    /// Legacy mode: checks once per cold start that the Flex Flow can take web chats. `Err`
    /// says what is wrong, for the log; Conversations mode has nothing to check.
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

    /// Opens the chat (Flex creates the task an agent accepts) and registers our webhook on it.
    /// Returns the channel (legacy) or conversation SID.
    pub async fn open_chat(&self, chat: &NewChat<'_>) -> Result<String, TwilioError> {
        let chat_name = format!("Chat with {}", chat.friendly_name);
        match &self.mode {
            FlexMode::Conversations { address_sid } => {
                let created = self
                    .twilio
                    .post(
                        "create web chat",
                        &format!("{}/v2/WebChats", self.hosts.flex),
                        &[
                            ("AddressSid", address_sid),
                            ("Identity", chat.identity),
                            ("CustomerFriendlyName", chat.friendly_name),
                            ("ChatFriendlyName", &chat_name),
                            ("PreEngagementData", chat.pre_engagement_data),
                        ],
                    )
                    .await?;
                let sid = channel_sid("create web chat", &created["conversation_sid"])?;
                self.register_close_webhook(&sid).await?;
                Ok(sid)
            }
            FlexMode::Chat { flex_flow_sid } => {
                let created = self
                    .twilio
                    .post(
                        "create Flex channel",
                        &format!("{}/v1/Channels", self.hosts.flex),
                        &[
                            ("FlexFlowSid", flex_flow_sid),
                            ("Identity", chat.identity),
                            ("ChatUserFriendlyName", chat.friendly_name),
                            ("ChatFriendlyName", &chat_name),
                            ("Target", chat.identity),
                            ("PreEngagementData", chat.pre_engagement_data),
                        ],
                    )
                    .await?;
                let sid = channel_sid("create Flex channel", &created["sid"])?;
                self.register_close_webhook(&sid).await?;
                Ok(sid)
            }
        }
    }

    /// Registers our webhook for the chat-end events on one chat.
    pub async fn register_close_webhook(&self, sid: &str) -> Result<(), TwilioError> {
        match &self.mode {
            FlexMode::Conversations { .. } => {
                let url = format!(
                    "{}/v1/Services/{}/Conversations/{sid}/Webhooks",
                    self.hosts.conversations, self.chat_service_sid
                );
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
            FlexMode::Chat { .. } => {
                let url = format!(
                    "{}/v2/Services/{}/Channels/{sid}/Webhooks",
                    self.hosts.chat, self.chat_service_sid
                );
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

    /// Finds a chat a crashed request may have opened for `identity` before it could record it.
    ///
    /// Conversations: the identity's newest `active` conversation in our service. Legacy Chat:
    /// `None`, because creating a Flex channel for an identity that has an active one on the same
    /// Flex Flow returns that channel, so opening again recovers it.
    pub async fn find_open_chat(&self, identity: &str) -> Result<Option<String>, TwilioError> {
        if !matches!(self.mode, FlexMode::Conversations { .. }) {
            return Ok(None);
        }
        let mut url = reqwest::Url::parse(&format!(
            "{}/v1/Services/{}/ParticipantConversations",
            self.hosts.conversations, self.chat_service_sid
        ))
        .map_err(|e| TwilioError::BadResponse {
            what: "list participant conversations",
            reason: format!("URL: {e}"),
        })?;
        url.query_pairs_mut()
            .append_pair("Identity", identity)
            .append_pair("PageSize", "50");
        let listed = self
            .twilio
            .get("list participant conversations", url.as_str())
            .await?;
        let newest_active = listed["conversations"]
            .as_array()
            .into_iter()
            .flatten()
            .filter(|c| c["conversation_state"] == "active")
            .max_by(|a, b| {
                let created = |c: &Value| {
                    c["conversation_date_created"]
                        .as_str()
                        .unwrap_or("")
                        .to_owned()
                };
                created(a).cmp(&created(b))
            });
        newest_active
            .map(|c| channel_sid("list participant conversations", &c["conversation_sid"]))
            .transpose()
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

fn channel_sid(what: &'static str, value: &Value) -> Result<String, TwilioError> {
    let sid = value.as_str().unwrap_or_default();
    check_sid(SidKind::Channel, sid)
        .map(|()| sid.to_owned())
        .map_err(|reason| TwilioError::BadResponse {
            what,
            reason: format!("channel SID {reason}"),
        })
}
