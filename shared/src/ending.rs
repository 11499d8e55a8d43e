//! Ending a chat on Twilio's side the way its Flex mode requires, for the customer's "end my
//! chat" (the agent's end reaches us as a webhook instead):
//!
//! - conversations: the conversation's `State` set to `closed`;
//! - interactions: the Interaction channel `closed` with `Routing={"status":"closed"}`, which
//!   completes its task (without it Flex leaves the task wrapping), then the conversation closed;
//! - chat (legacy): the channel's `Attributes` marked `"status": "INACTIVE"`, as Flex marks a
//!   channel the agent ended (read first, so Flex's other attributes are kept).
//!
//! Every step is an update that can be repeated, so the client's retries apply. The agent may end
//! the same chat at the same moment: a refused update whose resource turns out to be ended
//! already counts as done, because what matters is that the chat has ended.

use serde_json::Value;

use crate::chat_end::ChatApi;
use crate::config::TwilioHosts;
use crate::store::{ChatRecord, InteractionSids};
use crate::twilio::{TwilioClient, TwilioError};

pub struct ChatEnder {
    twilio: TwilioClient,
    hosts: TwilioHosts,
    chat_service_sid: String,
}

/// Why a chat could not be ended; the chat is then still open in Twilio.
#[derive(Debug, thiserror::Error)]
pub enum EndFailure {
    #[error(transparent)]
    Twilio(#[from] TwilioError),
    /// Records are written by us with a known mode: this is a corrupted record.
    #[error("the chat's record names no known Flex mode: {0:?}")]
    UnknownMode(String),
}

impl ChatEnder {
    pub fn new(twilio: TwilioClient, hosts: TwilioHosts, chat_service_sid: &str) -> Self {
        Self {
            twilio,
            hosts,
            chat_service_sid: chat_service_sid.to_owned(),
        }
    }

    /// Ends `chat` in Twilio, in the mode it was opened in.
    pub async fn end(&self, chat: &ChatRecord) -> Result<(), EndFailure> {
        match chat.mode.as_str() {
            "conversations" => self.close_conversation(&chat.channel_sid).await?,
            "interactions" => {
                // A record made before its Interaction was known has no SIDs: the
                // conversation is all there is to close.
                if let Some(interaction) = &chat.interaction {
                    self.close_interaction_channel(interaction).await?;
                }
                self.close_conversation(&chat.channel_sid).await?;
            }
            "chat" => self.mark_channel_inactive(&chat.channel_sid).await?,
            other => return Err(EndFailure::UnknownMode(other.to_owned())),
        }
        Ok(())
    }

    fn chat_url(&self, api: ChatApi, sid: &str) -> String {
        self.hosts.chat_url(api, &self.chat_service_sid, sid)
    }

    async fn close_conversation(&self, sid: &str) -> Result<(), TwilioError> {
        let url = self.chat_url(ChatApi::Conversations, sid);
        self.update_to_end(
            ("close conversation", "fetch conversation"),
            &url,
            &[("State", "closed")],
            |read| match read {
                Ok(conversation) => conversation["state"] == "closed",
                // Removed: ended as surely as closed (the webhook reads `onConversationRemoved` so).
                Err(error) => error.is_not_found(),
            },
        )
        .await
    }

    async fn close_interaction_channel(
        &self,
        interaction: &InteractionSids,
    ) -> Result<(), TwilioError> {
        let url = format!(
            "{}/v1/Interactions/{}/Channels/{}",
            self.hosts.flex, interaction.interaction_sid, interaction.channel_sid
        );
        self.update_to_end(
            ("close interaction channel", "fetch interaction channel"),
            &url,
            &[("Status", "closed"), ("Routing", r#"{"status":"closed"}"#)],
            |read| matches!(read, Ok(channel) if channel["status"] == "closed"),
        )
        .await
    }

    /// Posts an update that ends what `url` names. When Twilio refuses it, the resource is read:
    /// if `ended` finds it ended already (the agent got there first), the update counts as done.
    async fn update_to_end(
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

    async fn mark_channel_inactive(&self, sid: &str) -> Result<(), TwilioError> {
        let url = self.chat_url(ChatApi::ProgrammableChat, sid);
        let channel = match self.twilio.get("fetch chat channel", &url).await {
            Ok(channel) => channel,
            // Destroyed: ended (the webhook reads `onChannelDestroyed` so).
            Err(error) if error.is_not_found() => return Ok(()),
            Err(error) => return Err(error),
        };
        let Some(attributes) = inactive_attributes(&channel["attributes"]) else {
            return Ok(());
        };
        self.twilio
            .post(
                "mark chat channel inactive",
                &url,
                &[("Attributes", &attributes)],
            )
            .await
            .map(drop)
    }
}

/// The channel's attributes (a JSON text) with `status` set to `INACTIVE`, or `None` when it is
/// inactive already. Attributes that are not a JSON object are replaced by one.
fn inactive_attributes(attributes: &Value) -> Option<String> {
    let mut object = attributes
        .as_str()
        .and_then(|text| serde_json::from_str::<Value>(text).ok())
        .and_then(|value| match value {
            Value::Object(object) => Some(object),
            _ => None,
        })
        .unwrap_or_default();
    let inactive = object
        .get("status")
        .and_then(Value::as_str)
        .is_some_and(|status| status.eq_ignore_ascii_case("inactive"));
    if inactive {
        return None;
    }
    object.insert("status".into(), "INACTIVE".into());
    Some(Value::Object(object).to_string())
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn marking_inactive_keeps_flexs_other_attributes() {
        let attributes = json!(r#"{"status":"ACTIVE","from":"Ada","channel_type":"web"}"#);
        let marked: Value =
            serde_json::from_str(&inactive_attributes(&attributes).unwrap()).unwrap();
        assert_eq!(
            marked,
            json!({"status": "INACTIVE", "from": "Ada", "channel_type": "web"})
        );
    }

    #[test]
    fn an_inactive_channel_is_left_alone_and_odd_attributes_are_replaced() {
        assert_eq!(
            inactive_attributes(&json!(r#"{"status":"inactive"}"#)),
            None
        );
        for odd in [json!("not json"), json!(r#"[1]"#), Value::Null] {
            assert_eq!(
                inactive_attributes(&odd).as_deref(),
                Some(r#"{"status":"INACTIVE"}"#),
                "{odd}"
            );
        }
    }
}
