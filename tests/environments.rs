//! Which Argo environment serves what: streams the model's own environment (every observation
//! since June 2026 used prod for every model, streams included, argo-api.md §C), or every
//! stream one environment as the original bridge sent them all to dev (`streaming_env: dev`);
//! embeddings prod, in batches of 16 texts made at once.

// Test code, helpers too: under #![cfg(test)] clippy.toml's allow-unwrap-in-tests and
// allow-expect-in-tests cover the whole file, not only #[test] functions (rust-clippy#11119).
#![cfg(test)]

mod common;

use common::*;
use serde_json::{json, Value};

fn mock_requests(port: u16) -> u64 {
    request(port, "GET", "/argoapi/__mock/stats", &[], b"").json()["requests"]
        .as_u64()
        .unwrap()
}

struct TwoEnvironments {
    gateway: u16,
    prod: u16,
    dev: u16,
    _processes: [Process; 3],
}

fn two_environments(env: &[(&str, &str)]) -> TwoEnvironments {
    let (prod_mock, prod) = start_mock(&[]);
    let (dev_mock, dev) = start_mock(&[]);
    let mut all = vec![
        ("ARGO_BRIDGE_ARGO_DEV_URL", argo_base(dev)),
        ("ARGO_BRIDGE_ARGO_TEST_URL", argo_base(dev)),
    ];
    all.extend(env.iter().map(|(key, value)| (*key, value.to_string())));
    let env: Vec<(&str, &str)> = all.iter().map(|(k, v)| (*k, v.as_str())).collect();
    let (gateway_process, gateway) = start_gateway(&argo_base(prod), &env);
    TwoEnvironments {
        gateway,
        prod,
        dev,
        _processes: [gateway_process, prod_mock, dev_mock],
    }
}

#[test]
fn streams_go_to_the_models_environment_unless_streaming_env_names_one() {
    let setup = two_environments(&[]);
    let chat = json!({"model": "gpt-4o", "messages": [{"role": "user", "content": "hi"}]});
    assert_eq!(
        post_as_alice(setup.gateway, "/v1/chat/completions", &chat.to_string()).status,
        200
    );
    assert_eq!(
        (mock_requests(setup.prod), mock_requests(setup.dev)),
        (1, 0)
    );
    let mut stream = chat.clone();
    stream["stream"] = json!(true);
    let streamed = post_as_alice(setup.gateway, "/v1/chat/completions", &stream.to_string());
    assert!(streamed.text().ends_with("data: [DONE]\n\n"));
    assert_eq!(
        (mock_requests(setup.prod), mock_requests(setup.dev)),
        (2, 0),
        "by default a stream goes to its model's environment"
    );
    let claude = json!({"model": "claude-sonnet-4.5", "stream": true,
        "messages": [{"role": "user", "content": "hi"}]});
    post_as_alice(setup.gateway, "/v1/chat/completions", &claude.to_string());
    assert_eq!(
        (mock_requests(setup.prod), mock_requests(setup.dev)),
        (3, 0),
        "every shipped model is a prod model"
    );

    let to_dev = two_environments(&[("ARGO_BRIDGE_STREAMING_ENV", "dev")]);
    post_as_alice(to_dev.gateway, "/v1/chat/completions", &stream.to_string());
    assert_eq!(
        (mock_requests(to_dev.prod), mock_requests(to_dev.dev)),
        (0, 1),
        "the original bridge's routing, one setting away: gpt-4o's stream went to dev"
    );
}

#[test]
fn embeddings_go_to_prod_in_concurrent_batches_of_16_in_order() {
    let setup = two_environments(&[("ARGO_BRIDGE_EMBEDDINGS_ENV", "prod")]);
    let texts: Vec<String> = (0..40).map(|i| format!("text number {i}")).collect();
    let batch = json!({"model": "text-embedding-3-small", "input": texts});
    let answer = post_as_alice(setup.gateway, "/v1/embeddings", &batch.to_string());
    assert_eq!(answer.status, 200, "{}", answer.text());
    assert_eq!(
        (mock_requests(setup.prod), mock_requests(setup.dev)),
        (3, 0),
        "16 + 16 + 8 texts"
    );
    let data = answer.json()["data"].as_array().unwrap().clone();
    assert_eq!(data.len(), 40);
    for index in [0, 15, 16, 39] {
        let single = json!({"model": "text-embedding-3-small", "input": texts[index]});
        let alone: Value =
            post_as_alice(setup.gateway, "/v1/embeddings", &single.to_string()).json();
        assert_eq!(data[index]["index"], index);
        assert_eq!(
            data[index]["embedding"], alone["data"][0]["embedding"],
            "vector {index} in its place"
        );
    }

    let small_batches = two_environments(&[
        ("ARGO_BRIDGE_EMBED_BATCH_SIZE", "5"),
        ("ARGO_BRIDGE_EMBEDDINGS_ENV", "dev"),
    ]);
    let answer = post_as_alice(small_batches.gateway, "/v1/embeddings", &batch.to_string());
    assert_eq!(answer.status, 200);
    assert_eq!(
        (
            mock_requests(small_batches.prod),
            mock_requests(small_batches.dev)
        ),
        (0, 8)
    );
}
