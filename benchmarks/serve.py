"""Module-level apps for real servers (``benchmarks.serve:twinframe_wsgi`` and so on).

The same apps as the in-process harness: twinframe with sync handlers behind
WSGI and async ones behind ASGI, the bare callables, and the peers (Falcon,
BlackSheep, Starlette), each built only when a server asks for it, so a peer
that isn't installed costs the others nothing.
"""

from __future__ import annotations

import importlib
from typing import Any

MODULES = {
    "bare": "bare",
    "twinframe": "twinframe_app",
    "falcon": "falcon_app",
    "blacksheep": "blacksheep_app",
    "starlette": "starlette_app",
}


def __getattr__(name: str) -> Any:
    # "falcon_asgi" -> benchmarks.apps.falcon_app.build_asgi()
    impl, _, protocol = name.rpartition("_")
    if impl not in MODULES or protocol not in ("wsgi", "asgi"):
        raise AttributeError(name)
    module = importlib.import_module(f"benchmarks.apps.{MODULES[impl]}")
    build = getattr(module, f"build_{protocol}", None)
    if build is None:
        raise AttributeError(name)
    app = build()
    globals()[name] = app
    return app
