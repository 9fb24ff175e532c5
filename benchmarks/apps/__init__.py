"""The benchmark scenarios implemented in each framework, plus bare WSGI/ASGI callables.

Each module offers ``build_wsgi(routes)`` and/or ``build_asgi(routes)``, returning
a callable that serves every scenario of ``benchmarks.scenarios`` with ``routes``
dynamic routes; ``HANDLERS`` says which handler style each entrypoint uses.
"""
