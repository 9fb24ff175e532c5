"""Let stock gunicorn load ``module:app.wsgi`` (a dotted attribute path).

gunicorn only accepts a plain name or a call after the colon
(benoitc/gunicorn#2213). Importing this module from a ``gunicorn.conf.py``,
which gunicorn reads from the working directory by default, widens its app
loader to follow dotted attributes; everything else is left to gunicorn::

    # gunicorn.conf.py
    import twinframe.gunicorn  # noqa: F401  (gunicorn then accepts module:app.wsgi)
"""

from __future__ import annotations

import importlib
from typing import Any

import gunicorn.util

_original_import_app = gunicorn.util.import_app


def import_app(uri: str) -> Any:
    """Load ``module:a.b.c`` by importing ``module`` and following the attributes."""
    module_name, sep, path = uri.partition(":")
    if not sep or "." not in path or "(" in path:
        return _original_import_app(uri)
    obj: Any = importlib.import_module(module_name)
    for attribute in path.split("."):
        if not attribute.isidentifier():
            return _original_import_app(uri)
        try:
            obj = getattr(obj, attribute)
        except AttributeError:
            raise gunicorn.util.AppImportError(
                f"Failed to find attribute {attribute!r} in {uri!r}."
            ) from None
    if not callable(obj):
        raise gunicorn.util.AppImportError(f"Application object {uri!r} must be callable.")
    return obj


gunicorn.util.import_app = import_app
