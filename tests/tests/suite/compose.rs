//! docker-compose.yml, checked by a parser (no Docker engine runs here): the
//! stack has its services, workers scale, every setting it passes is one the
//! binaries actually read, secrets come from `.env`, the services' health is
//! their own `/readyz`, and no port is published beyond 127.0.0.1.

use std::path::PathBuf;

use serde_yaml_ng::Value;

fn root() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("..")
}

fn compose() -> Value {
    let text = std::fs::read_to_string(root().join("docker-compose.yml")).unwrap();
    let mut value: Value = serde_yaml_ng::from_str(&text).unwrap();
    value.apply_merge().unwrap();
    value
}

/// Every `env = "NAME"` the binaries' clap structs declare.
fn declared_env_names() -> Vec<String> {
    let mut names = Vec::new();
    for file in [
        "core/src/cli.rs",
        "core/src/telemetry.rs",
        "services/src/worker/config.rs",
        "services/src/aggregator.rs",
        "producer/src/args.rs",
    ] {
        let text = std::fs::read_to_string(root().join(file)).unwrap();
        for part in text.split("env = \"").skip(1) {
            names.push(part.split('"').next().unwrap().to_owned());
        }
    }
    names
}

#[test]
fn compose_file_describes_a_scalable_stack_with_real_settings() {
    let compose = compose();
    let services = compose["services"].as_mapping().unwrap();
    for name in [
        "rabbitmq",
        "redis",
        "worker",
        "aggregator",
        "producer",
        "dashboard",
        "fixture-site",
    ] {
        assert!(services.contains_key(name), "service {name}");
    }
    let image = compose["services"]["rabbitmq"]["image"].as_str().unwrap();
    assert!(
        image.contains("management"),
        "RabbitMQ with its management UI: {image}"
    );
    let declared = declared_env_names();
    for name in ["worker", "aggregator", "producer", "dashboard"] {
        let service = &compose["services"][name];
        // `--scale worker=N` needs no fixed name and no host port.
        if name != "dashboard" {
            assert!(
                service.get("container_name").is_none() && service.get("ports").is_none(),
                "{name} must scale"
            );
        }
        assert_eq!(
            service["depends_on"]["rabbitmq"]["condition"], "service_healthy",
            "{name}"
        );
        let env = service["environment"].as_mapping().unwrap();
        let amqp = env[&Value::from("AMQP_URL")].as_str().unwrap();
        assert!(
            amqp.starts_with("amqp://${RABBITMQ_USER:?")
                && amqp.contains(":${RABBITMQ_PASSWORD:?")
                && amqp.ends_with("@rabbitmq:5672/%2f"),
            "{name}: RabbitMQ's user and password from .env, none by default: {amqp}"
        );
        let redis = env[&Value::from("REDIS_URL")].as_str().unwrap();
        assert!(
            redis.starts_with("redis://:${REDIS_PASSWORD:?") && redis.ends_with("@redis:6379/"),
            "{name}: Redis's password from .env: {redis}"
        );
        for key in env.keys() {
            let key = key.as_str().unwrap();
            assert!(
                key == "RUST_LOG" || declared.iter().any(|d| d == key),
                "{name} sets {key}, which no binary reads"
            );
        }
    }
    assert_eq!(compose["services"]["worker"]["command"][0], "worker");
    assert_eq!(
        compose["services"]["worker"]["environment"]["WORKER_ALLOW_PRIVATE"],
        "${WORKER_ALLOW_PRIVATE:-}",
        "workers reach no private address unless the operator says so"
    );
    assert_eq!(
        compose["services"]["aggregator"]["command"][0],
        "aggregator"
    );
    assert_eq!(compose["services"]["producer"]["entrypoint"][0], "producer");
    let dockerfile = std::fs::read_to_string(root().join("Dockerfile")).unwrap();
    for bin in ["producer", "worker", "aggregator", "fixture-site"] {
        assert!(
            dockerfile.contains(&format!("target/release/{bin}")),
            "Dockerfile ships {bin}"
        );
    }
}

/// Every `${NAME...}` the compose file reads from the environment.
fn interpolated(text: &str) -> Vec<String> {
    text.split("${")
        .skip(1)
        .map(|part| {
            part.chars()
                .take_while(|c| c.is_ascii_alphanumeric() || *c == '_')
                .collect()
        })
        .collect()
}

#[test]
fn compose_keeps_secrets_in_env_publishes_on_loopback_only_and_checks_health() {
    let compose = compose();
    let services = compose["services"].as_mapping().unwrap();

    // No port published on all interfaces: each one names 127.0.0.1.
    for (name, service) in services {
        let Some(ports) = service.get("ports") else {
            continue;
        };
        for port in ports.as_sequence().unwrap() {
            let port = port.as_str().unwrap();
            assert!(
                port.starts_with("127.0.0.1:") && port.split(':').count() == 3,
                "{name:?} publishes {port} beyond loopback"
            );
        }
    }

    // The workers and aggregators: metrics on, health is their own /readyz.
    for name in ["worker", "aggregator"] {
        let service = &compose["services"][name];
        let addr = service["environment"]["METRICS_ADDR"].as_str().unwrap();
        let port = addr.rsplit(':').next().unwrap();
        let test: Vec<&str> = service["healthcheck"]["test"]
            .as_sequence()
            .unwrap()
            .iter()
            .map(|part| part.as_str().unwrap())
            .collect();
        assert_eq!(test[0], "CMD", "{name}");
        assert!(
            test.contains(&format!("http://127.0.0.1:{port}/readyz").as_str()),
            "{name}'s healthcheck asks its /readyz on METRICS_ADDR's port: {test:?}"
        );
    }
    let dashboard = &compose["services"]["dashboard"];
    assert_eq!(dashboard["command"][1], "dashboard");
    assert!(
        dashboard["healthcheck"]["test"][5]
            .as_str()
            .unwrap()
            .ends_with(":8686/api/crawls")
    );

    // RabbitMQ's own user and Redis's password, from .env.
    let rabbit = &compose["services"]["rabbitmq"]["environment"];
    assert!(
        rabbit["RABBITMQ_DEFAULT_USER"]
            .as_str()
            .unwrap()
            .starts_with("${RABBITMQ_USER:?")
    );
    assert!(
        rabbit["RABBITMQ_DEFAULT_PASS"]
            .as_str()
            .unwrap()
            .starts_with("${RABBITMQ_PASSWORD:?")
    );
    let redis = &compose["services"]["redis"];
    assert!(
        redis["command"][2]
            .as_str()
            .unwrap()
            .contains("--requirepass \"$$REDIS_PASSWORD\"")
    );
    assert!(
        redis["healthcheck"]["test"][1]
            .as_str()
            .unwrap()
            .contains("-a \"$$REDIS_PASSWORD\"")
    );

    // .env.example names every variable the compose file reads; .env is never committed.
    let text = std::fs::read_to_string(root().join("docker-compose.yml")).unwrap();
    let example = std::fs::read_to_string(root().join(".env.example")).unwrap();
    for name in interpolated(&text) {
        assert!(
            example
                .lines()
                .any(|line| line.starts_with(&format!("{name}="))),
            ".env.example sets {name}"
        );
    }
    for ignore in [".gitignore", ".dockerignore"] {
        let text = std::fs::read_to_string(root().join(ignore)).unwrap();
        assert!(
            text.lines().any(|line| line == ".env"),
            "{ignore} lists .env"
        );
    }

    // The image: dependencies in a cached layer, everything --locked, curl for the probes.
    let dockerfile = std::fs::read_to_string(root().join("Dockerfile")).unwrap();
    let cook = dockerfile
        .find("cargo chef cook --release --locked")
        .unwrap();
    let sources = dockerfile[cook..].find("COPY . .").unwrap() + cook;
    let build = dockerfile
        .find("cargo build --release --locked --bins")
        .unwrap();
    assert!(
        cook < sources && sources < build,
        "dependencies build before the sources are copied"
    );
    assert!(dockerfile.contains("ca-certificates curl"));
}

/// Runs `docker-compose config -q` (Compose's own validation, which needs no
/// Docker engine) with `env_file`; `None` when docker-compose is not installed.
fn compose_config(env_file: &str) -> Option<std::process::Output> {
    let out = std::process::Command::new("docker-compose")
        .current_dir(root())
        .args([
            "--env-file",
            env_file,
            "-f",
            "docker-compose.yml",
            "config",
            "-q",
        ])
        .output();
    match out {
        Ok(out) => Some(out),
        Err(error) if error.kind() == std::io::ErrorKind::NotFound => None,
        Err(error) => panic!("docker-compose: {error}"),
    }
}

#[test]
fn compose_validates_with_the_example_env_and_names_what_is_missing_without() {
    let Some(out) = compose_config(".env.example") else {
        println!("SKIPPED: docker-compose is not installed (scripts/test installs it)");
        return;
    };
    assert!(
        out.status.success(),
        "docker-compose config: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    let empty = std::env::temp_dir().join(format!("crawlq-empty-{}.env", std::process::id()));
    std::fs::write(&empty, "").unwrap();
    let out = compose_config(empty.to_str().unwrap()).unwrap();
    let _ = std::fs::remove_file(&empty);
    assert!(!out.status.success(), "no password, no stack");
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(stderr.contains("cp .env.example .env"), "{stderr}");
}
