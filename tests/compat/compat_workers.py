"""SDK workers for the Baton compatibility test.

Kept in their own importable module (not in __main__) because the SDK's
TaskHandler starts one OS process per worker with the multiprocessing
"spawn" method and must be able to re-import these functions.
"""
from conductor.client.context.task_context import TaskInProgress, get_task_context
from conductor.client.worker.exception import NonRetryableException
from conductor.client.worker.worker_task import worker_task

GREET = "baton_compat_greet"
FLAKY = "baton_compat_flaky"
CHECK = "baton_compat_check"
SLOW = "baton_compat_slow"
UNPOLLED = "baton_compat_unpolled"  # no worker: used for terminate / manual poll tests

TERMINAL_N = 13
TERMINAL_MESSAGE = "unlucky number 13 is not allowed"


@worker_task(task_definition_name=GREET)
def greet(name: str) -> dict:
    # Plain dict result -> COMPLETED with outputData = the dict.
    return {"greeting": f"Hello, {name}", "length": len(name)}


@worker_task(task_definition_name=FLAKY)
def flaky(greeting: str, n: int) -> dict:
    # First attempt (retryCount 0) raises -> FAILED, server retries (retryCount>=1, delay 0).
    attempt = get_task_context().get_retry_count() or 0
    if attempt == 0:
        raise RuntimeError(f"transient failure for n={n}")
    return {"value": n * 2, "attempt": attempt, "echo": greeting}


@worker_task(task_definition_name=CHECK)
def check(n: int) -> dict:
    # NonRetryableException -> FAILED_WITH_TERMINAL_ERROR, no retry, workflow FAILED.
    if n == TERMINAL_N:
        raise NonRetryableException(TERMINAL_MESSAGE)
    return {"checked": n + 100}


_seen_slow = set()  # per worker process (thread_count 1), keyed by task id


@worker_task(task_definition_name=SLOW)
def slow(x: str) -> object:
    ctx = get_task_context()
    task_id = ctx.get_task_id()
    if task_id not in _seen_slow:
        _seen_slow.add(task_id)
        return TaskInProgress(callback_after_seconds=1, output={"progress": 50})
    return {"done": x, "pollCount": ctx.get_poll_count()}
