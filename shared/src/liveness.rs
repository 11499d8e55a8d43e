//! Whether a chat we hold as open still is, asked of Twilio, with the store brought in line: the
//! one repair path for chats whose end never reached us. A stale reuse (`create-channel`) and the
//! reconciler (`reconcile-chats`) both take it, so a chat is confirmed, repaired and counted the
//! same way whoever finds it.

use crate::flex::{ChatRef, FlexMode, Liveness, TwilioChats};
use crate::metrics::{self, ChatOutcome};
use crate::store::{ChannelStore, CloseOutcome, StoreError};

/// What asking about a chat came to.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Checked {
    /// Twilio holds it open: its confirmation is recorded (if that write fails, the next check
    /// only asks again).
    Live,
    /// Twilio had ended it and this check closed it, exactly as its chat-end webhook would have.
    Repaired,
    /// Twilio had ended it and something else (the webhook, a press) closed it first.
    AlreadyClosed,
    /// Twilio did not say (unavailable, refused the read): nothing is known, nothing changed.
    Unknown,
}

/// One Twilio read of `identity`'s open chat `channel_sid`, opened in `mode`, and what it means
/// for the store at `now`. `Err`: Twilio said it ended, and closing it failed.
pub async fn check(
    chats: &TwilioChats,
    store: &ChannelStore,
    identity: &str,
    channel_sid: &str,
    mode: FlexMode,
    now: i64,
) -> Result<Checked, StoreError> {
    let reference = ChatRef {
        channel_sid,
        interaction: None,
    };
    match chats.liveness(mode, &reference).await {
        Ok(Liveness::Live) => {
            if let Err(error) = store.confirm(identity, channel_sid, now).await {
                tracing::warn!(%error, %channel_sid, "could not record the confirmation; the next check asks Twilio again");
            }
            Ok(Checked::Live)
        }
        Ok(Liveness::Ended) => match store.close_ended(identity, channel_sid, now).await? {
            CloseOutcome::Closed => {
                tracing::warn!(%channel_sid, %mode, "repaired: the chat had ended in Twilio without its webhook reaching us");
                metrics::chat(ChatOutcome::Repaired, mode.as_str());
                Ok(Checked::Repaired)
            }
            CloseOutcome::AlreadyClosed | CloseOutcome::Unknown => Ok(Checked::AlreadyClosed),
        },
        Err(error) => {
            tracing::warn!(%error, %channel_sid, "could not ask Twilio whether the chat is live");
            Ok(Checked::Unknown)
        }
    }
}
