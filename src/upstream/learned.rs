//! Parameters Argo refused for a model, learned from its 400s while the process runs
//! ([`argo_filters::upstream::refusal`]): later calls of that model leave them out at once
//! instead of paying a refusal each.
//!
//! A call for a model with nothing learned pays one atomic load and a hash of its id: no
//! lock, no map. Each model id hashes to one of 64 bits, set once a rule for a model of that
//! bit is learned; only a set bit leads to the (read-locked) map.

use std::collections::BTreeMap;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::RwLock;

use crate::observe::metrics;

/// Most rules remembered over all models: Argo chooses what it refuses, and a client what it
/// sends, so past this a refusal still gets its one retry but is not remembered.
pub const MAX_LEARNED_RULES: usize = 1024;

/// The rules of this process.
pub static LEARNED: Learned = Learned::new();

pub struct Learned {
    /// Bit `hash(model) % 64` is set once a model of that bit has a rule.
    models: AtomicU64,
    /// Argo model id -> the top-level members its calls leave out.
    rules: RwLock<BTreeMap<String, Vec<String>>>,
}

impl Learned {
    const fn new() -> Self {
        Learned {
            models: AtomicU64::new(0),
            rules: RwLock::new(BTreeMap::new()),
        }
    }

    /// What calls of `model` leave out; `None` (most often without touching the map) when
    /// nothing was learned for it.
    pub fn for_model(&self, model: &str) -> Option<Vec<String>> {
        if self.models.load(Ordering::Acquire) & bit(model) == 0 {
            return None;
        }
        let rules = self
            .rules
            .read()
            .unwrap_or_else(|poison| poison.into_inner());
        rules.get(model).cloned()
    }

    /// Remembers that `model` refuses `parameter`: counted and logged once per model and
    /// parameter. Returns whether the rule is new.
    pub fn learn(&self, model: &str, parameter: &str) -> bool {
        let mut rules = self
            .rules
            .write()
            .unwrap_or_else(|poison| poison.into_inner());
        let known = rules
            .get(model)
            .is_some_and(|params| params.iter().any(|p| p == parameter));
        let total: usize = rules.values().map(Vec::len).sum();
        if known || total >= MAX_LEARNED_RULES {
            return false;
        }
        rules
            .entry(model.to_string())
            .or_default()
            .push(parameter.to_string());
        self.models.fetch_or(bit(model), Ordering::Release);
        drop(rules);
        metrics::LEARNED_RULES.with_label_values(&[model]).inc();
        log::warn!(
            "Argo refuses `{parameter}` for model {model}: calls of {model} leave it out from now on \
             (learned from its 400; add the rule to the model table to make it permanent)"
        );
        true
    }
}

/// The model's bit: FNV-1a of its id, a few instructions a byte (ids are short and chosen by
/// the table, not by clients, so no keyed hash is needed).
fn bit(model: &str) -> u64 {
    let hash = model.bytes().fold(0xcbf2_9ce4_8422_2325_u64, |hash, byte| {
        (hash ^ u64::from(byte)).wrapping_mul(0x0100_0000_01b3)
    });
    1 << (hash % 64)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_rule_is_learned_once_and_only_for_its_model() {
        let learned = Learned::new();
        assert_eq!(learned.for_model("gpt7"), None);
        assert!(learned.learn("gpt7", "top_p"));
        assert!(!learned.learn("gpt7", "top_p"), "known already");
        assert!(learned.learn("gpt7", "seed"));
        assert_eq!(
            learned.for_model("gpt7"),
            Some(vec!["top_p".to_string(), "seed".to_string()])
        );
        assert_eq!(learned.for_model("gpt4o"), None);
    }

    #[test]
    fn the_rules_are_bounded() {
        let learned = Learned::new();
        for n in 0..MAX_LEARNED_RULES {
            assert!(learned.learn(&format!("m{}", n % 7), &format!("p{n}")));
        }
        assert!(!learned.learn("m0", "one_more"));
        assert_eq!(learned.for_model("m99"), None);
    }
}
