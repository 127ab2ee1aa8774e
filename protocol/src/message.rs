//! The messages crawlq processes exchange over the transport: a [`Task`]
//! (fetch this URL) goes to workers, a [`Completion`] (here is what the page
//! held) goes to aggregators. Both are JSON with a version field `v`; every
//! message carries its crawl id, so crawls run side by side on shared queues.

use serde::{Deserialize, Serialize, de::DeserializeOwned};
use uuid::Uuid;

/// The message format version this build writes and reads.
pub const MESSAGE_VERSION: u32 = 1;

/// The default CSS selector for a page's tags.
pub const DEFAULT_TAG_SELECTOR: &str = "a.post-tag";

/// A message that could not be decoded: it is poison, never retried.
#[derive(Debug, thiserror::Error)]
pub enum MessageError {
    /// Not JSON, or JSON of another shape.
    #[error("undecodable message: {0}")]
    Malformed(#[from] serde_json::Error),
    /// A version this build does not read.
    #[error(
        "message version {found} is not supported (this build reads version {MESSAGE_VERSION})"
    )]
    Version {
        /// The version found in the message.
        found: u32,
    },
}

/// The per-crawl rules every task carries, so workers and aggregators need no
/// lookup to process it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Rules {
    /// CSS selector whose elements' texts are the page's tags.
    pub tag_selector: String,
    /// Regex matched against a canonical link's path.
    pub link_pattern: String,
    /// Hosts whose links are followed and to which redirects may go: origins
    /// and bare hosts ([`crate::links::HostSet`]), the seeds' plus `--allow-host`s.
    pub allow_hosts: Vec<String>,
    /// Deepest depth to crawl (seeds are depth 0); `None` is unlimited, `Some(0)` follows no links.
    pub max_depth: Option<u32>,
    /// How gently the crawl treats each host, across the whole fleet.
    #[serde(default)]
    pub politeness: Politeness,
}

/// A crawl's manners towards each host (origin), held across every worker.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub struct Politeness {
    /// Requests in flight to one host at once, fleet-wide; 0 is unlimited.
    pub host_concurrency: u32,
    /// Least time between two request starts to one host, fleet-wide, in
    /// milliseconds; 0 is none. robots.txt's `Crawl-delay` may raise it.
    pub host_delay_ms: u64,
    /// Whether robots.txt is read and obeyed (`--ignore-robots` turns it off).
    pub robots: bool,
}

/// The default `--host-concurrency`.
pub const DEFAULT_HOST_CONCURRENCY: u32 = 4;

impl Default for Politeness {
    fn default() -> Self {
        Self {
            host_concurrency: DEFAULT_HOST_CONCURRENCY,
            host_delay_ms: 0,
            robots: true,
        }
    }
}

impl Politeness {
    /// No limits and no robots.txt: what benchmarks of raw speed pass.
    pub const UNLIMITED: Self = Self {
        host_concurrency: 0,
        host_delay_ms: 0,
        robots: false,
    };

    /// Whether requests to a host need no permission at all.
    pub fn is_unlimited(&self) -> bool {
        self.host_concurrency == 0 && self.host_delay_ms == 0 && !self.robots
    }
}

impl Rules {
    /// Whether children of a page at `depth` are within the crawl's depth limit.
    pub fn expands(&self, depth: u32) -> bool {
        self.max_depth.is_none_or(|max| depth < max)
    }
}

/// Fetch one URL and scrape it: published by the producer (seeds) and the aggregator (children).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Task {
    /// Format version, [`MESSAGE_VERSION`].
    pub v: u32,
    /// The crawl this task belongs to.
    pub crawl_id: Uuid,
    /// Derived from crawl id and canonical URL by [`task_id`].
    pub task_id: Uuid,
    /// The canonical URL to fetch.
    pub url: String,
    /// Links followed from a seed to reach this page (seeds are 0).
    pub depth: u32,
    /// The crawl's rules.
    pub rules: Rules,
    /// Fetches of this task that failed transiently so far (retries).
    #[serde(default, skip_serializing_if = "is_zero")]
    pub attempt: u32,
}

fn is_zero(n: &u32) -> bool {
    *n == 0
}

fn is_zero_u64(n: &u64) -> bool {
    *n == 0
}

/// How a task ended.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Outcome {
    /// Fetched with status 200 and parsed.
    Done,
    /// Not fetched or not parsed; the result says why.
    Failed,
}

impl std::fmt::Display for Outcome {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(match self {
            Self::Done => "done",
            Self::Failed => "failed",
        })
    }
}

/// What one task produced: the value of its future, stored in Redis under its
/// task id and carried to the aggregator in a [`Completion`].
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct PageResult {
    /// The crawl the task belongs to.
    pub crawl_id: Uuid,
    /// The task's id.
    pub task_id: Uuid,
    /// The URL the task asked for.
    pub url: String,
    /// Where redirects ended, when they went elsewhere.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub final_url: Option<String>,
    /// The task's depth.
    pub depth: u32,
    /// Done or failed.
    pub outcome: Outcome,
    /// The HTTP status; `None` when no response came.
    pub status: Option<u16>,
    /// The text of `<title>`, trimmed.
    pub title: Option<String>,
    /// Sorted unique texts of the tag selector's elements.
    pub tags: Vec<String>,
    /// Sorted unique canonical links the link rule follows (at most
    /// [`crate::extract::MAX_LINKS_PER_PAGE`]).
    pub links: Vec<String>,
    /// Followed links the page held past that cap, not kept.
    #[serde(default, skip_serializing_if = "is_zero_u64")]
    pub links_dropped: u64,
    /// Matched tag elements not counted: text longer than
    /// [`crate::extract::MAX_TAG_BYTES`], or past [`crate::extract::MAX_TAGS_PER_PAGE`].
    #[serde(default, skip_serializing_if = "is_zero_u64")]
    pub tags_dropped: u64,
    /// Why the task failed.
    pub error: Option<String>,
    /// When the response was complete, in milliseconds since the Unix epoch.
    pub fetched_at_ms: u64,
    /// Time to fetch and parse, in milliseconds.
    pub elapsed_ms: u64,
    /// Fetches this result took, the last included (1 unless a transient
    /// failure was retried).
    #[serde(default = "one")]
    pub attempts: u32,
}

/// A finished task, sent from a worker to the aggregators.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Completion {
    /// Format version, [`MESSAGE_VERSION`].
    pub v: u32,
    /// The crawl's rules, to build child tasks.
    pub rules: Rules,
    /// The task's result.
    pub result: PageResult,
}

/// Completions of one crawl sent as one message: a worker batches the
/// completions that are ready at the same moment, so that under load one
/// broker message (and one confirm, one ack) carries many pages.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct CompletionBatch {
    /// Format version, [`MESSAGE_VERSION`].
    pub v: u32,
    /// The crawl every completion belongs to (lets `producer dlq` filter it).
    pub crawl_id: Uuid,
    /// The completions, each as it would travel alone.
    pub completions: Vec<Completion>,
}

/// Decodes a completion message: a [`CompletionBatch`], or one [`Completion`]
/// (as workers before batching sent them).
pub fn decode_completions(bytes: &[u8]) -> Result<Vec<Completion>, MessageError> {
    decode_batch_or_one(bytes, b"\"completions\":", |batch: CompletionBatch| {
        batch.completions
    })
}

/// Tasks of one crawl sent as one message: the aggregator publishes the new
/// tasks of a completion batch together, the producer its seeds, so that one
/// broker message (one confirm, one delivery, one ack) carries many tasks.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct TaskBatch {
    /// Format version, [`MESSAGE_VERSION`].
    pub v: u32,
    /// The crawl every task belongs to (lets `producer dlq` filter it).
    pub crawl_id: Uuid,
    /// The tasks, each as it would travel alone.
    pub tasks: Vec<Task>,
}

/// Decodes a task message: a [`TaskBatch`], or one [`Task`] (a retry, or a
/// task from a producer or aggregator before batching).
pub fn decode_tasks(bytes: &[u8]) -> Result<Vec<Task>, MessageError> {
    decode_batch_or_one(bytes, b"\"tasks\":", |batch: TaskBatch| batch.tasks)
}

/// Decodes a batch message, or else one item; a message that is neither is
/// reported as the kind it most looks like (a batch when it has `batch_key`).
fn decode_batch_or_one<B: Versioned, T: Versioned>(
    bytes: &[u8],
    batch_key: &[u8],
    items: impl FnOnce(B) -> Vec<T>,
) -> Result<Vec<T>, MessageError> {
    match decode::<B>(bytes) {
        // Each item is held to the version, as it would be alone.
        Ok(batch) => {
            let items = items(batch);
            match items.iter().find(|item| item.version() != MESSAGE_VERSION) {
                Some(item) => Err(MessageError::Version {
                    found: item.version(),
                }),
                None => Ok(items),
            }
        }
        Err(MessageError::Malformed(batch_error)) => match decode::<T>(bytes) {
            Ok(one) => Ok(vec![one]),
            Err(_) if bytes.windows(batch_key.len()).any(|w| w == batch_key) => {
                Err(MessageError::Malformed(batch_error))
            }
            Err(error) => Err(error),
        },
        Err(error) => Err(error),
    }
}

/// Items grouped by crawl, each group in the items' order, groups in order of
/// first appearance (batches are per crawl).
pub fn by_crawl<T>(
    items: impl IntoIterator<Item = T>,
    crawl_of: impl Fn(&T) -> Uuid,
) -> Vec<(Uuid, Vec<T>)> {
    let mut groups: Vec<(Uuid, Vec<T>)> = Vec::new();
    for item in items {
        let crawl_id = crawl_of(&item);
        match groups.iter_mut().find(|(id, _)| *id == crawl_id) {
            Some((_, same)) => same.push(item),
            None => groups.push((crawl_id, vec![item])),
        }
    }
    groups
}

/// The task id of `url` in `crawl_id`: a UUIDv5 in the crawl's namespace, so a
/// URL's task id is the same whoever derives it and however often.
pub fn task_id(crawl_id: Uuid, canonical_url: &str) -> Uuid {
    Uuid::new_v5(&crawl_id, canonical_url.as_bytes())
}

/// Serialises a message to JSON bytes.
pub fn encode<T: Serialize>(message: &T) -> Vec<u8> {
    // Serialising these plain structs to a Vec cannot fail: no maps with non-string keys.
    serde_json::to_vec(message).unwrap_or_default()
}

/// Decodes a message, refusing versions other than [`MESSAGE_VERSION`]. The
/// body is parsed once when it is well formed; only a malformed one is read a
/// second time, for its version alone.
pub fn decode<T: Versioned>(bytes: &[u8]) -> Result<T, MessageError> {
    #[derive(Deserialize)]
    struct Version {
        v: u32,
    }
    let checked = |found| match found {
        MESSAGE_VERSION => Ok(()),
        found => Err(MessageError::Version { found }),
    };
    match serde_json::from_slice::<T>(bytes) {
        Ok(message) => checked(message.version()).map(|()| message),
        Err(error) => match serde_json::from_slice::<Version>(bytes) {
            Ok(Version { v }) => checked(v).and(Err(error.into())),
            Err(_) => Err(error.into()),
        },
    }
}

/// A message with a format version field `v`.
pub trait Versioned: DeserializeOwned {
    /// The message's `v`.
    fn version(&self) -> u32;
}

macro_rules! versioned {
    ($($message:ty),*) => {
        $(impl Versioned for $message {
            fn version(&self) -> u32 {
                self.v
            }
        })*
    };
}

versioned!(Task, Completion, CompletionBatch, TaskBatch);

fn one() -> u32 {
    1
}

#[cfg(test)]
mod tests {
    use super::*;

    fn rules() -> Rules {
        Rules {
            tag_selector: DEFAULT_TAG_SELECTOR.into(),
            link_pattern: crate::links::DEFAULT_LINK_PATTERN.into(),
            allow_hosts: vec!["stackoverflow.com".into()],
            max_depth: Some(2),
            politeness: Default::default(),
        }
    }

    #[test]
    fn task_round_trips() {
        let crawl_id = Uuid::new_v4();
        let url = "https://stackoverflow.com/questions/1/a".to_owned();
        let task = Task {
            v: MESSAGE_VERSION,
            crawl_id,
            task_id: task_id(crawl_id, &url),
            url,
            depth: 1,
            rules: rules(),
            attempt: 2,
        };
        assert_eq!(decode::<Task>(&encode(&task)).unwrap(), task);
    }

    #[test]
    fn completion_round_trips() {
        let crawl_id = Uuid::new_v4();
        let completion = Completion {
            v: MESSAGE_VERSION,
            rules: rules(),
            result: PageResult {
                crawl_id,
                task_id: Uuid::new_v4(),
                url: "https://stackoverflow.com/questions/1/a".into(),
                final_url: None,
                depth: 0,
                outcome: Outcome::Failed,
                status: Some(404),
                title: None,
                tags: vec![],
                links: vec![],
                links_dropped: 0,
                tags_dropped: 0,
                error: Some("HTTP 404".into()),
                fetched_at_ms: 1,
                elapsed_ms: 2,
                attempts: 1,
            },
        };
        let json = String::from_utf8(encode(&completion)).unwrap();
        assert!(json.contains(r#""outcome":"failed""#), "{json}");
        assert_eq!(decode::<Completion>(json.as_bytes()).unwrap(), completion);
    }

    /// A completion of a page done, with a title, a tag and a link.
    fn done_completion(crawl_id: Uuid, task_id: Uuid) -> Completion {
        Completion {
            v: MESSAGE_VERSION,
            rules: rules(),
            result: PageResult {
                crawl_id,
                task_id,
                url: "https://stackoverflow.com/questions/1/a".into(),
                final_url: None,
                depth: 0,
                outcome: Outcome::Done,
                status: Some(200),
                title: Some("a".into()),
                tags: vec!["python".into()],
                links: vec!["https://stackoverflow.com/questions/2".into()],
                links_dropped: 0,
                tags_dropped: 0,
                error: None,
                fetched_at_ms: 1,
                elapsed_ms: 2,
                attempts: 1,
            },
        }
    }

    #[test]
    fn completions_decode_batched_or_alone() {
        let mut completion = done_completion(Uuid::new_v4(), Uuid::new_v4());
        let one = completion.clone();
        completion.result.task_id = Uuid::new_v4();
        let batch = CompletionBatch {
            v: MESSAGE_VERSION,
            crawl_id: one.result.crawl_id,
            completions: vec![one.clone(), completion.clone()],
        };
        assert_eq!(
            decode_completions(&encode(&batch)).unwrap(),
            [one.clone(), completion]
        );
        assert_eq!(decode_completions(&encode(&one)).unwrap(), [one]);
        let broken = br#"{"v":1,"crawl_id":"x","completions":[1]}"#;
        assert!(matches!(
            decode_completions(broken),
            Err(MessageError::Malformed(e)) if e.to_string().contains("UUID")
        ));
        assert!(matches!(
            decode_completions(br#"{"v":1,"rules":{}}"#),
            Err(MessageError::Malformed(e)) if e.to_string().contains("missing field")
        ));
        assert!(matches!(
            decode_completions(br#"{"v":2,"completions":[]}"#),
            Err(MessageError::Version { found: 2 })
        ));
    }

    #[test]
    fn tasks_decode_batched_or_alone() {
        let crawl_id = Uuid::new_v4();
        let task = |url: &str| Task {
            v: MESSAGE_VERSION,
            crawl_id,
            task_id: task_id(crawl_id, url),
            url: url.into(),
            depth: 1,
            rules: rules(),
            attempt: 0,
        };
        let (a, b) = (task("http://x/1"), task("http://x/2"));
        let batch = TaskBatch {
            v: MESSAGE_VERSION,
            crawl_id,
            tasks: vec![a.clone(), b.clone()],
        };
        assert_eq!(decode_tasks(&encode(&batch)).unwrap(), [a.clone(), b]);
        assert_eq!(decode_tasks(&encode(&a)).unwrap(), std::slice::from_ref(&a));
        assert!(matches!(
            decode_tasks(br#"{"v":1,"crawl_id":"x","tasks":[{}]}"#),
            Err(MessageError::Malformed(e)) if e.to_string().contains("UUID")
        ));
        assert!(matches!(
            decode_tasks(br#"{"v":3,"tasks":[]}"#),
            Err(MessageError::Version { found: 3 })
        ));
        // A task in a batch is held to the version as it would be alone.
        let newer = Task { v: 2, ..a.clone() };
        let mixed = TaskBatch {
            v: MESSAGE_VERSION,
            crawl_id,
            tasks: vec![a, newer.clone()],
        };
        assert!(matches!(
            decode::<Task>(&encode(&newer)),
            Err(MessageError::Version { found: 2 })
        ));
        assert!(matches!(
            decode_tasks(&encode(&mixed)),
            Err(MessageError::Version { found: 2 })
        ));
    }

    #[test]
    fn task_ids_are_deterministic_per_crawl_and_url() {
        let a = Uuid::new_v4();
        let b = Uuid::new_v4();
        assert_eq!(task_id(a, "http://x/1"), task_id(a, "http://x/1"));
        assert_ne!(task_id(a, "http://x/1"), task_id(a, "http://x/2"));
        assert_ne!(task_id(a, "http://x/1"), task_id(b, "http://x/1"));
    }

    #[test]
    fn bad_messages_are_refused_with_a_reason() {
        assert!(matches!(
            decode::<Task>(b"not json"),
            Err(MessageError::Malformed(_))
        ));
        assert!(matches!(
            decode::<Task>(br#"{"v":1}"#),
            Err(MessageError::Malformed(_))
        ));
        assert!(matches!(
            decode::<Task>(br#"{"v":99,"crawl_id":"x"}"#),
            Err(MessageError::Version { found: 99 })
        ));
        assert!(matches!(
            decode::<Task>(br#"{"v":"one"}"#),
            Err(MessageError::Malformed(_))
        ));
    }

    #[test]
    fn depth_limit() {
        let mut r = rules();
        assert!(r.expands(1));
        assert!(!r.expands(2));
        r.max_depth = None;
        assert!(r.expands(1000));
        r.max_depth = Some(0);
        assert!(!r.expands(0));
    }

    /// Fuzzing the decoders: any bytes (and valid messages with bytes
    /// flipped, cut or spliced) decode or give an error; none panics, and
    /// whatever decodes encodes back to something that decodes the same.
    mod fuzz {
        use proptest::prelude::*;

        use super::*;

        fn valid_messages() -> Vec<Vec<u8>> {
            let crawl_id = Uuid::new_v4();
            let url = "https://stackoverflow.com/questions/1/a".to_owned();
            let task = Task {
                v: MESSAGE_VERSION,
                crawl_id,
                task_id: task_id(crawl_id, &url),
                url: url.clone(),
                depth: 1,
                rules: rules(),
                attempt: 0,
            };
            let batch = TaskBatch {
                v: MESSAGE_VERSION,
                crawl_id,
                tasks: vec![task.clone(), task.clone()],
            };
            let mut completion = done_completion(crawl_id, task.task_id);
            completion.result.links_dropped = 3;
            completion.result.tags_dropped = 1;
            let completions = CompletionBatch {
                v: MESSAGE_VERSION,
                crawl_id,
                completions: vec![completion.clone()],
            };
            vec![
                encode(&task),
                encode(&batch),
                encode(&completion),
                encode(&completions),
            ]
        }

        /// A valid message damaged: bytes replaced, a cut, a splice of another.
        fn damaged() -> impl Strategy<Value = Vec<u8>> {
            let messages = valid_messages();
            (
                0..messages.len(),
                proptest::collection::vec((any::<prop::sample::Index>(), any::<u8>()), 0..6),
                any::<prop::sample::Index>(),
                any::<bool>(),
            )
                .prop_map(move |(which, flips, cut, splice)| {
                    let mut bytes = messages[which].clone();
                    for (at, byte) in flips {
                        let i = at.index(bytes.len());
                        bytes[i] = byte;
                    }
                    if splice {
                        let other = &messages[(which + 1) % messages.len()];
                        let i = cut.index(bytes.len());
                        bytes.truncate(i);
                        bytes.extend_from_slice(&other[cut.index(other.len())..]);
                    }
                    bytes
                })
        }

        fn decodes_consistently(bytes: &[u8]) -> Result<(), TestCaseError> {
            if let Ok(tasks) = decode_tasks(bytes) {
                for task in tasks {
                    prop_assert_eq!(decode::<Task>(&encode(&task)).ok(), Some(task));
                }
            }
            if let Ok(completions) = decode_completions(bytes) {
                for completion in completions {
                    prop_assert_eq!(
                        decode::<Completion>(&encode(&completion)).ok(),
                        Some(completion)
                    );
                }
            }
            Ok(())
        }

        proptest! {
            #![proptest_config(ProptestConfig { cases: 2000, ..ProptestConfig::default() })]

            #[test]
            fn any_bytes_decode_or_fail_cleanly(bytes in proptest::collection::vec(any::<u8>(), 0..512)) {
                decodes_consistently(&bytes)?;
            }

            #[test]
            fn damaged_messages_decode_or_fail_cleanly(bytes in damaged()) {
                decodes_consistently(&bytes)?;
            }
        }
    }
}
