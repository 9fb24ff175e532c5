"""An app for the development-server tests: its hooks leave marker files behind.

``python -m servers.devserver_app PORT INTERFACE`` serves it with ``app.run``.
"""

from __future__ import annotations

import asyncio
import os
import sys
from pathlib import Path

from twinframe import App

app = App()
MARKERS = Path(os.environ.get("TWINFRAME_TEST_MARKERS", "."))


@app.on_startup
def started() -> None:
    (MARKERS / "startup").write_text(str(os.getpid()))


@app.on_shutdown
async def stopped() -> None:
    await asyncio.sleep(0)
    (MARKERS / "shutdown").write_text(str(os.getpid()))


@app.get("/")
def index(req):
    return "dev server"


@app.get("/async")
async def slow(req):
    await asyncio.sleep(0.01)
    return {"async": True, "started": (MARKERS / "startup").exists()}


if __name__ == "__main__":
    app.run(port=int(sys.argv[1]), interface=sys.argv[2])
