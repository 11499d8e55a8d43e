//! Per-client limits on what costs an agent or Twilio something: new guest identities and new
//! chats, per source network, kept in the channels table so they need no other service.
//!
//! Each limit is a token bucket in GCRA form: one item per client holds `tat`, the time (ms)
//! at which the client's bucket is full again. A request is allowed while `tat` is at most
//! `(burst - 1) × interval` ahead of now, and moves it one interval on. One conditional
//! UpdateItem decides a client whose bucket is full (the usual case) or empty; a client inside
//! its burst takes a second, atomic, one. The item's TTL passes once the bucket is full again.
//!
//! A client is API Gateway's `sourceIp`: an IPv4 address, or an IPv6 address's /64 (one
//! customer's network, where a host can pick any of 2^64 addresses). Carrier-grade NAT puts
//! many customers behind one IPv4 address, so the defaults are generous (README, "Security").

use std::net::IpAddr;

use aws_sdk_dynamodb::Client;
use aws_sdk_dynamodb::operation::update_item::UpdateItemError;
use aws_sdk_dynamodb::types::{AttributeValue, ReturnValuesOnConditionCheckFailure};

pub use crate::config::RateLimit;
use crate::store::{KEY, StoreError, TTL_ATTRIBUTE, store_error};

/// The attribute holding a bucket's theoretical arrival time, in epoch milliseconds.
const TAT: &str = "tat";
/// A bucket raced by the client's other requests this many times in a row counts as empty.
const MAX_ATTEMPTS: usize = 3;

/// What a client may do now.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Verdict {
    Allowed,
    Limited { retry_after_seconds: u64 },
}

/// One named limit over every client, in the table.
#[derive(Clone, Debug)]
pub struct RateLimiter {
    client: Client,
    table: String,
    /// Names the limit in the items' keys: `limit#<name>#<client>`.
    name: &'static str,
    limit: RateLimit,
}

impl RateLimiter {
    pub fn new(client: Client, table: &str, name: &'static str, limit: RateLimit) -> Self {
        Self {
            client,
            table: table.to_owned(),
            name,
            limit,
        }
    }

    pub fn name(&self) -> &'static str {
        self.name
    }

    /// Takes one token from `client_key`'s bucket at `now_ms`, if it has one.
    pub async fn take(&self, client_key: &str, now_ms: i64) -> Result<Verdict, StoreError> {
        if self.limit.per_minute == 0 {
            return Ok(Verdict::Allowed);
        }
        let interval = 60_000 / i64::from(self.limit.per_minute);
        // How far ahead of now the bucket may run and still hold a token.
        let allowance = interval * i64::from(self.limit.burst.max(1) - 1);
        let key = format!("limit#{}#{client_key}", self.name);
        // Gone once the bucket is full again, whichever update wrote it.
        let expires_at = (now_ms + allowance + interval) / 1000 + 60;
        for _ in 0..MAX_ATTEMPTS {
            // Full (or never seen): the bucket restarts from now.
            let full = self
                .update(&key)
                .update_expression("SET #tat = :next, #ttl = :expires")
                .condition_expression("attribute_not_exists(#tat) OR #tat <= :now")
                .expression_attribute_values(":next", number(now_ms + interval))
                .expression_attribute_values(":now", number(now_ms))
                .expression_attribute_values(":expires", number(expires_at))
                .send()
                .await;
            match self.held(full)? {
                None => return Ok(Verdict::Allowed),
                Some(tat) if tat > now_ms + allowance => {
                    return Ok(limited(tat, now_ms, allowance));
                }
                Some(_) => {}
            }
            // Within the burst: one interval more, unless another request moved it past.
            let within = self
                .update(&key)
                .update_expression("SET #tat = #tat + :interval, #ttl = :expires")
                .condition_expression("#tat > :now AND #tat <= :last")
                .expression_attribute_values(":interval", number(interval))
                .expression_attribute_values(":now", number(now_ms))
                .expression_attribute_values(":last", number(now_ms + allowance))
                .expression_attribute_values(":expires", number(expires_at))
                .send()
                .await;
            match self.held(within)? {
                None => return Ok(Verdict::Allowed),
                Some(tat) if tat > now_ms + allowance => {
                    return Ok(limited(tat, now_ms, allowance));
                }
                // Full again since the first update (tat fell behind now): start over.
                Some(_) => {}
            }
        }
        Ok(Verdict::Limited {
            retry_after_seconds: 1,
        })
    }

    fn update(
        &self,
        key: &str,
    ) -> aws_sdk_dynamodb::operation::update_item::builders::UpdateItemFluentBuilder {
        self.client
            .update_item()
            .table_name(&self.table)
            .key(KEY, AttributeValue::S(key.to_owned()))
            .expression_attribute_names("#tat", TAT)
            .expression_attribute_names("#ttl", TTL_ATTRIBUTE)
            .return_values_on_condition_check_failure(ReturnValuesOnConditionCheckFailure::AllOld)
    }

    /// `None` when the update was written; the bucket's `tat` when its condition did not hold.
    fn held<T>(
        &self,
        result: Result<
            T,
            aws_sdk_dynamodb::error::SdkError<
                UpdateItemError,
                aws_sdk_dynamodb::config::http::HttpResponse,
            >,
        >,
    ) -> Result<Option<i64>, StoreError> {
        match result {
            Ok(_) => Ok(None),
            Err(error) => match error.as_service_error() {
                Some(UpdateItemError::ConditionalCheckFailedException(failed)) => Ok(Some(
                    failed
                        .item()
                        .and_then(|item| item.get(TAT))
                        .and_then(|tat| tat.as_n().ok())
                        .and_then(|tat| tat.parse().ok())
                        // A condition that failed on an item without a readable `tat` cannot
                        // happen (the first update's holds for a missing one): count it full.
                        .unwrap_or(i64::MIN),
                )),
                _ => Err(store_error("UpdateItem", error)),
            },
        }
    }
}

fn limited(tat: i64, now_ms: i64, allowance: i64) -> Verdict {
    let wait_ms = tat - now_ms - allowance;
    Verdict::Limited {
        retry_after_seconds: u64::try_from(wait_ms).map_or(1, |ms| ms.div_ceil(1000).max(1)),
    }
}

fn number(value: i64) -> AttributeValue {
    AttributeValue::N(value.to_string())
}

/// The client a limit counts: an IPv4 address, an IPv6 address's /64, or `unknown` when API
/// Gateway gave no address we can read.
pub fn client_key(source_ip: Option<&str>) -> String {
    match source_ip.and_then(|ip| ip.parse::<IpAddr>().ok()) {
        Some(IpAddr::V4(ip)) => ip.to_string(),
        Some(IpAddr::V6(ip)) => match ip.to_ipv4_mapped() {
            Some(v4) => v4.to_string(),
            None => {
                let segments = ip.segments();
                format!(
                    "{:x}:{:x}:{:x}:{:x}::/64",
                    segments[0], segments[1], segments[2], segments[3]
                )
            }
        },
        None => "unknown".to_owned(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn clients_are_addresses_and_ipv6_networks() {
        assert_eq!(client_key(Some("203.0.113.10")), "203.0.113.10");
        assert_eq!(
            client_key(Some("2001:db8:1:2:aaaa::1")),
            client_key(Some("2001:db8:1:2:ffff::9"))
        );
        assert_eq!(client_key(Some("2001:db8:1:2::1")), "2001:db8:1:2::/64");
        assert_eq!(client_key(Some("::ffff:198.51.100.7")), "198.51.100.7");
        assert_eq!(client_key(Some("not an ip")), "unknown");
        assert_eq!(client_key(None), "unknown");
    }

    #[test]
    fn retry_after_is_when_the_next_token_is_due() {
        // Interval 6 s, burst 10: allowance 54 s; tat 60 s ahead: next token in 6 s.
        assert_eq!(
            limited(60_000, 0, 54_000),
            Verdict::Limited {
                retry_after_seconds: 6
            }
        );
        assert_eq!(
            limited(54_001, 0, 54_000),
            Verdict::Limited {
                retry_after_seconds: 1
            }
        );
    }
}
