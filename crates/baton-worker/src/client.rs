//! [`Client`]: the worker endpoints of the Conductor task API over HTTP.

use baton_model::{Task, TaskResult};
use reqwest::{StatusCode, Url};
use std::time::Duration;

/// Why a call to the server did not succeed.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum ClientError {
    /// The base URL given to [`Client::new`] cannot be used.
    #[error("invalid server URL {url}: {reason}")]
    InvalidUrl {
        /// The URL as given.
        url: String,
        /// What is wrong with it.
        reason: String,
    },
    /// No answer: connection refused or reset, a timeout, a body cut short. Worth retrying.
    #[error("server unreachable: {0}")]
    Unreachable(#[source] reqwest::Error),
    /// The server answered with an error status.
    #[error("HTTP {status}: {message}")]
    Status {
        /// The HTTP status code.
        status: u16,
        /// The server's message (the `message` field of a Conductor error body, or the body).
        message: String,
    },
    /// The answer was not what the protocol promises.
    #[error("unexpected answer: {0}")]
    Decode(String),
}

impl ClientError {
    /// True for failures that may pass by themselves: the server is down or restarting
    /// (no answer, 5xx) or asks to slow down (429).
    pub fn is_retryable(&self) -> bool {
        match self {
            ClientError::Unreachable(_) | ClientError::Decode(_) => true,
            ClientError::Status { status, .. } => *status >= 500 || *status == 429,
            ClientError::InvalidUrl { .. } => false,
        }
    }
}

/// A handle on one server's task API; cheap to clone (the connection pool is shared).
#[derive(Debug, Clone)]
pub struct Client {
    http: reqwest::Client,
    /// Ends in `/api/`.
    api: Url,
    request_timeout: Duration,
}

impl Client {
    /// How long a call may take beyond its long-poll wait before it counts as unreachable.
    pub const DEFAULT_REQUEST_TIMEOUT: Duration = Duration::from_secs(30);

    /// A client for the server at `base_url`: `http://host:port` or `http://host:port/api`.
    ///
    /// # Errors
    /// [`ClientError::InvalidUrl`] if the URL does not parse or is not http(s).
    pub fn new(base_url: &str) -> Result<Self, ClientError> {
        let http = reqwest::Client::builder()
            .connect_timeout(Duration::from_secs(5))
            .build()
            .map_err(|e| ClientError::InvalidUrl {
                url: base_url.to_string(),
                reason: e.to_string(),
            })?;
        Self::with_http(base_url, http)
    }

    /// Like [`Client::new`] with an HTTP client of your own (proxies, TLS roots, headers).
    ///
    /// # Errors
    /// [`ClientError::InvalidUrl`] if the URL does not parse or is not http(s).
    pub fn with_http(base_url: &str, http: reqwest::Client) -> Result<Self, ClientError> {
        let invalid = |reason: &str| ClientError::InvalidUrl {
            url: base_url.to_string(),
            reason: reason.to_string(),
        };
        let mut url = Url::parse(base_url.trim()).map_err(|e| invalid(&e.to_string()))?;
        if url.scheme() != "http" && url.scheme() != "https" {
            return Err(invalid("the scheme must be http or https"));
        }
        if url.cannot_be_a_base() {
            return Err(invalid("not a base URL"));
        }
        let path = url.path().trim_end_matches('/').to_string();
        let path = if path.ends_with("/api") {
            format!("{path}/")
        } else {
            format!("{path}/api/")
        };
        url.set_path(&path);
        url.set_query(None);
        Ok(Client {
            http,
            api: url,
            request_timeout: Self::DEFAULT_REQUEST_TIMEOUT,
        })
    }

    /// Sets how long a call may take beyond its long-poll wait.
    pub fn request_timeout(mut self, timeout: Duration) -> Self {
        self.request_timeout = timeout;
        self
    }

    /// The API base this client talks to, ending in `/api/`.
    pub fn api_url(&self) -> &Url {
        &self.api
    }

    fn url(&self, segments: &[&str]) -> Url {
        let mut url = self.api.clone();
        if let Ok(mut path) = url.path_segments_mut() {
            path.pop_if_empty();
            path.extend(segments);
        }
        url
    }

    /// Claims up to `count` tasks of `task_type` (in `domain`, if given), waiting up to
    /// `wait` (at most 5 s, the protocol's bound) for the first one.
    ///
    /// # Errors
    /// [`ClientError`] when the server cannot be reached or refuses the poll.
    pub async fn batch_poll(
        &self,
        task_type: &str,
        worker_id: &str,
        domain: Option<&str>,
        count: usize,
        wait: Duration,
    ) -> Result<Vec<Task>, ClientError> {
        let wait = wait.min(Duration::from_millis(5000));
        let mut query = vec![
            ("workerid", worker_id.to_string()),
            ("count", count.max(1).to_string()),
            ("timeout", wait.as_millis().to_string()),
        ];
        if let Some(d) = domain.filter(|d| !d.is_empty()) {
            query.push(("domain", d.to_string()));
        }
        let resp = self
            .http
            .get(self.url(&["tasks", "poll", "batch", task_type]))
            .query(&query)
            .timeout(wait + self.request_timeout)
            .send()
            .await
            .map_err(ClientError::Unreachable)?;
        let resp = check(resp).await?;
        if resp.status() == StatusCode::NO_CONTENT {
            return Ok(Vec::new());
        }
        let bytes = resp.bytes().await.map_err(ClientError::Unreachable)?;
        if bytes.iter().all(u8::is_ascii_whitespace) {
            return Ok(Vec::new());
        }
        serde_json::from_slice(&bytes)
            .map_err(|e| ClientError::Decode(format!("batch poll answer is not a task list: {e}")))
    }

    /// Reports a result with `POST /api/tasks/update-v2`; the server answers with the next
    /// task of the same type for this worker when there is one (already claimed for it).
    ///
    /// # Errors
    /// [`ClientError`] when the server cannot be reached or refuses the update.
    pub async fn update_v2(&self, result: &TaskResult) -> Result<Option<Task>, ClientError> {
        let resp = self
            .http
            .post(self.url(&["tasks", "update-v2"]))
            .json(result)
            .timeout(self.request_timeout)
            .send()
            .await
            .map_err(ClientError::Unreachable)?;
        let resp = check(resp).await?;
        if resp.status() == StatusCode::NO_CONTENT {
            return Ok(None);
        }
        let bytes = resp.bytes().await.map_err(ClientError::Unreachable)?;
        if bytes.iter().all(u8::is_ascii_whitespace) {
            return Ok(None);
        }
        let task: Task = serde_json::from_slice(&bytes)
            .map_err(|e| ClientError::Decode(format!("update-v2 answer is not a task: {e}")))?;
        Ok(Some(task).filter(|t| !t.task_id.is_empty()))
    }

    /// Reports a result with `POST /api/tasks` (no next task in the answer). Also how lease
    /// heartbeats (`extendLease`) are sent.
    ///
    /// # Errors
    /// [`ClientError`] when the server cannot be reached or refuses the update.
    pub async fn update(&self, result: &TaskResult) -> Result<(), ClientError> {
        let resp = self
            .http
            .post(self.url(&["tasks"]))
            .json(result)
            .timeout(self.request_timeout)
            .send()
            .await
            .map_err(ClientError::Unreachable)?;
        check(resp).await?;
        Ok(())
    }

    /// Appends one line to a task's execution log.
    ///
    /// # Errors
    /// [`ClientError`] when the server cannot be reached or does not know the task.
    pub async fn add_log(&self, task_id: &str, line: &str) -> Result<(), ClientError> {
        let resp = self
            .http
            .post(self.url(&["tasks", task_id, "log"]))
            .header(reqwest::header::CONTENT_TYPE, "text/plain")
            .body(line.to_string())
            .timeout(self.request_timeout)
            .send()
            .await
            .map_err(ClientError::Unreachable)?;
        check(resp).await?;
        Ok(())
    }
}

/// Turns an error status into [`ClientError::Status`] with the server's message.
async fn check(resp: reqwest::Response) -> Result<reqwest::Response, ClientError> {
    let status = resp.status();
    if status.is_success() {
        return Ok(resp);
    }
    let body = resp.text().await.unwrap_or_default();
    let message = serde_json::from_str::<serde_json::Value>(&body)
        .ok()
        .and_then(|v| {
            v.get("message")
                .and_then(|m| m.as_str())
                .map(str::to_string)
        })
        .unwrap_or_else(|| body.chars().take(500).collect());
    Err(ClientError::Status {
        status: status.as_u16(),
        message,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn base_urls_with_and_without_api_end_in_api() {
        for base in [
            "http://127.0.0.1:8080",
            "http://127.0.0.1:8080/",
            "http://127.0.0.1:8080/api",
            "http://127.0.0.1:8080/api/",
        ] {
            let c = Client::new(base).expect(base);
            assert_eq!(c.api_url().as_str(), "http://127.0.0.1:8080/api/", "{base}");
        }
        let c = Client::new("http://h:1/prefix").expect("prefix");
        assert_eq!(
            c.url(&["tasks", "a b/c"]).as_str(),
            "http://h:1/prefix/api/tasks/a%20b%2Fc"
        );
    }

    #[test]
    fn bad_urls_are_refused_with_the_reason() {
        for bad in ["localhost:8080", "ftp://h/", "not a url"] {
            let e = Client::new(bad).expect_err(bad);
            assert!(e.to_string().contains("invalid server URL"), "{bad}: {e}");
            assert!(!e.is_retryable());
        }
    }
}
