"""Module-level apps for real servers (``benchmarks.serve:twinframe_wsgi`` and so on).

The same apps as the in-process harness: twinframe with sync handlers behind
WSGI and async ones behind ASGI, and the bare callables.
"""

from __future__ import annotations

from .apps import bare, twinframe_app

twinframe_wsgi = twinframe_app.build_wsgi()
twinframe_asgi = twinframe_app.build_asgi()
bare_wsgi = bare.build_wsgi()
bare_asgi = bare.build_asgi()
