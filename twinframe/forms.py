"""Form bodies: ``application/x-www-form-urlencoded`` and ``multipart/form-data``.

Multipart is parsed by python-multipart; this module only gathers its callbacks
into fields and uploaded files and enforces the app's limits.
"""

from __future__ import annotations

import inspect
from dataclasses import dataclass, field
from urllib.parse import unquote

from multidict import CIMultiDict, CIMultiDictProxy, MultiDict
from python_multipart.exceptions import MultipartParseError
from python_multipart.multipart import MultipartParser, parse_options_header

from .errors import BadRequest, PayloadTooLarge
from .target import BAD_ESCAPE

# Recent python-multipart bounds each part header line itself (4 KiB by default),
# below the 16 KiB per value twinframe documents (docs/security.md). The whole body
# is in memory already (bounded by max_body_size), so its bound is lifted to the
# body's length and ours, on the value, is the one in force, with one message.
# Versions without the argument have no bound of their own.
_PARSER_BOUNDS_HEADERS = "max_header_size" in inspect.signature(MultipartParser).parameters


@dataclass
class UploadedFile:
    """A file from a multipart form: ``filename``, ``content_type`` and ``data``.

    ``filename`` is what the client sent: never use it as a path without checking it.
    """

    filename: str
    content_type: str
    data: bytes
    headers: CIMultiDictProxy[str] = field(
        repr=False, default_factory=lambda: CIMultiDictProxy(CIMultiDict())
    )

    @property
    def size(self) -> int:
        """The file's length in bytes."""
        return len(self.data)


def split_urlencoded(text: str, max_fields: int) -> list[tuple[str, str]]:
    """Split ``a=1&b=&c`` into unquoted (name, value) pairs, as ``urllib.parse.parse_qsl``
    does with blank values kept; ValueError past ``max_fields``, UnicodeError for bad UTF-8.
    """
    if text.count("&") >= max_fields:
        raise ValueError(f"more than {max_fields} fields")
    # PERF: parse_qsl's own loop, minus its per-item unquote calls where there is nothing
    # to unquote: queries are parsed on many requests (tests/test_forms.py checks
    # that both agree).
    pairs = []
    for item in text.split("&"):
        if item:
            name, _, value = item.partition("=")
            # PERF: a "+" alone is a space: unquote() only where there is a "%" to decode.
            if "+" in name:
                name = name.replace("+", " ")
            if "%" in name:
                name = unquote(name, errors="strict")
            if "+" in value:
                value = value.replace("+", " ")
            if "%" in value:
                value = unquote(value, errors="strict")
            pairs.append((name, value))
    return pairs


def parse_urlencoded(body: bytes, max_fields: int) -> MultiDict[str]:
    """Parse an urlencoded body into a multidict; 400 for bad UTF-8, 413 past ``max_fields``."""
    try:
        text = body.decode("utf-8")
        if "%" in text and BAD_ESCAPE.search(text):
            raise BadRequest("invalid percent-encoding in the form body")
        pairs = split_urlencoded(text, max_fields)
    except UnicodeDecodeError:
        raise BadRequest("form body is not valid UTF-8") from None
    except ValueError:
        raise PayloadTooLarge(f"form has more than {max_fields} fields") from None
    return MultiDict(pairs)


def parse_multipart(
    body: bytes, content_type: str, max_parts: int, max_part_header_size: int = 16384
) -> tuple[MultiDict[str], MultiDict[UploadedFile]]:
    """Parse a multipart/form-data body into (fields, files); 400 if it is malformed."""
    _, params = parse_options_header(content_type)
    boundary = params.get(b"boundary")
    if not boundary:
        raise BadRequest("multipart body without a boundary in its Content-Type")
    fields: MultiDict[str] = MultiDict()
    files: MultiDict[UploadedFile] = MultiDict()
    state: dict[str, object] = {}
    header_name: list[bytes] = []
    header_value: list[bytes] = []
    headers: list[tuple[str, str]] = []
    data: list[bytes] = []
    count = 0
    header_size = 0

    def on_part_begin() -> None:
        nonlocal count
        count += 1
        if count > max_parts:
            raise PayloadTooLarge(f"multipart body has more than {max_parts} parts")
        headers.clear()
        data.clear()

    def on_header_field(buf: bytes, start: int, end: int) -> None:
        header_name.append(buf[start:end])

    def on_header_value(buf: bytes, start: int, end: int) -> None:
        nonlocal header_size
        header_size += end - start  # PERF: a running total, not a sum per callback
        if header_size > max_part_header_size:
            raise BadRequest("multipart part header too large")
        header_value.append(buf[start:end])

    def on_header_end() -> None:
        nonlocal header_size
        headers.append(
            (b"".join(header_name).decode("latin-1"), b"".join(header_value).decode("latin-1"))
        )
        header_name.clear()
        header_value.clear()
        header_size = 0

    def on_part_data(buf: bytes, start: int, end: int) -> None:
        data.append(buf[start:end])

    def on_part_end() -> None:
        # PERF: the disposition found in the list; the multidict only for a file,
        # which keeps its headers (a field part needs none).
        found = ""
        for header, value in headers:
            if header.lower() == "content-disposition":
                found = value
                break
        disposition, options = parse_options_header(found)
        if disposition != b"form-data" or b"name" not in options:
            raise BadRequest("multipart part without 'Content-Disposition: form-data; name=...'")
        try:
            name = options[b"name"].decode("utf-8")
        except UnicodeDecodeError:
            raise BadRequest("multipart field name is not valid UTF-8") from None
        content = b"".join(data)
        if b"filename" in options:
            part_headers = CIMultiDict(headers)
            filename = options[b"filename"].decode("utf-8", "replace")
            files.add(
                name,
                UploadedFile(
                    filename,
                    part_headers.get("content-type", "application/octet-stream"),
                    content,
                    CIMultiDictProxy(part_headers),
                ),
            )
        else:
            try:
                fields.add(name, content.decode("utf-8"))
            except UnicodeDecodeError:
                raise BadRequest(f"multipart field {name!r} is not valid UTF-8") from None

    def on_end() -> None:
        state["ended"] = True

    parser = MultipartParser(
        boundary,
        {
            "on_part_begin": on_part_begin,
            "on_part_data": on_part_data,
            "on_part_end": on_part_end,
            "on_header_field": on_header_field,
            "on_header_value": on_header_value,
            "on_header_end": on_header_end,
            "on_end": on_end,
        },
        **({"max_header_size": len(body) + 1} if _PARSER_BOUNDS_HEADERS else {}),
    )
    try:
        parser.write(body)
        parser.finalize()
    except MultipartParseError as exc:
        raise BadRequest(f"malformed multipart body: {exc}") from None
    if not state.get("ended"):
        raise BadRequest("malformed multipart body: missing the closing boundary")
    return fields, files
