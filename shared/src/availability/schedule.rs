//! A queue's opening hours: a time zone, weekly hours, holidays and a manual "closed now"
//! switch, kept in the table as the JSON document operators write with `flex-schedule`
//! (README, "Opening hours") and read by every function that answers availability.
//!
//! Hours are wall-clock times in the schedule's zone. Each interval is turned into instants
//! through the zone's rules on its own date, so an 08:00 opening stays 08:00 on both sides of a
//! daylight-saving change. A time the change skips moves on by the gap (02:30 becomes 03:30), a
//! time it repeats is its first occurrence: jiff's "compatible" rule, as RFC 5545 and Temporal
//! have it.

use std::collections::BTreeSet;

use jiff::civil::{Date, DateTime};
use jiff::tz::TimeZone;
use jiff::{Timestamp, Zoned};
use serde::{Deserialize, Serialize};
use serde_json::Value;

use crate::context::is_deceptive;

/// A schedule document is a few hundred bytes; this bounds what an operator's typo can store.
pub const MAX_SCHEDULE_BYTES: usize = 16 * 1024;
pub const MAX_INTERVALS_PER_DAY: usize = 8;
pub const MAX_HOLIDAYS: usize = 400;
pub const MAX_MESSAGE_CHARS: usize = 200;
/// How far ahead the next opening is looked for: past a year of holidays, it is "unknown".
const LOOKAHEAD_DAYS: i32 = 400;
const DAYS: [&str; 7] = ["mon", "tue", "wed", "thu", "fri", "sat", "sun"];

/// The stored document, as operators write it.
#[derive(Clone, Debug, Default, Deserialize, Serialize, PartialEq, Eq)]
#[serde(deny_unknown_fields, rename_all = "camelCase")]
pub struct ScheduleDocument {
    /// An IANA zone name, such as `Europe/Berlin`.
    pub time_zone: String,
    /// Days (`mon` … `sun`) to `"HH:MM-HH:MM"` intervals; a day left out is closed.
    #[serde(default)]
    pub weekly: std::collections::BTreeMap<String, Vec<String>>,
    /// Whole days closed, `YYYY-MM-DD` in the schedule's zone.
    #[serde(default)]
    pub holidays: Vec<String>,
    /// The manual switch: closed until switched off, with what the customer is told.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub closed_now: Option<ClosedNow>,
    /// Chats still open (and wait for the next opening) outside hours.
    #[serde(default)]
    pub queue_when_closed: bool,
}

#[derive(Clone, Debug, Default, Deserialize, Serialize, PartialEq, Eq)]
#[serde(deny_unknown_fields)]
pub struct ClosedNow {
    pub message: String,
}

#[derive(Debug, thiserror::Error, PartialEq, Eq)]
#[error("the schedule is invalid: {0}")]
pub struct ScheduleError(pub String);

/// Why a queue is closed now.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, async_graphql::Enum)]
#[serde(rename_all = "snake_case")]
#[graphql(rename_items = "snake_case")]
pub enum ClosedReason {
    OutsideHours,
    Holiday,
    ClosedNow,
}

/// Whether the queue is open at an instant, and if not, when it opens next.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Hours {
    Open,
    Closed {
        reason: ClosedReason,
        /// Epoch seconds; `None` while switched closed, or with no opening within a year.
        next_open_at: Option<i64>,
        message: Option<String>,
    },
}

/// A checked schedule, ready to answer [`Schedule::hours`].
#[derive(Clone, Debug)]
pub struct Schedule {
    zone_name: String,
    zone: TimeZone,
    /// Monday first; minutes since midnight, `close` at most 24 × 60.
    weekly: [Vec<(u16, u16)>; 7],
    holidays: BTreeSet<Date>,
    closed_now: Option<String>,
    pub queue_when_closed: bool,
}

impl Schedule {
    /// Parses and checks the stored JSON.
    pub fn parse(json: &str) -> Result<Self, ScheduleError> {
        if json.len() > MAX_SCHEDULE_BYTES {
            return Err(ScheduleError(format!(
                "the document is larger than {MAX_SCHEDULE_BYTES} bytes"
            )));
        }
        let document: ScheduleDocument =
            serde_json::from_str(json).map_err(|error| ScheduleError(error.to_string()))?;
        Self::from_document(&document)
    }

    /// Checks a document: every error names the field.
    pub fn from_document(document: &ScheduleDocument) -> Result<Self, ScheduleError> {
        let zone = TimeZone::get(&document.time_zone).map_err(|_| {
            ScheduleError(format!(
                "timeZone {:?} is not an IANA time zone name",
                document.time_zone
            ))
        })?;
        let mut weekly: [Vec<(u16, u16)>; 7] = Default::default();
        for (day, intervals) in &document.weekly {
            let index = DAYS.iter().position(|name| name == day).ok_or_else(|| {
                ScheduleError(format!("weekly.{day}: days are {}", DAYS.join(", ")))
            })?;
            if intervals.len() > MAX_INTERVALS_PER_DAY {
                return Err(ScheduleError(format!(
                    "weekly.{day}: at most {MAX_INTERVALS_PER_DAY} intervals"
                )));
            }
            let mut parsed = intervals
                .iter()
                .map(|interval| {
                    parse_interval(interval).ok_or_else(|| {
                        ScheduleError(format!(
                            "weekly.{day}: {interval:?} is not \"HH:MM-HH:MM\" with the opening before the closing (00:00 to 24:00)"
                        ))
                    })
                })
                .collect::<Result<Vec<_>, _>>()?;
            parsed.sort_unstable();
            if parsed.windows(2).any(|pair| pair[0].1 > pair[1].0) {
                return Err(ScheduleError(format!("weekly.{day}: intervals overlap")));
            }
            weekly[index] = parsed;
        }
        if document.holidays.len() > MAX_HOLIDAYS {
            return Err(ScheduleError(format!(
                "holidays: at most {MAX_HOLIDAYS} days"
            )));
        }
        let holidays = document
            .holidays
            .iter()
            .map(|day| {
                parse_date(day).ok_or_else(|| {
                    ScheduleError(format!("holidays: {day:?} is not a YYYY-MM-DD date"))
                })
            })
            .collect::<Result<BTreeSet<_>, _>>()?;
        let closed_now = match &document.closed_now {
            None => None,
            Some(ClosedNow { message }) => {
                let message = message.trim();
                let chars = message.chars().count();
                if !(1..=MAX_MESSAGE_CHARS).contains(&chars)
                    || message.chars().any(|c| c.is_control() || is_deceptive(c))
                {
                    return Err(ScheduleError(format!(
                        "closedNow.message must be 1 to {MAX_MESSAGE_CHARS} characters, with no control or bidirectional control characters"
                    )));
                }
                Some(message.to_owned())
            }
        };
        Ok(Self {
            zone_name: document.time_zone.clone(),
            zone,
            weekly,
            holidays,
            closed_now,
            queue_when_closed: document.queue_when_closed,
        })
    }

    /// Open around the clock: the answer while no schedule is stored.
    pub fn always_open() -> Self {
        Self {
            zone_name: "UTC".into(),
            zone: TimeZone::UTC,
            weekly: std::array::from_fn(|_| vec![(0, 24 * 60)]),
            holidays: BTreeSet::new(),
            closed_now: None,
            queue_when_closed: false,
        }
    }

    pub fn time_zone(&self) -> &str {
        &self.zone_name
    }

    /// Whether the queue is open at `now` (epoch seconds), and if not, why and until when.
    pub fn hours(&self, now: i64) -> Hours {
        if let Some(message) = &self.closed_now {
            return Hours::Closed {
                reason: ClosedReason::ClosedNow,
                next_open_at: None,
                message: Some(message.clone()),
            };
        }
        let Ok(now_instant) = Timestamp::from_second(now) else {
            return Hours::Open;
        };
        let today = now_instant.to_zoned(self.zone.clone()).date();
        let holiday = self.holidays.contains(&today);
        if !holiday
            && self
                .intervals_on(today)
                .any(|(open, close)| open <= now && now < close)
        {
            return Hours::Open;
        }
        Hours::Closed {
            reason: if holiday {
                ClosedReason::Holiday
            } else {
                ClosedReason::OutsideHours
            },
            next_open_at: self.next_opening(today, now),
            message: None,
        }
    }

    /// The first opening after `now`, from `today` on.
    fn next_opening(&self, today: Date, now: i64) -> Option<i64> {
        let mut day = today;
        for _ in 0..LOOKAHEAD_DAYS {
            if !self.holidays.contains(&day) {
                // An interval open now (on a day that is not a holiday) was answered before.
                if let Some((open, _)) = self.intervals_on(day).find(|(open, _)| *open > now) {
                    return Some(open);
                }
            }
            day = day.tomorrow().ok()?;
        }
        None
    }

    /// The day's intervals as instants (epoch seconds), by the zone's rules on that date.
    fn intervals_on(&self, day: Date) -> impl Iterator<Item = (i64, i64)> + '_ {
        let weekday = usize::try_from(day.weekday().to_monday_zero_offset()).unwrap_or(0);
        self.weekly[weekday]
            .iter()
            .filter_map(move |&(open, close)| {
                let open = self.instant(day, open)?;
                let close = self.instant(day, close)?;
                // A slot the clock change swallowed whole is no opening.
                (open < close).then_some((open, close))
            })
    }

    fn instant(&self, day: Date, minutes: u16) -> Option<i64> {
        let (day, minutes) = if minutes == 24 * 60 {
            (day.tomorrow().ok()?, 0)
        } else {
            (day, minutes)
        };
        let hour = i8::try_from(minutes / 60).ok()?;
        let minute = i8::try_from(minutes % 60).ok()?;
        let local: DateTime = day.at(hour, minute, 0, 0);
        let zoned: Zoned = local.to_zoned(self.zone.clone()).ok()?;
        Some(zoned.timestamp().as_second())
    }
}

/// `"HH:MM-HH:MM"`, opening before closing, `24:00` allowed as a closing only.
fn parse_interval(text: &str) -> Option<(u16, u16)> {
    let (open, close) = text.split_once('-')?;
    let open = parse_clock(open.trim())?;
    let close = parse_clock(close.trim())?;
    (open < close && open < 24 * 60).then_some((open, close))
}

fn parse_clock(text: &str) -> Option<u16> {
    let (hours, minutes) = text.split_once(':')?;
    if hours.len() != 2 || minutes.len() != 2 {
        return None;
    }
    let hours: u16 = hours.parse().ok()?;
    let minutes: u16 = minutes.parse().ok()?;
    let total = hours * 60 + minutes;
    (minutes < 60 && total <= 24 * 60).then_some(total)
}

fn parse_date(text: &str) -> Option<Date> {
    if text.len() != 10 {
        return None;
    }
    text.parse().ok()
}

/// The document as stored JSON; `None` when it is not one (for the command's `show`).
pub fn pretty(json: &str) -> Option<String> {
    let value: Value = serde_json::from_str(json).ok()?;
    serde_json::to_string_pretty(&value).ok()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn utc(text: &str) -> i64 {
        text.parse::<Timestamp>().unwrap().as_second()
    }

    fn schedule(json: &str) -> Schedule {
        Schedule::parse(json).unwrap()
    }

    fn next_open(schedule: &Schedule, now: &str) -> Option<i64> {
        match schedule.hours(utc(now)) {
            Hours::Closed { next_open_at, .. } => next_open_at,
            Hours::Open => panic!("open at {now}"),
        }
    }

    const WEEKDAYS_8_TO_18: &str = r#"{"timeZone":"Europe/Berlin","weekly":{
        "mon":["08:00-18:00"],"tue":["08:00-18:00"],"wed":["08:00-18:00"],
        "thu":["08:00-18:00"],"fri":["08:00-18:00"]}}"#;

    #[test]
    fn berlin_opens_at_eight_local_on_both_sides_of_the_spring_change() {
        // 2026-03-29 (Sunday) 02:00 CET becomes 03:00 CEST.
        let berlin = schedule(WEEKDAYS_8_TO_18);
        // Friday 27 March, 08:00 CET = 07:00 UTC; Monday 30 March, 08:00 CEST = 06:00 UTC.
        assert_eq!(berlin.hours(utc("2026-03-27T07:00:00Z")), Hours::Open);
        assert!(matches!(
            berlin.hours(utc("2026-03-27T06:59:59Z")),
            Hours::Closed { .. }
        ));
        assert_eq!(
            next_open(&berlin, "2026-03-28T12:00:00Z"),
            Some(utc("2026-03-30T06:00:00Z"))
        );
        assert_eq!(berlin.hours(utc("2026-03-30T06:00:00Z")), Hours::Open);
        // Closing 18:00 CEST = 16:00 UTC.
        assert_eq!(berlin.hours(utc("2026-03-30T15:59:59Z")), Hours::Open);
        assert_eq!(
            next_open(&berlin, "2026-03-30T16:00:00Z"),
            Some(utc("2026-03-31T06:00:00Z"))
        );
    }

    #[test]
    fn berlin_opens_at_eight_local_on_both_sides_of_the_autumn_change() {
        // 2026-10-25 (Sunday) 03:00 CEST becomes 02:00 CET.
        let berlin = schedule(WEEKDAYS_8_TO_18);
        assert_eq!(
            next_open(&berlin, "2026-10-23T20:00:00Z"),
            Some(utc("2026-10-26T07:00:00Z")),
            "Monday 08:00 CET"
        );
        assert!(matches!(
            berlin.hours(utc("2026-10-26T06:30:00Z")),
            Hours::Closed { .. }
        ));
        assert_eq!(berlin.hours(utc("2026-10-23T15:59:59Z")), Hours::Open);
        assert!(matches!(
            berlin.hours(utc("2026-10-23T16:00:00Z")),
            Hours::Closed { .. }
        ));
    }

    #[test]
    fn new_york_hours_through_the_night_follow_both_changes() {
        // 2026-03-08 02:00 EST becomes 03:00 EDT; 2026-11-01 02:00 EDT becomes 01:00 EST.
        let new_york = schedule(
            r#"{"timeZone":"America/New_York","weekly":{"sun":["00:00-24:00"],"sat":["09:00-12:00"]}}"#,
        );
        // Sunday 8 March is 23 hours long: 05:00 UTC to 04:00 UTC the next day.
        assert_eq!(new_york.hours(utc("2026-03-08T05:00:00Z")), Hours::Open);
        assert_eq!(new_york.hours(utc("2026-03-09T03:59:59Z")), Hours::Open);
        assert!(matches!(
            new_york.hours(utc("2026-03-09T04:00:00Z")),
            Hours::Closed { .. }
        ));
        // Sunday 1 November is 25 hours long: 04:00 UTC to 05:00 UTC the next day.
        assert_eq!(new_york.hours(utc("2026-11-01T04:00:00Z")), Hours::Open);
        assert_eq!(new_york.hours(utc("2026-11-02T04:59:59Z")), Hours::Open);
        assert_eq!(
            next_open(&new_york, "2026-11-02T05:00:00Z"),
            Some(utc("2026-11-07T14:00:00Z")),
            "Saturday 09:00 EST"
        );
        // Saturday 7 March closes at 12:00 EST (17:00 UTC); Sunday opens at 00:00 EST.
        assert_eq!(
            next_open(&new_york, "2026-03-07T17:00:00Z"),
            Some(utc("2026-03-08T05:00:00Z"))
        );
        // Saturday 7 March opened at 09:00 EST (14:00 UTC), Saturday 14 March at 09:00 EDT.
        let saturday_only =
            schedule(r#"{"timeZone":"America/New_York","weekly":{"sat":["09:00-12:00"]}}"#);
        assert_eq!(
            next_open(&saturday_only, "2026-03-09T12:00:00Z"),
            Some(utc("2026-03-14T13:00:00Z"))
        );
    }

    #[test]
    fn an_opening_the_clock_skips_starts_after_the_gap() {
        let gap = schedule(r#"{"timeZone":"Europe/Berlin","weekly":{"sun":["02:30-05:00"]}}"#);
        // 02:30 does not exist on 29 March: it moves on by the gap, to 03:30 CEST (01:30 UTC).
        assert_eq!(
            next_open(&gap, "2026-03-28T12:00:00Z"),
            Some(utc("2026-03-29T01:30:00Z"))
        );
        assert_eq!(gap.hours(utc("2026-03-29T01:30:00Z")), Hours::Open);
        assert_eq!(gap.hours(utc("2026-03-29T02:59:59Z")), Hours::Open);
        assert!(matches!(
            gap.hours(utc("2026-03-29T03:00:00Z")),
            Hours::Closed { .. }
        ));
        // 02:30 happens twice on 25 October: the slot opens at the first (CEST, 00:30 UTC).
        assert_eq!(
            next_open(&gap, "2026-10-24T12:00:00Z"),
            Some(utc("2026-10-25T00:30:00Z"))
        );
    }

    #[test]
    fn holidays_and_the_switch_close_and_say_why() {
        let mut document: ScheduleDocument = serde_json::from_str(WEEKDAYS_8_TO_18).unwrap();
        document.holidays = vec!["2026-12-24".into(), "2026-12-25".into()];
        let christmas = Schedule::from_document(&document).unwrap();
        // Thursday 24 December 10:00 CET.
        assert_eq!(
            christmas.hours(utc("2026-12-24T09:00:00Z")),
            Hours::Closed {
                reason: ClosedReason::Holiday,
                next_open_at: Some(utc("2026-12-28T07:00:00Z")),
                message: None
            }
        );
        document.closed_now = Some(ClosedNow {
            message: "Closed for a team event".into(),
        });
        let switched = Schedule::from_document(&document).unwrap();
        assert_eq!(
            switched.hours(utc("2026-12-22T09:00:00Z")),
            Hours::Closed {
                reason: ClosedReason::ClosedNow,
                next_open_at: None,
                message: Some("Closed for a team event".into())
            }
        );
        let never = schedule(r#"{"timeZone":"UTC"}"#);
        assert_eq!(next_open(&never, "2026-12-22T09:00:00Z"), None);
        assert_eq!(
            Schedule::always_open().hours(utc("2026-12-22T03:00:00Z")),
            Hours::Open
        );
    }

    #[test]
    fn malformed_schedules_are_refused_naming_the_field() {
        for (json, names) in [
            (r#"{"timeZone":"Mars/Olympus"}"#, "timeZone"),
            (
                r#"{"timeZone":"UTC","weekly":{"monday":["08:00-18:00"]}}"#,
                "weekly.monday",
            ),
            (
                r#"{"timeZone":"UTC","weekly":{"mon":["18:00-08:00"]}}"#,
                "weekly.mon",
            ),
            (
                r#"{"timeZone":"UTC","weekly":{"mon":["8:00-18:00"]}}"#,
                "weekly.mon",
            ),
            (
                r#"{"timeZone":"UTC","weekly":{"mon":["08:00-24:01"]}}"#,
                "weekly.mon",
            ),
            (
                r#"{"timeZone":"UTC","weekly":{"mon":["08:60-09:00"]}}"#,
                "weekly.mon",
            ),
            (
                r#"{"timeZone":"UTC","weekly":{"mon":["08:00-12:00","11:00-13:00"]}}"#,
                "overlap",
            ),
            (
                r#"{"timeZone":"UTC","holidays":["2026-02-30"]}"#,
                "holidays",
            ),
            (r#"{"timeZone":"UTC","holidays":["26-12-25"]}"#, "holidays"),
            (
                r#"{"timeZone":"UTC","closedNow":{"message":""}}"#,
                "closedNow.message",
            ),
            (
                r#"{"timeZone":"UTC","closedNow":{"message":"a\u202eb"}}"#,
                "closedNow.message",
            ),
            (r#"{"timeZone":"UTC","openNow":true}"#, "openNow"),
            (r#"{"weekly":{}}"#, "timeZone"),
        ] {
            let error = Schedule::parse(json).unwrap_err();
            assert!(error.0.contains(names), "{json}: {error}");
        }
        let long = format!(
            r#"{{"timeZone":"UTC","holidays":[{}]}}"#,
            vec!["\"2026-01-01\""; 2000].join(",")
        );
        assert!(Schedule::parse(&long).unwrap_err().0.contains("bytes"));
        // Touching intervals and a 24:00 closing are fine.
        let touching =
            schedule(r#"{"timeZone":"UTC","weekly":{"mon":["12:00-24:00","08:00-12:00"]}}"#);
        assert_eq!(touching.hours(utc("2026-12-07T23:59:59Z")), Hours::Open);
    }
}
