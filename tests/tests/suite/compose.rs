//! docker-compose.yml, checked by a parser (no Docker engine runs here): the
//! stack has its services, workers scale, and every setting it passes is one
//! the binaries actually read.

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
        "services/src/worker/mod.rs",
        "services/src/aggregator.rs",
        "producer/src/lib.rs",
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
    for name in ["worker", "aggregator", "producer"] {
        let service = &compose["services"][name];
        // `--scale worker=N` needs no fixed name and no host port.
        assert!(
            service.get("container_name").is_none() && service.get("ports").is_none(),
            "{name} must scale"
        );
        assert_eq!(
            service["depends_on"]["rabbitmq"]["condition"], "service_healthy",
            "{name}"
        );
        let env = service["environment"].as_mapping().unwrap();
        assert_eq!(
            env[&Value::from("AMQP_URL")],
            "amqp://guest:guest@rabbitmq:5672/%2f",
            "{name}"
        );
        assert_eq!(
            env[&Value::from("REDIS_URL")],
            "redis://redis:6379/",
            "{name}"
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
