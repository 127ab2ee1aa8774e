//! What every binary's `main` shares: the connection flags (whose env names
//! match docker-compose.yml), logging set-up and the shutdown signal.

use clap::Args;
use tracing_subscriber::EnvFilter;

/// Where RabbitMQ and Redis are, and the names this deployment uses in them.
/// Global: they may come before or after the subcommand.
#[derive(Debug, Clone, Args)]
#[command(next_help_heading = "Connection")]
pub struct ConnectArgs {
    /// RabbitMQ URL (its value from the environment is never shown: it may hold a password).
    #[arg(
        long,
        global = true,
        env = "AMQP_URL",
        hide_env_values = true,
        default_value = "amqp://guest:guest@127.0.0.1:5672/%2f"
    )]
    pub amqp_url: String,
    /// Redis URL (its value from the environment is never shown).
    #[arg(
        long,
        global = true,
        env = "REDIS_URL",
        hide_env_values = true,
        default_value = "redis://127.0.0.1:6379/"
    )]
    pub redis_url: String,
    /// Prefix of the queue names: `{prefix}.tasks`, `{prefix}.completions`, `{prefix}.dead`.
    #[arg(
        long,
        global = true,
        env = "CRAWLQ_QUEUE_PREFIX",
        default_value = "crawlq"
    )]
    pub queue_prefix: String,
    /// Prefix of every Redis key.
    #[arg(
        long,
        global = true,
        env = "CRAWLQ_KEY_PREFIX",
        default_value = "crawlq"
    )]
    pub key_prefix: String,
}

/// How log lines are written.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, clap::ValueEnum)]
pub enum LogFormat {
    /// One human-readable line per event (coloured only on a terminal).
    #[default]
    Text,
    /// One JSON object per line, for log collectors.
    Json,
}

/// Logging flags every binary takes.
#[derive(Debug, Clone, Args)]
#[command(next_help_heading = "Logging")]
pub struct LogArgs {
    /// Log line format on stderr (RUST_LOG sets the level, e.g. info or debug).
    #[arg(long, global = true, env = "LOG_FORMAT", value_enum, default_value_t = LogFormat::Text)]
    pub log_format: LogFormat,
}

/// Logs to stderr in `format`; `RUST_LOG` overrides `default_filter` (e.g.
/// `info`). Colours only when stderr is a terminal.
pub fn init_tracing(default_filter: &str, format: LogFormat) {
    use std::io::IsTerminal as _;
    let filter =
        EnvFilter::try_from_default_env().unwrap_or_else(|_| EnvFilter::new(default_filter));
    let builder = tracing_subscriber::fmt()
        .with_env_filter(filter)
        .with_writer(std::io::stderr);
    match format {
        LogFormat::Text => builder.with_ansi(std::io::stderr().is_terminal()).init(),
        LogFormat::Json => builder.json().with_ansi(false).init(),
    }
}

/// Resolves on the first SIGINT (Ctrl-C) or SIGTERM (docker stop).
pub async fn shutdown_signal() {
    let ctrl_c = tokio::signal::ctrl_c();
    #[cfg(unix)]
    {
        use tokio::signal::unix::{SignalKind, signal};
        match signal(SignalKind::terminate()) {
            Ok(mut term) => {
                tokio::select! {
                    _ = ctrl_c => {}
                    _ = term.recv() => {}
                }
            }
            Err(_) => {
                let _ = ctrl_c.await;
            }
        }
    }
    #[cfg(not(unix))]
    {
        let _ = ctrl_c.await;
    }
}

/// An error and its causes on one line (`a: b: c`), for a terminal or a log
/// line. This is anyhow's `{:#}` with two differences a reader sees: a cause
/// whose text the line already ends with is not said twice (our errors, like
/// lapin's and redis's, show their source in their own message and also
/// return it from `source()`, so logs of the error alone are complete), and
/// line breaks inside a cause become spaces.
pub fn one_line(error: &anyhow::Error) -> String {
    let mut line = String::new();
    for cause in error.chain() {
        let text = cause.to_string();
        if line.ends_with(&text) {
            continue;
        }
        if !line.is_empty() {
            line.push_str(": ");
        }
        line.push_str(&text);
    }
    line.replace(['\n', '\r'], " ")
}

/// Connects to Redis, then RabbitMQ, as `args` say.
pub async fn connect(
    args: &ConnectArgs,
) -> anyhow::Result<(
    std::sync::Arc<crate::redis::RedisStore>,
    std::sync::Arc<crate::amqp::Amqp>,
)> {
    let store = crate::redis::RedisStore::connect(&args.redis_url, &args.key_prefix).await?;
    let names = crate::names::QueueNames::new(&args.queue_prefix);
    let amqp = crate::amqp::Amqp::connect(&args.amqp_url, names).await?;
    Ok((std::sync::Arc::new(store), std::sync::Arc::new(amqp)))
}

/// Connects like [`connect`], but waits for RabbitMQ and Redis to come up
/// (retrying as [`crate::retry::Policy::RECONNECT`] says): a service
/// started before, or restarted during an outage of, its dependencies.
/// Returns `None` when `shutdown` comes first.
#[allow(clippy::type_complexity)]
pub async fn connect_patiently(
    args: &ConnectArgs,
    shutdown: &tokio_util::sync::CancellationToken,
) -> anyhow::Result<
    Option<(
        std::sync::Arc<crate::redis::RedisStore>,
        std::sync::Arc<crate::amqp::Amqp>,
    )>,
> {
    let mut waits = crate::retry::Policy::RECONNECT.waits();
    loop {
        let attempt = tokio::select! {
            () = shutdown.cancelled() => return Ok(None),
            attempt = connect(args) => attempt,
        };
        let error = match attempt {
            Ok(connected) => return Ok(Some(connected)),
            Err(error) => error,
        };
        let Some(wait) = waits.next() else {
            return Err(error);
        };
        tracing::warn!(error = %one_line(&error), retry_in_ms = wait.as_millis() as u64, "dependencies not reachable yet: retrying");
        tokio::select! {
            () = shutdown.cancelled() => return Ok(None),
            () = tokio::time::sleep(wait) => {}
        }
    }
}

/// Runs a long-lived service: `body` gets a token cancelled on SIGINT or
/// SIGTERM; its error is printed on one line and becomes exit code 1.
pub async fn serve_until_signal<F, Fut>(name: &str, body: F) -> std::process::ExitCode
where
    F: FnOnce(tokio_util::sync::CancellationToken) -> Fut,
    Fut: std::future::Future<Output = anyhow::Result<()>>,
{
    let shutdown = tokio_util::sync::CancellationToken::new();
    tokio::spawn({
        let shutdown = shutdown.clone();
        async move {
            shutdown_signal().await;
            tracing::info!("shutdown requested");
            shutdown.cancel();
        }
    });
    match body(shutdown).await {
        Ok(()) => std::process::ExitCode::SUCCESS,
        Err(error) => {
            eprintln!("{name}: error: {}", one_line(&error));
            std::process::ExitCode::FAILURE
        }
    }
}

/// Runs a worker or an aggregator: waits for RabbitMQ and Redis, runs
/// `service` until SIGINT or SIGTERM, closes the connection; an error is one
/// line on stderr and exit code 1.
pub async fn run_service<F, Fut>(
    name: &str,
    args: &ConnectArgs,
    service: F,
) -> std::process::ExitCode
where
    F: FnOnce(
        std::sync::Arc<dyn crate::transport::Transport>,
        std::sync::Arc<dyn crate::store::Store>,
        tokio_util::sync::CancellationToken,
    ) -> Fut,
    Fut: std::future::Future<Output = anyhow::Result<()>>,
{
    serve_until_signal(name, |shutdown| async move {
        let Some((store, amqp)) = connect_patiently(args, &shutdown).await? else {
            return Ok(());
        };
        let outcome = service(amqp.clone(), store, shutdown).await;
        amqp.close().await;
        outcome
    })
    .await
}
