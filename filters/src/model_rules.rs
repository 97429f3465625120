//! Rules for models no table row knows (`model_rules:` beside the table in `conf/`).
//!
//! Argo lists a new model before any table row knows its parameter rules, and Argo refuses what
//! the model does not take (argo-api.md §C: Claude Sonnet 5 answers 400 to `temperature`). A
//! rule gives such a model the table's optional columns from its Argo id: a pattern (`claudeopus*`)
//! and a lowest version (`4.7`). The first rule that matches wins; rules are checked when the
//! configuration is loaded, so that a rule no model can reach is an error, not a silent no-op.
//!
//! An Argo id's version is its first run of digits: the first digit the major version, the rest
//! the minor (`claudeopus47` is 4.7, `claudesonnet5` is 5, `gpt56sol` is 5.6, `claudeopus410`
//! would be 4.10). Argo's ids have spelled versions so since 2024 (`gpt4o`, `gpt41`,
//! `gemini25pro`, `claudesonnet45`); a two-digit major version would need a new reading.

use std::fmt;

use serde::Deserialize;

use crate::models::{ModelSpec, Sampling, Thinking, ToolMode};
use crate::usage::Tokenizer;

/// A model version, `major.minor` (`5` is 5.0).
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
pub struct Version {
    pub major: u32,
    pub minor: u32,
}

impl Version {
    /// The version an Argo id spells (see the module's comment); `None` without digits.
    pub fn of_argo_id(argo_id: &str) -> Option<Version> {
        let start = argo_id.find(|c: char| c.is_ascii_digit())?;
        let digits: &str = argo_id[start..]
            .split(|c: char| !c.is_ascii_digit())
            .next()?;
        let (major, minor) = digits.split_at(1);
        Some(Version {
            major: major.parse().ok()?,
            minor: if minor.is_empty() {
                0
            } else {
                minor.parse().ok()?
            },
        })
    }
}

impl TryFrom<String> for Version {
    type Error = String;

    /// `"5"` or `"4.7"`. Written as text in the YAML: a number would read `4.10` as 4.1.
    fn try_from(text: String) -> Result<Version, String> {
        let number = |part: &str| part.parse::<u32>().ok();
        let parsed = match text.split_once('.') {
            Some((major, minor)) => number(major).zip(number(minor)),
            None => number(&text).map(|major| (major, 0)),
        };
        parsed
            .map(|(major, minor)| Version { major, minor })
            .ok_or_else(|| format!("`{text}` is not a version like \"4.7\" or \"5\""))
    }
}

impl<'de> Deserialize<'de> for Version {
    fn deserialize<D: serde::Deserializer<'de>>(deserializer: D) -> Result<Version, D::Error> {
        Version::try_from(String::deserialize(deserializer)?).map_err(serde::de::Error::custom)
    }
}

impl fmt::Display for Version {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}.{}", self.major, self.minor)
    }
}

/// One rule: the Argo ids it matches and the columns it gives them. Each column it leaves out
/// keeps what the id alone tells (see `live_models`).
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ModelRule {
    /// An Argo id, or a prefix ending in `*` (`claudeopus*`); case-insensitive.
    pub argo_id: String,
    /// The lowest version the rule applies to; unset: any, even an id without digits.
    #[serde(default)]
    pub from_version: Option<Version>,
    #[serde(default)]
    pub sampling: Option<Sampling>,
    #[serde(default)]
    pub thinking: Option<Thinking>,
    #[serde(default)]
    pub reasoning: Option<bool>,
    #[serde(default)]
    pub tools: Option<ToolMode>,
    #[serde(default)]
    pub stream: Option<bool>,
    #[serde(default)]
    pub max_tokens_cap: Option<u64>,
    #[serde(default)]
    pub default_max_tokens: Option<u64>,
    #[serde(default)]
    pub efforts: Option<Vec<String>>,
    #[serde(default)]
    pub top_k: Option<bool>,
    #[serde(default)]
    pub tokenizer: Option<Tokenizer>,
}

impl ModelRule {
    /// The pattern, lower-cased, and whether it is a prefix (ends in `*`).
    fn pattern(&self) -> (String, bool) {
        let lower = self.argo_id.trim().to_ascii_lowercase();
        match lower.strip_suffix('*') {
            Some(prefix) => (prefix.to_string(), true),
            None => (lower, false),
        }
    }

    /// Whether the rule is for `argo_id` (lower-cased).
    fn matches(&self, argo_id: &str) -> bool {
        let (pattern, prefix) = self.pattern();
        let named = match prefix {
            true => argo_id.starts_with(&pattern),
            false => argo_id == pattern,
        };
        named
            && self.from_version.is_none_or(|lowest| {
                Version::of_argo_id(argo_id).is_some_and(|version| version >= lowest)
            })
    }

    /// Whether every id this rule matches is matched by `self` too (`self` coming first, the
    /// rule would never apply).
    fn covers(&self, later: &ModelRule) -> bool {
        let ((mine, my_prefix), (theirs, their_prefix)) = (self.pattern(), later.pattern());
        match (my_prefix, their_prefix) {
            // The later rule names one id: whether this one matches it.
            (_, false) => self.matches(&theirs),
            (true, true) => theirs.starts_with(&mine) && self.from_version <= later.from_version,
            (false, true) => false,
        }
    }

    /// Writes the rule's columns into `spec`.
    fn apply(&self, spec: &mut ModelSpec) {
        set(&mut spec.sampling, self.sampling);
        set(&mut spec.thinking, self.thinking);
        set(&mut spec.reasoning, self.reasoning);
        set(&mut spec.tools, self.tools);
        set(&mut spec.stream, self.stream);
        set(&mut spec.top_k, self.top_k);
        if self.max_tokens_cap.is_some() {
            spec.max_tokens_cap = self.max_tokens_cap;
        }
        if self.default_max_tokens.is_some() {
            spec.default_max_tokens = self.default_max_tokens;
        }
        if self.tokenizer.is_some() {
            spec.tokenizer = self.tokenizer;
        }
        if let Some(efforts) = &self.efforts {
            spec.efforts = efforts.clone();
        }
    }

    fn check(&self) -> Result<(), String> {
        let (pattern, _) = self.pattern();
        if pattern.is_empty() && !self.argo_id.contains('*') {
            return Err("`argo_id` is empty".into());
        }
        if pattern.contains('*') {
            return Err(format!(
                "`argo_id` `{}` has a `*` before its end (only a trailing `*` is understood)",
                self.argo_id
            ));
        }
        Ok(())
    }
}

fn set<T>(column: &mut T, value: Option<T>) {
    if let Some(value) = value {
        *column = value;
    }
}

/// The rules in their order: the first that matches an id wins.
#[derive(Debug, Clone, Default)]
pub struct ModelRules(Vec<ModelRule>);

/// A rule that cannot work, by its position in the list.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RuleError {
    pub index: usize,
    pub message: String,
}

impl fmt::Display for RuleError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "model_rules[{}]: {}", self.index, self.message)
    }
}

impl ModelRules {
    /// The rules, each checked: a well-formed pattern, and reachable (no earlier rule matches
    /// every id it does).
    pub fn new(rules: Vec<ModelRule>) -> Result<ModelRules, RuleError> {
        for (index, rule) in rules.iter().enumerate() {
            rule.check()
                .map_err(|message| RuleError { index, message })?;
            if let Some(earlier) = rules[..index].iter().position(|first| first.covers(rule)) {
                return Err(RuleError {
                    index,
                    message: format!(
                        "never applies: model_rules[{earlier}] (`{}`) comes first and matches every id it does",
                        rules[earlier].argo_id
                    ),
                });
            }
        }
        Ok(ModelRules(rules))
    }

    /// The first rule for `argo_id`.
    pub fn find(&self, argo_id: &str) -> Option<&ModelRule> {
        let lower = argo_id.trim().to_ascii_lowercase();
        self.0.iter().find(|rule| rule.matches(&lower))
    }

    /// Gives `spec` the columns of the first rule for its Argo id, if any.
    pub fn apply(&self, spec: &mut ModelSpec) {
        if let Some(rule) = self.find(&spec.argo_id) {
            rule.apply(spec);
        }
    }

    pub fn rules(&self) -> &[ModelRule] {
        &self.0
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::models::{Family, Kind};

    /// The rules `conf/argo-bridge.yaml` ships, as YAML.
    fn shipped() -> ModelRules {
        let text = std::fs::read_to_string(concat!(
            env!("CARGO_MANIFEST_DIR"),
            "/../conf/argo-bridge.yaml"
        ))
        .unwrap();
        let config: yaml_serde::Value = yaml_serde::from_str(&text).unwrap();
        let rules: Vec<ModelRule> = yaml_serde::from_value(config["model_rules"].clone()).unwrap();
        ModelRules::new(rules).unwrap()
    }

    fn rules(yaml: &str) -> Result<ModelRules, RuleError> {
        ModelRules::new(yaml_serde::from_str(yaml).unwrap())
    }

    fn inferred(rules: &ModelRules, argo_id: &str, family: Family) -> ModelSpec {
        let mut spec = ModelSpec::new(argo_id, argo_id, family, Kind::Chat);
        rules.apply(&mut spec);
        spec
    }

    #[test]
    fn versions_are_read_from_argo_ids() {
        let version = |id: &str| Version::of_argo_id(id).map(|v| v.to_string());
        assert_eq!(version("claudeopus47").as_deref(), Some("4.7"));
        assert_eq!(version("claudesonnet5").as_deref(), Some("5.0"));
        assert_eq!(version("claudesonnet51").as_deref(), Some("5.1"));
        assert_eq!(version("gpt56sol").as_deref(), Some("5.6"));
        assert_eq!(version("gpt54mini").as_deref(), Some("5.4"));
        assert_eq!(version("claudeopus410").as_deref(), Some("4.10"));
        assert_eq!(version("gpto3"), Some("3.0".to_string()));
        assert_eq!(version("claudehaiku"), None);
        assert!(Version::of_argo_id("claudeopus410") > Version::of_argo_id("claudeopus49"));
        assert!(Version::try_from("4.7".to_string()).is_ok());
        assert!(Version::try_from("4.x".to_string()).is_err());
        assert!(Version::try_from(String::new()).is_err());
    }

    #[test]
    fn the_shipped_rules_give_new_claude_and_gpt_models_argos_rules() {
        let rules = shipped();
        for id in [
            "claudeopus47",
            "claudeopus48",
            "claudeopus5",
            "claudeopus51",
        ] {
            let spec = inferred(&rules, id, Family::Anthropic);
            assert_eq!(spec.sampling, Sampling::None, "{id}");
            assert_eq!(spec.thinking, Thinking::Adaptive, "{id}");
        }
        for id in [
            "claudesonnet5",
            "claudesonnet51",
            "claudesonnet6",
            "ClaudeSonnet52",
        ] {
            let spec = inferred(&rules, id, Family::Anthropic);
            assert_eq!(
                (spec.sampling, spec.thinking),
                (Sampling::None, Thinking::Adaptive),
                "{id}"
            );
        }
        // Older Claude models take temperature or top_p, one at a time (the table's rows).
        for id in ["claudeopus46", "claudesonnet47", "claudehaiku5"] {
            assert_eq!(
                inferred(&rules, id, Family::Anthropic).sampling,
                Sampling::OneOf,
                "{id}"
            );
        }
        for id in ["gpt5", "gpt54mini", "gpt56sol", "gpt56luna", "gpt57"] {
            let spec = inferred(&rules, id, Family::Openai);
            assert_eq!(
                (spec.sampling, spec.reasoning),
                (Sampling::None, true),
                "{id}"
            );
        }
        for id in ["gpt41", "gpt4o", "gemini4pro"] {
            let spec = inferred(&rules, id, Family::Openai);
            assert_eq!(
                (spec.sampling, spec.reasoning),
                (Sampling::Any, false),
                "{id}"
            );
        }
    }

    #[test]
    fn the_first_matching_rule_wins_and_columns_left_out_stay() {
        let rules = rules(
            r#"
            - { argo_id: "claudeopus*", from_version: "4.7", sampling: none, thinking: adaptive }
            - { argo_id: "claude*", sampling: one_of, max_tokens_cap: 21000, efforts: ["low"] }
            "#,
        )
        .unwrap();
        let mut spec = ModelSpec::new("c", "claudeopus48", Family::Anthropic, Kind::Chat);
        spec.default_max_tokens = Some(16384);
        rules.apply(&mut spec);
        assert_eq!(spec.sampling, Sampling::None);
        assert_eq!(spec.max_tokens_cap, None, "only the first rule applies");
        assert_eq!(
            spec.default_max_tokens,
            Some(16384),
            "not in the rule: kept"
        );
        let older = inferred(&rules, "claudeopus46", Family::Anthropic);
        assert_eq!(older.sampling, Sampling::OneOf);
        assert_eq!(older.max_tokens_cap, Some(21000));
        assert_eq!(older.efforts, vec!["low".to_string()]);
        assert!(rules.find("gpt5").is_none());
    }

    #[test]
    fn rules_that_cannot_work_are_refused_naming_the_rule() {
        let unreachable = rules(
            r#"
            - { argo_id: "claude*", sampling: one_of }
            - { argo_id: "claudeopus*", from_version: "4.7", sampling: none }
            "#,
        )
        .unwrap_err();
        assert_eq!(unreachable.index, 1);
        assert!(
            unreachable.to_string().contains("model_rules[0]"),
            "{unreachable}"
        );
        let lower_first = rules(
            r#"
            - { argo_id: "claudeopus*", from_version: "4.7" }
            - { argo_id: "claudeopus*", from_version: "5" }
            "#,
        )
        .unwrap_err();
        assert_eq!(lower_first.index, 1);
        // The other way round both apply: 5 and later first, then 4.7 and later.
        assert!(rules(
            r#"
            - { argo_id: "claudeopus*", from_version: "5" }
            - { argo_id: "claudeopus*", from_version: "4.7" }
            - { argo_id: "claudeopus47" }
            "#
        )
        .is_err_and(|e| e.index == 2));
        let inner_star = rules(r#"[{ argo_id: "claude*opus" }]"#).unwrap_err();
        assert!(inner_star.message.contains("`*`"), "{inner_star}");
        assert!(rules(r#"[{ argo_id: "" }]"#).is_err());
        assert!(
            yaml_serde::from_str::<Vec<ModelRule>>(r#"[{ argo_id: "x", colour: red }]"#).is_err()
        );
        let bad_version =
            yaml_serde::from_str::<Vec<ModelRule>>(r#"[{ argo_id: "x", from_version: "v5" }]"#)
                .unwrap_err();
        assert!(bad_version.to_string().contains("v5"), "{bad_version}");
    }
}
