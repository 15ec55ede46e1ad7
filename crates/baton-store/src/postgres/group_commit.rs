//! Group commit on PostgreSQL (ADR 23): commits that arrive together share one transaction,
//! one WAL flush and one multi-row statement per table.
//!
//! A few committer lanes take waiting commits from one queue. A lane takes what waits (at
//! most `group_max`), writes it as one group, answers every commit, and takes the next: when
//! the server is idle a commit waits for nothing, under load it waits for at most the group
//! in flight. Commits that touch the same workflow row never share a group: the later one
//! waits for the next group of its lane, so each group's checks see every commit before it.
//! When a group fails as a whole for another reason than a lost connection (a check that did
//! not hold after all, a deadlock), its commits are written again one by one, so one bad
//! commit never fails the others.

use super::commit_rows::PreparedCommit;
use super::feed::Feed;
use super::write;
use crate::{Result, StoreError};
use deadpool_postgres::Pool;
use parking_lot::Mutex;
use std::collections::{HashSet, VecDeque};
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Arc;
use tokio::sync::{mpsc, oneshot};

/// How commits are grouped.
#[derive(Debug, Clone, Copy)]
pub struct GroupCommitOptions {
    /// Most commits in one transaction (1: every commit alone).
    pub group_max: usize,
    /// Groups written at once, each on its own connection.
    pub lanes: usize,
}

impl Default for GroupCommitOptions {
    fn default() -> Self {
        GroupCommitOptions {
            group_max: 64,
            lanes: 2,
        }
    }
}

/// Commits waiting for a lane; beyond this many, committing callers wait to enqueue.
const QUEUE_CAPACITY: usize = 4096;

struct Waiting {
    commit: PreparedCommit,
    reply: oneshot::Sender<Result<()>>,
}

/// What the committer has done since the store opened.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct GroupCommitStats {
    /// Transactions the lanes ran for groups (not counting commits written again alone).
    pub groups: u64,
    /// Commits taken into those groups.
    pub commits: u64,
    /// Groups that failed as a whole and were written again one commit at a time.
    pub split: u64,
    /// Commits waiting for a lane now.
    pub queued: u64,
}

#[derive(Default)]
pub(super) struct Counters {
    groups: AtomicU64,
    commits: AtomicU64,
    split: AtomicU64,
}

impl Counters {
    pub fn snapshot(&self) -> GroupCommitStats {
        GroupCommitStats {
            groups: self.groups.load(Ordering::Relaxed),
            commits: self.commits.load(Ordering::Relaxed),
            split: self.split.load(Ordering::Relaxed),
            queued: 0,
        }
    }
}

/// What a lane needs of the store (not the store itself, which owns the committer).
#[derive(Clone)]
pub(super) struct LaneContext {
    pub pool: Pool,
    pub snapshots: Arc<Mutex<HashSet<String>>>,
    pub feed: Arc<Feed>,
    pub counters: Arc<Counters>,
}

/// The handle commits are sent through; dropping it lets the lanes finish and exit.
pub(super) struct GroupCommitter {
    queue: mpsc::Sender<Waiting>,
}

impl GroupCommitter {
    pub fn start(ctx: LaneContext, opts: GroupCommitOptions) -> GroupCommitter {
        let (queue, rx) = mpsc::channel(QUEUE_CAPACITY);
        let rx = Arc::new(tokio::sync::Mutex::new(rx));
        for _ in 0..opts.lanes.max(1) {
            tokio::spawn(lane(ctx.clone(), rx.clone(), opts.group_max.max(1)));
        }
        GroupCommitter { queue }
    }

    /// How many commits wait for a lane now.
    pub fn queued(&self) -> u64 {
        (QUEUE_CAPACITY - self.queue.capacity()) as u64
    }

    /// Commits `commit` with whichever group it joins; resolves once that is committed.
    pub async fn commit(&self, commit: PreparedCommit) -> Result<()> {
        let (reply, answer) = oneshot::channel();
        self.queue
            .send(Waiting { commit, reply })
            .await
            .map_err(|_| StoreError::Closed)?;
        answer.await.map_err(|_| StoreError::Closed)?
    }
}

async fn lane(
    ctx: LaneContext,
    queue: Arc<tokio::sync::Mutex<mpsc::Receiver<Waiting>>>,
    group_max: usize,
) {
    // Commits held back from the last group because they share a workflow with one in it.
    let mut held: VecDeque<Waiting> = VecDeque::new();
    loop {
        let mut taken: Vec<Waiting> = held.drain(..).collect();
        // With commits in hand, never wait for the queue: another lane may be holding it
        // while it waits for the next commit.
        let rx = if taken.is_empty() {
            Some(queue.lock().await)
        } else {
            queue.try_lock().ok()
        };
        if let Some(mut rx) = rx {
            if taken.is_empty() {
                match rx.recv().await {
                    Some(w) => taken.push(w),
                    None => return,
                }
            }
            while taken.len() < group_max {
                match rx.try_recv() {
                    Ok(w) => taken.push(w),
                    Err(_) => break,
                }
            }
        }
        let mut names: HashSet<String> = HashSet::new();
        let mut group: Vec<Waiting> = Vec::with_capacity(taken.len());
        for w in taken {
            let ids: Vec<&str> = w.commit.workflow_ids().collect();
            if ids.iter().any(|id| names.contains(*id)) {
                held.push_back(w);
            } else {
                names.extend(ids.into_iter().map(str::to_string));
                group.push(w);
            }
        }
        write_group(&ctx, group).await;
    }
}

/// Writes one group and answers its commits.
async fn write_group(ctx: &LaneContext, group: Vec<Waiting>) {
    let (commits, replies): (Vec<PreparedCommit>, Vec<oneshot::Sender<Result<()>>>) =
        group.into_iter().map(|w| (w.commit, w.reply)).unzip();
    let mut client = match ctx.pool.get().await {
        Ok(c) => c,
        Err(e) => {
            let e = StoreError::from(e);
            for reply in replies {
                let _ = reply.send(Err(e.clone()));
            }
            return;
        }
    };
    ctx.counters.groups.fetch_add(1, Ordering::Relaxed);
    ctx.counters
        .commits
        .fetch_add(commits.len() as u64, Ordering::Relaxed);
    let answers = match write::commit_group(&mut client, &commits).await {
        Ok(answers) => answers,
        // A lost connection may have lost the commit or not: every caller hears so. A group
        // of one has its answer.
        Err(e) if commits.len() == 1 || matches!(e, StoreError::Unavailable(_)) => {
            vec![Err(e); commits.len()]
        }
        Err(_) => {
            ctx.counters.split.fetch_add(1, Ordering::Relaxed);
            let mut answers = Vec::with_capacity(commits.len());
            for one in commits.chunks(1) {
                answers.push(match write::commit_group(&mut client, one).await {
                    Ok(mut a) => a.pop().unwrap_or(Ok(())),
                    Err(e) => Err(e),
                });
            }
            answers
        }
    };
    for ((commit, reply), answer) in commits.into_iter().zip(replies).zip(answers) {
        if answer.is_ok() {
            ctx.snapshots
                .lock()
                .extend(commit.snapshots.into_iter().map(|(hash, _)| hash));
            ctx.feed.publish(commit.changes);
        }
        let _ = reply.send(answer);
    }
}
