"""The worker of the authenticated SDK test (tests/compat/test_sdk_auth.py), in its own
module so that the SDK's spawned worker processes can re-import it."""
from conductor.client.worker.worker_task import worker_task

AUTH_GREET = "baton_auth_greet"


@worker_task(task_definition_name=AUTH_GREET)
def auth_greet(name: str) -> dict:
    return {"greeting": f"Hello, {name}"}
