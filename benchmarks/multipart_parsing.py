"""Multipart parsing: twinframe's gathering around python-multipart's callback API vs
the least a caller of that API can do, and vs python-multipart's higher-level API.

Run: python -m benchmarks.multipart_parsing

The body is the ``upload`` scenario's (one field and a 2 KiB file holding every
byte value). Each parser's result is checked before it is timed.
"""

from __future__ import annotations

import timeit
from typing import Any

from python_multipart import FormParser
from python_multipart.multipart import MultipartParser, parse_options_header

from twinframe.forms import parse_multipart

from .apps.bare import _upload
from .scenarios import UPLOAD_BODY, UPLOAD_BOUNDARY, UPLOAD_FILE

CONTENT_TYPE = f"multipart/form-data; boundary={UPLOAD_BOUNDARY}"
EXPECTED = ("quarterly report", "report.bin", UPLOAD_FILE)


def twinframe_forms() -> tuple[Any, ...]:
    """twinframe.forms.parse_multipart: every check, fields and UploadedFiles."""
    fields, files = parse_multipart(UPLOAD_BODY, CONTENT_TYPE, 1000)
    file = files["file"]
    return fields["title"], file.filename, file.data


def bare_callbacks() -> tuple[Any, ...]:
    """MultipartParser with three callbacks and no checks (the bare callable's way)."""
    boundary = parse_options_header(CONTENT_TYPE)[1][b"boundary"]
    parts: list[tuple[list[bytes], list[bytes]]] = []
    callbacks = {
        "on_part_begin": lambda: parts.append(([], [])),
        "on_header_value": lambda b, s, e: parts[-1][0].append(b[s:e]),
        "on_part_data": lambda b, s, e: parts[-1][1].append(b[s:e]),
    }
    parser = MultipartParser(boundary, callbacks)  # type: ignore[arg-type]
    parser.write(UPLOAD_BODY)
    parser.finalize()
    title = b"".join(parts[0][1]).decode()
    name = parse_options_header(parts[1][0][0])[1][b"filename"].decode()
    return title, name, b"".join(parts[1][1])


def high_level() -> tuple[Any, ...]:
    """python-multipart's FormParser: Field and File objects (files in memory under 1 MiB)."""
    found: dict[str, Any] = {}
    parser = FormParser(
        "multipart/form-data",
        lambda field: found.__setitem__("title", field.value.decode()),
        lambda file: found.__setitem__("file", file),
        boundary=UPLOAD_BOUNDARY,
    )
    parser.write(UPLOAD_BODY)
    parser.finalize()
    file = found["file"]
    file.file_object.seek(0)
    data = file.file_object.read()
    file.close()
    return found["title"], file.file_name.decode(), data


PARSERS = (
    ("twinframe.forms.parse_multipart", twinframe_forms),
    ("MultipartParser, 3 callbacks", bare_callbacks),
    ("FormParser (higher-level)", high_level),
)


def main(number: int = 5_000) -> None:
    assert _upload(CONTENT_TYPE, UPLOAD_BODY)[2]  # the bare app's parser works too
    for label, parse in PARSERS:
        result = parse()
        if result != EXPECTED:
            raise SystemExit(f"{label}: wrong result {result!r:.200}")
    # Interleaved repeats: a change in the machine's speed hits every parser alike.
    best = {label: float("inf") for label, _ in PARSERS}
    for _ in range(7):
        for label, parse in PARSERS:
            best[label] = min(best[label], timeit.timeit(parse, number=number) / number)
    base = best["MultipartParser, 3 callbacks"]
    for label, _ in PARSERS:
        print(f"  {label:34} {best[label] * 1e6:7.2f} us  ({best[label] / base:.2f}x)")


if __name__ == "__main__":
    main()
