"""The README's walk-through with the official conductor-python SDK, unchanged.

Run a Baton server (`cargo run --release -p baton -- server`), register the `hello`
workflow from the README, then: `python examples/hello_sdk.py`.
"""
import os
import time

from conductor.client.automator.task_handler import TaskHandler
from conductor.client.configuration.configuration import Configuration
from conductor.client.http.models.start_workflow_request import StartWorkflowRequest
from conductor.client.orkes.orkes_workflow_client import OrkesWorkflowClient
from conductor.client.worker.worker_task import worker_task


@worker_task(task_definition_name="greet")
def greet(who: str) -> dict:
    return {"greeting": f"hello {who}"}


def main() -> None:
    config = Configuration(server_api_url=os.getenv("CONDUCTOR_SERVER_URL", "http://localhost:8080/api"))
    handler = TaskHandler(workers=[], configuration=config, scan_for_annotated_workers=True)
    handler.start_processes()
    try:
        workflows = OrkesWorkflowClient(config)
        wf_id = workflows.start_workflow(StartWorkflowRequest(name="hello", version=1, input={"name": "Ada"}))
        for _ in range(100):  # bounded: 10 s
            wf = workflows.get_workflow(wf_id, include_tasks=False)
            if wf.status in ("COMPLETED", "FAILED", "TERMINATED", "TIMED_OUT"):
                break
            time.sleep(0.1)
        print(wf.status, wf.output)
    finally:
        handler.stop_processes()


if __name__ == "__main__":
    main()
