//! The alphabets every layer checks values against: Twilio SIDs (a two-letter prefix naming the
//! resource type, then 32 hex digits) and our chat identities. A leaf: it imports nothing of ours.

/// The resource types this product configures, with the prefix Twilio gives their SIDs.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum SidKind {
    Account,
    ApiKey,
    /// Chat or Conversations service: both use `IS`.
    ChatService,
    /// Conversations Address configuration (Flex UI 2.x web chat).
    ConversationsAddress,
    /// Flex Flow (Flex UI 1.x).
    FlexFlow,
    /// Chat channel or Conversation: both use `CH`.
    Channel,
    /// TaskRouter Workspace, which routes Flex's tasks.
    Workspace,
    /// TaskRouter Workflow, which picks a task's queue.
    Workflow,
    /// TaskRouter TaskQueue, where a task waits for an agent.
    TaskQueue,
    /// Flex Interaction (the task's conversation, Flex UI 2.x).
    Interaction,
    /// An Interaction's channel.
    InteractionChannel,
}

impl SidKind {
    pub const fn prefix(self) -> &'static str {
        match self {
            SidKind::Account => "AC",
            SidKind::ApiKey => "SK",
            SidKind::ChatService => "IS",
            SidKind::ConversationsAddress => "IG",
            SidKind::FlexFlow => "FO",
            SidKind::Channel => "CH",
            SidKind::Workspace => "WS",
            SidKind::Workflow => "WW",
            SidKind::TaskQueue => "WQ",
            SidKind::Interaction => "KD",
            SidKind::InteractionChannel => "UO",
        }
    }
}

/// Checks that `value` is a SID of `kind`; the error says what is wrong, never echoing the value.
pub fn check_sid(kind: SidKind, value: &str) -> Result<(), String> {
    let prefix = kind.prefix();
    let Some(digits) = value.strip_prefix(prefix) else {
        return Err(format!("must start with {prefix}"));
    };
    if digits.len() != 32 || !digits.bytes().all(|b| b.is_ascii_hexdigit()) {
        return Err(format!("must be {prefix} followed by 32 hex digits"));
    }
    Ok(())
}

const MAX_IDENTITY_LEN: usize = 128;

/// Twilio identities are free-form, but ours end up in logs, DynamoDB keys and Flex task
/// attributes: a conservative alphabet that still fits OIDC subjects like `auth0|abc`.
pub fn is_valid_identity(identity: &str) -> bool {
    (1..=MAX_IDENTITY_LEN).contains(&identity.len())
        && identity
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || b"_.@:|-".contains(&b))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn accepts_well_formed_sids() {
        assert!(check_sid(SidKind::Account, "AC0123456789abcdef0123456789ABCDEF").is_ok());
        assert!(check_sid(SidKind::ApiKey, "SK00000000000000000000000000000000").is_ok());
        assert!(check_sid(SidKind::ChatService, "IS11111111111111111111111111111111").is_ok());
    }

    #[test]
    fn rejects_wrong_prefix_length_and_digits() {
        assert_eq!(
            check_sid(SidKind::Account, "SK00000000000000000000000000000000"),
            Err("must start with AC".into())
        );
        assert!(check_sid(SidKind::ApiKey, "SK0000").is_err());
        assert!(check_sid(SidKind::ApiKey, "SK0000000000000000000000000000000g").is_err());
        assert!(check_sid(SidKind::ApiKey, "SK000000000000000000000000000000000").is_err());
        assert!(check_sid(SidKind::ChatService, "").is_err());
    }

    #[test]
    fn identity_alphabet_and_length() {
        for ok in [
            "a",
            "guest-0b6c",
            "auth0|5f1",
            "user@example.com",
            "x:y.z_w",
            &"a".repeat(128),
        ] {
            assert!(is_valid_identity(ok), "{ok}");
        }
        for bad in [
            "",
            "has space",
            "semi;colon",
            "slash/",
            "ünïcode",
            "new\nline",
            &"a".repeat(129),
        ] {
            assert!(!is_valid_identity(bad), "{bad}");
        }
    }
}
