//! Fleet-wide politeness on Redis: [`Hosts`] for [`RedisStore`], each call
//! one run of `lua/host.lua` (atomic, on Redis's clock).

use std::time::Duration;

use async_trait::async_trait;
use redis::Value;
use uuid::Uuid;

use crate::politeness::{
    Acquire, BACKOFF_BASE, BACKOFF_MAX, DISPATCH_MAX, Dispatched, Grant, HORIZON, HostView, Hosts,
    LEASE, Pace,
};
use crate::redis::RedisStore;
use crate::robots::RobotsRecord;
use crate::store_error::StoreError;

impl RedisStore {
    /// An invocation of host.lua for `op`, with the arguments every operation takes.
    fn host_op(&self, op: &str) -> redis::ScriptInvocation<'_> {
        let mut invocation = self.host.prepare_invoke();
        invocation
            .arg(self.keys.prefix())
            .arg(op)
            .arg(LEASE.as_millis() as u64)
            .arg(HORIZON.as_millis() as u64)
            .arg(DISPATCH_MAX);
        invocation
    }

    async fn run_host(
        &self,
        invocation: &redis::ScriptInvocation<'_>,
    ) -> Result<Value, StoreError> {
        invocation
            .invoke_async(&mut self.connection.clone())
            .await
            .map_err(StoreError::redis)
    }
}

#[async_trait]
impl Hosts for RedisStore {
    async fn acquire(&self, ask: &Acquire<'_>) -> Result<Grant, StoreError> {
        let mut invocation = self.host_op("acquire");
        invocation
            .arg(ask.origin)
            .arg(ask.lease)
            .arg(ask.reserved.unwrap_or(""))
            .arg(ask.limits.host_concurrency)
            .arg(ask.limits.host_delay_ms)
            .arg(u8::from(ask.limits.robots))
            .arg(self.keys.robots(ask.crawl_id))
            .arg(ask.entry)
            .arg(u8::from(ask.durable));
        let answer: Vec<Value> = redis::from_redis_value(self.run_host(&invocation).await?)
            .map_err(|e| StoreError::Corrupt(format!("host.lua acquire: {e}")))?;
        let word = answer.first().and_then(text);
        let number = answer.get(1).and_then(integer).unwrap_or(0);
        match word.as_deref() {
            Some("go") => Ok(Grant::Go {
                fetch_robots: number == 1,
            }),
            Some("later") => Ok(Grant::Later(Duration::from_millis(number))),
            Some("parked") => Ok(Grant::Parked),
            Some("gone") => Ok(Grant::Gone),
            _ => Err(StoreError::Corrupt(format!(
                "host.lua acquire answered {answer:?}"
            ))),
        }
    }

    async fn release(
        &self,
        origin: &str,
        lease: &str,
        pace: Pace,
    ) -> Result<Vec<Dispatched>, StoreError> {
        let mut invocation = self.host_op("release");
        invocation.arg(origin).arg(lease);
        pace_args(&mut invocation, pace);
        dispatched(self.run_host(&invocation).await?)
    }

    async fn sweep(&self) -> Result<Vec<Dispatched>, StoreError> {
        dispatched(self.run_host(&self.host_op("sweep")).await?)
    }

    async fn renew(&self, leases: &[(String, String)]) -> Result<(), StoreError> {
        if leases.is_empty() {
            return Ok(());
        }
        let mut invocation = self.host_op("renew");
        for (origin, lease) in leases {
            invocation.arg(origin).arg(lease);
        }
        self.run_host(&invocation).await.map(drop)
    }

    async fn robots(
        &self,
        crawl_id: Uuid,
        origin: &str,
    ) -> Result<Option<RobotsRecord>, StoreError> {
        let record: Option<String> = redis::cmd("HGET")
            .arg(self.keys.robots(crawl_id))
            .arg(origin)
            .query_async(&mut self.connection.clone())
            .await
            .map_err(StoreError::redis)?;
        record
            .map(|text| {
                RobotsRecord::decode(&text)
                    .ok_or_else(|| StoreError::Corrupt(format!("robots.txt record of {origin}")))
            })
            .transpose()
    }

    async fn put_robots(
        &self,
        crawl_id: Uuid,
        origin: &str,
        record: &RobotsRecord,
        crawl_delay_ms: u64,
        pace: Pace,
    ) -> Result<Vec<Dispatched>, StoreError> {
        let mut invocation = self.host_op("put_robots");
        invocation
            .arg(origin)
            .arg(self.keys.robots(crawl_id))
            .arg(record.encode())
            .arg(crawl_delay_ms);
        pace_args(&mut invocation, pace);
        dispatched(self.run_host(&invocation).await?)
    }

    async fn host_views(&self, origins: &[String]) -> Result<Vec<HostView>, StoreError> {
        if origins.is_empty() {
            return Ok(Vec::new());
        }
        let mut invocation = self.host_op("views");
        for origin in origins {
            invocation.arg(origin);
        }
        let numbers: Vec<u64> = redis::from_redis_value(self.run_host(&invocation).await?)
            .map_err(|e| StoreError::Corrupt(format!("host.lua views: {e}")))?;
        Ok(origins
            .iter()
            .zip(numbers.chunks(3))
            .map(|(origin, n)| HostView {
                origin: origin.clone(),
                in_flight: n.first().copied().unwrap_or(0),
                queued: n.get(1).copied().unwrap_or(0),
                paused_ms: n.get(2).copied().unwrap_or(0),
            })
            .collect())
    }
}

/// The four arguments host.lua's `pace_host` reads: pace, wait (ms), backoff base and cap (ms).
fn pace_args(invocation: &mut redis::ScriptInvocation<'_>, pace: Pace) {
    let (word, wait) = match pace {
        Pace::Normal => ("normal", Duration::ZERO),
        Pace::Unused => ("unused", Duration::ZERO),
        Pace::PauseFor(wait) => ("pause", wait),
        Pace::BackOff => ("backoff", Duration::ZERO),
    };
    invocation
        .arg(word)
        .arg(wait.as_millis() as u64)
        .arg(BACKOFF_BASE.as_millis() as u64)
        .arg(BACKOFF_MAX.as_millis() as u64);
}

/// Reads release's and sweep's answer: origin, lease, wait (ms), entry, repeated.
fn dispatched(answer: Value) -> Result<Vec<Dispatched>, StoreError> {
    let values: Vec<Value> = redis::from_redis_value(answer)
        .map_err(|e| StoreError::Corrupt(format!("host.lua dispatch: {e}")))?;
    values
        .chunks(4)
        .map(|four| match four {
            [origin, lease, after, entry] => Ok(Dispatched {
                origin: text(origin).unwrap_or_default(),
                lease: text(lease).unwrap_or_default(),
                after: Duration::from_millis(integer(after).unwrap_or(0)),
                entry: text(entry).unwrap_or_default(),
            }),
            _ => Err(StoreError::Corrupt("host.lua dispatch: a short row".into())),
        })
        .collect()
}

fn text(value: &Value) -> Option<String> {
    match value {
        Value::BulkString(bytes) => String::from_utf8(bytes.clone()).ok(),
        Value::SimpleString(s) => Some(s.clone()),
        _ => None,
    }
}

fn integer(value: &Value) -> Option<u64> {
    match value {
        Value::Int(n) => u64::try_from(*n).ok(),
        _ => None,
    }
}
