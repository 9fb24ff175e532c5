"""The compiled route table: find the route and its params for a method and path.

Routes with no parameters go into a dict keyed by path: one lookup. The others
go into a tree with one level per path segment; a request walks it, static
children (dict lookup) first, then the dynamic ones in registration order, then
a ``{rest:path}`` catch-all. Matching costs the path's depth, not the number of
routes: even many patterns at one level that differ only by their literal text
(``/item1-{id}`` ... ``/item1000-{id}``) are looked up by that text's prefix.
"""

from __future__ import annotations

from collections.abc import Iterable
from typing import TYPE_CHECKING

from .patterns import Params, SegmentMatcher

if TYPE_CHECKING:
    from .routing import Route

Match = tuple["Route", Params]
# (registration order at its node, the segment's literal prefix, matcher, child node)
_Dynamic = tuple[int, str, SegmentMatcher, "_Node"]
# PERF: below this many dynamic children a node tries them one by one: cheaper than the index.
_INDEX_FROM = 8


class _Node:
    __slots__ = (
        "by_prefix",
        "catchall",
        "dynamic",
        "dynamic_sources",
        "endpoints",
        "prefix_lengths",
        "static",
        "unprefixed",
    )

    def __init__(self) -> None:
        self.static: dict[str, _Node] = {}
        self.dynamic: list[_Dynamic] = []
        self.dynamic_sources: dict[str, _Node] = {}
        self.catchall: list[tuple[str, _Node]] = []
        self.endpoints: dict[str, Route] = {}
        # Filled by _index() when the node has many dynamic children.
        self.by_prefix: dict[str, list[_Dynamic]] | None = None
        self.prefix_lengths: tuple[int, ...] = ()
        self.unprefixed: list[_Dynamic] = []


def _index(node: _Node) -> None:
    """Group the node's dynamic children by their segment's literal prefix, recursively."""
    if len(node.dynamic) >= _INDEX_FROM:
        node.by_prefix = {}
        for entry in node.dynamic:
            prefix = entry[1]
            if prefix:
                node.by_prefix.setdefault(prefix, []).append(entry)
            else:
                node.unprefixed.append(entry)
        node.prefix_lengths = tuple(sorted({len(p) for p in node.by_prefix}))
    for child in node.static.values():
        _index(child)
    for *_, child in node.dynamic:
        _index(child)


def _dynamic_candidates(node: _Node, segment: str) -> list[_Dynamic]:
    """The dynamic children that may match ``segment``, in registration order."""
    by_prefix = node.by_prefix
    if by_prefix is None:
        return node.dynamic
    found = list(node.unprefixed)
    size = len(segment)
    for length in node.prefix_lengths:
        if length > size:
            break
        bucket = by_prefix.get(segment[:length])
        if bucket is not None:
            found.extend(bucket)
    found.sort(key=_order)
    return found


def _order(entry: _Dynamic) -> int:
    return entry[0]


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
    if node.dynamic:
        for _, _, matcher, child in _dynamic_candidates(node, segment):
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
    # PERF: the common node has neither dynamic children nor a catch-all: two
    # attribute tests instead of a call and a scan of the path (404s come here twice).
    if node.dynamic:
        for _, _, matcher, child in _dynamic_candidates(node, segment):
            if matcher(segment) is not None:
                _matching_nodes(child, segments, i + 1, out)
    if node.catchall and any(segments[i:]):
        out.extend(child for _, child in node.catchall)


class Matcher:
    """Routes compiled for lookup: static paths in a dict, the rest in a segment tree."""

    def __init__(self, routes: Iterable[Route]) -> None:
        self._static: dict[str, dict[str, Route]] = {}
        self._root = _Node()
        for route in routes:
            self._insert(route)
        _index(self._root)

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
                found = node.dynamic_sources.get(seg.source)
                if found is None:
                    found = node.dynamic_sources[seg.source] = _Node()
                    node.dynamic.append((len(node.dynamic), seg.prefix, seg.matcher, found))
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
            # PERF: _pick() inline: a static route is the most common match.
            route = table.get(method)
            if route is None and method == "HEAD":
                route = table.get("GET")
            if route is not None:
                return route, {}
        if path[:1] != "/":
            return None
        return _find(self._root, path[1:].split("/"), 0, method)

    def leads_nowhere(self, path: str) -> bool:
        """True when no route of any method starts with ``path``'s first segment: then
        neither ``path`` nor ``path`` with its trailing slash added or removed has one.

        False means "maybe": ask ``allowed_methods``.
        """
        if path[:1] != "/":
            return False  # odd targets ("", "*") keep the general answer
        root = self._root
        if root.dynamic or root.catchall:
            return False
        first, _, _ = path[1:].partition("/")
        return first not in root.static

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
