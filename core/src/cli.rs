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

/// A duration as every crawlq flag takes one: plain seconds (`90`) or
/// humantime (`250ms`, `30s`, `10m`, `7d`).
pub fn parse_duration(text: &str) -> Result<std::time::Duration, String> {
    let text = text.trim();
    if let Ok(seconds) = text.parse::<u64>() {
        return Ok(std::time::Duration::from_secs(seconds));
    }
    humantime::parse_duration(text)
        .map_err(|e| format!("{e}: give a duration such as 90 (seconds), 30s, 10m or 7d"))
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

/// A clap usage error on one line, without colours or control characters:
/// what is wrong, then where to read more.
pub fn usage_line(error: &clap::Error) -> String {
    let rendered = error.render().to_string();
    let mut lines = rendered.lines().map(str::trim).filter(|l| !l.is_empty());
    let mut first = lines
        .next()
        .unwrap_or("invalid arguments")
        .trim_start_matches("error: ")
        .to_owned();
    let mut tip = String::new();
    for line in lines {
        if line.starts_with("Usage:") || line.starts_with("For more information") {
            break;
        }
        if line.starts_with("tip:") {
            tip = format!("; {line}");
        } else if first.ends_with(':') || first.ends_with(',') {
            first = format!("{first} {line}");
        }
    }
    crate::display::printable(&format!("{first}{tip} (see --help)")).into_owned()
}

/// What a binary does with a clap error: help and version are printed as
/// clap prints them (exit 0; help for a missing subcommand exits 2); a usage
/// error is one line on stderr, `NAME: error: ...` (exit 2).
pub fn usage_exit(name: &str, error: &clap::Error) -> std::process::ExitCode {
    use clap::error::ErrorKind;
    match error.kind() {
        ErrorKind::DisplayHelp | ErrorKind::DisplayVersion => {
            let _ = error.print();
            std::process::ExitCode::SUCCESS
        }
        ErrorKind::DisplayHelpOnMissingArgumentOrSubcommand => {
            let _ = error.print();
            std::process::ExitCode::from(2)
        }
        _ => {
            eprintln!("{name}: error: {}", usage_line(error));
            std::process::ExitCode::from(2)
        }
    }
}

/// Parses a service's command line ([`usage_exit`] on an error).
fn parse_service<C: Args + clap::FromArgMatches>(
    name: &'static str,
    about: &'static str,
) -> Result<ServiceCli<C>, std::process::ExitCode> {
    use clap::{CommandFactory as _, FromArgMatches as _};
    let matches = ServiceCli::<C>::command()
        .name(name)
        .bin_name(name)
        .about(about)
        .try_get_matches();
    matches
        .and_then(|matches| ServiceCli::<C>::from_arg_matches(&matches))
        .map_err(|error| usage_exit(name, &error))
}

/// The command line of a service (worker, aggregator): the connection,
/// logging and observability flags every service takes, and its own (`C`).
#[derive(Debug, clap::Parser)]
#[command(version)]
pub struct ServiceCli<C: Args> {
    /// Where RabbitMQ and Redis are.
    #[command(flatten)]
    pub connect: ConnectArgs,
    /// How logs are written.
    #[command(flatten)]
    pub log: LogArgs,
    /// Metrics, probes and progress lines.
    #[command(flatten)]
    pub observe: crate::telemetry::ObserveArgs,
    /// The service's own settings.
    #[command(flatten)]
    pub config: C,
}

/// A service's whole `main`: parses its command line (named `name`,
/// described by `about`; a usage error is one line and exit code 2) and sets
/// up logging; serves metrics and probes when
/// `--metrics-addr` asks; waits for RabbitMQ and Redis; runs `service` with
/// its settings until SIGINT or SIGTERM (logging its activity while busy and
/// writing heartbeats); closes the connection. An error is one line on
/// stderr and exit code 1.
pub async fn service_main<C, F, Fut>(
    name: &'static str,
    about: &'static str,
    service: F,
) -> std::process::ExitCode
where
    C: Args + clap::FromArgMatches,
    F: FnOnce(
        C,
        std::sync::Arc<dyn crate::transport::Transport>,
        std::sync::Arc<dyn crate::store::Store>,
        tokio_util::sync::CancellationToken,
    ) -> Fut,
    Fut: std::future::Future<Output = anyhow::Result<()>>,
{
    let cli = match parse_service::<C>(name, about) {
        Ok(cli) => cli,
        Err(code) => return code,
    };
    init_tracing("info", cli.log.log_format);
    let (connect, observe) = (&cli.connect, &cli.observe);
    serve_until_signal(name, |shutdown| async move {
        let deps = std::sync::Arc::new(Dependencies::default());
        if let Some(addr) = observe.metrics_addr {
            crate::telemetry::serve(addr, deps.clone(), shutdown.clone()).await?;
        }
        tokio::spawn(crate::telemetry::log_activity(
            name,
            observe.activity_every,
            shutdown.clone(),
        ));
        let Some((store, amqp)) = connect_patiently(connect, &shutdown).await? else {
            return Ok(());
        };
        let _ = deps.connected.set((store.clone(), amqp.clone()));
        tokio::spawn(heartbeats(name, store.clone(), shutdown.clone()));
        let outcome = service(cli.config, amqp.clone(), store, shutdown).await;
        amqp.close().await;
        outcome
    })
    .await
}

/// How often a service writes its heartbeat to Redis.
pub const HEARTBEAT_EVERY: std::time::Duration = std::time::Duration::from_secs(2);

/// Writes this process's [`crate::report::Heartbeat`] every
/// [`HEARTBEAT_EVERY`] until `shutdown` (the dashboard's list of workers).
async fn heartbeats(
    role: &'static str,
    store: std::sync::Arc<crate::redis::RedisStore>,
    shutdown: tokio_util::sync::CancellationToken,
) {
    let mut beat = crate::report::Heartbeat {
        id: uuid::Uuid::new_v4().to_string(),
        role: role.to_owned(),
        host: hostname(),
        pid: std::process::id(),
        started_ms: crate::clock::now_ms(),
        seen_ms: 0,
        done: 0,
        failed: 0,
        retries: 0,
        in_flight: 0,
        applied: 0,
        per_sec: 0.0,
    };
    let mut last = (std::time::Instant::now(), 0);
    loop {
        let now = crate::telemetry::activity().snapshot();
        let count = if role == "aggregator" {
            now.applied
        } else {
            now.pages()
        };
        beat.per_sec = crate::telemetry::per_sec(last.1, count, last.0.elapsed());
        last = (std::time::Instant::now(), count);
        beat.seen_ms = crate::clock::now_ms();
        (beat.done, beat.failed, beat.retries) = (now.done, now.failed, now.retries);
        (beat.in_flight, beat.applied) = (now.in_flight, now.applied);
        if let Err(error) = store.beat(&beat).await {
            tracing::debug!(%error, "heartbeat not written");
        }
        tokio::select! {
            () = shutdown.cancelled() => return,
            () = tokio::time::sleep(HEARTBEAT_EVERY) => {}
        }
    }
}

/// This machine's (or container's) name: `HOSTNAME`, else the kernel's.
fn hostname() -> String {
    std::env::var("HOSTNAME")
        .ok()
        .or_else(|| std::fs::read_to_string("/proc/sys/kernel/hostname").ok())
        .map(|name| name.trim().to_owned())
        .filter(|name| !name.is_empty())
        .unwrap_or_else(|| "localhost".into())
}

/// A service's RabbitMQ and Redis, once connected: what `/readyz` asks.
#[derive(Default)]
struct Dependencies {
    connected: std::sync::OnceLock<(
        std::sync::Arc<crate::redis::RedisStore>,
        std::sync::Arc<crate::amqp::Amqp>,
    )>,
}

#[async_trait::async_trait]
impl crate::telemetry::Readiness for Dependencies {
    async fn check(&self) -> Result<(), String> {
        let Some((store, amqp)) = self.connected.get() else {
            return Err("still connecting to RabbitMQ and Redis".into());
        };
        store.ping().await.map_err(|e| e.to_string())?;
        amqp.ping().await.map_err(|e| e.to_string())
    }
}
