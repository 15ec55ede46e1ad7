//! Which role may call which route: one table from (method, route template) to the kind of
//! access it needs. Routes added later fall into the strictest class that fits their method
//! (reads for GET, admin for anything else) until they are listed here.

use super::keys::Role;
use axum::http::Method;

/// The access a route needs.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Need {
    /// No key: health, version, the token exchange, webhooks (which check signatures).
    Public,
    /// Any valid credential, whatever its role (who am I).
    Any,
    /// Read anything.
    Read,
    /// Read tasks and queues (what a worker needs to see).
    ReadTasks,
    /// The worker protocol: poll, update, task logs.
    Work,
    /// Start and manage workflows and schedules, complete tasks by reference.
    Operate,
    /// Metadata and event handler changes.
    Admin,
}

impl Role {
    pub fn allows(self, need: Need) -> bool {
        match (self, need) {
            (_, Need::Public | Need::Any) | (Role::Admin, _) => true,
            (Role::Operator, n) => n != Need::Admin,
            (Role::Worker, n) => matches!(n, Need::Work | Need::ReadTasks),
            (Role::Viewer, n) => matches!(n, Need::Read | Need::ReadTasks),
        }
    }
}

/// What `method` on `route` (a route template such as `/api/workflow/{id}`) needs.
pub fn need(method: &Method, route: &str) -> Need {
    const PUBLIC: &[&str] = &["/health", "/api/health", "/api/version", "/api/token"];
    if PUBLIC.contains(&route) || route.starts_with("/api/webhook/") {
        return Need::Public;
    }
    if route == "/api/token/whoami" {
        return Need::Any;
    }
    let get = method == Method::GET || method == Method::HEAD;
    if route.starts_with("/api/tasks") {
        return match route {
            "/api/tasks" | "/api/tasks/update-v2" => Need::Work,
            "/api/tasks/{task_id}/log" if !get => Need::Work,
            "/api/tasks/{workflow_id}/{reference}/{status}"
            | "/api/tasks/{workflow_id}/{reference}/{status}/sync"
            | "/api/tasks/{workflow_id}/{reference}/signal"
            | "/api/tasks/{workflow_id}/{reference}/signal/sync" => Need::Operate,
            _ if route.starts_with("/api/tasks/poll/") => Need::Work,
            _ if get => Need::ReadTasks,
            _ => Need::Admin,
        };
    }
    if get {
        return Need::Read;
    }
    if route.starts_with("/api/workflow") || route.starts_with("/api/scheduler/") {
        return Need::Operate;
    }
    Need::Admin
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn roles_get_what_their_names_say() {
        let post = Method::POST;
        let get = Method::GET;
        let meta = need(&post, "/api/metadata/taskdefs");
        assert_eq!(meta, Need::Admin);
        assert!(Role::Admin.allows(meta));
        assert!(!Role::Operator.allows(meta));
        let start = need(&post, "/api/workflow/{id}");
        assert!(
            Role::Operator.allows(start)
                && !Role::Worker.allows(start)
                && !Role::Viewer.allows(start)
        );
        let poll = need(&get, "/api/tasks/poll/batch/{task_type}");
        assert!(Role::Worker.allows(poll) && !Role::Viewer.allows(poll));
        let update = need(&post, "/api/tasks");
        assert!(Role::Worker.allows(update) && !Role::Viewer.allows(update));
        for route in [
            "/api/tasks/{workflow_id}/{reference}/{status}/sync",
            "/api/tasks/{workflow_id}/{reference}/signal",
            "/api/tasks/{workflow_id}/{reference}/signal/sync",
        ] {
            let n = need(&post, route);
            assert!(
                Role::Operator.allows(n) && !Role::Worker.allows(n),
                "{route}"
            );
        }
        let read = need(&get, "/api/workflow/{id}");
        assert!(Role::Viewer.allows(read) && !Role::Worker.allows(read));
        assert!(Role::Worker.allows(need(&get, "/api/tasks/{task_id}")));
        assert_eq!(need(&post, "/api/token"), Need::Public);
        let whoami = need(&get, "/api/token/whoami");
        assert!(Role::Worker.allows(whoami) && Role::Viewer.allows(whoami));
        // Webhooks authenticate by their signature, not by a key.
        assert_eq!(need(&post, "/api/webhook/{name}"), Need::Public);
        assert_eq!(need(&Method::DELETE, "/api/some/new/route"), Need::Admin);
        assert_eq!(need(&get, "/metrics"), Need::Read);
    }
}
