"""An app for the gevent-worker tests: async handlers that only finish together."""

from __future__ import annotations

import asyncio
import os
from pathlib import Path

from twinframe import App, Response

app = App()
MARKERS = Path(os.environ.get("TWINFRAME_TEST_MARKERS", "."))


@app.on_startup
async def startup() -> None:
    # A loop-bound object made at startup, used by later requests: all of them
    # must run on the same event loop for this to work.
    app.state.gate = asyncio.Event()
    app.state.parked = 0  # /wait handlers that reached the gate (they never leave before it opens)
    (MARKERS / "startup").write_text(str(os.getpid()))


@app.on_shutdown
async def shutdown() -> None:
    await asyncio.sleep(0)
    (MARKERS / "shutdown").write_text(str(os.getpid()))


@app.get("/")
def index(req):
    return "sync"


@app.get("/wait")
async def wait(req):
    # Finishes only once another request opened the gate: async handlers of
    # concurrent requests must be able to run at the same time.
    app.state.parked += 1
    await asyncio.wait_for(app.state.gate.wait(), timeout=20)
    return "gate was opened"


@app.get("/parked")
def parked(req):
    """How many /wait handlers are waiting at the gate (a sync handler: no loop needed)."""
    return str(app.state.parked)


@app.post("/open")
async def open_gate(req):
    await asyncio.sleep(0.01)
    waiting = app.state.parked
    app.state.gate.set()
    return f"opened for {waiting}"


@app.get("/ticks")
def ticks(req):
    async def gen():
        for i in range(5):
            await asyncio.sleep(0.01)
            yield f"{i}\n"

    return Response.stream(gen(), content_type="text/plain")
