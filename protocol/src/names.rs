//! Queue names and the Redis key scheme.
//!
//! Every per-crawl key carries its crawl id, so crawls share a Redis and one
//! can be deleted without touching the others. The prefixes let tests (and
//! tenants) run side by side on one RabbitMQ and one Redis.

use uuid::Uuid;

/// The RabbitMQ queues of one deployment.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct QueueNames {
    /// Download tasks, consumed by workers.
    pub tasks: String,
    /// Completions, consumed by aggregators.
    pub completions: String,
    /// Dead letters: messages that could not be decoded or kept failing.
    pub dead: String,
    /// Delay queues for retries, by delay in seconds: a message waits out the
    /// queue's TTL there, then is dead-lettered back onto the task queue.
    pub delays: Vec<(u64, String)>,
}

/// The delays, in seconds, of the retry queues.
pub const DELAY_LEVELS_SECS: [u64; 7] = [1, 2, 4, 8, 16, 32, 64];

impl QueueNames {
    /// The queues named `{prefix}.tasks`, `{prefix}.completions`, `{prefix}.dead`
    /// and `{prefix}.delay.{N}s`.
    pub fn new(prefix: &str) -> Self {
        Self {
            tasks: format!("{prefix}.tasks"),
            completions: format!("{prefix}.completions"),
            dead: format!("{prefix}.dead"),
            delays: DELAY_LEVELS_SECS
                .iter()
                .map(|secs| (*secs, format!("{prefix}.delay.{secs}s")))
                .collect(),
        }
    }
}

/// The Redis key scheme, under a prefix.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Keys {
    prefix: String,
}

impl Keys {
    /// Keys under `prefix` (`crawlq` by default).
    pub fn new(prefix: &str) -> Self {
        Self {
            prefix: prefix.to_owned(),
        }
    }

    /// Set of all crawl ids (with [`Keys::heartbeats`], the keys not per crawl).
    pub fn crawls(&self) -> String {
        format!("{}:crawls", self.prefix)
    }

    /// Hash of the services' heartbeats: process id → [`crate::report::Heartbeat`] JSON.
    pub fn heartbeats(&self) -> String {
        format!("{}:heartbeats", self.prefix)
    }

    /// Hash: the crawl's spec, state, timestamps and counters.
    pub fn meta(&self, crawl: Uuid) -> String {
        format!("{}:crawl:{crawl}", self.prefix)
    }

    /// Hash: task id → `parent|depth|url`. The seen-set: task ids derive from
    /// canonical URLs, so a URL is claimed once, and the claim records by whom.
    pub fn tasks(&self, crawl: Uuid) -> String {
        format!("{}:crawl:{crawl}:tasks", self.prefix)
    }

    /// Hash: task id → `s` (started), `d` (done) or `f` (failed).
    pub fn state(&self, crawl: Uuid) -> String {
        format!("{}:crawl:{crawl}:state", self.prefix)
    }

    /// Hash: task id → the task's result as JSON (its future's value).
    pub fn results(&self, crawl: Uuid) -> String {
        format!("{}:crawl:{crawl}:results", self.prefix)
    }

    /// Hash: tag → number of pages carrying it.
    pub fn tally(&self, crawl: Uuid) -> String {
        format!("{}:crawl:{crawl}:tally", self.prefix)
    }

    /// Set: task ids whose children have been published (their completion
    /// needs no re-publishing when it is delivered again).
    pub fn expanded(&self, crawl: Uuid) -> String {
        format!("{}:crawl:{crawl}:expanded", self.prefix)
    }

    /// Hash: task id of a URL that redirects led to → the task that keeps
    /// the page (the first to land on it), so that a page reached by several
    /// URLs counts once and is not fetched again as a link.
    pub fn finals(&self, crawl: Uuid) -> String {
        format!("{}:crawl:{crawl}:finals", self.prefix)
    }

    /// Hash: origin → the crawl's robots.txt record for that host, and
    /// `~origin` → the lease of the request fetching it.
    pub fn robots(&self, crawl: Uuid) -> String {
        format!("{}:crawl:{crawl}:robots", self.prefix)
    }

    /// The prefix itself: the per-host politeness keys (`{prefix}:host:ORIGIN...`,
    /// `{prefix}:hosts:...`) are built from it inside `lua/host.lua`, since a
    /// sweep finds its hosts as it runs.
    pub fn prefix(&self) -> &str {
        &self.prefix
    }

    /// Every key of one crawl, for deletion.
    pub fn all_of(&self, crawl: Uuid) -> [String; 8] {
        [
            self.meta(crawl),
            self.tasks(crawl),
            self.state(crawl),
            self.results(crawl),
            self.tally(crawl),
            self.expanded(crawl),
            self.robots(crawl),
            self.finals(crawl),
        ]
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_per_crawl_key_carries_the_crawl_id_and_prefix() {
        let id = Uuid::new_v4();
        let keys = Keys::new("t1");
        for key in keys.all_of(id) {
            assert!(key.starts_with("t1:crawl:"), "{key}");
            assert!(key.contains(&id.to_string()), "{key}");
        }
        assert_eq!(QueueNames::new("q").tasks, "q.tasks");
    }
}
