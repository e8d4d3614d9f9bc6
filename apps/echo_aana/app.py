"""An Aana SDK app: POST /echo through a configurable deployment, POST /record into Aana's database.

    raygitops.yaml: `- {name: echo_aana, aana: apps.echo_aana.app:aana_app, route_prefix: /echo_aana, ...}`
    curl -F 'body={"text": "hi"}' localhost:8000/echo_aana/echo     # {"text": ">> hi"}
"""
# No `from __future__ import annotations`: Aana builds each endpoint's request model from run()'s
# __annotations__ as they are (aana 0.2.4, aana/api/api_generation.py Endpoint.__get_input_fields).
from typing import Annotated, Any, TypedDict

from pydantic import Field
from ray import serve

from aana.api.api_generation import Endpoint
from aana.configs.settings import settings as aana_settings
from aana.deployments.aana_deployment_handle import AanaDeploymentHandle
from aana.deployments.base_deployment import BaseDeployment
from aana.sdk import AanaSDK
from aana.storage.models.task import Status, TaskEntity
from aana.storage.repository.task import TaskRepository
from aana.storage.session import get_session

APP_NAME = "echo_aana"
DEPLOYMENT = "echo_deployment"
MAX_TEXT = 10_000


def parse_config(config: dict[str, Any]) -> tuple[str, bool]:
    """(prefix, upper) from the deployment's user_config; ValueError naming the bad field."""
    prefix, upper = config.get("prefix", ">> "), config.get("upper", False)
    if not isinstance(prefix, str) or len(prefix) > 100:
        raise ValueError(f"EchoDeployment user_config prefix must be a string of at most 100 characters, "
                         f"got {prefix!r}")
    if not isinstance(upper, bool):
        raise ValueError(f"EchoDeployment user_config upper must be true or false, got {upper!r}")
    return prefix, upper


# CPU only and tiny; num_replicas and user_config change per environment in serve.yaml.
@serve.deployment(ray_actor_options={"num_cpus": 0.1}, user_config={"prefix": ">> ", "upper": False})
class EchoDeployment(BaseDeployment):
    """The text back, with the configured prefix: Aana calls apply_config on every user_config change."""

    async def apply_config(self, config: dict[str, Any]):
        self.prefix, self.upper = parse_config(config)

    async def echo(self, text: str) -> dict:
        return {"text": self.prefix + (text.upper() if self.upper else text)}


Text = Annotated[str, Field(description="The text to echo.", max_length=MAX_TEXT)]


class EchoOutput(TypedDict):
    text: str


class RecordOutput(TypedDict):
    task_id: str
    status: str
    text: str


class EchoEndpoint(Endpoint):
    """POST /echo: the deployment's answer."""

    async def initialize(self):
        self.echo_handle = await AanaDeploymentHandle.create(DEPLOYMENT)
        await super().initialize()

    async def run(self, text: Text) -> EchoOutput:
        return await self.echo_handle.echo(text=text)


class RecordEndpoint(EchoEndpoint):
    """POST /record: the echo, stored as a completed task in Aana's database (DB_CONFIG) and read back."""

    async def initialize(self):
        await super().initialize()
        # Aana makes its tables only in AanaSDK.migrate (aana 0.2.4, aana/sdk.py line 132, run by `aana migrate`
        # and `aana deploy`). A PostgreSQL environment's migration Job runs it once; a dev SQLite file is on
        # each pod's own disk, where nothing else would, so the replica migrates it as apps/notes.py does.
        # Alembic's upgrade is idempotent. The datastore type is read as Aana's engine factory reads it
        # (aana/storage/op.py create_database_engine).
        if aana_settings.db_config.datastore_type.lower() == "sqlite":
            aana_app.migrate()

    async def run(self, text: Text) -> RecordOutput:
        answer = await self.echo_handle.echo(text=text)
        with get_session() as session:
            # Stored as COMPLETED, so Aana's task queue never picks it up to run it again.
            task = TaskRepository(session).create(TaskEntity(
                endpoint="/record", data={"text": text}, status=Status.COMPLETED, progress=100.0, result=answer))
            task_id = task.id
        # A fresh session: the answer shows what the database holds, not what was sent.
        with get_session() as session:
            stored = TaskRepository(session).read(task_id)
            return {"task_id": str(stored.id), "status": stored.status.value, "text": stored.result["text"]}


aana_app = AanaSDK(name=APP_NAME)
aana_app.register_deployment(name=DEPLOYMENT, instance=EchoDeployment)
aana_app.register_endpoint(name="echo", path="/echo", summary="Echo a text", endpoint_cls=EchoEndpoint)
aana_app.register_endpoint(name="record", path="/record", summary="Echo a text and store it as a task",
                           endpoint_cls=RecordEndpoint)
