"""Checks of the Conductor routes beside the worker path, through the official SDK's own
clients: correlation lookups, test_workflow (mocked run), the synchronous update by
reference, task signals (sync and async) and the workflow bulk API.

Called from test_sdk.py with its check/guarded helpers; uses only the SDK's public
classes.
"""
from conductor.client.http.api.workflow_bulk_resource_api import WorkflowBulkResourceApi
from conductor.client.http.models.start_workflow_request import StartWorkflowRequest
from conductor.client.http.models.workflow_test_request import WorkflowTestRequest
from conductor.client.workflow.conductor_workflow import ConductorWorkflow
from conductor.client.workflow.task.human_task import HumanTask
from conductor.client.workflow.task.simple_task import SimpleTask
from conductor.client.workflow.task.wait_task import WaitTask

SIGNAL_WF = "baton_compat_signals"
MOCK_WF = "baton_compat_mocked"
OWNER = "compat@example.com"


def run(executor, metadata, wf_client, task_client, check, guarded, deadline):
    # Two WAIT tasks then a HUMAN task: each is ended from outside.
    wf = (ConductorWorkflow(executor=executor, name=SIGNAL_WF, version=1,
                            description="signals, sync updates, bulk")
          .owner_email(OWNER).timeout_seconds(300))
    wf >> WaitTask("w1") >> WaitTask("w2") >> HumanTask("approve")
    wf.output_parameters({"approved": "${approve.output.approved}"})
    if guarded("register signal workflow", lambda: metadata.register_workflow_def(
            wf.to_workflow_def(), overwrite=True), expect_value=False) is None:
        return

    ids = []
    for i in range(3):
        wid = guarded(f"start signal workflow {i}", lambda i=i: wf_client.start_workflow(
            StartWorkflowRequest(name=SIGNAL_WF, version=1, correlation_id="compat-corr",
                                 input={"i": i})))
        if wid is None:
            return
        ids.append(wid)

    # Correlation lookups (POST /workflow/{name}/correlated).
    found = guarded("get_by_correlation_ids", lambda: wf_client.get_by_correlation_ids(
        SIGNAL_WF, ["compat-corr", "nobody"]))
    if found is not None:
        got = sorted(w.workflow_id for w in found.get("compat-corr", []))
        check("correlation lookup lists the running executions", got == sorted(ids),
              f"got {got}")
        check("an unknown correlation id maps to []", found.get("nobody") == [],
              f"got {found.get('nobody')!r}")

    # Signal sync: the first WAIT ends, the answer is the next blocking task.
    api = task_client.taskResourceApi
    first = ids[0]
    resp = guarded("signal_workflow_task_sync (BLOCKING_TASK)",
                   lambda: api.signal_workflow_task_sync(first, "COMPLETED", {"step": 1},
                                                         return_strategy="BLOCKING_TASK"))
    if resp is not None:
        check("signal/sync answers the next blocking task",
              resp.response_type == "BLOCKING_TASK" and resp.reference_task_name == "w2"
              and resp.target_workflow_id == first,
              f"got type={resp.response_type} ref={resp.reference_task_name}")
    guarded("signal_workflow_task_async", lambda: api.signal_workflow_task_async(
        first, "COMPLETED", {"step": 2}), expect_value=False)

    # The HUMAN task by reference, synchronously: the workflow comes back completed.
    done = guarded("update_task_sync (HUMAN by reference)", lambda: task_client.update_task_sync(
        first, "approve", "COMPLETED", {"approved": True}))
    if done is not None:
        check("update_task_sync returns the workflow after the update",
              done.workflow_id == first and done.status == "COMPLETED"
              and done.output == {"approved": True},
              f"status={done.status} output={done.output}")

    # Bulk: pause and resume the other two, then terminate them; an unknown id is reported.
    bulk = WorkflowBulkResourceApi(wf_client.api_client)
    rest = ids[1:]
    r = guarded("bulk pause", lambda: bulk.pause_workflow(rest + ["no-such-id"]))
    if r is not None:
        check("bulk pause lists successes and errors",
              sorted(r.bulk_successful_results or []) == sorted(rest)
              and "no-such-id" in (r.bulk_error_results or {}),
              f"got {r}")
        states = [wf_client.get_workflow(w, include_tasks=False).status for w in rest]
        check("bulk pause paused them", states == ["PAUSED", "PAUSED"], f"got {states}")
    guarded("bulk resume", lambda: bulk.resume_workflow(rest))
    r = guarded("bulk terminate", lambda: bulk.terminate(rest, reason="compat bulk"))
    if r is not None:
        states = [wf_client.get_workflow(w, include_tasks=False).status for w in rest]
        check("bulk terminate terminated them", states == ["TERMINATED", "TERMINATED"],
              f"got {states}")
    r = guarded("bulk retry", lambda: bulk.retry(rest))
    if r is not None:
        check("bulk retry reopened them", sorted(r.bulk_successful_results or []) == sorted(rest),
              f"got {r}")
    for w in rest:
        wf_client.terminate_workflow(w, reason="cleanup")

    # test_workflow: a mocked run, no workers.
    mocked = (ConductorWorkflow(executor=executor, name=MOCK_WF, version=1,
                                description="mocked by test_workflow")
              .owner_email(OWNER).timeout_seconds(300))
    mocked >> SimpleTask("compat_mock_a", "a") >> SimpleTask("compat_mock_b", "b")
    mocked.output_parameters({"b": "${b.output.v}"})
    req = WorkflowTestRequest(
        name=MOCK_WF, version=1, workflow_def=mocked.to_workflow_def(), input={},
        task_ref_to_mock_output={"a": [{"status": "COMPLETED", "output": {"v": 1}}],
                                 "b": [{"status": "COMPLETED", "output": {"v": 2}}]})
    ran = guarded("test_workflow (all completed)", lambda: wf_client.test_workflow(req))
    if ran is not None:
        check("test_workflow answers the completed execution",
              ran.status == "COMPLETED" and ran.output == {"b": 2},
              f"status={ran.status} output={ran.output}")
