//! Sampling, `thinking` and `output_config.effort` fitted to what the model takes.

use std::borrow::Cow;

use serde_json::{json, Value};

use crate::models::{thinking_budget, ModelSpec, Params, Thinking, MIN_THINKING_BUDGET};

use super::head::Head;

/// Which of the client's sampling members reach Argo.
pub(super) struct Sampling {
    pub(super) temperature: bool,
    pub(super) top_p: bool,
}

impl Sampling {
    /// The model table's rule ([`ModelSpec::fit`]); with thinking, only what Anthropic takes
    /// with it (temperature 1, `top_p` of at least 0.95).
    pub(super) fn fitted(head: &Head, model: &ModelSpec, thinks: bool) -> Self {
        let asked = Params {
            limit: None,
            temperature: head.temperature,
            top_p: head.top_p,
        };
        let fitted = model.fit(asked, true);
        Sampling {
            temperature: fitted
                .temperature
                .is_some_and(|temperature| !thinks || temperature == 1.0),
            top_p: fitted.top_p.is_some_and(|top_p| !thinks || top_p >= 0.95),
        }
    }
}

/// What becomes of the client's `thinking`.
#[derive(Debug, PartialEq)]
pub(super) enum ThinkingFit {
    /// Sent as the client wrote it (or not at all, when it sent none); whether it thinks.
    AsWritten { thinks: bool },
    /// Left out: the model does not think, or no budget of at least 1,024 fits below
    /// `max_tokens`.
    Dropped,
    /// Replaced by thinking the model takes.
    Replaced(Value),
}

impl ThinkingFit {
    pub(super) fn thinks(&self) -> bool {
        match self {
            ThinkingFit::AsWritten { thinks } => *thinks,
            ThinkingFit::Dropped => false,
            ThinkingFit::Replaced(_) => true,
        }
    }

    fn budgeted(&self) -> bool {
        match self {
            ThinkingFit::Replaced(value) => value["type"] == "enabled",
            _ => false,
        }
    }
}

/// The client's `thinking` fitted to what the model takes (argo-api.md §C): `enabled` to an
/// adaptive-only model becomes `adaptive`, `adaptive` to a budget-only model becomes `enabled`
/// with a budget from the effort (`high` without one), and either is dropped for a model
/// without thinking; a budget is kept below `max_tokens` (`None` for count_tokens, which has
/// no limit). `disabled`, and what no model takes, go as written (Argo judges the latter).
pub(super) fn fit_thinking(
    asked: Option<&Value>,
    effort: Option<&str>,
    model: Thinking,
    max_tokens: Option<u64>,
) -> ThinkingFit {
    let Some(asked) = asked else {
        return ThinkingFit::AsWritten { thinks: false };
    };
    let kind = asked.get("type").and_then(Value::as_str);
    match kind {
        Some("enabled" | "adaptive") if model == Thinking::None => ThinkingFit::Dropped,
        Some("enabled") if model.takes_budget() => {
            let budget = asked.get("budget_tokens").and_then(Value::as_u64);
            match (budget, max_tokens) {
                (Some(budget), Some(max_tokens)) if budget >= max_tokens => {
                    let fitted = max_tokens - 1;
                    if fitted < MIN_THINKING_BUDGET {
                        return ThinkingFit::Dropped;
                    }
                    let mut thinking = asked.clone();
                    thinking["budget_tokens"] = json!(fitted);
                    ThinkingFit::Replaced(thinking)
                }
                _ => ThinkingFit::AsWritten { thinks: true },
            }
        }
        Some("enabled") => ThinkingFit::Replaced(json!({"type": "adaptive"})),
        Some("adaptive") if model.takes_adaptive() => ThinkingFit::AsWritten { thinks: true },
        Some("adaptive") => {
            let budget = thinking_budget(effort.unwrap_or("high"), max_tokens.unwrap_or(u64::MAX));
            match budget {
                Some(budget) => {
                    ThinkingFit::Replaced(json!({"type": "enabled", "budget_tokens": budget}))
                }
                None => ThinkingFit::Dropped,
            }
        }
        _ => ThinkingFit::AsWritten { thinks: false },
    }
}

/// The client's `output_config`, without an `effort` the model does not take or that would go
/// beside budgeted thinking on a model without adaptive thinking (argo-api.md §A: thinking
/// and an effort together only there); left out when nothing else is in it.
pub(super) fn output_config<'a>(
    head: &Head,
    model: &ModelSpec,
    thinking: &ThinkingFit,
    raw: &'a [u8],
) -> Option<Cow<'a, [u8]>> {
    let Some(config) = &head.output_config else {
        return Some(Cow::Borrowed(raw));
    };
    let Some(effort) = config.get("effort").filter(|effort| !effort.is_null()) else {
        return Some(Cow::Borrowed(raw));
    };
    let taken = effort
        .as_str()
        .is_some_and(|effort| model.efforts.iter().any(|taken| taken == effort));
    let beside_budget = (thinking.budgeted()
        || head
            .thinking
            .as_ref()
            .is_some_and(|t| t["type"] == "enabled"))
        && !model.thinking.takes_adaptive();
    if taken && !beside_budget {
        return Some(Cow::Borrowed(raw));
    }
    let mut config = config.clone();
    config.remove("effort");
    (!config.is_empty()).then(|| Cow::Owned(Value::Object(config).to_string().into_bytes()))
}
