//! A test's own RabbitMQ node and Redis server, on free ports under a
//! temporary folder, for tests that restart them (the shared ones stay
//! untouched for the tests running beside). Dropping one stops it.

use std::path::PathBuf;
use std::process::Stdio;
use std::time::Duration;

use tokio::process::{Child, Command};
use uuid::Uuid;

/// A free TCP port on 127.0.0.1.
pub fn free_port() -> u16 {
    std::net::TcpListener::bind("127.0.0.1:0")
        .and_then(|l| l.local_addr())
        .map(|a| a.port())
        .unwrap_or_else(|e| panic!("no free port: {e}"))
}

/// Waits until something accepts connections on `port` (or `up` is false: until nothing does).
pub async fn wait_port(port: u16, up: bool, limit: Duration) -> bool {
    let deadline = tokio::time::Instant::now() + limit;
    while tokio::time::Instant::now() < deadline {
        if tokio::net::TcpStream::connect(("127.0.0.1", port))
            .await
            .is_ok()
            == up
        {
            return true;
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    false
}

/// A RabbitMQ node of this test's own.
pub struct OwnRabbit {
    node: String,
    port: u16,
    dir: PathBuf,
}

impl OwnRabbit {
    /// Starts a node (about 7 s) and waits for its AMQP port.
    pub async fn start() -> Self {
        let id = &Uuid::new_v4().simple().to_string()[..8];
        let dir = std::env::temp_dir().join(format!("crawlq-rabbit-{id}"));
        for sub in ["mnesia", "log"] {
            std::fs::create_dir_all(dir.join(sub))
                .unwrap_or_else(|e| panic!("{}: {e}", dir.display()));
        }
        let port = free_port();
        std::fs::write(dir.join("enabled_plugins"), "[].\n").unwrap_or_else(|e| panic!("{e}"));
        std::fs::write(
            dir.join("rabbitmq.conf"),
            format!("listeners.tcp.local = 127.0.0.1:{port}\nloopback_users = none\n"),
        )
        .unwrap_or_else(|e| panic!("{e}"));
        // The server may drop to the rabbitmq user: let it write here.
        let _ = std::process::Command::new("chmod")
            .args(["-R", "777"])
            .arg(&dir)
            .status();
        let rabbit = Self {
            node: format!("crawlq-{id}@localhost"),
            port,
            dir,
        };
        rabbit.boot().await;
        rabbit
    }

    /// The AMQP URL of this node.
    pub fn url(&self) -> String {
        format!("amqp://guest:guest@127.0.0.1:{}/%2f", self.port)
    }

    async fn boot(&self) {
        let dist_port = free_port();
        let status = Command::new("rabbitmq-server")
            .arg("-detached")
            .env("RABBITMQ_NODENAME", &self.node)
            .env("RABBITMQ_NODE_PORT", self.port.to_string())
            .env("RABBITMQ_DIST_PORT", dist_port.to_string())
            .env("RABBITMQ_MNESIA_BASE", self.dir.join("mnesia"))
            .env("RABBITMQ_LOG_BASE", self.dir.join("log"))
            .env(
                "RABBITMQ_ENABLED_PLUGINS_FILE",
                self.dir.join("enabled_plugins"),
            )
            .env("RABBITMQ_CONFIG_FILE", self.dir.join("rabbitmq.conf"))
            .env(
                "RABBITMQ_FEATURE_FLAGS_FILE",
                self.dir.join("feature_flags"),
            )
            .env("RABBITMQ_PID_FILE", self.dir.join("pid"))
            .current_dir(&self.dir)
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .status()
            .await
            .unwrap_or_else(|e| panic!("rabbitmq-server: {e}"));
        assert!(status.success(), "rabbitmq-server -detached failed");
        assert!(
            wait_port(self.port, true, Duration::from_secs(60)).await,
            "own RabbitMQ did not come up; see {}",
            self.dir.join("log").display()
        );
    }

    /// Stops the node and waits until its port is closed.
    pub async fn stop(&self) {
        let _ = Command::new("rabbitmqctl")
            .args(["-n", &self.node, "stop"])
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .status()
            .await;
        assert!(
            wait_port(self.port, false, Duration::from_secs(30)).await,
            "RabbitMQ did not stop"
        );
    }

    /// Starts the stopped node again (its durable queues and persistent messages survive).
    pub async fn start_again(&self) {
        self.boot().await;
    }
}

impl Drop for OwnRabbit {
    fn drop(&mut self) {
        let _ = std::process::Command::new("rabbitmqctl")
            .args(["-n", &self.node, "stop"])
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .status();
        let _ = std::fs::remove_dir_all(&self.dir);
    }
}

/// A Redis server of this test's own, with the append-only file on.
pub struct OwnRedis {
    port: u16,
    dir: PathBuf,
    child: Option<Child>,
}

impl OwnRedis {
    /// Starts `redis-server` with AOF (fsync on every write) and waits for it.
    pub async fn start() -> Self {
        let dir = std::env::temp_dir().join(format!(
            "crawlq-redis-{}",
            &Uuid::new_v4().simple().to_string()[..8]
        ));
        std::fs::create_dir_all(&dir).unwrap_or_else(|e| panic!("{}: {e}", dir.display()));
        let mut redis = Self {
            port: free_port(),
            dir,
            child: None,
        };
        redis.boot().await;
        redis
    }

    /// The Redis URL of this server.
    pub fn url(&self) -> String {
        format!("redis://127.0.0.1:{}/", self.port)
    }

    async fn boot(&mut self) {
        let child = Command::new("redis-server")
            .args([
                "--port",
                &self.port.to_string(),
                "--bind",
                "127.0.0.1",
                "--save",
                "",
            ])
            .args(["--appendonly", "yes", "--appendfsync", "always"])
            .arg("--dir")
            .arg(&self.dir)
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .kill_on_drop(true)
            .spawn()
            .unwrap_or_else(|e| panic!("redis-server: {e}"));
        self.child = Some(child);
        assert!(
            wait_port(self.port, true, Duration::from_secs(30)).await,
            "own Redis did not come up"
        );
    }

    /// Restarts the server: SIGTERM (it writes out and exits), then starts it
    /// again from its append-only file.
    pub async fn restart(&mut self) {
        self.stop().await;
        self.boot().await;
    }

    /// Stops the server (SIGTERM: it writes out and exits) and waits until
    /// its port is closed.
    pub async fn stop(&mut self) {
        if let Some(mut child) = self.child.take() {
            if let Some(pid) = child.id() {
                let _ = std::process::Command::new("kill")
                    .args(["-TERM", &pid.to_string()])
                    .status();
            }
            let _ = tokio::time::timeout(Duration::from_secs(30), child.wait()).await;
        }
        assert!(
            wait_port(self.port, false, Duration::from_secs(10)).await,
            "Redis did not stop"
        );
    }

    /// Starts a stopped server again on the same port, from its append-only file.
    pub async fn start_again(&mut self) {
        self.boot().await;
    }
}

impl Drop for OwnRedis {
    fn drop(&mut self) {
        if let Some(child) = &mut self.child {
            let _ = child.start_kill();
        }
        let _ = std::fs::remove_dir_all(&self.dir);
    }
}
