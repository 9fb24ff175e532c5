"""Route patterns compiled into segments, each with its own matcher.

Patterns use the ``parse`` library's format syntax, one path segment at a time:
``/posts/{id:d}``, ``/files/{name}.{ext}``, ``/static/{rest:path}``. A pattern
is compiled once, at registration; the matcher (``twinframe.matching``) then
tries the segments' matchers against a request path.
"""

from __future__ import annotations

import re
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from string import Formatter
from typing import Any

import parse

Params = dict[str, Any]
SegmentMatcher = Callable[[str], "Params | None"]
# (literal text, field name, format spec, conversion), as string.Formatter.parse yields them
_Piece = tuple[str, "str | None", "str | None", "str | None"]

_formatter = Formatter()


@dataclass(frozen=True)
class Segment:
    """One ``/``-separated piece of a compiled pattern."""

    source: str
    kind: str  # "static", "field" (a whole-segment str), "parsed", "path" (rest of path)
    names: tuple[str, ...] = ()
    shape: str = ""  # the segment with field names erased, to detect duplicate routes
    matcher: SegmentMatcher | None = None
    pieces: tuple[tuple[str, str | None], ...] = ()  # (literal, field name) for url_for
    prefix: str = ""  # the literal text every match starts with (for "parsed" segments)


# parse's own format types (see its documentation); anything else must be registered.
_BUILTIN_TYPES = frozenset("lwWsSdDnxXoObfFeEgG%") | {
    "ti",
    "te",
    "th",
    "ta",
    "tg",
    "tc",
    "tt",
    "ts",
}


# parse's own ``d`` also takes "0x1f", "+4" and " 5", and ``f`` takes "nan" and
# "inf": in a URL that would give one resource many addresses, so path
# parameters use plain decimal forms instead (users may still override them).
_INT_PATTERN = r"-?[0-9]+"
_FLOAT_PATTERN = r"-?(?:[0-9]+(?:\.[0-9]+)?|\.[0-9]+)"

# ``d`` takes what a signed 64-bit integer holds (SQL's BIGINT, SQLite's INTEGER):
# a bigger id names nothing any database stores, so it is a 404 rather than an
# OverflowError deep in a driver. docs/routing.md says how to take any size.
INT_MIN, INT_MAX = -(2**63), 2**63 - 1


def _decimal_int(text: str) -> int:
    value = int(text)
    if INT_MIN <= value <= INT_MAX:
        return value
    raise ValueError("outside the signed 64-bit range")


def _decimal_float(text: str) -> float:
    return float(text)


_DEFAULT_CONVERTERS: dict[str, Callable[..., Any]] = {
    "tf_int": parse.with_pattern(_INT_PATTERN)(_decimal_int),
    "tf_float": parse.with_pattern(_FLOAT_PATTERN)(_decimal_float),
}
_DEFAULT_SPECS = {"d": "tf_int", "f": "tf_float"}

# The same types for a segment that is one field and nothing else: a regex
# full match and the conversion, without parse's per-field call path (a few
# microseconds each). tests/test_routing.py checks both give the same answers.
_WHOLE_SEGMENT_TYPES: dict[str, tuple[str, Callable[[str], Any] | None]] = {
    "d": (_INT_PATTERN, int),
    "f": (_FLOAT_PATTERN, float),
    "w": (r"\w+", None),  # parse's own \w+, kept as text
}


def _field_matcher(name: str) -> SegmentMatcher:
    def match(segment: str) -> Params | None:
        return {name: segment} if segment else None

    return match


def _typed_field_matcher(name: str, spec: str) -> SegmentMatcher:
    regex, convert = _WHOLE_SEGMENT_TYPES[spec]
    fullmatch = re.compile(regex).fullmatch
    if convert is None:

        def match_text(segment: str) -> Params | None:
            return {name: segment} if fullmatch(segment) is not None else None

        return match_text

    if spec == "d":
        # PERF: int() and one chained comparison inline, not a call to _decimal_int.
        def match_int(segment: str) -> Params | None:
            if fullmatch(segment) is None:
                return None
            try:
                value = int(segment)
            except ValueError:  # e.g. a 10,000-digit {id:d}: over int()'s digit limit
                return None
            return {name: value} if INT_MIN <= value <= INT_MAX else None

        return match_int

    def match(segment: str) -> Params | None:
        if fullmatch(segment) is None:
            return None
        try:
            return {name: convert(segment)}
        except ValueError:  # e.g. "1" + 400 zeros: a float over float()'s range
            return None

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


def _parse_source(pieces: list[_Piece], converters: Mapping[str, Any]) -> str:
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


def _parse_matcher(
    pieces: list[_Piece], converters: Mapping[str, Callable[..., Any]], pattern: str, source: str
) -> SegmentMatcher:
    """A matcher for any segment with fields, through parse's compiled format."""
    try:
        parser = parse.compile(
            _parse_source(pieces, converters),
            extra_types={**_DEFAULT_CONVERTERS, **converters},
            case_sensitive=True,
        )
    except Exception as exc:  # parse raises ValueError and its own errors
        raise ValueError(f"route {pattern!r}: cannot compile {source!r}: {exc}") from None
    return _parsed_matcher(parser)


def _compile_segment(
    source: str, pattern: str, converters: Mapping[str, Callable[..., Any]], last: bool
) -> Segment:
    try:
        pieces = list(_formatter.parse(source))
    except ValueError as exc:
        raise ValueError(f"route {pattern!r}: bad segment {source!r}: {exc}") from None
    fields = [(lit, name, spec) for lit, name, spec, _ in pieces if name is not None]
    if not fields:
        text = "".join(lit for lit, *_ in pieces)
        return Segment(source, "static", shape=text, pieces=((text, None),))
    names = tuple(name for _, name, _ in fields)
    for name in names:
        if not name.isidentifier():
            raise ValueError(f"route {pattern!r}: field {{{name}}} must be a Python identifier")
    if len(set(names)) != len(names):
        raise ValueError(f"route {pattern!r}: a field name appears twice in {source!r}")
    url_pieces = tuple((lit, name) for lit, name, _, _ in pieces)
    shape = "".join(
        lit + ("{:" + (spec or "") + "}" if name is not None else "")
        for lit, name, spec, _ in pieces
    )
    if len(pieces) == 1 and pieces[0][0] == "":
        _, whole, spec, conversion = pieces[0]
        assert whole is not None
        if conversion:
            raise ValueError(f"route {pattern!r}: conversions like !r are not supported")
        if spec == "path":
            if not last:
                raise ValueError(f"route {pattern!r}: {{{whole}:path}} must be the last segment")
            return Segment(source, "path", (whole,), shape, pieces=url_pieces)
        if not spec:
            return Segment(source, "field", (whole,), shape, _field_matcher(whole), url_pieces)
        if spec in _WHOLE_SEGMENT_TYPES and spec not in converters:
            matcher = _typed_field_matcher(whole, spec)
            return Segment(source, "parsed", (whole,), shape, matcher, url_pieces)
    if any(spec == "path" for _, _, spec in fields):
        raise ValueError(f"route {pattern!r}: a path field must be a whole segment of its own")
    for _, name, spec in fields:
        type_name = (spec or "").lstrip("<>=^0123456789.,_ +-")
        if type_name and type_name not in _BUILTIN_TYPES and type_name not in converters:
            raise ValueError(
                f"route {pattern!r}: unknown converter {type_name!r} in {{{name}:{spec}}}; "
                "add it with add_converter()"
            )
    matcher = _parse_matcher(pieces, converters, pattern, source)
    return Segment(source, "parsed", names, shape, matcher, url_pieces, prefix=pieces[0][0])


def compile_pattern(
    pattern: str, converters: Mapping[str, Callable[..., Any]] | None = None
) -> tuple[Segment, ...]:
    """Compile a route pattern into segments; raises ValueError with the reason if invalid."""
    if not pattern.startswith("/"):
        raise ValueError(f"route pattern {pattern!r} must start with '/'")
    sources = pattern[1:].split("/")
    return tuple(
        _compile_segment(source, pattern, converters or {}, i == len(sources) - 1)
        for i, source in enumerate(sources)
    )
