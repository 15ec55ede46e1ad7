//! The protocol between the server and its sandbox workers.
//!
//! A message is two frames, each an unsigned 64-bit little-endian length
//! followed by that many bytes: a JSON header ([`Request`] or [`Response`])
//! and a payload. The payload of a request is the input document as JSON
//! text (empty for checks); the payload of a successful response is the
//! result as JSON text (JavaScript: the completion value, empty meaning
//! `null`; jq: an array of every emitted value; checks: empty).

use crate::{Limits, ScriptError};
use serde::{Deserialize, Serialize};
use std::io::{self, Read, Write};
use std::time::Duration;

/// Largest frame a worker accepts from the server (the server is trusted;
/// this only guards against a corrupted stream).
pub(crate) const MAX_REQUEST_FRAME: u64 = 4 * 1024 * 1024 * 1024;

/// What a request asks the worker to do.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub(crate) enum Op {
    EvalJs,
    EvalJq,
    CheckJs,
    CheckJq,
}

/// Header of a request.
#[derive(Debug, Serialize, Deserialize)]
pub(crate) struct Request {
    pub op: Op,
    pub script: String,
    pub time_ms: u64,
    pub memory_bytes: u64,
}

impl Request {
    pub fn new(op: Op, script: &str, limits: &Limits) -> Self {
        Request {
            op,
            script: script.to_owned(),
            time_ms: u64::try_from(limits.time.as_millis()).unwrap_or(u64::MAX),
            memory_bytes: u64::try_from(limits.memory_bytes).unwrap_or(u64::MAX),
        }
    }

    pub fn limits(&self) -> Limits {
        Limits {
            time: Duration::from_millis(self.time_ms),
            memory_bytes: usize::try_from(self.memory_bytes).unwrap_or(usize::MAX),
        }
    }
}

/// Header of a response.
#[derive(Debug, Serialize, Deserialize)]
pub(crate) struct Response {
    /// Why the evaluation failed; `None` on success.
    pub error: Option<WireError>,
    /// The worker holds on to more memory than it should keep between
    /// evaluations: the server replaces it instead of reusing it.
    pub retire: bool,
}

/// A [`ScriptError`] on the wire.
#[derive(Debug, Serialize, Deserialize)]
pub(crate) struct WireError {
    pub kind: ErrorKind,
    pub message: String,
}

/// The [`ScriptError`] variant of a [`WireError`].
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub(crate) enum ErrorKind {
    Syntax,
    Runtime,
    Timeout,
    OutOfMemory,
    Jq,
}

impl WireError {
    pub fn from_error(error: ScriptError) -> Self {
        let (kind, message) = match error {
            ScriptError::Syntax(m) => (ErrorKind::Syntax, m),
            ScriptError::Runtime(m) => (ErrorKind::Runtime, m),
            ScriptError::Jq(m) => (ErrorKind::Jq, m),
            ScriptError::Timeout(_) => (ErrorKind::Timeout, String::new()),
            ScriptError::OutOfMemory(_) => (ErrorKind::OutOfMemory, String::new()),
        };
        WireError { kind, message }
    }

    /// The error, with the limits of the request it answers.
    pub fn into_error(self, limits: &Limits) -> ScriptError {
        match self.kind {
            ErrorKind::Syntax => ScriptError::Syntax(self.message),
            ErrorKind::Runtime => ScriptError::Runtime(self.message),
            ErrorKind::Jq => ScriptError::Jq(self.message),
            ErrorKind::Timeout => ScriptError::Timeout(limits.time),
            ErrorKind::OutOfMemory => ScriptError::OutOfMemory(limits.memory_bytes),
        }
    }
}

/// Appends one frame holding `bytes` to `out`.
pub(crate) fn push_frame(out: &mut Vec<u8>, bytes: &[u8]) {
    out.extend_from_slice(&(bytes.len() as u64).to_le_bytes());
    out.extend_from_slice(bytes);
}

/// Appends one frame whose content `fill` writes, without an intermediate
/// buffer (the length is patched in afterwards).
pub(crate) fn push_frame_with<E>(
    out: &mut Vec<u8>,
    fill: impl FnOnce(&mut Vec<u8>) -> Result<(), E>,
) -> Result<(), E> {
    let at = out.len();
    out.extend_from_slice(&[0; 8]);
    fill(out)?;
    let len = (out.len() - at - 8) as u64;
    out[at..at + 8].copy_from_slice(&len.to_le_bytes());
    Ok(())
}

/// Reads one frame; `Ok(None)` on a clean end of stream before it.
pub(crate) fn read_frame(reader: &mut impl Read, max: u64) -> io::Result<Option<Vec<u8>>> {
    let mut len = [0u8; 8];
    let mut filled = 0;
    while filled < len.len() {
        match reader.read(&mut len[filled..]) {
            Ok(0) if filled == 0 => return Ok(None),
            Ok(0) => return Err(io::ErrorKind::UnexpectedEof.into()),
            Ok(n) => filled += n,
            Err(e) if e.kind() == io::ErrorKind::Interrupted => {}
            Err(e) => return Err(e),
        }
    }
    let len = u64::from_le_bytes(len);
    if len > max {
        return Err(io::Error::new(
            io::ErrorKind::InvalidData,
            format!("frame of {len} bytes exceeds {max}"),
        ));
    }
    let mut body = Vec::new();
    reader.take(len).read_to_end(&mut body)?;
    if body.len() as u64 != len {
        return Err(io::ErrorKind::UnexpectedEof.into());
    }
    Ok(Some(body))
}

/// Writes a response (header and payload frames) and flushes.
pub(crate) fn write_response(
    writer: &mut impl Write,
    response: &Response,
    payload: &[u8],
) -> io::Result<()> {
    let header = serde_json::to_vec(response)?;
    writer.write_all(&(header.len() as u64).to_le_bytes())?;
    writer.write_all(&header)?;
    writer.write_all(&(payload.len() as u64).to_le_bytes())?;
    writer.write_all(payload)?;
    writer.flush()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn frames_round_trip() {
        let mut out = Vec::new();
        push_frame(&mut out, b"abc");
        push_frame_with(&mut out, |buf| {
            buf.extend_from_slice(b"de");
            Ok::<(), ()>(())
        })
        .ok();
        let mut reader = &out[..];
        assert_eq!(
            read_frame(&mut reader, 10).ok().flatten(),
            Some(b"abc".to_vec())
        );
        assert_eq!(
            read_frame(&mut reader, 10).ok().flatten(),
            Some(b"de".to_vec())
        );
        assert!(matches!(read_frame(&mut reader, 10), Ok(None)));
    }

    #[test]
    fn oversized_and_truncated_frames_fail() {
        let mut out = Vec::new();
        push_frame(&mut out, b"abcdef");
        assert!(read_frame(&mut &out[..], 3).is_err());
        assert!(read_frame(&mut &out[..out.len() - 1], 10).is_err());
        assert!(read_frame(&mut &out[..3], 10).is_err());
    }

    #[test]
    fn errors_keep_their_kind_and_limit() {
        let limits = Limits::default();
        let round = |e| WireError::from_error(e).into_error(&limits);
        assert!(matches!(
            round(ScriptError::OutOfMemory(1)),
            ScriptError::OutOfMemory(n) if n == limits.memory_bytes
        ));
        assert!(
            matches!(round(ScriptError::Timeout(Duration::ZERO)), ScriptError::Timeout(t) if t == limits.time)
        );
        assert!(matches!(round(ScriptError::Jq("x".into())), ScriptError::Jq(m) if m == "x"));
    }
}
