//! What the mock Argo saw: its per-endpoint request counters (`GET /__mock/stats`), read before
//! and after a run to check that the answers came from the Argo endpoint the workload is about.
//! A gateway that answers correctly from another endpoint (the resource API when it was told
//! to use the native one) would otherwise pass for a fast, healthy row.

use std::collections::BTreeMap;
use std::net::SocketAddr;
use std::time::Duration;

use serde_json::Value;

use crate::http::{Conn, Request};
use crate::run::MARKER;

/// Requests per endpoint name (`chat`, `streamchat`, `embed`, `chat_completions`, `messages`,
/// `embeddings`, `models`, `other`).
pub type Counts = BTreeMap<String, u64>;

/// The mock's counters now; `None` when it does not answer them.
pub async fn endpoint_counts(mock: SocketAddr) -> Option<Counts> {
    let read = async {
        let mut conn = Conn::connect(mock).await.ok()?;
        let (outcome, body) = conn
            .fetch(&Request::get("/__mock/stats"), MARKER)
            .await
            .ok()?;
        (outcome.status == 200).then_some(body)
    };
    let body = tokio::time::timeout(Duration::from_secs(5), read)
        .await
        .ok()??;
    parse(&body)
}

fn parse(body: &[u8]) -> Option<Counts> {
    let stats: Value = serde_json::from_slice(body).ok()?;
    Some(
        stats
            .get("endpoints")?
            .as_object()?
            .iter()
            .filter_map(|(name, count)| Some((name.clone(), count.as_u64()?)))
            .collect(),
    )
}

/// `None` when `expected` served at least `answered` requests between the two readings;
/// otherwise what the mock saw instead.
pub fn check(before: &Counts, after: &Counts, expected: &str, answered: u64) -> Option<String> {
    let delta = |name: &str| {
        after
            .get(name)
            .copied()
            .unwrap_or(0)
            .saturating_sub(before.get(name).copied().unwrap_or(0))
    };
    let served = delta(expected);
    if served >= answered {
        return None;
    }
    let elsewhere: Vec<String> = after
        .keys()
        .filter(|name| name.as_str() != expected && name.as_str() != "models")
        .filter_map(|name| {
            let count = delta(name);
            (count > 0).then(|| format!("{name} +{count}"))
        })
        .collect();
    Some(format!(
        "wrong Argo endpoint: {answered} answers, the mock's {expected} served {served}{}",
        if elsewhere.is_empty() {
            String::new()
        } else {
            format!(" ({})", elsewhere.join(", "))
        }
    ))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn reads_the_endpoint_counters() {
        let body = br#"{"endpoints":{"chat":3,"chat_completions":0,"models":2},"requests":3}"#;
        let counts = parse(body).unwrap();
        assert_eq!(counts["chat"], 3);
        assert_eq!(counts["models"], 2);
        assert!(parse(b"{}").is_none());
    }

    #[test]
    fn answers_must_come_from_the_expected_endpoint() {
        let before: Counts = [("chat".into(), 10), ("chat_completions".into(), 5)].into();
        let native: Counts = [("chat".into(), 10), ("chat_completions".into(), 105)].into();
        assert_eq!(check(&before, &native, "chat_completions", 100), None);
        let resource: Counts = [
            ("chat".into(), 110),
            ("chat_completions".into(), 5),
            ("models".into(), 1),
        ]
        .into();
        assert_eq!(
            check(&before, &resource, "chat_completions", 100).as_deref(),
            Some("wrong Argo endpoint: 100 answers, the mock's chat_completions served 0 (chat +100)")
        );
    }
}
