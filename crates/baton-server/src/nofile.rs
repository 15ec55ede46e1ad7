//! The open-file limit (`RLIMIT_NOFILE`): every client connection costs a descriptor, and the
//! usual soft default (1024) is far below what a server with keep-alive clients needs.

/// Descriptors kept back from client connections: stdio, the listener, the async runtime's
/// poller, the SQLite files (writer and readers, each with its WAL and shared-memory files),
/// and the sockets of connections being refused.
pub const RESERVED_DESCRIPTORS: u64 = 128;

/// The open-file limit before and after [`raise_open_file_limit`]; `None` means unlimited.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct OpenFileLimit {
    /// The soft limit found at start.
    pub before: Option<u64>,
    /// The soft limit now in force.
    pub after: Option<u64>,
    /// The hard limit, which only a privileged process may raise.
    pub hard: Option<u64>,
}

/// Raises this process's soft open-file limit to its hard limit (no privilege needed).
#[cfg(unix)]
pub fn raise_open_file_limit() -> std::io::Result<OpenFileLimit> {
    use rustix::process::{getrlimit, setrlimit, Resource, Rlimit};
    let old = getrlimit(Resource::Nofile);
    if old.current != old.maximum {
        setrlimit(
            Resource::Nofile,
            Rlimit {
                current: old.maximum,
                maximum: old.maximum,
            },
        )?;
    }
    let new = getrlimit(Resource::Nofile);
    Ok(OpenFileLimit {
        before: old.current,
        after: new.current,
        hard: new.maximum,
    })
}

/// Raises this process's soft open-file limit to its hard limit (nothing to do here).
#[cfg(not(unix))]
pub fn raise_open_file_limit() -> std::io::Result<OpenFileLimit> {
    Ok(OpenFileLimit {
        before: None,
        after: None,
        hard: None,
    })
}

/// The soft open-file limit now in force (`None`: unlimited or unknown).
pub fn soft_open_file_limit() -> Option<u64> {
    #[cfg(unix)]
    {
        rustix::process::getrlimit(rustix::process::Resource::Nofile).current
    }
    #[cfg(not(unix))]
    {
        None
    }
}

/// How many connections may be open at once: `requested`, but never so many that the
/// descriptors in [`RESERVED_DESCRIPTORS`] run out; at least one.
pub fn connection_capacity(requested: usize, soft_limit: Option<u64>) -> usize {
    let requested = requested.max(1);
    match soft_limit {
        Some(soft) => {
            let room = soft.saturating_sub(RESERVED_DESCRIPTORS).max(1);
            requested.min(usize::try_from(room).unwrap_or(usize::MAX))
        }
        None => requested,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn capacity_leaves_reserved_descriptors() {
        assert_eq!(connection_capacity(10_000, Some(1024)), 1024 - 128);
        assert_eq!(connection_capacity(100, Some(1024)), 100);
        assert_eq!(connection_capacity(100, None), 100);
        assert_eq!(connection_capacity(100, Some(10)), 1);
        assert_eq!(connection_capacity(0, None), 1);
    }
}
