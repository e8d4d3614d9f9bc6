"""The gateway at "/": one FastAPI app that calls the other Serve apps by name, as Aana does.

    serve deploy <config with text_stats, language, embedding, notes and main>
    curl -d '{"text": "the cat sat"}' localhost:8000/analyze   # all three analyses; docs at /docs
"""
from __future__ import annotations

import asyncio

from fastapi import FastAPI, HTTPException
from pydantic import BaseModel
from ray import serve
from ray.serve.exceptions import RayServeException
from ray.serve.handle import DeploymentHandle

ANALYSES = ["text_stats", "language", "embedding"]

fastapi_app = FastAPI(title="raygitops demo", description="Text analyses and notes on Ray Serve.")


class TextIn(BaseModel):
    text: str


@serve.deployment(ray_actor_options={"num_cpus": 0.1})
@serve.ingress(fastapi_app)
class Gateway:
    def __init__(self):
        self._handles: dict[str, DeploymentHandle] = {}

    async def _handle(self, app_name: str) -> DeploymentHandle:
        # Looked up on first use, not in __init__: apps of one config start together,
        # and the gateway must come up (and answer /healthz) before or without them.
        if app_name not in self._handles:
            try:
                # get_app_handle blocks on the controller; keep it off the event loop.
                self._handles[app_name] = await asyncio.to_thread(serve.get_app_handle, app_name)
            except RayServeException as err:
                raise HTTPException(503, f"Serve application {app_name!r} is not available: {err}") from None
        return self._handles[app_name]

    @fastapi_app.get("/healthz")
    async def healthz(self) -> dict:
        return {"status": "ok"}

    @fastapi_app.post("/analyze")
    async def analyze(self, body: TextIn) -> dict:
        handles = [await self._handle(name) for name in ANALYSES]
        # The three apps work in parallel; the slowest one sets the latency.
        results = await asyncio.gather(*(handle.analyze.remote(body.text) for handle in handles))
        return dict(zip(ANALYSES, results))

    # Not /notes: the notes app owns that route prefix, and Serve's proxy sends a
    # request to the longest matching prefix, so these would never be reached.
    @fastapi_app.post("/journal")
    async def add_note(self, body: TextIn) -> dict:
        return await (await self._handle("notes")).add.remote(body.text)

    @fastapi_app.get("/journal")
    async def list_notes(self) -> dict:
        return {"notes": await (await self._handle("notes")).recent.remote()}


app = Gateway.bind()
