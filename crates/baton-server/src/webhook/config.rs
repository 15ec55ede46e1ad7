//! The webhook configuration file (`--webhooks FILE`, TOML): one table per hook, each with
//! the environment variable holding its secret and the rules that map events to workflows.
//!
//! ```toml
//! [hooks.github]                      # POST /api/webhook/github
//! secret_env = "BATON_GITHUB_WEBHOOK_SECRET"
//!
//! [[hooks.github.rules]]
//! event = "push"                      # X-GitHub-Event; omitted: any event
//! repository = "acme/k1-firmware"     # optional: payload repository.full_name
//! branch = "main"                     # optional: payload ref without refs/heads/
//! action = "opened"                   # optional: payload action
//! workflow = "k1_firmware_ci"
//! version = 3                         # optional: latest when omitted
//! input = { commit = "${payload.after}", branch = "${webhook.branch}" }
//! ```

use baton_engine::expr;
use serde::Deserialize;
use serde_json::{Map, Value};
use std::collections::BTreeMap;
use std::path::Path;

/// Longest hook name (it is part of the URL and of delivery records).
const MAX_HOOK_NAME: usize = 64;

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct File {
    #[serde(default)]
    hooks: BTreeMap<String, HookFile>,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct HookFile {
    secret_env: String,
    #[serde(default)]
    rules: Vec<Rule>,
}

/// One mapping from events to a workflow start.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Rule {
    pub event: Option<String>,
    pub repository: Option<String>,
    pub branch: Option<String>,
    pub action: Option<String>,
    pub workflow: String,
    pub version: Option<i32>,
    /// Workflow input: values may hold `${payload.…}` and `${webhook.…}` expressions.
    #[serde(default)]
    pub input: Map<String, Value>,
}

/// A configured hook, its secret resolved from the environment.
#[derive(Clone)]
pub struct Hook {
    pub name: String,
    pub secret: Vec<u8>,
    pub rules: Vec<Rule>,
}

impl std::fmt::Debug for Hook {
    // The secret stays out of debug output and logs.
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Hook")
            .field("name", &self.name)
            .field("rules", &self.rules)
            .finish_non_exhaustive()
    }
}

/// Every configured hook by name; empty when no file is given.
#[derive(Debug, Clone, Default)]
pub struct WebhookConfig {
    pub hooks: BTreeMap<String, Hook>,
}

impl WebhookConfig {
    /// Reads and checks `path`; secrets come from the environment through `env`.
    ///
    /// # Errors
    /// A message naming the file and the problem: unreadable, bad TOML, an unknown field, a
    /// bad hook name, a missing secret variable, an expression that does not parse.
    pub fn load(path: &Path, env: impl Fn(&str) -> Option<String>) -> Result<Self, String> {
        let text = std::fs::read_to_string(path)
            .map_err(|e| format!("webhooks file {}: {e}", path.display()))?;
        Self::parse(&text, env).map_err(|e| format!("webhooks file {}: {e}", path.display()))
    }

    /// [`WebhookConfig::load`] from text.
    ///
    /// # Errors
    /// As [`WebhookConfig::load`].
    pub fn parse(text: &str, env: impl Fn(&str) -> Option<String>) -> Result<Self, String> {
        let file: File = toml::from_str(text).map_err(|e| e.to_string())?;
        let mut hooks = BTreeMap::new();
        for (name, h) in file.hooks {
            if name.is_empty()
                || name.len() > MAX_HOOK_NAME
                || !name
                    .bytes()
                    .all(|b| b.is_ascii_alphanumeric() || b == b'-' || b == b'_')
            {
                return Err(format!(
                    "hooks.{name}: a hook name is 1 to {MAX_HOOK_NAME} letters, digits, '-' or '_'"
                ));
            }
            let secret = env(&h.secret_env)
                .filter(|s| !s.is_empty())
                .ok_or_else(|| {
                    format!(
                        "hooks.{name}.secret_env: the environment variable {} is not set or empty",
                        h.secret_env
                    )
                })?;
            for (i, r) in h.rules.iter().enumerate() {
                if r.workflow.trim().is_empty() {
                    return Err(format!("hooks.{name}.rules[{i}].workflow: cannot be empty"));
                }
                for (k, v) in &r.input {
                    expr::validate(v)
                        .map_err(|e| format!("hooks.{name}.rules[{i}].input.{k}: {e}"))?;
                }
            }
            hooks.insert(
                name.clone(),
                Hook {
                    name,
                    secret: secret.into_bytes(),
                    rules: h.rules,
                },
            );
        }
        Ok(WebhookConfig { hooks })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn env(name: &str) -> Option<String> {
        (name == "S").then(|| "s3cret".to_string())
    }

    #[test]
    fn parses_hooks_and_names_problems() {
        let ok = WebhookConfig::parse(
            r#"
            [hooks.github]
            secret_env = "S"
            [[hooks.github.rules]]
            event = "push"
            workflow = "ci"
            input = { commit = "${payload.after}" }
            "#,
            env,
        )
        .unwrap();
        assert_eq!(ok.hooks["github"].rules[0].workflow, "ci");
        assert_eq!(ok.hooks["github"].secret, b"s3cret");
        assert!(!format!("{:?}", ok).contains("s3cret"));

        let missing = WebhookConfig::parse("[hooks.x]\nsecret_env = \"NOPE\"\n", env).unwrap_err();
        assert!(missing.contains("NOPE"), "{missing}");
        let typo =
            WebhookConfig::parse("[hooks.x]\nsecret_env = \"S\"\nsecrt = 1\n", env).unwrap_err();
        assert!(typo.contains("secrt"), "{typo}");
        let bad_expr = WebhookConfig::parse(
            "[hooks.x]\nsecret_env = \"S\"\n[[hooks.x.rules]]\nworkflow = \"w\"\ninput = { a = \"${payload.x\" }\n",
            env,
        )
        .unwrap_err();
        assert!(bad_expr.contains("rules[0].input.a"), "{bad_expr}");
        let bad_name =
            WebhookConfig::parse("[hooks.\"a/b\"]\nsecret_env = \"S\"\n", env).unwrap_err();
        assert!(bad_name.contains("hook name"), "{bad_name}");
    }
}
