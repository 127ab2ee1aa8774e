//! The transport on RabbitMQ (lapin): durable quorum queues with a delivery
//! limit and a dead-letter queue, persistent messages, publisher confirms,
//! manual acks and a prefetch per consumer.

use std::time::Duration;

use async_trait::async_trait;
use futures_util::StreamExt;
use lapin::Confirmation;
use lapin::options::{
    BasicAckOptions, BasicConsumeOptions, BasicPublishOptions, BasicQosOptions, BasicRejectOptions,
    ConfirmSelectOptions, QueueDeclareOptions,
};
use lapin::types::{AMQPValue, FieldTable, LongString, ShortString};
use lapin::{BasicProperties, Channel, Connection, ConnectionProperties};

use crate::names::QueueNames;
use crate::transport::{Acker, Deliveries, Delivery, Queue, Transport, TransportError};

/// How long to wait for RabbitMQ to accept a connection.
pub const CONNECT_TIMEOUT: Duration = Duration::from_secs(10);

/// Deliveries of one message before RabbitMQ dead-letters it instead.
pub const DELIVERY_LIMIT: i64 = 5;

/// AMQP delivery mode for messages that survive a broker restart.
const PERSISTENT: u8 = 2;

/// A connection to RabbitMQ with the crawlq queues declared.
pub struct Amqp {
    connection: Connection,
    publisher: Channel,
    names: QueueNames,
}

impl Amqp {
    /// Connects, declares the queues (idempotently) and opens a confirming publisher channel.
    pub async fn connect(url: &str, names: QueueNames) -> Result<Self, TransportError> {
        let unreachable = |reason: String| TransportError::Unreachable {
            url: redact(url),
            reason,
        };
        let properties = ConnectionProperties::default()
            .with_connection_name(format!("crawlq-{}", std::process::id()).into());
        let connection =
            tokio::time::timeout(CONNECT_TIMEOUT, Connection::connect(url, properties))
                .await
                .map_err(|_| unreachable(format!("no answer in {}s", CONNECT_TIMEOUT.as_secs())))?
                .map_err(|e| unreachable(e.to_string()))?;
        let publisher = connection.create_channel().await.map_err(broker)?;
        declare(&publisher, &names).await?;
        publisher
            .confirm_select(ConfirmSelectOptions::default())
            .await
            .map_err(broker)?;
        Ok(Self {
            connection,
            publisher,
            names,
        })
    }

    /// Closes the connection; unacknowledged deliveries go back to their queues.
    pub async fn close(&self) {
        let _ = self.connection.close(200, "bye".into()).await;
    }

    fn queue_name(&self, queue: Queue) -> &str {
        match queue {
            Queue::Tasks => &self.names.tasks,
            Queue::Completions => &self.names.completions,
        }
    }
}

#[async_trait]
impl Transport for Amqp {
    async fn publish(&self, queue: Queue, payloads: Vec<Vec<u8>>) -> Result<(), TransportError> {
        let name = self.queue_name(queue);
        let properties = BasicProperties::default()
            .with_delivery_mode(PERSISTENT)
            .with_content_type("application/json".into());
        let mut confirms = Vec::with_capacity(payloads.len());
        for payload in &payloads {
            let confirm = self
                .publisher
                .basic_publish(
                    ShortString::from(""),
                    name.into(),
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
                        queue: name.to_owned(),
                    });
                }
            }
        }
        Ok(())
    }

    async fn consume(&self, queue: Queue, prefetch: u16) -> Result<Deliveries, TransportError> {
        let channel = self.connection.create_channel().await.map_err(broker)?;
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
}

struct LapinAcker(lapin::Acker);

#[async_trait]
impl Acker for LapinAcker {
    async fn ack(&self) -> Result<(), TransportError> {
        self.0
            .ack(BasicAckOptions::default())
            .await
            .map(drop)
            .map_err(broker)
    }

    async fn reject(&self, requeue: bool) -> Result<(), TransportError> {
        self.0
            .reject(BasicRejectOptions { requeue })
            .await
            .map(drop)
            .map_err(broker)
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
    Ok(())
}

fn string(value: &str) -> AMQPValue {
    AMQPValue::LongString(LongString::from(value.as_bytes().to_vec()))
}

fn broker(error: lapin::Error) -> TransportError {
    TransportError::Broker(error.to_string())
}

/// The URL without its password, for messages.
pub fn redact(url: &str) -> String {
    match url::Url::parse(url) {
        Ok(mut parsed) if parsed.password().is_some() => {
            let _ = parsed.set_password(Some("***"));
            parsed.to_string()
        }
        _ => url.to_owned(),
    }
}
