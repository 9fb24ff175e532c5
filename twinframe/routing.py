"""Route patterns, the Router that collects them, and the compiled matcher.

Patterns use the ``parse`` library's format syntax, one path segment at a time:
``/posts/{id:d}``, ``/files/{name}.{ext}``, ``/static/{rest:path}``. Each pattern
is compiled once, at registration, into a tree of segments; a request walks the
tree (static segments by dict lookup first), so matching cost depends on the
path's depth, not on how many routes there are.
"""

from __future__ import annotations

import inspect
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass, field, replace
from string import Formatter
from typing import Any, TypeVar
from urllib.parse import quote, urlencode

import parse

Handler = Callable[..., Any]
H = TypeVar("H", bound=Handler)
Params = dict[str, Any]

# Key under which a node keeps its websocket route; '<' is not an HTTP token
# character, so no HTTP method can collide with it.
WEBSOCKET = "<websocket>"
HTTP_METHODS = ("GET", "HEAD", "POST", "PUT", "PATCH", "DELETE", "OPTIONS")

_formatter = Formatter()


def is_async_callable(obj: Any) -> bool:
    """True for ``async def`` functions and objects whose ``__call__`` is one."""
    while hasattr(obj, "func") and hasattr(obj, "args"):  # functools.partial
        obj = obj.func
    return inspect.iscoroutinefunction(obj) or inspect.iscoroutinefunction(
        getattr(obj, "__call__", None)  # noqa: B004 - we want the method itself
    )


# -- compiled segments ------------------------------------------------------------

SegmentMatcher = Callable[[str], "Params | None"]


@dataclass(frozen=True)
class _Segment:
    """One ``/``-separated piece of a compiled pattern."""

    source: str
    kind: str  # "static", "field" (a whole-segment str), "parsed", "path" (rest of path)
    names: tuple[str, ...] = ()
    shape: str = ""  # the segment with field names erased, to detect duplicate routes
    matcher: SegmentMatcher | None = None
    pieces: tuple[tuple[str, str | None], ...] = ()  # (literal, field name) for url_for


def _field_matcher(name: str) -> SegmentMatcher:
    def match(segment: str) -> Params | None:
        return {name: segment} if segment else None

    return match


def _parsed_matcher(parser: parse.Parser) -> SegmentMatcher:
    # parse.Parser.parse() builds a Result object and costs microseconds; here the
    # compiled regex and the type conversions parse prepared are used directly.
    regex = getattr(parser, "_match_re", None)
    groups = getattr(parser, "_name_to_group_map", None)
    conversions = getattr(parser, "_type_conversions", None)
    if regex is None or groups is None or conversions is None:  # pragma: no cover

        def slow_match(segment: str) -> Params | None:
            try:
                result = parser.parse(segment)
            except (ValueError, OverflowError):
                return None
            return dict(result.named) if isinstance(result, parse.Result) else None

        return slow_match

    fields = [(name, group, conversions.get(group)) for name, group in groups.items()]

    def match(segment: str) -> Params | None:
        m = regex.match(segment)
        if m is None:
            return None
        values: Params = {}
        try:
            for name, group, convert in fields:
                text = m.group(group)
                values[name] = convert(text, m) if convert is not None else text
        except (ValueError, OverflowError):  # e.g. a 10,000-digit {id:d}
            return None
        return values

    return match


def _compile_segment(
    source: str, pattern: str, converters: Mapping[str, Callable[..., Any]], last: bool
) -> _Segment:
    try:
        pieces = list(_formatter.parse(source))
    except ValueError as exc:
        raise ValueError(f"route {pattern!r}: bad segment {source!r}: {exc}") from None
    fields = [(lit, name, spec) for lit, name, spec, _ in pieces if name is not None]
    if not fields:
        text = "".join(lit for lit, *_ in pieces)
        return _Segment(source, "static", shape=text, pieces=((text, None),))
    names = tuple(name for _, name, _ in fields)
    for name in names:
        if not name.isidentifier():
            raise ValueError(f"route {pattern!r}: field {{{name}}} must be a Python identifier")
    if len(set(names)) != len(names):
        raise ValueError(f"route {pattern!r}: a field name appears twice in {source!r}")
    url_pieces = tuple((lit, name) for lit, name, _, _ in pieces)
    shape = "".join(lit + ("{:" + (spec or "") + "}" if name is not None else "")
                    for lit, name, spec, _ in pieces)
    if len(pieces) == 1 and pieces[0][0] == "":
        _, whole, spec, conversion = pieces[0]
        assert whole is not None
        if conversion:
            raise ValueError(f"route {pattern!r}: conversions like !r are not supported")
        if spec == "path":
            if not last:
                raise ValueError(f"route {pattern!r}: {{{whole}:path}} must be the last segment")
            return _Segment(source, "path", (whole,), shape, pieces=url_pieces)
        if not spec:
            return _Segment(source, "field", (whole,), shape, _field_matcher(whole), url_pieces)
    if any(spec == "path" for _, _, spec in fields):
        raise ValueError(f"route {pattern!r}: a path field must be a whole segment of its own")
    for _, name, spec in fields:
        type_name = (spec or "").lstrip("<>=^0123456789.,_ +-")
        if type_name and type_name not in _BUILTIN_TYPES and type_name not in converters:
            raise ValueError(
                f"route {pattern!r}: unknown converter {type_name!r} in {{{name}:{spec}}}; "
                "add it with add_converter()"
            )
    try:
        parser = parse.compile(
            _parse_source(pieces, converters),
            extra_types={**_DEFAULT_CONVERTERS, **converters},
            case_sensitive=True,
        )
    except Exception as exc:  # parse raises ValueError and its own errors
        raise ValueError(f"route {pattern!r}: cannot compile {source!r}: {exc}") from None
    return _Segment(source, "parsed", names, shape, _parsed_matcher(parser), url_pieces)


# parse's own format types (see its documentation); anything else must be registered.
_BUILTIN_TYPES = frozenset("lwWsSdDnxXoObfFeEgG%") | {
    "ti", "te", "th", "ta", "tg", "tc", "tt", "ts"
}


# parse's own ``d`` also takes "0x1f", "+4" and " 5", and ``f`` takes "nan" and
# "inf": in a URL that would give one resource many addresses, so path
# parameters use plain decimal forms instead (users may still override them).
def _decimal_int(text: str) -> int:
    return int(text)


def _decimal_float(text: str) -> float:
    return float(text)


_DEFAULT_CONVERTERS: dict[str, Callable[..., Any]] = {
    "tf_int": parse.with_pattern(r"-?[0-9]+")(_decimal_int),
    "tf_float": parse.with_pattern(r"-?(?:[0-9]+(?:\.[0-9]+)?|\.[0-9]+)")(_decimal_float),
}
_DEFAULT_SPECS = {"d": "tf_int", "f": "tf_float"}


def _parse_source(
    pieces: list[tuple[str, str | None, str | None, str | None]], converters: Mapping[str, Any]
) -> str:
    # parse prefixes its numeric types (d, f...) with an optional sign whatever
    # converter backs them, so the plain-decimal defaults go in under other names.
    out = []
    for literal, name, spec, _ in pieces:
        out.append(literal.replace("{", "{{").replace("}", "}}"))
        if name is not None:
            if spec and spec not in converters:
                spec = _DEFAULT_SPECS.get(spec, spec)
            out.append("{" + name + (":" + spec if spec else "") + "}")
    return "".join(out)


def compile_pattern(
    pattern: str, converters: Mapping[str, Callable[..., Any]] | None = None
) -> tuple[_Segment, ...]:
    """Compile a route pattern into segments; raises ValueError with the reason if invalid."""
    if not pattern.startswith("/"):
        raise ValueError(f"route pattern {pattern!r} must start with '/'")
    sources = pattern[1:].split("/")
    return tuple(
        _compile_segment(source, pattern, converters or {}, i == len(sources) - 1)
        for i, source in enumerate(sources)
    )


# -- routes -------------------------------------------------------------------------


@dataclass
class Route:
    """One registered route: a pattern, the methods it answers and its handler."""

    pattern: str
    methods: frozenset[str]
    handler: Handler
    name: str
    stream: bool = False
    segments: tuple[_Segment, ...] = field(default=(), repr=False)
    is_async: bool = field(default=False, repr=False)

    @property
    def is_websocket(self) -> bool:
        """True for routes registered with ``websocket()``."""
        return WEBSOCKET in self.methods

    @property
    def param_names(self) -> tuple[str, ...]:
        """The names of the path parameters, in pattern order."""
        return tuple(name for seg in self.segments for name in seg.names)

    def url(self, params: Mapping[str, Any]) -> str:
        """Build this route's path from ``params``; extra params become the query string."""
        missing = [name for name in self.param_names if name not in params]
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
        extra = {k: v for k, v in params.items() if k not in self.param_names}
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
        segments = compile_pattern(pattern, self._all_converters())
        is_async = is_async_callable(handler)
        route = Route(pattern, method_set, handler, name, stream, segments, is_async)
        kind = "websocket" if route.is_websocket else "request"
        _check_handler(handler, pattern, route.param_names, kind)
        self._add(route)
        return route

    def _all_converters(self) -> dict[str, Callable[..., Any]]:
        return self.converters

    def _add(self, route: Route) -> None:
        shape = tuple(seg.shape for seg in route.segments)
        for other in self.routes:
            if tuple(seg.shape for seg in other.segments) == shape:
                both = route.methods & other.methods
                if both:
                    raise ValueError(
                        f"route {route.pattern!r} for {', '.join(sorted(both))} is already "
                        f"registered (as {other.pattern!r} by {other.name})"
                    )
            if other.name == route.name and other.handler is not route.handler:
                raise ValueError(
                    f"route name {route.name!r} is already used by another handler "
                    f"({other.pattern!r}); pass name= to tell them apart"
                )
        self.routes.append(route)
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
        """Mount every route of ``router`` under ``prefix`` (e.g. ``"/api"``)."""
        if prefix and (not prefix.startswith("/") or prefix.endswith("/")):
            raise ValueError(f"prefix {prefix!r} must start with '/' and not end with '/'")
        # The router's routes were written against its own converters: those win.
        converters = {**self._all_converters(), **router.converters}
        for route in router.routes:
            pattern = prefix + route.pattern
            segments = compile_pattern(pattern, converters)
            self._add(replace(route, pattern=pattern, segments=segments))

    def url_path_for(self, name: str, /, **params: Any) -> str:
        """The path of the route called ``name``, with ``params`` filled in."""
        for route in self.routes:
            if route.name == name:
                return route.url(params)
        raise LookupError(f"no route named {name!r}")


# -- the compiled matcher -----------------------------------------------------------


class _Node:
    __slots__ = ("catchall", "dynamic", "endpoints", "static")

    def __init__(self) -> None:
        self.static: dict[str, _Node] = {}
        self.dynamic: list[tuple[str, SegmentMatcher, _Node]] = []
        self.catchall: list[tuple[str, _Node]] = []
        self.endpoints: dict[str, Route] = {}


Match = tuple[Route, Params]


def _pick(endpoints: dict[str, Route], method: str) -> Route | None:
    route = endpoints.get(method)
    if route is None and method == "HEAD":
        route = endpoints.get("GET")
    return route


def _find(node: _Node, segments: list[str], i: int, method: str) -> Match | None:
    if i == len(segments):
        route = _pick(node.endpoints, method) if node.endpoints else None
        return (route, {}) if route is not None else None
    segment = segments[i]
    child = node.static.get(segment)
    if child is not None:
        found = _find(child, segments, i + 1, method)
        if found is not None:
            return found
    for _, matcher, child in node.dynamic:
        values = matcher(segment)
        if values is not None:
            found = _find(child, segments, i + 1, method)
            if found is not None:
                found[1].update(values)
                return found
    if node.catchall:
        rest = "/".join(segments[i:])
        if rest:
            for name, child in node.catchall:
                route = _pick(child.endpoints, method)
                if route is not None:
                    return route, {name: rest}
    return None


def _matching_nodes(node: _Node, segments: list[str], i: int, out: list[_Node]) -> None:
    if i == len(segments):
        out.append(node)
        return
    segment = segments[i]
    child = node.static.get(segment)
    if child is not None:
        _matching_nodes(child, segments, i + 1, out)
    for _, matcher, child in node.dynamic:
        if matcher(segment) is not None:
            _matching_nodes(child, segments, i + 1, out)
    if any(segments[i:]):
        out.extend(child for _, child in node.catchall)


class Matcher:
    """Routes compiled for lookup: static paths in a dict, the rest in a segment tree."""

    def __init__(self, routes: Iterable[Route]) -> None:
        self._static: dict[str, dict[str, Route]] = {}
        self._root = _Node()
        for route in routes:
            self._insert(route)

    def _insert(self, route: Route) -> None:
        node = self._root
        for seg in route.segments:
            if seg.kind == "static":
                node = node.static.setdefault(seg.shape, _Node())
            elif seg.kind == "path":
                child = next((c for n, c in node.catchall if n == seg.names[0]), None)
                if child is None:
                    child = _Node()
                    node.catchall.append((seg.names[0], child))
                node = child
            else:
                assert seg.matcher is not None
                found = next((c for src, _, c in node.dynamic if src == seg.source), None)
                if found is None:
                    found = _Node()
                    node.dynamic.append((seg.source, seg.matcher, found))
                node = found
        for method in route.methods:
            node.endpoints.setdefault(method, route)
        if all(seg.kind == "static" for seg in route.segments):
            path = "/" + "/".join(seg.shape for seg in route.segments)
            table = self._static.setdefault(path, {})
            for method in route.methods:
                table.setdefault(method, route)

    def match(self, method: str, path: str) -> Match | None:
        """The route and converted params for ``method`` and ``path``, or None."""
        table = self._static.get(path)
        if table is not None:
            route = _pick(table, method)
            if route is not None:
                return route, {}
        if path[:1] != "/":
            return None
        return _find(self._root, path[1:].split("/"), 0, method)

    def allowed_methods(self, path: str) -> set[str]:
        """Every method (and the websocket marker) some route answers at ``path``."""
        if path[:1] != "/":
            return set()
        nodes: list[_Node] = []
        _matching_nodes(self._root, path[1:].split("/"), 0, nodes)
        methods: set[str] = set()
        for node in nodes:
            methods.update(node.endpoints)
        return methods
