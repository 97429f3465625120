//! The configuration's unit tests: the shipped file, environment overrides, bad fields.
use super::server::soft_open_files;
use super::*;

fn no_env(_: &str) -> Option<String> {
    None
}

fn shipped() -> Config {
    parse(&std::fs::read_to_string(DEFAULT_PATH).unwrap()).unwrap()
}

#[test]
fn model_rules_are_checked_at_load() {
    let mut config = shipped();
    let everything_claude = config.model_rules[2].clone();
    assert_eq!(everything_claude.argo_id, "claude*");
    config.model_rules.insert(0, everything_claude);
    let error = validate(config).unwrap_err().0;
    assert!(
        error.contains("model_rules[1]") && error.contains("never applies"),
        "{error}"
    );
}

#[test]
fn shipped_config_is_valid_and_covers_the_spec_models() {
    use argo_filters::models::{Sampling, Thinking};
    // The shipped hosts resolve only inside the lab network: validation does not resolve.
    let settings = validate(shipped()).unwrap();
    let expected = [
        ("gpt-4o", "gpt4o"),
        ("gpt-4.1", "gpt41"),
        ("gpt-4.1-mini", "gpt41mini"),
        ("gpt-4.1-nano", "gpt41nano"),
        ("o1", "gpto1"),
        ("o3", "gpto3"),
        ("o3-mini", "gpto3mini"),
        ("gpt-o3-mini", "gpto3mini"),
        ("o4-mini", "gpto4mini"),
        ("gpt-5", "gpt5"),
        ("gpt-5-mini", "gpt5mini"),
        ("gpt-5-nano", "gpt5nano"),
        ("gpt-5.1", "gpt51"),
        ("gpt-5.2", "gpt52"),
        ("gpt-5.4", "gpt54"),
        ("gpt-5.4-nano", "gpt54nano"),
        ("gpt-5.5", "gpt55"),
        ("gpt-5.4-mini", "gpt54mini"),
        ("gpt-5.6-sol", "gpt56sol"),
        ("gpt-5.6-terra", "gpt56terra"),
        ("gpt-5.6-luna", "gpt56luna"),
        ("gemini-2.5-pro", "gemini25pro"),
        ("gemini-2.5-flash", "gemini25flash"),
        ("gemini-3.5-flash", "gemini35flash"),
        ("gemini-3.1-flash-lite", "gemini31flashlite"),
        ("claude-opus-5", "claudeopus5"),
        ("claude-sonnet-5", "claudesonnet5"),
        ("claude-opus-4.8", "claudeopus48"),
        ("claude-4.8-opus", "claudeopus48"),
        ("claude-opus-4.7", "claudeopus47"),
        ("claude-opus-4.6", "claudeopus46"),
        ("claude-opus-4.5", "claudeopus45"),
        ("claude-4.5-opus", "claudeopus45"),
        ("claude-opus-4.1", "claudeopus41"),
        ("claude-sonnet-4.6", "claudesonnet46"),
        ("claude-sonnet-4.5", "claudesonnet45"),
        ("claude-haiku-4.5", "claudehaiku45"),
        ("claude-4.5-haiku", "claudehaiku45"),
        ("text-embedding-3-small", "v3small"),
        ("text-embedding-3-large", "v3large"),
        ("text-embedding-ada-002", "ada002"),
    ];
    for (name, argo_id) in expected {
        for spelling in [
            name.to_string(),
            argo_id.to_string(),
            format!("argo:{}", name.to_uppercase()),
        ] {
            let model = settings
                .models
                .resolve(&spelling)
                .unwrap_or_else(|| panic!("{spelling} missing"));
            assert_eq!(model.argo_id, argo_id);
        }
    }
    // Argo's live list of September 2026 (argo-api.md §C): 37 models, four aliases above.
    assert_eq!(settings.models.models().len(), expected.len() - 4);
    assert_eq!(settings.models.models().len(), 37);
    // Every observation since June 2026 used prod for every model, streams included.
    assert!(settings.models.environments().all(|env| env == "prod"));
    assert_eq!(settings.upstream.streaming_env, "");
    for name in ["claude-sonnet-5", "claude-opus-5", "claude-opus-4.8"] {
        let model = settings.models.resolve(name).unwrap();
        assert_eq!(model.sampling, Sampling::None, "{name}");
        assert_eq!(model.thinking, Thinking::Adaptive, "{name}");
    }
    for name in [
        "gpt-5.6-sol",
        "gpt-5.6-terra",
        "gpt-5.6-luna",
        "gpt-5.4-mini",
    ] {
        let model = settings.models.resolve(name).unwrap();
        assert!(
            model.reasoning && model.sampling == Sampling::None,
            "{name}"
        );
    }
    assert!(settings.model_rules.find("claudesonnet51").is_some());
    assert!(settings.models.resolve("o3").unwrap().reasoning);
    for retired in [
        "gpt-4",
        "gpt35",
        "claude-sonnet-4",
        "o1-mini",
        "gpt-4o-latest",
    ] {
        let error = settings.models.lookup(retired).unwrap_err();
        assert_eq!(error.status, 404, "{retired}");
        assert!(error.message.contains("retired"), "{}", error.message);
    }
}

#[test]
fn environment_overrides_listen_urls_and_tokens() {
    let mut config = shipped();
    let env = |key: &str| match key {
        "ARGO_BRIDGE_LISTEN" => Some("127.0.0.1:9999".to_string()),
        "ARGO_BRIDGE_ARGO_PROD_URL" => Some("http://127.0.0.1:7001/base/".to_string()),
        "ARGO_BRIDGE_ARGO_DEV_URL" | "ARGO_BRIDGE_ARGO_TEST_URL" => {
            Some("http://127.0.0.1:7002".to_string())
        }
        "ARGO_BRIDGE_TOKENS" => Some("secret-token-1=alice, secret-token-2=bob".to_string()),
        _ => None,
    };
    apply_env(&mut config, &env).unwrap();
    let settings = validate(config).unwrap();
    assert_eq!(settings.listen, "127.0.0.1:9999");
    let prod = &settings.environments["prod"];
    assert_eq!(
        (prod.tls, prod.port, prod.base_path.as_str()),
        (false, 7001, "/base")
    );
    assert_eq!(settings.auth.tokens["secret-token-2"], "bob");
    assert!(settings.admin.listen.is_empty());
    assert_eq!(settings.shutdown.grace_period_s, 30);
}

#[test]
fn argos_names_are_resolved_again_on_settings_of_their_own() {
    let mut config = shipped();
    config.upstream.environments.insert(
        "prod".into(),
        "https://argo-bridge-test.invalid/argoapi".into(),
    );
    let upstream = validate(config.clone()).unwrap().upstream;
    assert_eq!(
        (
            upstream.dns_refresh_interval_s,
            upstream.address_retry_after_ms
        ),
        (30, 10_000)
    );
    let env = |key: &str| match key {
        "ARGO_BRIDGE_DNS_REFRESH_INTERVAL_S" => Some("5".to_string()),
        "ARGO_BRIDGE_ADDRESS_RETRY_AFTER_MS" => Some("0".to_string()),
        _ => None,
    };
    apply_env(&mut config, &env).unwrap();
    assert_eq!(config.upstream.dns_refresh_interval_s, 5);
    let error = validate(config).unwrap_err().to_string();
    assert!(error.contains("upstream.address_retry_after_ms"), "{error}");
}

#[test]
fn shares_timeouts_and_the_cpu_pool_have_defaults_the_environment_overrides() {
    let mut config = shipped();
    let settings = validate(config.clone()).unwrap();
    let limits = &settings.limits;
    assert_eq!(limits.max_buffered_request_bytes_per_user, 64 * 1024 * 1024);
    assert_eq!(limits.client_write_timeout_ms, 30_000);
    assert_eq!(
        (
            limits.cpu_threads,
            limits.cpu_threads_per_user,
            limits.cpu_offload_bytes
        ),
        (0, 0, 64 * 1024)
    );
    assert_eq!(
        settings.upstream.max_buffered_answer_bytes_per_user,
        256 * 1024 * 1024
    );
    let env = |key: &str| match key {
        "ARGO_BRIDGE_MAX_BUFFERED_REQUEST_BYTES_PER_USER" => Some("8388608".to_string()),
        "ARGO_BRIDGE_MAX_BUFFERED_ANSWERS_BYTES_PER_USER" => Some("0".to_string()),
        "ARGO_BRIDGE_CLIENT_WRITE_TIMEOUT_MS" => Some("2000".to_string()),
        "ARGO_BRIDGE_CPU_THREADS" => Some("4".to_string()),
        "ARGO_BRIDGE_CPU_THREADS_PER_USER" => Some("1".to_string()),
        "ARGO_BRIDGE_CPU_OFFLOAD_BYTES" => Some("1024".to_string()),
        _ => None,
    };
    apply_env(&mut config, &env).unwrap();
    let settings = validate(config.clone()).unwrap();
    let limits = &settings.limits;
    assert_eq!(limits.max_buffered_request_bytes_per_user, 8 * 1024 * 1024);
    assert_eq!(settings.upstream.max_buffered_answer_bytes_per_user, 0);
    assert_eq!(limits.client_write_timeout_ms, 2000);
    assert_eq!(
        (
            limits.cpu_threads,
            limits.cpu_threads_per_user,
            limits.cpu_offload_bytes
        ),
        (4, 1, 1024)
    );
    // A share smaller than one body (or one answer) could never be used whole.
    let mut small = config.clone();
    small.limits.max_buffered_request_bytes_per_user = 1024;
    let error = validate(small).unwrap_err().to_string();
    assert!(
        error.contains("limits.max_buffered_request_bytes_per_user"),
        "{error}"
    );
    config.upstream.max_buffered_answer_bytes_per_user = 1024;
    let error = validate(config).unwrap_err().to_string();
    assert!(
        error.contains("upstream.max_buffered_answer_bytes_per_user"),
        "{error}"
    );
}

#[test]
fn shared_limits_are_off_by_default_and_set_by_the_environment() {
    let mut config = shipped();
    for url in config.upstream.environments.values_mut() {
        *url = "http://127.0.0.1:9".into();
    }
    let limits = validate(config.clone()).unwrap().limits;
    assert!(limits.redis_url.is_empty());
    assert_eq!(limits.redis_timeout_ms, 50);
    assert_eq!(limits.redis_key_prefix, "argo-bridge:limits:");
    assert_eq!(limits.redis_slot_lease_ms, 30_000);
    let env = |key: &str| match key {
        "ARGO_BRIDGE_REDIS_URL" => Some("redis://127.0.0.1:6379/2".to_string()),
        "ARGO_BRIDGE_REDIS_TIMEOUT_MS" => Some("20".to_string()),
        "ARGO_BRIDGE_REDIS_KEY_PREFIX" => Some("lab:".to_string()),
        "ARGO_BRIDGE_REDIS_SLOT_LEASE_MS" => Some("5000".to_string()),
        "ARGO_BRIDGE_RATE_LIMIT_RPM" => Some("30".to_string()),
        _ => None,
    };
    apply_env(&mut config, &env).unwrap();
    let limits = validate(config.clone()).unwrap().limits;
    assert_eq!(limits.redis_url, "redis://127.0.0.1:6379/2");
    assert_eq!(limits.redis_timeout_ms, 20);
    assert_eq!(limits.redis_key_prefix, "lab:");
    assert_eq!(limits.redis_slot_lease_ms, 5000);
    assert_eq!(limits.per_user_requests_per_minute, 30);
    config.limits.redis_url = "mysql://:secret@db".into();
    let error = validate(config).unwrap_err().to_string();
    assert!(error.contains("limits.redis_url"), "{error}");
    assert!(!error.contains("secret"), "{error}");
}

#[test]
fn environment_sets_the_admin_listener_and_shutdown() {
    let mut config = shipped();
    for url in config.upstream.environments.values_mut() {
        *url = "http://127.0.0.1:9".into();
    }
    let env = |key: &str| match key {
        "ARGO_BRIDGE_ADMIN_LISTEN" => Some("127.0.0.1:9102".to_string()),
        "ARGO_BRIDGE_GRACE_PERIOD_S" => Some("7".to_string()),
        "ARGO_BRIDGE_UPGRADE_SOCK" => Some("/run/x.sock".to_string()),
        _ => None,
    };
    apply_env(&mut config, &env).unwrap();
    let settings = validate(config.clone()).unwrap();
    assert_eq!(settings.admin.listen, "127.0.0.1:9102");
    assert_eq!(settings.shutdown.grace_period_s, 7);
    assert_eq!(settings.shutdown.upgrade_sock, "/run/x.sock");
    config.admin.listen = "nowhere".into();
    assert!(validate(config).unwrap_err().0.contains("admin.listen"));
}

#[test]
fn readiness_probes_and_the_metrics_token_come_from_file_or_environment() {
    let mut config = shipped();
    for url in config.upstream.environments.values_mut() {
        *url = "http://127.0.0.1:9".into();
    }
    let settings = validate(config.clone()).unwrap();
    assert_eq!(settings.readiness.probe_interval_ms, 5_000);
    assert_eq!(settings.readiness.probe_timeout_ms, 2_000);
    assert!(settings.admin.metrics_token.is_empty());
    let original = |key: &str| (key == "METRICS_TOKEN").then(|| "from-the-original".into());
    let mut with_original = config.clone();
    apply_env(&mut with_original, &original).unwrap();
    assert_eq!(with_original.admin.metrics_token, "from-the-original");
    let env = |key: &str| match key {
        "METRICS_TOKEN" => Some("from-the-original".to_string()),
        "ARGO_BRIDGE_METRICS_TOKEN" => Some("ours-wins".to_string()),
        "ARGO_BRIDGE_READINESS_PROBE_INTERVAL_MS" => Some("250".to_string()),
        "ARGO_BRIDGE_READINESS_PROBE_TIMEOUT_MS" => Some("100".to_string()),
        _ => None,
    };
    apply_env(&mut config, &env).unwrap();
    let settings = validate(config.clone()).unwrap();
    assert_eq!(settings.admin.metrics_token, "ours-wins");
    assert_eq!(settings.readiness.probe_interval_ms, 250);
    assert_eq!(settings.readiness.probe_timeout_ms, 100);
    config.readiness.probe_timeout_ms = 0;
    let error = validate(config).unwrap_err().to_string();
    assert!(error.contains("readiness.probe_timeout_ms"), "{error}");
}

#[test]
fn the_connection_cap_leaves_room_for_argo_and_the_admin_port() {
    let limits = "Limit                     Soft Limit           Hard Limit           Units     \n\
                  Max open files            1100                 524288               files     \n";
    assert_eq!(soft_open_files(limits), Some(1100));
    assert_eq!(soft_open_files("Max processes 10 10 processes\n"), None);
    // 1,100 descriptors: 64 kept, 64 for the admin port, half the rest for Argo.
    assert_eq!(derived_max_connections(1100, 64), 486);
    assert_eq!(derived_max_connections(1024, 0), 480);
    assert_eq!(derived_max_connections(100, 64), 16);
    let mut config = shipped();
    for url in config.upstream.environments.values_mut() {
        *url = "http://127.0.0.1:9".into();
    }
    let derived = validate(config.clone()).unwrap().limits.max_connections;
    assert_eq!(
        derived,
        derived_max_connections(open_files_limit(), 0),
        "no admin listener in the shipped file"
    );
    let env = |key: &str| match key {
        "ARGO_BRIDGE_MAX_CONNECTIONS" => Some("120".to_string()),
        "ARGO_BRIDGE_ADMIN_LISTEN" => Some("127.0.0.1:9090".to_string()),
        "ARGO_BRIDGE_ADMIN_MAX_CONNECTIONS" => Some("0".to_string()),
        _ => None,
    };
    apply_env(&mut config, &env).unwrap();
    let error = validate(config.clone()).unwrap_err().to_string();
    assert!(error.contains("admin.max_connections"), "{error}");
    config.admin.max_connections = 8;
    assert_eq!(validate(config).unwrap().limits.max_connections, 120);
}

#[test]
fn networks_contain_their_addresses() {
    let net = IpNet::parse("10.1.0.0/16").unwrap();
    assert!(net.contains("10.1.200.3".parse().unwrap()));
    assert!(!net.contains("10.2.0.1".parse().unwrap()));
    assert!(net.contains("::ffff:10.1.0.9".parse().unwrap()));
    let one = IpNet::parse("127.0.0.1").unwrap();
    assert!(one.contains("127.0.0.1".parse().unwrap()));
    assert!(!one.contains("127.0.0.2".parse().unwrap()));
    assert!(IpNet::parse("0.0.0.0/0")
        .unwrap()
        .contains("8.8.8.8".parse().unwrap()));
    assert!(IpNet::parse("fd00::/8")
        .unwrap()
        .contains("fd12::1".parse().unwrap()));
    assert_eq!(IpNet::parse("10.0.0.0/33"), None);
    assert_eq!(IpNet::parse("nonsense"), None);
}

#[test]
fn bad_config_names_the_field() {
    let base = std::fs::read_to_string(DEFAULT_PATH).unwrap();
    let cases = [
        (
            base.replace("listen: \"0.0.0.0:8080\"", "listen: \"nowhere\""),
            "`listen`",
        ),
        (
            base.replace("connect_timeout_ms: 5000", "connect_timeout_ms: soon"),
            "upstream.connect_timeout_ms",
        ),
        (
            base.replace("family: anthropic", "family: mystery"),
            "models[",
        ),
        (
            base.replace(
                "prod: \"https://apps.inside.anl.gov/argoapi\"",
                "prod: \"ftp://x\"",
            ),
            "upstream.environments.prod",
        ),
        (base.replace("mode: tokens", "mode: whatever"), "auth.mode"),
        (base.replace("limits:", "limitz:"), "limitz"),
    ];
    for (text, field) in cases {
        let result = parse(&text).and_then(|mut config| {
            for (name, url) in config.upstream.environments.iter_mut() {
                if name != "prod" || !url.starts_with("ftp") {
                    *url = "http://127.0.0.1:9".into();
                }
            }
            validate(config)
        });
        let message = result.err().map(|e| e.0).unwrap_or_default();
        assert!(message.contains(field), "expected {field} in: {message}");
    }
    let _ = load(Some("/nonexistent.yaml"), &no_env).err().unwrap();
}
