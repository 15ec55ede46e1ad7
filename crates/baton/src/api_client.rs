//! The HTTP plumbing of Baton's command-line clients (`baton schedule|workflow|def|task|
//! queue`): one request helper that turns the server's Conductor error body into an
//! [`ApiCallError`] carrying the status, from which `main` picks the exit code.

use anyhow::Context;
use serde_json::Value;
use std::time::Duration;

/// Exit codes scripts can rely on (0: the call succeeded).
pub mod exit {
    /// Anything else: a server error (5xx), a response that cannot be read.
    pub const FAILURE: i32 = 1;
    /// The request was refused as invalid (400), or a local check failed (bad JSON file,
    /// definition that does not validate). clap's own usage errors exit 2 as well.
    pub const INVALID: i32 = 2;
    /// The workflow, task, definition or schedule does not exist (404).
    pub const NOT_FOUND: i32 = 3;
    /// The operation conflicts with the current state (409), e.g. pausing an ended workflow.
    pub const CONFLICT: i32 = 4;
    /// The server could not be reached.
    pub const UNREACHABLE: i32 = 5;
}

/// A call the server refused, or could not be made.
#[derive(Debug)]
pub struct ApiCallError {
    /// The HTTP status, or None when the server was not reached.
    pub status: Option<u16>,
    pub message: String,
}

impl std::fmt::Display for ApiCallError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(&self.message)
    }
}

impl std::error::Error for ApiCallError {}

/// A local check failed (exit code [`exit::INVALID`]).
#[derive(Debug)]
pub struct InvalidInput(pub String);

impl std::fmt::Display for InvalidInput {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(&self.0)
    }
}

impl std::error::Error for InvalidInput {}

/// The exit code for an error of any command.
pub fn exit_code(e: &anyhow::Error) -> i32 {
    if e.downcast_ref::<InvalidInput>().is_some() {
        return exit::INVALID;
    }
    match e.downcast_ref::<ApiCallError>().map(|c| c.status) {
        Some(None) => exit::UNREACHABLE,
        Some(Some(400 | 413 | 422)) => exit::INVALID,
        Some(Some(404)) => exit::NOT_FOUND,
        Some(Some(409)) => exit::CONFLICT,
        _ => exit::FAILURE,
    }
}

pub struct Client {
    http: reqwest::Client,
    base: String,
    /// (key id, secret) for servers with authentication on, sent as basic auth.
    key: Option<(String, String)>,
}

impl Client {
    /// A client of the server at `server` (`http://host:port`, with or without `/api`).
    pub fn new(server: &str) -> anyhow::Result<Client> {
        let base = server.trim_end_matches('/');
        let base = base.strip_suffix("/api").unwrap_or(base).to_string();
        Ok(Client {
            http: reqwest::Client::builder()
                .timeout(Duration::from_secs(330))
                .build()
                .context("building the HTTP client")?,
            base,
            key: None,
        })
    }

    /// Authenticates every call with this API key (id, secret), if any.
    pub fn with_key(mut self, key: Option<(String, String)>) -> Client {
        self.key = key;
        self
    }

    /// Sends a request to `/api{path}`; answers the body of a 2xx, else an [`ApiCallError`]
    /// with the server's message.
    pub async fn call(
        &self,
        method: reqwest::Method,
        path: &str,
        body: Option<Value>,
    ) -> anyhow::Result<String> {
        let url = format!("{}/api{path}", self.base);
        let mut req = self.http.request(method.clone(), &url);
        if let Some((id, secret)) = &self.key {
            req = req.basic_auth(id, Some(secret));
        }
        if let Some(b) = body {
            req = req.json(&b);
        }
        let resp = req.send().await.map_err(|e| ApiCallError {
            status: None,
            message: format!("{method} {url}: cannot reach the server: {e}"),
        })?;
        let status = resp.status();
        let text = resp.text().await.unwrap_or_default();
        if !status.is_success() {
            let message = serde_json::from_str::<Value>(&text)
                .ok()
                .and_then(|v| v.get("message").and_then(Value::as_str).map(str::to_string))
                .unwrap_or(text);
            return Err(ApiCallError {
                status: Some(status.as_u16()),
                message: format!("{method} {url}: {status}: {message}"),
            }
            .into());
        }
        Ok(text)
    }

    /// GET that answers JSON.
    pub async fn json(&self, path: &str) -> anyhow::Result<Value> {
        let text = self.call(reqwest::Method::GET, path, None).await?;
        serde_json::from_str(&text).context("the server answered with invalid JSON")
    }

    /// A call with a JSON body whose answer is JSON (or nothing, as `null`).
    pub async fn send_json(
        &self,
        method: reqwest::Method,
        path: &str,
        body: Option<Value>,
    ) -> anyhow::Result<Value> {
        let text = self.call(method, path, body).await?;
        if text.trim().is_empty() {
            return Ok(Value::Null);
        }
        serde_json::from_str(&text).context("the server answered with invalid JSON")
    }
}

/// Path segment escaping for ids and names.
pub fn segment(s: &str) -> String {
    let mut out = String::with_capacity(s.len());
    for b in s.bytes() {
        if b.is_ascii_alphanumeric() || b"-_.~".contains(&b) {
            out.push(b as char);
        } else {
            out.push_str(&format!("%{b:02X}"));
        }
    }
    out
}

/// Epoch ms as `YYYY-MM-DDTHH:MM:SSZ` (civil-from-days; no date library needed).
pub fn rfc3339(ms: i64) -> String {
    let secs = ms.div_euclid(1000);
    let (days, rem) = (secs.div_euclid(86_400), secs.rem_euclid(86_400));
    let z = days + 719_468;
    let era = z.div_euclid(146_097);
    let doe = z.rem_euclid(146_097);
    let yoe = (doe - doe / 1460 + doe / 36_524 - doe / 146_096) / 365;
    let doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
    let mp = (5 * doy + 2) / 153;
    let d = doy - (153 * mp + 2) / 5 + 1;
    let m = if mp < 10 { mp + 3 } else { mp - 9 };
    let y = yoe + era * 400 + i64::from(m <= 2);
    format!(
        "{y:04}-{m:02}-{d:02}T{:02}:{:02}:{:02}Z",
        rem / 3600,
        rem % 3600 / 60,
        rem % 60
    )
}

/// Prints rows as a table: columns padded to their widest cell, two spaces apart.
pub fn print_table(header: &[&str], rows: &[Vec<String>]) {
    let mut widths: Vec<usize> = header.iter().map(|h| h.len()).collect();
    for r in rows {
        for (i, c) in r.iter().enumerate() {
            if let Some(w) = widths.get_mut(i) {
                *w = (*w).max(c.chars().count());
            }
        }
    }
    let line = |cells: Vec<&str>| {
        let mut out = String::new();
        for (i, c) in cells.iter().enumerate() {
            if i + 1 == cells.len() {
                out.push_str(c);
            } else {
                out.push_str(&format!("{c:<w$}  ", w = widths[i]));
            }
        }
        println!("{}", out.trim_end());
    };
    line(header.to_vec());
    for r in rows {
        line(r.iter().map(String::as_str).collect());
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn formats_utc_times_and_segments() {
        assert_eq!(rfc3339(0), "1970-01-01T00:00:00Z");
        assert_eq!(rfc3339(951_782_400_000), "2000-02-29T00:00:00Z");
        assert_eq!(rfc3339(1_700_000_000_123), "2023-11-14T22:13:20Z");
        assert_eq!(segment("a b/c"), "a%20b%2Fc");
    }

    #[test]
    fn exit_codes_follow_the_status() {
        let call = |status| {
            anyhow::Error::from(ApiCallError {
                status,
                message: String::new(),
            })
        };
        assert_eq!(exit_code(&call(Some(404))), exit::NOT_FOUND);
        assert_eq!(exit_code(&call(Some(409))), exit::CONFLICT);
        assert_eq!(exit_code(&call(Some(400))), exit::INVALID);
        assert_eq!(exit_code(&call(Some(500))), exit::FAILURE);
        assert_eq!(exit_code(&call(None)), exit::UNREACHABLE);
        assert_eq!(
            exit_code(&anyhow::Error::from(InvalidInput("x".into()))),
            exit::INVALID
        );
        assert_eq!(exit_code(&anyhow::anyhow!("other")), exit::FAILURE);
    }
}
