//! The shipped operations files: the Grafana dashboard queries only metrics a running gateway
//! exports, and the compose, Prometheus, nginx and Kubernetes files parse, agree with each other
//! and reference files that exist. Docker cannot run here; the real `promtool` and `nginx -t`
//! check what they can.

// Test code, helpers too: under #![cfg(test)] clippy.toml's allow-unwrap-in-tests and
// allow-expect-in-tests cover the whole file, not only #[test] functions (rust-clippy#11119).
#![cfg(test)]

mod common;

use std::collections::BTreeSet;
use std::path::{Path, PathBuf};
use std::process::Command;

use common::*;
use serde::Deserialize;
use serde_json::{json, Value as Json};
use yaml_serde::Value as Yaml;

fn read(path: &str) -> String {
    std::fs::read_to_string(repo_root().join(path)).unwrap_or_else(|e| panic!("{path}: {e}"))
}

fn yaml(path: &str) -> Yaml {
    yaml_serde::from_str(&read(path)).unwrap_or_else(|e| panic!("{path}: {e}"))
}

fn dashboard() -> Json {
    serde_json::from_str(&read("grafana/dashboards/argo-bridge.json")).unwrap()
}

/// Every panel, rows' nested panels included.
fn panels(dashboard: &Json) -> Vec<Json> {
    let mut out = Vec::new();
    let mut stack: Vec<Json> = dashboard["panels"].as_array().cloned().unwrap_or_default();
    while let Some(panel) = stack.pop() {
        stack.extend(panel["panels"].as_array().cloned().unwrap_or_default());
        out.push(panel);
    }
    out
}

/// Metric names in a PromQL expression: identifiers that are not functions, keywords, labels
/// (inside `{}` or `by (...)`), ranges or Grafana variables.
fn metric_names(promql: &str) -> BTreeSet<String> {
    let mut text = String::new();
    let (mut in_string, mut in_matchers, mut in_range) = (false, false, false);
    for c in promql.chars() {
        if in_string {
            in_string = c != '"';
        } else if c == '"' {
            in_string = true;
        } else if in_matchers {
            in_matchers = c != '}';
        } else if in_range {
            in_range = c != ']';
        } else if c == '{' {
            in_matchers = true;
        } else if c == '[' {
            in_range = true;
        } else {
            text.push(c);
        }
    }
    let keywords = [
        "by",
        "without",
        "on",
        "ignoring",
        "group_left",
        "group_right",
    ];
    let operators = ["and", "or", "unless", "bool", "offset"];
    let aggregations = [
        "sum",
        "min",
        "max",
        "avg",
        "count",
        "group",
        "stddev",
        "stdvar",
        "topk",
        "bottomk",
        "quantile",
        "count_values",
    ];
    let chars: Vec<char> = text.chars().collect();
    let mut names = BTreeSet::new();
    let mut i = 0;
    while i < chars.len() {
        let c = chars[i];
        if c == '$' || c.is_ascii_digit() || c == '.' {
            // A variable or a number: skip the whole token.
            while i < chars.len() && (chars[i].is_ascii_alphanumeric() || "$_.".contains(chars[i]))
            {
                i += 1;
            }
            continue;
        }
        if !(c.is_ascii_alphabetic() || c == '_') {
            i += 1;
            continue;
        }
        let start = i;
        while i < chars.len()
            && (chars[i].is_ascii_alphanumeric() || chars[i] == '_' || chars[i] == ':')
        {
            i += 1;
        }
        let word: String = chars[start..i].iter().collect();
        let rest = text[text.char_indices().nth(i).map_or(text.len(), |(at, _)| at)..].trim_start();
        if keywords.contains(&word.as_str()) {
            // Skip the label list that follows.
            if let Some(close) = rest.find(')') {
                i = chars.len() - rest[close + 1..].chars().count();
            }
        } else if !rest.starts_with('(')
            && !operators.contains(&word.as_str())
            && !aggregations.contains(&word.as_str())
        {
            names.insert(word);
        }
    }
    names
}

/// Metric names on the gateway's `/metrics` after traffic that exercises every family.
fn exported_metric_names() -> BTreeSet<String> {
    let stack = Stack::start();
    let chat = |directive: &str| chat_with_directive("gpt-4o", directive);
    assert_eq!(stack.post("/v1/chat/completions", &chat("{}")).status, 200);
    stack
        .post("/v1/chat/completions", &chat(r#"{"status":503}"#))
        .expect_error(502);
    let mut streamed: Json = serde_json::from_str(&chat(r#"{"fragment_delay_ms":0}"#)).unwrap();
    streamed["stream"] = json!(true);
    let stream = stack.post("/v1/chat/completions", &streamed.to_string());
    assert!(stream.text().ends_with("data: [DONE]\n\n"));
    let embed = json!({"model": "text-embedding-3-small", "input": "x"}).to_string();
    assert_eq!(stack.post("/v1/embeddings", &embed).status, 200);
    // The last request's metrics are recorded after its response: wait for them.
    let body = wait_until(std::time::Duration::from_secs(10), "metrics", || {
        let text = stack.get("/metrics").text();
        text.contains("argo_bridge_requests_total{client=\"openai\",endpoint=\"embeddings\"")
            .then_some(text)
    });
    body.lines()
        .filter(|line| !line.starts_with('#') && !line.is_empty())
        .filter_map(|line| line.split(['{', ' ']).next())
        .map(str::to_string)
        .collect()
}

#[test]
fn every_dashboard_query_names_an_exported_metric() {
    let exported = exported_metric_names();
    let dashboard = dashboard();
    let mut used = BTreeSet::new();
    for panel in panels(&dashboard).iter().filter(|p| p["type"] != "row") {
        let targets = panel["targets"].as_array().expect("panel has targets");
        assert!(!targets.is_empty(), "{} has no query", panel["title"]);
        for target in targets {
            let expr = target["expr"].as_str().expect("PromQL expr");
            let names = metric_names(expr);
            assert!(!names.is_empty(), "no metric in {expr}");
            for name in names {
                assert!(
                    exported.contains(&name),
                    "{name} (in {expr}) is not exported: {exported:?}"
                );
                used.insert(name);
            }
        }
    }
    for variable in dashboard["templating"]["list"].as_array().unwrap() {
        let query = variable["query"]["query"].as_str().unwrap();
        let metric = query
            .strip_prefix("label_values(")
            .and_then(|rest| rest.split(',').next())
            .unwrap_or_else(|| panic!("unexpected variable query {query}"));
        assert!(exported.contains(metric.trim()), "{metric}");
    }
    // The dashboard covers what the operations issue asks for.
    for required in [
        "argo_bridge_requests_total",
        "argo_bridge_request_duration_seconds_bucket",
        "argo_bridge_overhead_seconds_bucket",
        "argo_bridge_time_to_first_token_seconds_bucket",
        "argo_bridge_tokens_total",
        "argo_bridge_in_flight_requests",
        "argo_bridge_upstream_errors_total",
    ] {
        assert!(used.contains(required), "no panel shows {required}");
    }
}

#[test]
fn the_promql_scanner_finds_metrics_and_nothing_else() {
    let names = metric_names(
        r#"histogram_quantile(0.99, sum by (le, endpoint) (rate(a_bucket{instance=~"$instance",x="y{z}"}[$__rate_interval]))) / on(instance) group_left b_total and c"#,
    );
    let expected: BTreeSet<String> = ["a_bucket", "b_total", "c"].map(String::from).into();
    assert_eq!(names, expected);
}

#[test]
fn grafana_provisioning_points_at_the_dashboard_and_its_datasource() {
    let datasources = yaml("grafana/provisioning/datasources/prometheus.yaml");
    let uid = datasources["datasources"][0]["uid"].as_str().unwrap();
    assert!(datasources["datasources"][0]["url"]
        .as_str()
        .unwrap()
        .contains("prometheus:9090"));
    for panel in panels(&dashboard()).iter().filter(|p| p["type"] != "row") {
        assert_eq!(panel["datasource"]["uid"], uid, "{}", panel["title"]);
    }
    let providers = yaml("grafana/provisioning/dashboards/argo-bridge.yaml");
    let path = providers["providers"][0]["options"]["path"]
        .as_str()
        .unwrap();
    let compose = yaml("deploy/docker-compose.yaml");
    let mounts = volumes(&compose["services"]["grafana"]);
    assert!(
        mounts.contains(&("../grafana/dashboards".into(), path.into())),
        "{mounts:?}"
    );
    assert!(mounts.contains(&(
        "../grafana/provisioning".into(),
        "/etc/grafana/provisioning".into()
    )));
}

/// `(source, target)` of a service's bind mounts.
fn volumes(service: &Yaml) -> Vec<(String, String)> {
    service["volumes"]
        .as_sequence()
        .map(|list| {
            list.iter()
                .filter_map(Yaml::as_str)
                .filter_map(|spec| {
                    let mut parts = spec.split(':');
                    Some((parts.next()?.to_string(), parts.next()?.to_string()))
                })
                .collect()
        })
        .unwrap_or_default()
}

fn gateway_services(compose: &Yaml) -> Vec<String> {
    let services = compose["services"].as_mapping().unwrap();
    services
        .keys()
        .filter_map(Yaml::as_str)
        .filter(|name| name.starts_with("gateway-"))
        .map(String::from)
        .collect()
}

#[test]
fn compose_file_parses_and_references_existing_files() {
    let compose = yaml("deploy/docker-compose.yaml");
    let deploy = repo_root().join("deploy");
    let gateways = gateway_services(&compose);
    assert!(gateways.len() >= 2, "several replicas: {gateways:?}");
    for name in &gateways {
        let service = &compose["services"][name.as_str()];
        let build = &service["build"];
        let context = deploy.join(build["context"].as_str().unwrap());
        assert!(context
            .join(build["dockerfile"].as_str().unwrap())
            .is_file());
        let env = &service["environment"];
        assert_eq!(env["ARGO_BRIDGE_ADMIN_LISTEN"], "0.0.0.0:9090");
        assert!(env["ARGO_BRIDGE_TOKENS"]
            .as_str()
            .unwrap()
            .contains("ARGO_BRIDGE_TOKENS"));
    }
    for service in ["lb", "prometheus", "grafana"] {
        for (source, _) in volumes(&compose["services"][service]) {
            let path = deploy.join(&source);
            assert!(path.exists(), "{service} mounts missing {}", path.display());
        }
    }
    // The mock Argo is its own image, the Dockerfile's `mock-argo` stage: the gateway's image
    // leaves the mock out.
    let mock = &compose["services"]["mock-argo"];
    let target = mock["build"]["target"]
        .as_str()
        .expect("the mock's build target");
    let dockerfile = read("deploy/Dockerfile");
    assert!(
        dockerfile
            .lines()
            .any(|line| line.starts_with("FROM ") && line.ends_with(&format!(" AS {target}"))),
        "deploy/Dockerfile has no stage `{target}`"
    );
    assert_ne!(
        mock["image"],
        compose["services"][gateways[0].as_str()]["image"],
        "the mock is not tagged as the gateway's image"
    );
    for name in &gateways {
        assert!(
            compose["services"][name.as_str()]["build"]["target"].is_null(),
            "{name} builds the Dockerfile's last stage, the gateway"
        );
    }
}

#[test]
fn dockerfile_builds_with_cmake_and_runs_as_a_non_root_user() {
    let dockerfile = read("deploy/Dockerfile");
    assert!(dockerfile.contains("FROM rust:"));
    assert!(dockerfile.contains("cmake"));
    assert!(dockerfile.contains("ca-certificates"));
    let user = dockerfile
        .lines()
        .find_map(|line| line.strip_prefix("USER "))
        .expect("a USER line");
    assert!(user.trim() != "root" && user.trim() != "0");
    assert!(dockerfile.contains("HEALTHCHECK"));
    for line in dockerfile
        .lines()
        .filter(|l| l.starts_with("COPY ") && !l.contains("--from"))
    {
        let sources: Vec<&str> = line.split_whitespace().skip(1).collect();
        for source in &sources[..sources.len() - 1] {
            assert!(repo_root().join(source).exists(), "COPY {source}");
        }
    }
}

#[test]
fn prometheus_config_passes_promtool_and_scrapes_every_replica() {
    let path = repo_root().join("deploy/prometheus.yml");
    run_ok(
        Command::new(tool("promtool"))
            .args(["check", "config"])
            .arg(&path),
    );
    let config = yaml("deploy/prometheus.yml");
    let targets: BTreeSet<String> = config["scrape_configs"][0]["static_configs"][0]["targets"]
        .as_sequence()
        .unwrap()
        .iter()
        .filter_map(|t| t.as_str().map(String::from))
        .collect();
    let compose = yaml("deploy/docker-compose.yaml");
    let expected: BTreeSet<String> = gateway_services(&compose)
        .iter()
        .map(|name| format!("{name}:9090"))
        .collect();
    assert_eq!(targets, expected);
}

#[test]
fn nginx_config_passes_nginx_t_and_balances_every_replica() {
    let compose = yaml("deploy/docker-compose.yaml");
    let replicas = gateway_services(&compose).len();
    let ports: Vec<u16> = (0..replicas).map(|i| 18_000 + i as u16).collect();
    // Fails if nginx.conf lists other replicas than compose runs.
    let conf = nginx_conf_on_loopback(&ports, 18_080);
    let dir = TempDir::new("nginx-t");
    std::fs::write(dir.path("nginx.conf"), conf).unwrap();
    run_ok(
        Command::new(tool("nginx"))
            .args(["-t", "-e", "stderr", "-c"])
            .arg(dir.path("nginx.conf"))
            .args(["-g", &format!("pid {};", dir.path("nginx.pid").display())]),
    );
}

fn k8s_documents() -> Vec<(PathBuf, Yaml)> {
    let dir = repo_root().join("deploy/k8s");
    let mut docs = Vec::new();
    for entry in std::fs::read_dir(&dir).unwrap() {
        let path = entry.unwrap().path();
        let text = std::fs::read_to_string(&path).unwrap();
        for doc in yaml_serde::Deserializer::from_str(&text) {
            let value =
                Yaml::deserialize(doc).unwrap_or_else(|e| panic!("{}: {e}", path.display()));
            docs.push((path.clone(), value));
        }
    }
    docs
}

/// The gateway's own object of a kind (the Redis it shares has objects of the same kinds): by
/// name or by the `app.kubernetes.io/name` label.
fn kind<'a>(docs: &'a [(PathBuf, Yaml)], kind: &str) -> &'a Yaml {
    named(docs, kind, "argo-bridge")
}

fn named<'a>(docs: &'a [(PathBuf, Yaml)], kind: &str, name: &str) -> &'a Yaml {
    docs.iter()
        .map(|(_, doc)| doc)
        .find(|doc| {
            let metadata = &doc["metadata"];
            doc["kind"] == kind
                && (kind == "Kustomization"
                    || metadata["name"] == name
                    || metadata["labels"]["app.kubernetes.io/name"] == name)
        })
        .unwrap_or_else(|| panic!("no {kind} {name} in deploy/k8s"))
}

/// `redis://host:port/db` -> `(host, port)`.
fn redis_host_port(url: &str) -> (String, u64) {
    let authority = url
        .strip_prefix("redis://")
        .and_then(|rest| rest.split('/').next())
        .unwrap_or_else(|| panic!("not a redis:// URL: {url}"));
    let (host, port) = authority.rsplit_once(':').unwrap_or((authority, "6379"));
    (host.to_string(), port.parse().unwrap())
}

#[test]
fn every_replica_shares_one_redis_for_its_limits() {
    let compose = yaml("deploy/docker-compose.yaml");
    let urls: BTreeSet<String> = gateway_services(&compose)
        .iter()
        .map(|name| {
            let url = &compose["services"][name.as_str()]["environment"]["ARGO_BRIDGE_REDIS_URL"];
            url.as_str()
                .unwrap_or_else(|| panic!("{name} has no ARGO_BRIDGE_REDIS_URL"))
                .to_string()
        })
        .collect();
    assert_eq!(urls.len(), 1, "one Redis for all replicas: {urls:?}");
    let (host, port) = redis_host_port(urls.first().unwrap());
    let redis = &compose["services"][host.as_str()];
    assert!(
        redis["image"]
            .as_str()
            .is_some_and(|image| image.starts_with("redis:")),
        "{host} runs Redis"
    );
    assert_eq!(port, 6379);

    let docs = k8s_documents();
    let url = kind(&docs, "ConfigMap")["data"]["ARGO_BRIDGE_REDIS_URL"]
        .as_str()
        .unwrap()
        .to_string();
    let (host, port) = redis_host_port(&url);
    let service = named(&docs, "Service", &host);
    assert_eq!(service["spec"]["ports"][0]["port"].as_u64(), Some(port));
    let selector = &service["spec"]["selector"]["app.kubernetes.io/name"];
    let deployment = named(&docs, "Deployment", selector.as_str().unwrap());
    let container = &deployment["spec"]["template"]["spec"]["containers"][0];
    assert!(container["image"].as_str().unwrap().starts_with("redis:"));
    assert_eq!(
        deployment["spec"]["template"]["metadata"]["labels"]["app.kubernetes.io/name"],
        *selector
    );
    let resources = kind(&docs, "Kustomization")["resources"]
        .as_sequence()
        .unwrap();
    assert!(resources.iter().any(|resource| resource == "redis.yaml"));
    // The gateway reads the URL from that variable (a wrong scheme there fails the check).
    let check = |url: &str| {
        Command::new(binary())
            .arg("check-config")
            .env("ARGO_BRIDGE_REDIS_URL", url)
            .output()
            .unwrap()
            .status
            .success()
    };
    assert!(check(&url) && !check("mysql://db"));
}

fn named_port(container: &Yaml, name: &str) -> u64 {
    container["ports"]
        .as_sequence()
        .unwrap()
        .iter()
        .find(|port| port["name"] == name)
        .and_then(|port| port["containerPort"].as_u64())
        .unwrap_or_else(|| panic!("no port {name}"))
}

#[test]
fn kubernetes_manifests_probe_health_and_readiness_and_take_tokens_from_a_secret() {
    let docs = k8s_documents();
    let deployment = kind(&docs, "Deployment");
    let pod = &deployment["spec"]["template"];
    let container = &pod["spec"]["containers"][0];
    let liveness = &container["livenessProbe"]["httpGet"];
    let readiness = &container["readinessProbe"]["httpGet"];
    // Liveness never asks Argo; readiness is the gateway's own probes of Argo.
    assert_eq!(liveness["path"], "/health");
    assert_eq!(readiness["path"], "/ready");
    assert_eq!(liveness["port"], "admin");
    assert_eq!(readiness["port"], "admin");
    assert_eq!(named_port(container, "admin"), 9090);
    assert!(container["resources"]["requests"]["cpu"].is_string());
    assert!(container["resources"]["limits"]["memory"].is_string());

    let config = kind(&docs, "ConfigMap");
    let secret = kind(&docs, "Secret");
    assert!(secret["stringData"]["ARGO_BRIDGE_TOKENS"].is_string());
    assert!(
        config["data"].get("ARGO_BRIDGE_TOKENS").is_none(),
        "tokens belong in the Secret"
    );
    let sources = container["envFrom"].as_sequence().unwrap();
    assert!(sources
        .iter()
        .any(|s| s["secretRef"]["name"] == secret["metadata"]["name"]));
    assert!(sources
        .iter()
        .any(|s| s["configMapRef"]["name"] == config["metadata"]["name"]));
    assert!(config["data"]["ARGO_BRIDGE_ADMIN_LISTEN"]
        .as_str()
        .unwrap()
        .ends_with(":9090"));
    // The gateway probes Argo at least as often as the kubelet asks, and answers within the
    // kubelet's timeout (it reads the last probe's outcome, never waits for one).
    let ms = |key: &str| -> u64 {
        config["data"][key]
            .as_str()
            .unwrap_or_else(|| panic!("{key} in the ConfigMap"))
            .parse()
            .unwrap()
    };
    let period_ms = container["readinessProbe"]["periodSeconds"]
        .as_u64()
        .unwrap()
        * 1000;
    assert!(ms("ARGO_BRIDGE_READINESS_PROBE_INTERVAL_MS") <= period_ms);
    assert!(
        ms("ARGO_BRIDGE_READINESS_PROBE_TIMEOUT_MS")
            < ms("ARGO_BRIDGE_READINESS_PROBE_INTERVAL_MS")
    );
    assert!(
        config["data"].get("ARGO_BRIDGE_METRICS_TOKEN").is_none(),
        "a metrics token belongs in the Secret"
    );

    // The pod outlives the drain.
    let grace: u64 = config["data"]["ARGO_BRIDGE_GRACE_PERIOD_S"]
        .as_str()
        .unwrap()
        .parse()
        .unwrap();
    assert!(
        pod["spec"]["terminationGracePeriodSeconds"]
            .as_u64()
            .unwrap()
            > grace
    );

    let labels = &pod["metadata"]["labels"];
    let service = kind(&docs, "Service");
    for (key, value) in service["spec"]["selector"].as_mapping().unwrap() {
        assert_eq!(&labels[key.as_str().unwrap()], value);
    }
    let hpa = kind(&docs, "HorizontalPodAutoscaler");
    assert_eq!(
        hpa["spec"]["scaleTargetRef"]["name"],
        deployment["metadata"]["name"]
    );

    let kustomization = kind(&docs, "Kustomization");
    let listed: BTreeSet<&str> = kustomization["resources"]
        .as_sequence()
        .unwrap()
        .iter()
        .filter_map(Yaml::as_str)
        .collect();
    let files: BTreeSet<String> = docs
        .iter()
        .filter(|(_, doc)| doc["kind"] != "Kustomization")
        .map(|(path, _)| file_name(path))
        .collect();
    assert_eq!(listed, files.iter().map(String::as_str).collect());
}

fn file_name(path: &Path) -> String {
    path.file_name().unwrap().to_string_lossy().into_owned()
}

/// Runs a checking tool and fails the test with its stderr if it reports a problem.
fn run_ok(command: &mut Command) {
    let output = command.output().unwrap();
    assert!(
        output.status.success(),
        "{}",
        String::from_utf8_lossy(&output.stderr)
    );
}
