//! `flex-schedule`: how operators change a queue's opening hours without a redeploy (README,
//! "Opening hours"). Every document is checked by the same parser the functions read it with,
//! and nothing is written when it is invalid.

use aws_sdk_dynamodb::Client;

use super::schedule::{ClosedNow, Schedule, ScheduleDocument};
use super::{PutScheduleError, ScheduleStore};

pub const USAGE: &str =
    "usage: flex-schedule <command> --queue <WQ… SID | default> [--table <table>]
commands:
  show                    print the stored schedule (none: open around the clock)
  set <file | ->          check and store a schedule document (JSON)
  close --message <text>  switch the queue closed now, with what customers are told
  open                    switch it back to its hours
  delete                  remove the schedule: open around the clock
The table defaults to $CHANNELS_TABLE.";

#[derive(Debug, thiserror::Error)]
pub enum CliError {
    /// The command line or a document is wrong: nothing was written.
    #[error("{0}")]
    Usage(String),
    #[error("{0}")]
    Failed(String),
}

impl CliError {
    pub fn exit_code(&self) -> i32 {
        match self {
            CliError::Usage(_) => 2,
            CliError::Failed(_) => 1,
        }
    }
}

impl From<crate::store::StoreError> for CliError {
    fn from(error: crate::store::StoreError) -> Self {
        CliError::Failed(error.to_string())
    }
}

impl From<PutScheduleError> for CliError {
    fn from(error: PutScheduleError) -> Self {
        match error {
            PutScheduleError::Store(error) => error.into(),
            invalid => CliError::Usage(invalid.to_string()),
        }
    }
}

/// Runs one command; what to print on success.
pub async fn run(
    args: &[String],
    dynamodb: Client,
    default_table: Option<String>,
    read_file: impl Fn(&str) -> std::io::Result<String>,
    now: i64,
) -> Result<String, CliError> {
    let usage = |problem: &str| CliError::Usage(format!("{problem}\n{USAGE}"));
    let mut positional = Vec::new();
    let (mut queue, mut table, mut message) = (None, default_table, None);
    let mut rest = args.iter();
    while let Some(arg) = rest.next() {
        let mut value = |name: &str| {
            rest.next()
                .cloned()
                .ok_or_else(|| usage(&format!("{name} needs a value")))
        };
        match arg.as_str() {
            "--queue" => queue = Some(value("--queue")?),
            "--table" => table = Some(value("--table")?),
            "--message" => message = Some(value("--message")?),
            "-h" | "--help" => return Ok(USAGE.to_owned()),
            flag if flag.starts_with("--") => return Err(usage(&format!("unknown option {flag}"))),
            _ => positional.push(arg.as_str()),
        }
    }
    let queue = queue.ok_or_else(|| usage("--queue is required"))?;
    let table = table
        .filter(|table| !table.is_empty())
        .ok_or_else(|| usage("--table is required (or CHANNELS_TABLE)"))?;
    let store = ScheduleStore::new(dynamodb, &table);
    let stored = || async {
        let json = store.get(&queue).await?.ok_or_else(|| {
            CliError::Usage(format!(
                "no schedule is stored for {queue}: store one with `set` first"
            ))
        })?;
        serde_json::from_str::<ScheduleDocument>(&json).map_err(|error| {
            CliError::Failed(format!("the stored schedule is unreadable: {error}"))
        })
    };
    match positional.as_slice() {
        ["show"] => Ok(match store.get(&queue).await? {
            Some(json) => super::schedule::pretty(&json).unwrap_or(json),
            None => format!("no schedule for {queue}: open around the clock"),
        }),
        ["set", path] => {
            let text = read_file(path)
                .map_err(|error| CliError::Usage(format!("cannot read {path}: {error}")))?;
            let document: ScheduleDocument = serde_json::from_str(&text)
                .map_err(|error| CliError::Usage(format!("the schedule is invalid: {error}")))?;
            store.put(&queue, &document, now).await?;
            Ok(format!(
                "stored the schedule of {queue} ({})",
                document.time_zone
            ))
        }
        ["close"] => {
            let message = message.ok_or_else(|| usage("close needs --message"))?;
            let mut document = stored().await?;
            document.closed_now = Some(ClosedNow { message });
            store.put(&queue, &document, now).await?;
            Ok(format!("{queue} is closed until `open`"))
        }
        ["open"] => {
            let mut document = stored().await?;
            document.closed_now = None;
            store.put(&queue, &document, now).await?;
            let hours = Schedule::from_document(&document).map(|schedule| schedule.hours(now));
            Ok(format!("{queue} follows its hours again ({hours:?})"))
        }
        ["delete"] => {
            store.delete(&queue).await?;
            Ok(format!(
                "removed the schedule of {queue}: open around the clock"
            ))
        }
        _ => Err(usage("expected one command")),
    }
}
