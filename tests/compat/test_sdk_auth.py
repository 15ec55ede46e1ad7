#!/usr/bin/env python3
"""The official conductor-python SDK, unchanged, against a Baton server with authentication
on: given a key id and secret, the SDK gets a token from POST /api/token and sends it as
X-Authorization. An admin key registers and starts; a worker key runs the worker (in the
SDK's own worker processes); a wrong secret is refused and registers nothing.

Env: CONDUCTOR_SERVER_URL, BATON_ADMIN_KEY_ID/SECRET, BATON_WORKER_KEY_ID/SECRET.
Prints one PASS/FAIL line per check; exits non-zero if any fails.
"""
import os
import sys
import time

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))

from conductor.client.automator.task_handler import TaskHandler  # noqa: E402
from conductor.client.configuration.configuration import Configuration  # noqa: E402
from conductor.client.configuration.settings.authentication_settings import AuthenticationSettings  # noqa: E402
from conductor.client.http.models.start_workflow_request import StartWorkflowRequest  # noqa: E402
from conductor.client.http.models.task_def import TaskDef  # noqa: E402
from conductor.client.orkes.orkes_metadata_client import OrkesMetadataClient  # noqa: E402
from conductor.client.orkes.orkes_workflow_client import OrkesWorkflowClient  # noqa: E402
from conductor.client.workflow.conductor_workflow import ConductorWorkflow  # noqa: E402
from conductor.client.workflow.executor.workflow_executor import WorkflowExecutor  # noqa: E402
from conductor.client.workflow.task.simple_task import SimpleTask  # noqa: E402

import auth_workers as W  # noqa: E402

WF = "baton_auth_hello"
failures = 0


def check(name, ok, detail=""):
    global failures
    if not ok:
        failures += 1
    print(f"{'PASS' if ok else 'FAIL'}: {name}" + (f" -- {detail}" if detail and not ok else ""), flush=True)


def config(key_id, secret):
    return Configuration(server_api_url=os.environ["CONDUCTOR_SERVER_URL"],
                         authentication_settings=AuthenticationSettings(key_id=key_id, key_secret=secret))


def main():
    admin = config(os.environ["BATON_ADMIN_KEY_ID"], os.environ["BATON_ADMIN_KEY_SECRET"])
    worker = config(os.environ["BATON_WORKER_KEY_ID"], os.environ["BATON_WORKER_KEY_SECRET"])
    wrong = config(os.environ["BATON_ADMIN_KEY_ID"], "not-the-secret")

    # A wrong secret gets no token, and its calls are refused and change nothing.
    refused = False
    try:
        OrkesMetadataClient(wrong).register_task_def(TaskDef(name="baton_auth_refused"))
    except Exception:  # noqa: BLE001  (the SDK raises its AuthorizationException)
        refused = True
    check("a wrong secret is refused", refused)

    metadata = OrkesMetadataClient(admin)
    try:
        metadata.get_task_def("baton_auth_refused")
        check("the refused registration stored nothing", False, "task def exists")
    except Exception:  # noqa: BLE001  (404)
        check("the refused registration stored nothing", True)

    metadata.register_task_def(TaskDef(name=W.AUTH_GREET, retry_count=0, response_timeout_seconds=30,
                                       timeout_seconds=60, owner_email="auth@example.com"))
    check("admin registered a task def", metadata.get_task_def(W.AUTH_GREET).name == W.AUTH_GREET)
    greet = SimpleTask(W.AUTH_GREET, "greet_ref")
    greet.input_parameters.update({"name": "${workflow.input.name}"})
    wf = (ConductorWorkflow(executor=WorkflowExecutor(admin), name=WF, version=1)
          .owner_email("auth@example.com").input_parameters(["name"]))
    wf.add(greet)
    wf.output_parameters({"greeting": "${greet_ref.output.greeting}"})
    wf.register(overwrite=True)

    handler = TaskHandler(workers=[], configuration=worker, scan_for_annotated_workers=True,
                          import_modules=["auth_workers"], monitor_processes=False)
    handler.start_processes()
    try:
        workflows = OrkesWorkflowClient(admin)
        ids = [workflows.start_workflow(StartWorkflowRequest(name=WF, version=1, input={"name": f"user{i}"}))
               for i in range(3)]
        deadline = time.time() + 60
        done = {}
        while time.time() < deadline and len(done) < len(ids):
            for wf_id in ids:
                w = workflows.get_workflow(wf_id, include_tasks=False)
                if w.status in ("COMPLETED", "FAILED", "TERMINATED", "TIMED_OUT"):
                    done[wf_id] = w
            time.sleep(0.2)
        for i, wf_id in enumerate(ids):
            w = done.get(wf_id)
            check(f"workflow {i} completed by the worker-key worker",
                  w is not None and w.status == "COMPLETED" and w.output == {"greeting": f"Hello, user{i}"},
                  f"got {None if w is None else (w.status, w.output)}")
    finally:
        handler.stop_processes()
    print(f"{'OK' if failures == 0 else 'FAILED'}: {failures} failed check(s)", flush=True)
    return 1 if failures else 0


if __name__ == "__main__":
    sys.exit(main())
