"""Routes and the Router that collects them: registration, include, URL building.

A pattern such as ``/posts/{id:d}`` is compiled at registration
(``twinframe.patterns``); the App turns its routes into a ``Matcher``
(``twinframe.matching``) that finds the route for each request.
"""

from __future__ import annotations

import inspect
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass, field, replace
from functools import cached_property
from typing import Any, TypeVar
from urllib.parse import quote, urlencode

import parse

from .concurrency import is_async_callable
from .mounting import Interface, Mount, check_prefix, detect
from .patterns import Segment, compile_pattern

__all__ = [
    "WEBSOCKET",
    "Handler",
    "Route",
    "Router",
    "Segment",
    "compile_pattern",
    "is_async_callable",
]

Handler = Callable[..., Any]
H = TypeVar("H", bound=Handler)

# The "method" under which a websocket route is kept; '<' is not an HTTP token
# character, so no HTTP method can collide with it.
WEBSOCKET = "<websocket>"


@dataclass
class Route:
    """One registered route: a pattern, the methods it answers and its handler."""

    pattern: str
    methods: frozenset[str]
    handler: Handler
    name: str
    stream: bool = False
    segments: tuple[Segment, ...] = field(default=(), repr=False)
    is_async: bool = field(default=False, repr=False)

    @property
    def is_websocket(self) -> bool:
        """True for routes registered with ``websocket()``."""
        return WEBSOCKET in self.methods

    @cached_property
    def param_names(self) -> tuple[str, ...]:
        """The names of the path parameters, in pattern order."""
        return tuple(name for seg in self.segments for name in seg.names)

    def url(self, params: Mapping[str, Any]) -> str:
        """Build this route's path from ``params``; extra params become the query string."""
        names = self.param_names
        missing = [name for name in names if name not in params]
        if missing:
            raise ValueError(
                f"url_for({self.name!r}) is missing path parameter(s) {', '.join(missing)} "
                f"for {self.pattern!r}"
            )
        parts = []
        for seg in self.segments:
            safe = "/" if seg.kind == "path" else ""
            text = ""
            for literal, name in seg.pieces:
                text += quote(literal, safe="")
                if name is not None:
                    text += quote(str(params[name]), safe=safe)
            parts.append(text)
        path = "/" + "/".join(parts)
        extra = {k: v for k, v in params.items() if k not in names}
        return f"{path}?{urlencode(extra, doseq=True)}" if extra else path


def _check_handler(handler: Handler, pattern: str, names: Iterable[str], first: str) -> None:
    if not callable(handler):
        raise TypeError(f"route {pattern!r}: handler {handler!r} is not callable")
    try:
        signature = inspect.signature(handler)
    except (TypeError, ValueError):  # builtins and some C callables: nothing to check
        return
    params = signature.parameters
    if any(p.kind is p.VAR_KEYWORD for p in params.values()):
        return
    label = getattr(handler, "__qualname__", repr(handler))
    for name in names:
        p = params.get(name)
        if p is None or p.kind is p.POSITIONAL_ONLY:
            raise TypeError(
                f"route {pattern!r}: handler {label}() must accept path parameter {name!r} "
                "as a keyword argument"
            )
    positional = [
        p for p in params.values() if p.kind in (p.POSITIONAL_ONLY, p.POSITIONAL_OR_KEYWORD)
    ]
    if not positional and not any(p.kind is p.VAR_POSITIONAL for p in params.values()):
        raise TypeError(
            f"route {pattern!r}: handler {label}() must take the {first} as its first argument"
        )
    if positional and positional[0].name in names:
        raise TypeError(
            f"route {pattern!r}: handler {label}() receives the {first} as its first argument, "
            f"so that argument can't also be path parameter {positional[0].name!r}"
        )
    # Anything else without a default would fail on every request: say so now.
    given = {*names, *(p.name for p in positional[:1])}
    for p in params.values():
        required = p.default is p.empty and p.kind not in (p.VAR_POSITIONAL, p.VAR_KEYWORD)
        if required and p.name not in given:
            raise TypeError(
                f"route {pattern!r}: handler {label}() requires argument {p.name!r}, which is not "
                "a path parameter; give it a default or add it to the pattern"
            )


class Router:
    """A collection of routes, filled with decorators; mount it with ``App.include``."""

    def __init__(self, converters: Mapping[str, Callable[..., Any]] | None = None) -> None:
        self.routes: list[Route] = []
        self.converters: dict[str, Callable[..., Any]] = dict(converters or {})
        # Filled at registration: url_for and the duplicate checks look routes up here.
        self._by_name: dict[str, Route] = {}
        self._by_shape: dict[tuple[str, ...], list[Route]] = {}
        self.mounts: list[Mount] = []

    def add_converter(
        self, name: str, converter: Callable[[str], Any], pattern: str | None = None
    ) -> None:
        """Register a path converter usable as ``{x:name}``.

        ``converter`` turns the matched text into a value; its regex comes from
        ``pattern`` or from ``parse.with_pattern`` on the function.
        """
        if pattern is not None:
            convert = converter

            # A fresh function, since builtins such as ``str.upper`` take no attributes.
            def wrapped(text: str) -> Any:
                return convert(text)

            converter = parse.with_pattern(pattern)(wrapped)
        if not hasattr(converter, "pattern"):
            raise ValueError(
                f"converter {name!r} needs a regex: pass pattern= or use parse.with_pattern"
            )
        self.converters[name] = converter

    def add_route(
        self,
        pattern: str,
        handler: Handler,
        methods: Iterable[str] = ("GET",),
        name: str | None = None,
        stream: bool = False,
    ) -> Route:
        """Register ``handler`` for ``pattern`` and ``methods``; returns the Route.

        Raises at once for a bad pattern, an unknown converter, a handler that can't
        take the path parameters, or a method+pattern that is already registered.
        """
        if isinstance(methods, str):
            methods = (methods,)
        method_set = frozenset(m if m == WEBSOCKET else m.upper() for m in methods)
        if not method_set:
            raise ValueError(f"route {pattern!r}: methods must not be empty")
        if not name:
            name = getattr(handler, "__name__", None) or type(handler).__name__
        segments = compile_pattern(pattern, self.converters)
        is_async = is_async_callable(handler)
        route = Route(pattern, method_set, handler, name, stream, segments, is_async)
        kind = "websocket" if route.is_websocket else "request"
        _check_handler(handler, pattern, route.param_names, kind)
        self._add(route)
        return route

    def _add(self, route: Route) -> None:
        shape = tuple(seg.shape for seg in route.segments)
        same_shape = self._by_shape.get(shape, [])
        for other in same_shape:
            both = route.methods & other.methods
            if both:
                raise ValueError(
                    f"route {route.pattern!r} for {', '.join(sorted(both))} is already "
                    f"registered (as {other.pattern!r} by {other.name})"
                )
        named = self._by_name.get(route.name)
        if named is not None and named.handler is not route.handler:
            raise ValueError(
                f"route name {route.name!r} is already used by another handler "
                f"({named.pattern!r}); pass name= to tell them apart"
            )
        self.routes.append(route)
        self._by_shape[shape] = [*same_shape, route]
        self._by_name.setdefault(route.name, route)  # url_for builds the first one's path
        self._routes_changed()

    def _routes_changed(self) -> None:
        """Called after every registration (the App drops its compiled matcher)."""

    def route(
        self,
        pattern: str,
        methods: Iterable[str] = ("GET",),
        name: str | None = None,
        stream: bool = False,
    ) -> Callable[[H], H]:
        """Decorator: register the function for ``pattern`` and ``methods``.

        With ``stream=True`` the body is not read before the handler runs: the
        handler consumes it with ``req.stream()``.
        """

        def decorator(handler: H) -> H:
            self.add_route(pattern, handler, methods, name, stream)
            return handler

        return decorator

    def get(self, pattern: str, name: str | None = None, stream: bool = False) -> Callable[[H], H]:
        """Decorator: register a GET route (HEAD is answered by it too)."""
        return self.route(pattern, ("GET",), name, stream)

    def post(self, pattern: str, name: str | None = None, stream: bool = False) -> Callable[[H], H]:
        """Decorator: register a POST route."""
        return self.route(pattern, ("POST",), name, stream)

    def put(self, pattern: str, name: str | None = None, stream: bool = False) -> Callable[[H], H]:
        """Decorator: register a PUT route."""
        return self.route(pattern, ("PUT",), name, stream)

    def patch(
        self, pattern: str, name: str | None = None, stream: bool = False
    ) -> Callable[[H], H]:
        """Decorator: register a PATCH route."""
        return self.route(pattern, ("PATCH",), name, stream)

    def delete(
        self, pattern: str, name: str | None = None, stream: bool = False
    ) -> Callable[[H], H]:
        """Decorator: register a DELETE route."""
        return self.route(pattern, ("DELETE",), name, stream)

    def websocket(self, pattern: str, name: str | None = None) -> Callable[[H], H]:
        """Decorator: register an ``async def handler(ws, **params)`` for WebSocket connections."""

        def decorator(handler: H) -> H:
            self.add_websocket_route(pattern, handler, name)
            return handler

        return decorator

    def add_websocket_route(self, pattern: str, handler: Handler, name: str | None = None) -> Route:
        """Register a WebSocket handler; it must be ``async def``."""
        if not is_async_callable(handler):
            label = getattr(handler, "__qualname__", repr(handler))
            raise TypeError(f"websocket route {pattern!r}: handler {label}() must be 'async def'")
        return self.add_route(pattern, handler, (WEBSOCKET,), name)

    def include(self, router: Router, prefix: str = "") -> None:
        """Add every route (and mount) of ``router`` under ``prefix`` (e.g. ``"/api"``)."""
        if prefix and (not prefix.startswith("/") or prefix.endswith("/")):
            raise ValueError(f"prefix {prefix!r} must start with '/' and not end with '/'")
        # The router's routes were written against its own converters: those win.
        converters = {**self.converters, **router.converters}
        for route in router.routes:
            pattern = prefix + route.pattern
            segments = compile_pattern(pattern, converters)
            self._add(replace(route, pattern=pattern, segments=segments))
        for mount in router.mounts:
            full = check_prefix(prefix + mount.prefix or "/")
            self._add_mount(Mount(full, mount.app, mount.kind))

    def mount(self, prefix: str, other: Any, interface: Interface | None = None) -> None:
        """Serve another application at ``prefix`` and below (e.g. ``"/legacy"``, or ``"/"``).

        ``other`` is a WSGI callable, an ASGI 3 app or a twinframe App (served
        natively); the kind is detected, or forced with ``interface="wsgi"``/``"asgi"``.
        The prefix moves into the app's ``SCRIPT_NAME`` / ``root_path``. A request
        goes to the mount when no route of this app answers its method and path;
        the longest covering prefix wins. See docs/mounting.md.
        """
        target, kind = detect(other, interface)
        self._add_mount(Mount(check_prefix(prefix), target, kind))

    def _add_mount(self, mount: Mount) -> None:
        for other in self.mounts:
            if other.prefix == mount.prefix:
                raise ValueError(f"an app is already mounted at {mount.prefix or '/'!r}")
        if getattr(mount.app, "_twinframe_app", None) is self:
            raise ValueError("an app cannot be mounted inside itself")
        self.mounts.append(mount)
        self._routes_changed()

    def url_for(self, name: str, /, **params: Any) -> str:
        """The path of the route called ``name``; extra params become the query string.

        The path is relative to the app (``req.url_for`` adds the mount prefix).
        """
        route = self._by_name.get(name)
        if route is None:
            raise LookupError(f"no route named {name!r}")
        return route.url(params)
