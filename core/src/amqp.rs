//! The transport on RabbitMQ (lapin): durable quorum queues with a delivery
//! limit and a dead-letter queue, persistent messages, publisher confirms,
//! manual acks and a prefetch per consumer.
//!
//! The connection heals itself: when RabbitMQ goes away (a restart, a network
//! cut detected by heartbeats), the next publish or consume reconnects with
//! backoff, redeclares the queues and re-applies the prefetch. Deliveries of
//! the old connection are never acked on the new one: their ackers belong to
//! the dead channel, and the broker redelivers them.

use crate::retry::{Policy, retry};
use std::sync::Arc;
use std::time::Duration;

use async_trait::async_trait;
use futures_util::StreamExt;
use lapin::options::{
    BasicAckOptions, BasicConsumeOptions, BasicGetOptions, BasicNackOptions, BasicPublishOptions,
    BasicQosOptions, BasicRejectOptions, ConfirmSelectOptions, QueueDeclareOptions,
};
use lapin::types::{AMQPValue, FieldTable, LongString, ShortString};
use lapin::uri::AMQPUri;
use lapin::{BasicProperties, Channel, Confirmation, Connection, ConnectionProperties};
use tokio::sync::Mutex;
use tracing::{info, warn};

use crate::names::QueueNames;
use crate::transport::{
    Acker, DeadLetter, Deliveries, Delivery, Queue, Transport, TransportError, crawl_id_of,
};

/// How long to wait for RabbitMQ to accept one connection attempt.
pub const CONNECT_TIMEOUT: Duration = Duration::from_secs(10);

/// AMQP heartbeat, so a silently dead connection is noticed within two intervals.
pub const HEARTBEAT_SECS: u16 = 10;

/// Deliveries of one message before RabbitMQ dead-letters it instead: enough
/// that consumers dying while holding it (a crash, a kill) do not make it
/// poison, few enough that a message that breaks every consumer stops.
pub const DELIVERY_LIMIT: i64 = 20;

/// AMQP delivery mode for messages that survive a broker restart.
const PERSISTENT: u8 = 2;
/// Header carrying why a message was dead-lettered by crawlq.
const REASON_HEADER: &str = "x-crawlq-reason";
/// Header carrying the queue a dead-lettered message came from.
const QUEUE_HEADER: &str = "x-crawlq-queue";

/// One live connection and its confirming publisher channel.
struct Live {
    connection: Connection,
    publisher: Channel,
}

impl Live {
    fn healthy(&self) -> bool {
        self.connection.status().connected() && self.publisher.status().connected()
    }
}

/// A self-healing connection to RabbitMQ with the crawlq queues declared.
pub struct Amqp {
    uri: AMQPUri,
    url: String,
    names: QueueNames,
    live: Mutex<Option<Arc<Live>>>,
}

impl Amqp {
    /// Connects once (failing fast, so a wrong URL is reported at start-up),
    /// declares the queues and opens a confirming publisher channel.
    pub async fn connect(url: &str, names: QueueNames) -> Result<Self, TransportError> {
        let mut uri: AMQPUri =
            url.parse()
                .map_err(|reason: String| TransportError::Unreachable {
                    url: redact(url),
                    reason: format!("not an AMQP URL ({reason})"),
                })?;
        uri.query.heartbeat.get_or_insert(HEARTBEAT_SECS);
        let amqp = Self {
            uri,
            url: redact(url),
            names,
            live: Mutex::new(None),
        };
        let live = amqp.open().await?;
        *amqp.live.lock().await = Some(Arc::new(live));
        Ok(amqp)
    }

    /// Closes the connection; unacknowledged deliveries go back to their queues.
    pub async fn close(&self) {
        if let Some(live) = self.live.lock().await.take() {
            let _ = live.connection.close(200, "bye".into()).await;
        }
    }

    /// One connection attempt: connect, declare, enable confirms.
    async fn open(&self) -> Result<Live, TransportError> {
        let unreachable = |reason: String| TransportError::Unreachable {
            url: self.url.clone(),
            reason,
        };
        let properties = ConnectionProperties::default()
            .with_connection_name(format!("crawlq-{}", std::process::id()).into());
        let connection = tokio::time::timeout(
            CONNECT_TIMEOUT,
            Connection::connect_uri(self.uri.clone(), properties),
        )
        .await
        .map_err(|_| unreachable(format!("no answer in {}s", CONNECT_TIMEOUT.as_secs())))?
        .map_err(|e| unreachable(e.to_string()))?;
        let publisher = connection.create_channel().await.map_err(broker)?;
        declare(&publisher, &self.names).await?;
        publisher
            .confirm_select(ConfirmSelectOptions::default())
            .await
            .map_err(broker)?;
        Ok(Live {
            connection,
            publisher,
        })
    }

    /// The live connection, reconnecting as [`Policy::RECONNECT`] says.
    async fn live(&self) -> Result<Arc<Live>, TransportError> {
        let mut guard = self.live.lock().await;
        if let Some(live) = guard.as_ref().filter(|l| l.healthy()) {
            return Ok(live.clone());
        }
        if guard.is_some() {
            crate::telemetry::reconnect("rabbitmq");
        }
        let live = Arc::new(retry(Policy::RECONNECT, "connect to RabbitMQ", || self.open()).await?);
        info!(url = %self.url, "connected to RabbitMQ");
        *guard = Some(live.clone());
        Ok(live)
    }

    /// Whether the connection is up now (for `/readyz`); a lost one is made
    /// again by the next publish or consumer, not here.
    pub async fn ping(&self) -> Result<(), TransportError> {
        match self.live.lock().await.as_ref() {
            Some(live) if live.healthy() => Ok(()),
            _ => Err(TransportError::Unreachable {
                url: self.url.clone(),
                reason: "the connection is down: reconnecting".into(),
            }),
        }
    }

    fn queue_name(&self, queue: Queue) -> &str {
        match queue {
            Queue::Tasks => &self.names.tasks,
            Queue::Completions => &self.names.completions,
        }
    }

    async fn publish_once(
        &self,
        live: &Live,
        routing_key: &str,
        payloads: &[Vec<u8>],
        headers: &FieldTable,
    ) -> Result<(), TransportError> {
        let properties = BasicProperties::default()
            .with_delivery_mode(PERSISTENT)
            .with_content_type("application/json".into())
            .with_headers(headers.clone());
        let mut confirms = Vec::with_capacity(payloads.len());
        for payload in payloads {
            let confirm = live
                .publisher
                .basic_publish(
                    ShortString::from(""),
                    routing_key.into(),
                    BasicPublishOptions::default(),
                    payload,
                    properties.clone(),
                )
                .await
                .map_err(broker)?;
            confirms.push(confirm);
        }
        for confirm in confirms {
            match confirm.await.map_err(broker)? {
                Confirmation::Ack(_) => {}
                Confirmation::Nack(_) | Confirmation::NotRequested => {
                    return Err(TransportError::Nacked {
                        queue: routing_key.to_owned(),
                    });
                }
            }
        }
        Ok(())
    }

    /// Publishes to a queue by name, reconnecting once if the connection broke.
    /// A message may be published twice; every consumer is idempotent.
    async fn publish_to(
        &self,
        routing_key: &str,
        payloads: &[Vec<u8>],
        headers: &FieldTable,
    ) -> Result<(), TransportError> {
        let live = self.live().await?;
        match self
            .publish_once(&live, routing_key, payloads, headers)
            .await
        {
            Err(error @ (TransportError::Broker(_) | TransportError::Amqp(_))) => {
                warn!(%error, "publish failed: reconnecting");
                let live = self.live().await?;
                self.publish_once(&live, routing_key, payloads, headers)
                    .await
            }
            other => other,
        }
    }

    /// Lists the dead-letter queue (messages of `crawl` only, when given) and,
    /// with `requeue`, moves each listed one back to the queue it came from,
    /// once. Only the messages there when the listing starts are read: one
    /// that fails again and comes back while it runs waits for the next
    /// listing (it is not read, requeued and read again in a loop). Messages
    /// not moved stay on the dead-letter queue.
    pub async fn dead_letters(
        &self,
        crawl: Option<uuid::Uuid>,
        requeue: bool,
    ) -> Result<Vec<DeadLetter>, TransportError> {
        let live = self.live().await?;
        let channel = live.connection.create_channel().await.map_err(broker)?;
        let waiting = count(&channel, &self.names.dead).await?;
        let mut listed = Vec::new();
        let mut keep = Vec::new();
        for _ in 0..waiting {
            let Some(message) = channel
                .basic_get(self.names.dead.as_str().into(), BasicGetOptions::default())
                .await
                .map_err(broker)?
            else {
                break;
            };
            let delivery = message.delivery;
            let mut letter = describe(&delivery.data, delivery.properties.headers().as_ref());
            if crawl.is_some() && letter.crawl_id != crawl {
                keep.push(delivery.acker);
                continue;
            }
            match (requeue, letter.queue) {
                (true, Some(queue)) => {
                    self.publish_to(
                        self.queue_name(queue),
                        std::slice::from_ref(&delivery.data),
                        &FieldTable::default(),
                    )
                    .await?;
                    let acked = delivery.acker.ack(BasicAckOptions::default()).await;
                    acked.map_err(broker)?;
                    letter.requeued = true;
                }
                _ => keep.push(delivery.acker),
            }
            listed.push(letter);
        }
        // Give back what stays, all at once, after the queue was read through.
        let give_back = BasicNackOptions {
            requeue: true,
            ..BasicNackOptions::default()
        };
        for acker in keep {
            acker.nack(give_back).await.map_err(broker)?;
        }
        let _ = channel.close(200, "done".into()).await;
        Ok(listed)
    }

    /// Messages ready in the task, completion and dead-letter queues now
    /// (not counting those delivered and not yet acknowledged).
    pub async fn depths(&self) -> Result<QueueDepths, TransportError> {
        let live = self.live().await?;
        let channel = live.connection.create_channel().await.map_err(broker)?;
        let depths = QueueDepths {
            tasks: count(&channel, &self.names.tasks).await?,
            completions: count(&channel, &self.names.completions).await?,
            dead: count(&channel, &self.names.dead).await?,
        };
        let _ = channel.close(200, "bye".into()).await;
        Ok(depths)
    }
}

/// Messages waiting in each of a deployment's queues.
#[derive(Debug, Clone, Copy, serde::Serialize)]
pub struct QueueDepths {
    /// Tasks waiting for a worker.
    pub tasks: u32,
    /// Completions waiting for an aggregator.
    pub completions: u32,
    /// Dead-lettered messages.
    pub dead: u32,
}

/// The messages ready in `queue` (a passive declare: it is not created).
async fn count(channel: &Channel, queue: &str) -> Result<u32, TransportError> {
    let passive = QueueDeclareOptions {
        passive: true,
        ..QueueDeclareOptions::default()
    };
    let declared = channel
        .queue_declare(queue.into(), passive, FieldTable::default())
        .await
        .map_err(broker)?;
    Ok(declared.message_count())
}

#[async_trait]
impl Transport for Amqp {
    async fn publish(&self, queue: Queue, payloads: Vec<Vec<u8>>) -> Result<(), TransportError> {
        self.publish_to(self.queue_name(queue), &payloads, &FieldTable::default())
            .await
    }

    async fn consume(&self, queue: Queue, prefetch: u16) -> Result<Deliveries, TransportError> {
        let live = self.live().await?;
        let channel = live.connection.create_channel().await.map_err(broker)?;
        channel
            .basic_qos(prefetch, BasicQosOptions::default())
            .await
            .map_err(broker)?;
        let consumer = channel
            .basic_consume(
                self.queue_name(queue).into(),
                ShortString::from(""),
                BasicConsumeOptions::default(),
                FieldTable::default(),
            )
            .await
            .map_err(broker)?;
        let deliveries = consumer.map(move |item| {
            // The channel lives as long as the stream: dropping it closes the channel
            // and returns unacknowledged deliveries to the queue.
            let _keep = &channel;
            item.map(|d| Delivery {
                data: d.data,
                redelivered: d.redelivered,
                acker: Box::new(LapinAcker(d.acker)),
            })
            .map_err(broker)
        });
        Ok(deliveries.boxed())
    }

    async fn publish_delayed(
        &self,
        payload: Vec<u8>,
        delay: Duration,
    ) -> Result<(), TransportError> {
        // The shortest delay queue that waits at least `delay`; the message's own
        // expiration trims the wait to `delay` (messages expire in queue order, so
        // one may wait a little longer behind another).
        let delay_ms = delay.as_millis() as u64;
        let Some((secs, queue)) = self
            .names
            .delays
            .iter()
            .find(|(secs, _)| secs * 1000 >= delay_ms)
            .or(self.names.delays.last())
        else {
            return self.publish(Queue::Tasks, vec![payload]).await;
        };
        let expiration = delay_ms.min(secs * 1000).to_string();
        let live = self.live().await?;
        let properties = BasicProperties::default()
            .with_delivery_mode(PERSISTENT)
            .with_content_type("application/json".into())
            .with_expiration(expiration.as_str().into());
        let confirm = live
            .publisher
            .basic_publish(
                ShortString::from(""),
                queue.as_str().into(),
                BasicPublishOptions::default(),
                &payload,
                properties,
            )
            .await
            .map_err(broker)?;
        match confirm.await.map_err(broker)? {
            Confirmation::Ack(_) => Ok(()),
            _ => Err(TransportError::Nacked {
                queue: queue.clone(),
            }),
        }
    }

    async fn dead_letter(
        &self,
        from: Queue,
        data: Vec<u8>,
        reason: String,
    ) -> Result<(), TransportError> {
        let mut headers = FieldTable::default();
        headers.insert(REASON_HEADER.into(), string(&reason));
        let from = match from {
            Queue::Tasks => "tasks",
            Queue::Completions => "completions",
        };
        headers.insert(QUEUE_HEADER.into(), string(from));
        let dead = self.names.dead.clone();
        self.publish_to(&dead, &[data], &headers).await
    }
}

/// What a dead letter is: from crawlq's headers, else RabbitMQ's own
/// (`x-first-death-reason`, e.g. `delivery_limit` or `rejected`).
fn describe(data: &[u8], headers: Option<&FieldTable>) -> DeadLetter {
    let header = |name: &str| -> Option<String> {
        match headers?.inner().get(name)? {
            AMQPValue::LongString(s) => Some(String::from_utf8_lossy(s.as_bytes()).into_owned()),
            AMQPValue::ShortString(s) => Some(s.as_str().to_owned()),
            _ => None,
        }
    };
    let queue_of = |name: &str| {
        if name == "tasks" || name.ends_with(".tasks") {
            Some(Queue::Tasks)
        } else if name == "completions" || name.ends_with(".completions") {
            Some(Queue::Completions)
        } else {
            None
        }
    };
    let reason = header(REASON_HEADER)
        .or_else(|| {
            header("x-first-death-reason").map(|r| format!("dead-lettered by RabbitMQ: {r}"))
        })
        .unwrap_or_else(|| "unknown".into());
    let queue = header(QUEUE_HEADER)
        .or_else(|| header("x-first-death-queue"))
        .and_then(|q| queue_of(&q));
    DeadLetter {
        queue,
        reason,
        crawl_id: crawl_id_of(data),
        body: String::from_utf8_lossy(data).into_owned(),
        requeued: false,
    }
}

struct LapinAcker(lapin::Acker);

#[async_trait]
impl Acker for LapinAcker {
    async fn ack(&self) -> Result<(), TransportError> {
        let sent = self
            .0
            .ack(BasicAckOptions::default())
            .await
            .map_err(broker)?;
        stale_unless(sent)
    }

    async fn reject(&self, requeue: bool) -> Result<(), TransportError> {
        let sent = self
            .0
            .reject(BasicRejectOptions { requeue })
            .await
            .map_err(broker)?;
        stale_unless(sent)
    }
}

/// lapin answers `false` for an acker whose channel is gone: the broker will
/// redeliver the message, so say so rather than pretend it was acknowledged.
fn stale_unless(sent: bool) -> Result<(), TransportError> {
    if sent {
        Ok(())
    } else {
        Err(TransportError::Broker(
            "the delivery's channel is closed; the broker redelivers it".into(),
        ))
    }
}

/// Declares the dead-letter queue and the two work queues, which dead-letter
/// into it after [`DELIVERY_LIMIT`] deliveries or a reject without requeue.
async fn declare(channel: &Channel, names: &QueueNames) -> Result<(), TransportError> {
    let durable = QueueDeclareOptions {
        durable: true,
        ..QueueDeclareOptions::default()
    };
    let mut dead_args = FieldTable::default();
    dead_args.insert("x-queue-type".into(), string("quorum"));
    channel
        .queue_declare(names.dead.as_str().into(), durable, dead_args)
        .await
        .map_err(broker)?;
    for queue in [&names.tasks, &names.completions] {
        let mut args = FieldTable::default();
        args.insert("x-queue-type".into(), string("quorum"));
        args.insert(
            "x-delivery-limit".into(),
            AMQPValue::LongLongInt(DELIVERY_LIMIT),
        );
        args.insert("x-dead-letter-exchange".into(), string(""));
        args.insert("x-dead-letter-routing-key".into(), string(&names.dead));
        channel
            .queue_declare(queue.as_str().into(), durable, args)
            .await
            .map_err(broker)?;
    }
    for (secs, queue) in &names.delays {
        let mut args = FieldTable::default();
        args.insert("x-queue-type".into(), string("classic"));
        args.insert(
            "x-message-ttl".into(),
            AMQPValue::LongLongInt((*secs * 1000) as i64),
        );
        args.insert("x-dead-letter-exchange".into(), string(""));
        args.insert("x-dead-letter-routing-key".into(), string(&names.tasks));
        channel
            .queue_declare(queue.as_str().into(), durable, args)
            .await
            .map_err(broker)?;
    }
    Ok(())
}

fn string(value: &str) -> AMQPValue {
    AMQPValue::LongString(LongString::from(value.as_bytes().to_vec()))
}

fn broker(error: lapin::Error) -> TransportError {
    TransportError::Amqp(error)
}

/// The URL without its password, for messages and logs. A URL that does not
/// parse loses everything between `://` and the last `@` of its authority.
pub fn redact(url: &str) -> String {
    match url::Url::parse(url) {
        Ok(mut parsed) if parsed.password().is_some() => {
            let _ = parsed.set_password(Some("***"));
            parsed.to_string()
        }
        Ok(_) => url.to_owned(),
        Err(_) => {
            let Some((scheme, rest)) = url.split_once("://") else {
                return url.to_owned();
            };
            let authority_end = rest.find('/').unwrap_or(rest.len());
            match rest[..authority_end].rfind('@') {
                Some(at) => format!("{scheme}://***{}", &rest[at..]),
                None => url.to_owned(),
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::redact;

    #[test]
    fn passwords_never_reach_messages() {
        assert_eq!(
            redact("amqp://user:s3cret@rabbit:5672/%2f"),
            "amqp://user:***@rabbit:5672/%2f"
        );
        assert_eq!(
            redact("redis://:s3cret@redis:6379/"),
            "redis://:***@redis:6379/"
        );
        assert_eq!(redact("redis://127.0.0.1:6379/"), "redis://127.0.0.1:6379/");
        let broken = redact("amqp://user:s3c ret@[bad:5672/x");
        assert!(!broken.contains("s3c"), "{broken}");
    }
}
