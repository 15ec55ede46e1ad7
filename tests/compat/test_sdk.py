#!/usr/bin/env python3
"""Compatibility test: the official conductor-python SDK (unchanged) against Baton.

Uses only the SDK's public API (metadata/workflow/task clients, ConductorWorkflow
builder, TaskHandler + @worker_task workers).  Reads CONDUCTOR_SERVER_URL (the API
root, e.g. http://127.0.0.1:8080/api).  Prints one PASS/FAIL line per check and
exits non-zero if any check fails.

Set COMPAT_DEBUG=1 for SDK debug logging (HTTP requests/responses).
"""
import logging
import os
import sys
import time
import traceback

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))

from conductor.client.automator.task_handler import TaskHandler  # noqa: E402
from conductor.client.configuration.configuration import Configuration  # noqa: E402
from conductor.client.http.models.start_workflow_request import StartWorkflowRequest  # noqa: E402
from conductor.client.http.models.task_def import TaskDef  # noqa: E402
from conductor.client.http.models.task_result import TaskResult  # noqa: E402
from conductor.client.orkes.orkes_metadata_client import OrkesMetadataClient  # noqa: E402
from conductor.client.orkes.orkes_task_client import OrkesTaskClient  # noqa: E402
from conductor.client.orkes.orkes_workflow_client import OrkesWorkflowClient  # noqa: E402
from conductor.client.workflow.conductor_workflow import ConductorWorkflow  # noqa: E402
from conductor.client.workflow.executor.workflow_executor import WorkflowExecutor  # noqa: E402
from conductor.client.workflow.task.simple_task import SimpleTask  # noqa: E402

import compat_workers as W  # noqa: E402

CHAIN_WF = "baton_compat_chain"
WAIT_WF = "baton_compat_wait"
OWNER = "compat@example.com"
N_WORKFLOWS = 10
WAIT_TIMEOUT_S = float(os.getenv("COMPAT_WAIT_TIMEOUT", "90"))

results = []  # (ok, name, detail)


def check(name, ok, detail=""):
    ok = bool(ok)
    results.append((ok, name, detail))
    line = f"{'PASS' if ok else 'FAIL'}: {name}"
    if detail and not ok:
        line += f" -- {detail}"
    print(line, flush=True)
    return ok


def describe_exc(e):
    """ApiException carries status/reason/body; include them for diagnosis."""
    parts = [f"{type(e).__name__}: {e}"]
    for attr in ("status", "reason", "body"):
        if hasattr(e, attr):
            parts.append(f"{attr}={getattr(e, attr)!r}")
    return " ".join(parts)


def guarded(name, fn, expect_value=True):
    """Run the SDK call fn() as a check of its own.

    Exception -> FAIL (with HTTP status/body when it is an ApiException), returns None.
    A None result when a value is expected -> FAIL as well: the SDK turns a response it
    cannot deserialise into None, so this catches wire-format problems.
    """
    try:
        value = fn()
    except Exception as e:  # noqa: BLE001
        check(name, False, describe_exc(e))
        if os.getenv("COMPAT_DEBUG"):
            traceback.print_exc()
        return None
    if expect_value and value is None:
        check(name, False, "SDK returned None (empty or undeserialisable response)")
        return None
    check(name, True)
    return value if value is not None else True


def task_def(name, retry_count=0):
    return TaskDef(
        name=name,
        description=f"baton compat test task {name}",
        retry_count=retry_count,
        retry_logic="FIXED",
        retry_delay_seconds=0,
        timeout_seconds=60,
        response_timeout_seconds=30,
        timeout_policy="TIME_OUT_WF",
        owner_email=OWNER,
    )


def wait_terminal(wf_client, wf_id, deadline):
    """Bounded poll of get_workflow until a terminal status; returns the Workflow (or last seen)."""
    wf = None
    while time.time() < deadline:
        wf = wf_client.get_workflow(wf_id, include_tasks=False)
        if wf is not None and wf.status in ("COMPLETED", "FAILED", "TERMINATED", "TIMED_OUT"):
            return wf
        time.sleep(0.2)
    return wf


def expected_output(i):
    name = f"user{i}"
    greeting = f"Hello, {name}"
    return {
        "greeting": greeting,
        "length": len(name),
        "doubled": i * 2,
        "attempt": 1,
        "echo": greeting,
        "checked": i + 100,
        "done": greeting,
    }


def main():
    if os.getenv("COMPAT_DEBUG"):
        logging.basicConfig(level=logging.DEBUG)
    url = os.environ.get("CONDUCTOR_SERVER_URL")
    if not url:
        print("FAIL: CONDUCTOR_SERVER_URL is not set", flush=True)
        return 2
    print(f"SDK compat test against {url}", flush=True)
    config = Configuration(server_api_url=url, debug=bool(os.getenv("COMPAT_DEBUG")))

    metadata = OrkesMetadataClient(config)
    wf_client = OrkesWorkflowClient(config)
    task_client = OrkesTaskClient(config)
    executor = WorkflowExecutor(config)

    # ---- 1. metadata: task defs ------------------------------------------------
    defs = [
        task_def(W.GREET),
        task_def(W.FLAKY, retry_count=2),
        task_def(W.CHECK, retry_count=2),  # retries allowed, but terminal error must not retry
        task_def(W.SLOW),
        task_def(W.UNPOLLED),
    ]
    for d in defs:
        guarded(f"register_task_def {d.name}", lambda d=d: metadata.register_task_def(d), expect_value=False)
    td = guarded("get_task_def", lambda: metadata.get_task_def(W.FLAKY))
    if td is not None:
        check("get_task_def round-trips retryCount/retryDelaySeconds/retryLogic",
              td.name == W.FLAKY and td.retry_count == 2 and td.retry_delay_seconds == 0
              and td.retry_logic == "FIXED",
              f"got name={td.name} retry_count={td.retry_count} delay={td.retry_delay_seconds} "
              f"logic={td.retry_logic}")
    all_tds = guarded("get_all_task_defs", lambda: metadata.get_all_task_defs())
    if all_tds is not None:
        names = {t.name for t in all_tds}
        check("get_all_task_defs contains registered defs", {d.name for d in defs} <= names,
              f"missing {sorted({d.name for d in defs} - names)}")

    # ---- 2. workflow defs via the ConductorWorkflow builder ------------------------
    greet = SimpleTask(W.GREET, "greet_ref")
    greet.input_parameters.update({"name": "${workflow.input.name}"})
    flaky = SimpleTask(W.FLAKY, "flaky_ref")
    flaky.input_parameters.update({"greeting": greet.output("greeting"), "n": "${workflow.input.n}"})
    chk = SimpleTask(W.CHECK, "check_ref")
    chk.input_parameters.update({"n": "${workflow.input.n}"})
    slow = SimpleTask(W.SLOW, "slow_ref")
    slow.input_parameters.update({"x": "${flaky_ref.output.echo}"})

    chain = (ConductorWorkflow(executor=executor, name=CHAIN_WF, version=1,
                               description="baton SDK compat chain")
             .owner_email(OWNER)
             .timeout_seconds(300)
             .input_parameters(["name", "n"]))
    chain >> greet >> flaky >> chk >> slow
    chain.output_parameters({
        "greeting": greet.output("greeting"),
        "length": "${greet_ref.output.length}",
        "doubled": flaky.output("value"),
        "attempt": "${flaky_ref.output.attempt}",
        "echo": "${flaky_ref.output.echo}",
        "checked": chk.output("checked"),
        "done": slow.output("done"),
    })
    guarded("register workflow def via ConductorWorkflow.register(overwrite=True)",
            lambda: chain.register(overwrite=True), expect_value=False)

    wait_wf = (ConductorWorkflow(executor=executor, name=WAIT_WF, version=1,
                                 description="task nobody polls")
               .owner_email(OWNER).timeout_seconds(300))
    unp = SimpleTask(W.UNPOLLED, "unpolled_ref")
    unp.input_parameters.update({"v": "${workflow.input.v}"})
    wait_wf >> unp
    wait_wf.output_parameters({"answer": "${unpolled_ref.output.answer}"})
    # POST /api/metadata/workflow?overwrite=True -- note the SDK urlencodes Python bools as
    # "True"/"False" on body-bearing methods (POST/PUT/DELETE), unlike GET (httpx: "true").
    ok = guarded("register workflow def via OrkesMetadataClient.register_workflow_def",
                 lambda: metadata.register_workflow_def(wait_wf.to_workflow_def(), overwrite=True),
                 expect_value=False)
    if ok is None:
        # Reported as FAIL above; register through the other SDK path (PUT) so the
        # remaining checks still run.
        guarded("register workflow def via WorkflowExecutor.register_workflow (fallback)",
                lambda: wait_wf.register(overwrite=True), expect_value=False)

    wd = guarded("get_workflow_def", lambda: metadata.get_workflow_def(CHAIN_WF, version=1))
    if wd is not None:
        check("get_workflow_def returns 4 tasks and outputParameters",
              [t.task_reference_name for t in (wd.tasks or [])]
              == ["greet_ref", "flaky_ref", "check_ref", "slow_ref"]
              and (wd.output_parameters or {}).get("doubled") == "${flaky_ref.output.value}",
              f"tasks={[t.task_reference_name for t in (wd.tasks or [])]} "
              f"outputParameters={wd.output_parameters}")

    # ---- 3. workers + workflows -------------------------------------------------
    handler = TaskHandler(workers=[], configuration=config, scan_for_annotated_workers=True,
                          import_modules=["compat_workers"], monitor_processes=False)
    try:
        handler.start_processes()

        ids = {}
        for i in range(1, N_WORKFLOWS + 1):
            inp = {"name": f"user{i}", "n": i}
            if i % 5 == 0:
                wid = guarded(f"start_workflow_by_name #{i}",
                              lambda inp=inp: wf_client.start_workflow_by_name(
                                  CHAIN_WF, inp, version=1, correlationId=f"compat-{i}"))
            else:
                req = StartWorkflowRequest(name=CHAIN_WF, version=1, input=inp,
                                           correlation_id=f"compat-{i}")
                wid = guarded(f"start_workflow #{i}", lambda req=req: wf_client.start_workflow(req))
            if wid is not None:
                ok = isinstance(wid, str) and len(wid) > 0 and not wid.startswith('"')
                check(f"start #{i} returned a plain workflow id", ok, f"got {wid!r}")
                ids[i] = wid

        fail_id = guarded("start_workflow (terminal-error input)",
                          lambda: wf_client.start_workflow(StartWorkflowRequest(
                              name=CHAIN_WF, version=1, input={"name": "bad", "n": W.TERMINAL_N})))

        deadline = time.time() + WAIT_TIMEOUT_S
        for i, wid in ids.items():
            wf = guarded(f"get_workflow #{i}", lambda wid=wid: wait_terminal(wf_client, wid, deadline))
            if wf is None:
                continue
            check(f"workflow #{i} COMPLETED", wf.status == "COMPLETED",
                  f"status={wf.status} reason={wf.reason_for_incompletion!r}")
            check(f"workflow #{i} output exact", wf.output == expected_output(i),
                  f"got {wf.output!r} expected {expected_output(i)!r}")
            check(f"workflow #{i} correlationId", wf.correlation_id == f"compat-{i}",
                  f"got {wf.correlation_id!r}")

        # include_tasks=True on one completed workflow: retried attempt present.
        if 1 in ids:
            wf = guarded("get_workflow(include_tasks=True)",
                         lambda: wf_client.get_workflow(ids[1], include_tasks=True))
            if wf is not None:
                tasks = wf.tasks or []
                summary = [(t.reference_task_name, t.status, t.retry_count) for t in tasks]
                flaky_tasks = [t for t in tasks if t.reference_task_name == "flaky_ref"]
                check("include_tasks: 5 tasks (greet, flaky x2, check, slow)",
                      [t.reference_task_name for t in tasks]
                      == ["greet_ref", "flaky_ref", "flaky_ref", "check_ref", "slow_ref"],
                      f"got {summary}")
                check("include_tasks: flaky attempt 0 FAILED (retried), attempt 1 COMPLETED",
                      [(t.status, t.retry_count) for t in flaky_tasks]
                      == [("FAILED", 0), ("COMPLETED", 1)]
                      and bool(flaky_tasks) and flaky_tasks[0].retried is True,
                      f"got {[(t.status, t.retry_count, t.retried) for t in flaky_tasks]}")
                if flaky_tasks:
                    check("include_tasks: failed attempt has worker's reasonForIncompletion",
                          "transient failure for n=1" in (flaky_tasks[0].reason_for_incompletion or ""),
                          f"got {flaky_tasks[0].reason_for_incompletion!r}")
                slow_tasks = [t for t in tasks if t.reference_task_name == "slow_ref"]
                if slow_tasks:
                    st = slow_tasks[0]
                    check("TaskInProgress: slow task COMPLETED after callback, pollCount >= 2",
                          st.status == "COMPLETED" and (st.poll_count or 0) >= 2
                          and (st.output_data or {}).get("pollCount", 0) >= 2,
                          f"status={st.status} pollCount={st.poll_count} output={st.output_data}")
                check("include_tasks: all tasks carry workflowInstanceId and taskDefName",
                      all(t.workflow_instance_id == ids[1] and t.task_def_name for t in tasks),
                      f"got {[(t.workflow_instance_id, t.task_def_name) for t in tasks]}")

        # terminal-error workflow
        if fail_id is not None:
            wf = guarded("get_workflow (terminal-error)",
                         lambda: wait_terminal(wf_client, fail_id, deadline))
            if wf is not None:
                check("NonRetryableException -> workflow FAILED", wf.status == "FAILED",
                      f"status={wf.status}")
                check("workflow reasonForIncompletion contains worker message",
                      W.TERMINAL_MESSAGE in (wf.reason_for_incompletion or ""),
                      f"got {wf.reason_for_incompletion!r}")
            wf = guarded("get_workflow(include_tasks=True) (terminal-error)",
                         lambda: wf_client.get_workflow(fail_id, include_tasks=True))
            if wf is not None:
                chk_tasks = [t for t in (wf.tasks or []) if t.reference_task_name == "check_ref"]
                check("check task FAILED_WITH_TERMINAL_ERROR and not retried",
                      [t.status for t in chk_tasks] == ["FAILED_WITH_TERMINAL_ERROR"],
                      f"got {[(t.status, t.retry_count) for t in chk_tasks]}")
                if chk_tasks:
                    check("check task reasonForIncompletion is the exception message",
                          W.TERMINAL_MESSAGE in (chk_tasks[0].reason_for_incompletion or ""),
                          f"got {chk_tasks[0].reason_for_incompletion!r}")
    finally:
        handler.stop_processes()

    # ---- 4. task client: queue size, manual poll + update, terminate -----------
    deadline = time.time() + 30
    term_id = guarded("start_workflow (to terminate)",
                      lambda: wf_client.start_workflow(StartWorkflowRequest(
                          name=WAIT_WF, version=1, input={"v": 1})))
    if term_id is not None:
        def queue_size_when_nonzero():
            n = task_client.get_queue_size_for_task(W.UNPOLLED)
            while not n and time.time() < deadline:
                time.sleep(0.2)
                n = task_client.get_queue_size_for_task(W.UNPOLLED)
            return n
        size = guarded("get_queue_size_for_task", queue_size_when_nonzero)
        if size is not None:
            check("get_queue_size_for_task == 1 for the scheduled task", size == 1, f"got {size!r}")
        r = guarded("terminate_workflow",
                    lambda: wf_client.terminate_workflow(term_id, reason="compat test terminate"), expect_value=False)
        wf = guarded("get_workflow after terminate",
                     lambda: wf_client.get_workflow(term_id, include_tasks=True))
        if wf is not None:
            check("terminated workflow status TERMINATED", wf.status == "TERMINATED",
                  f"status={wf.status}")
            check("terminate reason recorded", "compat test terminate" in (wf.reason_for_incompletion or ""),
                  f"got {wf.reason_for_incompletion!r}")
            check("pending task CANCELED on terminate",
                  [t.status for t in (wf.tasks or [])] == ["CANCELED"],
                  f"got {[t.status for t in (wf.tasks or [])]}")
        size = guarded("get_queue_size_for_task after terminate",
                       lambda: task_client.get_queue_size_for_task(W.UNPOLLED))
        if size is not None:
            check("queue empty after terminate", size == 0, f"got {size!r}")
        del r

    term2_id = guarded("start_workflow (to terminate with trigger_failure_workflow)",
                       lambda: wf_client.start_workflow(StartWorkflowRequest(
                           name=WAIT_WF, version=1, input={"v": 2})))
    if term2_id is not None:
        guarded("terminate_workflow(trigger_failure_workflow=True)",
                lambda: wf_client.terminate_workflow(term2_id, reason="compat terminate 2",
                                                     trigger_failure_workflow=True),
                expect_value=False)
        wf = guarded("get_workflow after terminate 2", lambda: wf_client.get_workflow(term2_id, include_tasks=False))
        if wf is not None:
            check("terminate(trigger_failure_workflow=True) -> TERMINATED", wf.status == "TERMINATED",
                  f"status={wf.status}")
            if wf.status == "RUNNING":
                # Clean up so its pending task does not leak into the poll checks below.
                guarded("terminate_workflow (cleanup)",
                        lambda: wf_client.terminate_workflow(term2_id, reason="cleanup"), expect_value=False)

    poll_id = guarded("start_workflow (manual poll)",
                      lambda: wf_client.start_workflow(StartWorkflowRequest(
                          name=WAIT_WF, version=1, input={"v": 42})))
    if poll_id is not None:
        def poll_until_task():
            t = task_client.poll_task(W.UNPOLLED, worker_id="compat-test")
            while (t is None or not t.task_id) and time.time() < deadline:
                time.sleep(0.2)
                t = task_client.poll_task(W.UNPOLLED, worker_id="compat-test")
            return t
        task = guarded("poll_task (GET /tasks/poll/{type})", poll_until_task)
        if task is not None and check("poll_task returned the scheduled task",
                                      task.workflow_instance_id == poll_id and task.status == "IN_PROGRESS"
                                      and (task.input_data or {}).get("v") == 42,
                                      f"got wf={task.workflow_instance_id} status={task.status} "
                                      f"input={task.input_data}"):
            got = guarded("get_task", lambda: task_client.get_task(task.task_id))
            if got is not None:
                check("get_task returns IN_PROGRESS with workerId", got.status == "IN_PROGRESS"
                      and got.worker_id == "compat-test", f"status={got.status} workerId={got.worker_id}")
            res = TaskResult(workflow_instance_id=poll_id, task_id=task.task_id, worker_id="compat-test",
                             status="COMPLETED", output_data={"answer": 84})
            resp = guarded("update_task (POST /api/tasks)", lambda: task_client.update_task(res))
            if resp is not None:
                check("update_task returns the task id", resp == task.task_id, f"got {resp!r}")
            wf = guarded("get_workflow (manual poll)", lambda: wait_terminal(wf_client, poll_id, deadline))
            if wf is not None:
                check("manually completed workflow COMPLETED with output",
                      wf.status == "COMPLETED" and wf.output == {"answer": 84},
                      f"status={wf.status} output={wf.output}")

    batch = guarded("batch_poll_tasks (empty queue)",
                    lambda: task_client.batch_poll_tasks(W.UNPOLLED, worker_id="compat-test", count=2,
                                                         timeout_in_millisecond=100))
    if batch is not None:
        check("batch_poll_tasks on empty queue returns []", batch == [], f"got {batch!r}")

    import endpoint_checks  # noqa: E402
    endpoint_checks.run(executor, metadata, wf_client, task_client, check, guarded, deadline)

    failed = [n for ok, n, _ in results if not ok]
    print(f"\n{len(results) - len(failed)}/{len(results)} checks passed", flush=True)
    if failed:
        print("FAILED CHECKS:\n  " + "\n  ".join(failed), flush=True)
        return 1
    print("ALL PASS", flush=True)
    return 0


if __name__ == "__main__":
    sys.exit(main())
