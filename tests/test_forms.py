"""Form bodies (twinframe/forms.py): urlencoded and multipart, their limits and their errors."""

from __future__ import annotations

from urllib.parse import parse_qsl

import pytest
from helpers import (
    HANDLERS,
    assert_problem,
    assert_still_serving,
    body_app,
    multipart,
    recording_app,
)
from hypothesis import given, settings
from hypothesis import strategies as st

from twinframe import App
from twinframe.forms import split_urlencoded

# -- urlencoded ---------------------------------------------------------------------


@pytest.mark.parametrize("url", HANDLERS)
def test_urlencoded_form(make_client, url):
    client = make_client(body_app())
    response = client.post(
        url + "?kind=form",
        content=b"name=Ann+Lee&tag=a&tag=b&empty=&city=Z%C3%BCrich",
        headers={"Content-Type": "application/x-www-form-urlencoded"},
    )
    assert response.json() == {
        "form": {"name": ["Ann Lee"], "tag": ["a", "b"], "empty": [""], "city": ["Zürich"]}
    }
    # httpx's own form encoding, and an empty body without a Content-Type.
    assert client.post(url + "?kind=form", data={"a": "1"}).json() == {"form": {"a": ["1"]}}
    assert client.post(url + "?kind=form").json() == {"form": {}}


FORM_TYPES = "expected an application/x-www-form-urlencoded or multipart/form-data body"


@pytest.mark.parametrize(
    ("content", "content_type", "status", "detail"),
    [
        (b"a=1", "application/json", 415, f"{FORM_TYPES}, got 'application/json'"),
        (b"a=1", None, 415, f"{FORM_TYPES}, got 'no Content-Type'"),
        (b"a=%FF", "application/x-www-form-urlencoded", 400, "UTF-8"),
        (b"a=%ZZ", "application/x-www-form-urlencoded", 400, "percent-encoding"),
    ],
)
def test_bad_urlencoded_form(make_client, content, content_type, status, detail):
    app, _ = recording_app()
    client = make_client(app)
    headers = {"content-type": content_type} if content_type else {}
    response = client.post("/form", content=content, headers=headers)
    assert_problem(response, status, detail)
    if status == 415:  # the whole detail: what the app takes, then what it got
        assert response.json()["detail"] == detail
    assert_still_serving(client)


def test_urlencoded_field_limit(make_client):
    app, calls = recording_app(max_form_fields=10)
    client = make_client(app)
    form = {"content-type": "application/x-www-form-urlencoded"}
    many = "&".join(f"f{i}=v" for i in range(11)).encode()
    assert_problem(client.post("/form", content=many, headers=form), 413, "more than 10 fields")
    assert calls == []
    fine = "&".join(f"f{i}=v" for i in range(10)).encode()
    assert len(client.post("/form", content=fine, headers=form).json()["form"]) == 10


# -- multipart ----------------------------------------------------------------------


@pytest.mark.parametrize("url", HANDLERS)
def test_multipart_fields_and_files(make_client, url):
    client = make_client(body_app())
    response = client.post(
        url + "?kind=files",
        data={"title": "Trip é", "tag": ["x", "y"]},
        files=[
            ("photo", ("beach.png", b"\x89PNG\r\n\x1a\nbinary\x00data", "image/png")),
            ("notes", ("notes.txt", b"line 1\r\nline 2\r\n", "text/plain")),
            ("photo", ("second.jpg", b"", "image/jpeg")),
        ],
    )
    assert response.status_code == 200, response.text
    data = response.json()
    assert data["form"] == {"title": ["Trip é"], "tag": ["x", "y"]}
    assert data["files"] == [
        ["photo", "beach.png", "image/png", "\x89PNG\r\n\x1a\nbinary\x00data", 19],
        ["notes", "notes.txt", "text/plain", "line 1\r\nline 2\r\n", 16],
        ["photo", "second.jpg", "image/jpeg", "", 0],
    ]


MULTIPART_OK = (
    b"--XyZ\r\n"
    b'Content-Disposition: form-data; name="a"\r\n\r\n'
    b"1\r\n"
    b"--XyZ\r\n"
    b'Content-Disposition: form-data; name="f"; filename="a.bin"\r\n\r\n'
    b"\x00\x01\r\n"
    b"--XyZ--\r\n"
)


@pytest.mark.parametrize("url", HANDLERS)
def test_handwritten_multipart(make_client, url):
    response = make_client(body_app()).post(
        url + "?kind=files",
        content=MULTIPART_OK,
        headers={"Content-Type": 'multipart/form-data; boundary="XyZ"'},
    )
    assert response.json() == {
        "form": {"a": ["1"]},
        # No Content-Type in the part: application/octet-stream, as RFC 7578 says.
        "files": [["f", "a.bin", "application/octet-stream", "\x00\x01", 2]],
    }


@pytest.mark.parametrize(
    ("content", "content_type", "detail"),
    [
        (MULTIPART_OK, "multipart/form-data", "boundary"),
        (MULTIPART_OK, "multipart/form-data; charset=utf-8", "boundary"),
        (MULTIPART_OK[:-9], "multipart/form-data; boundary=XyZ", "closing boundary"),
        (b"garbage without any boundary", "multipart/form-data; boundary=XyZ", "multipart"),
        (
            b'--XyZ\r\nContent-Disposition: attachment; filename="x"\r\n\r\nx\r\n--XyZ--\r\n',
            "multipart/form-data; boundary=XyZ",
            "form-data",
        ),
        (
            b"--XyZ\r\nno colon header line\r\n\r\nx\r\n--XyZ--\r\n",
            "multipart/form-data; boundary=XyZ",
            "multipart",
        ),
        (
            b'--XyZ\r\nContent-Disposition: form-data; name="a"\r\n\r\n\xff\xfe\r\n--XyZ--\r\n',
            "multipart/form-data; boundary=XyZ",
            "UTF-8",
        ),
        (b"", "multipart/form-data; boundary=XyZ", "multipart"),
    ],
)
@pytest.mark.parametrize("url", HANDLERS)
def test_broken_multipart_is_400(make_client, url, content, content_type, detail):
    client = make_client(body_app())
    response = client.post(
        url + "?kind=files", content=content, headers={"Content-Type": content_type}
    )
    assert response.status_code == 400, response.text
    assert detail in response.json()["detail"]
    # The connection/app is not left in a bad state: the next request is fine.
    assert client.post(url + "?kind=body", content=b"ok").json() == {"body": "6f6b"}


@pytest.mark.parametrize(
    ("content", "content_type", "detail"),
    [
        (multipart([('form-data; name="a"', b"1")]), "multipart/form-data", "without a boundary"),
        (
            multipart([('form-data; name="a"', b"1")]),
            "multipart/form-data; boundary=",
            "without a boundary",
        ),
        (
            b"this is not multipart at all",
            "multipart/form-data; boundary=XyZ",
            "malformed multipart",
        ),
        (
            multipart([('form-data; name="a"', b"1")])[:-8],
            "multipart/form-data; boundary=XyZ",
            "closing boundary",
        ),
        (
            multipart([("attachment", b"1")]),
            "multipart/form-data; boundary=XyZ",
            "Content-Disposition",
        ),
        (
            multipart([('form-data; name="a"', b"\xff")]),
            "multipart/form-data; boundary=XyZ",
            "UTF-8",
        ),
    ],
)
def test_garbled_multipart_is_400(make_client, content, content_type, detail):
    app, calls = recording_app()
    client = make_client(app)
    assert_problem(
        client.post("/form", content=content, headers={"content-type": content_type}), 400, detail
    )
    assert calls == []
    assert_still_serving(client)


def test_multipart_limits(make_client):
    app, calls = recording_app(max_body_size=50_000, max_form_fields=10)
    client = make_client(app)
    content_type = {"content-type": "multipart/form-data; boundary=XyZ"}
    many = multipart([(f'form-data; name="f{i}"', b"v") for i in range(11)])
    assert_problem(
        client.post("/form", content=many, headers=content_type), 413, "more than 10 parts"
    )
    huge = multipart([('form-data; name="f"; filename="big.bin"', b"x" * 60_000)])
    assert_problem(
        client.post("/form", content=huge, headers=content_type), 413, "50000-byte limit"
    )
    fine = multipart([(f'form-data; name="f{i}"', b"v") for i in range(10)])
    assert client.post("/form", content=fine, headers=content_type).status_code == 200
    assert calls == ["form"]


def test_hostile_filenames_are_kept_as_data(make_client):
    app, _ = recording_app()
    client = make_client(app)
    names = ["../../etc/passwd", "..\\..\\boot.ini", "/abs/path", "nul\x00byte.txt"]
    parts = [(f'form-data; name="f{i}"; filename="{n}"', b"data") for i, n in enumerate(names)]
    response = client.post(
        "/form",
        content=multipart(parts),
        headers={"content-type": "multipart/form-data; boundary=XyZ"},
    )
    assert response.status_code == 200
    assert response.json()["files"] == {f"f{i}": [n, "data"] for i, n in enumerate(names)}


# -- split_urlencoded: the fast path must agree with the standard library --------

_QUERY_ALPHABET = st.sampled_from(list("ab=&+%2Fx0 ;é?"))


@settings(max_examples=400, derandomize=True)
@given(st.text(_QUERY_ALPHABET, max_size=30))
def test_split_urlencoded_agrees_with_parse_qsl(text):
    try:
        expected = parse_qsl(text, keep_blank_values=True, max_num_fields=5, errors="strict")
    except ValueError as exc:
        expected = type(exc)
    try:
        got = split_urlencoded(text, 5)
    except ValueError as exc:
        got = type(exc)
    assert got == expected


def test_split_urlencoded_limits_fields_on_the_fast_path():
    assert split_urlencoded("a=1&b=2", 2) == [("a", "1"), ("b", "2")]
    with pytest.raises(ValueError):
        split_urlencoded("a=1&b=2&c", 2)


# -- the 16 KiB part-header limit (docs/security.md) ---------------------------------


PART_HEADER_LIMIT = 16 * 1024


def _form_with_header_value(size: int) -> tuple[bytes, dict[str, str]]:
    """A multipart body whose one file part has a Content-Type value of ``size`` bytes."""
    filler = "x" * (size - len("text/plain; a="))
    value = f"text/plain; a={filler}".encode()
    assert len(value) == size
    body = (
        b"--XyZ\r\n"
        b'Content-Disposition: form-data; name="doc"; filename="a.txt"\r\n'
        b"Content-Type: " + value + b"\r\n\r\n"
        b"hello\r\n"
        b"--XyZ--\r\n"
    )
    return body, {"Content-Type": "multipart/form-data; boundary=XyZ"}


def test_multipart_part_header_value_up_to_16_kib_is_read(make_client):
    app, calls = recording_app(max_body_size=1 << 20)
    body, headers = _form_with_header_value(PART_HEADER_LIMIT)
    response = make_client(app).post("/form", content=body, headers=headers)
    assert response.status_code == 200, response.text
    assert response.json()["files"] == {"doc": ["a.txt", "hello"]}
    assert calls == ["form"]


@pytest.mark.parametrize("size", [PART_HEADER_LIMIT + 1, 64 * 1024])
def test_multipart_part_header_value_over_16_kib_is_400(make_client, size):
    app, calls = recording_app(max_body_size=1 << 20)
    body, headers = _form_with_header_value(size)
    response = make_client(app).post("/form", content=body, headers=headers)
    assert_problem(response, 400, "multipart part header too large")
    assert calls == []


def test_multipart_part_header_limit_counts_one_value_not_the_whole_part(make_client):
    # Two headers of 10 KiB each: each value is under the limit, so the part is read.
    app, calls = recording_app(max_body_size=1 << 20)
    ten_kib = "y" * (10 * 1024)
    body = (
        f"--XyZ\r\nContent-Disposition: form-data; name=note; x-a={ten_kib}\r\n"
        f"X-Extra: {ten_kib}\r\n\r\nhi\r\n--XyZ--\r\n"
    ).encode()
    headers = {"Content-Type": "multipart/form-data; boundary=XyZ"}
    response = make_client(app).post("/form", content=body, headers=headers)
    assert response.status_code == 200, response.text
    assert response.json()["form"] == {"note": "hi"}
    assert calls == ["form"]
    # The helper's form is still parsed the ordinary way on the same app.
    small = multipart([('form-data; name="name"', b"Ann")])
    assert make_client(app).post("/form", content=small, headers=headers).status_code == 200


def test_multipart_first_header_of_the_body_may_use_the_whole_16_kib(make_client):
    # The very first header value of the body counts from zero like every other one:
    # a Content-Disposition of exactly 16 KiB in the first part is read, one byte more is not.
    app, calls = recording_app(max_body_size=1 << 20)
    headers = {"Content-Type": "multipart/form-data; boundary=XyZ"}
    client = make_client(app)
    for size, status in [(PART_HEADER_LIMIT, 200), (PART_HEADER_LIMIT + 1, 400)]:
        start = 'form-data; name="note"; x='
        value = start + "z" * (size - len(start))
        assert len(value) == size
        body = multipart([(value, b"hi")])
        response = client.post("/form", content=body, headers=headers)
        assert response.status_code == status, response.text
    assert calls == ["form"]


# -- error details: the client is told exactly what was wrong ------------------------

MULTIPART_XYZ = "multipart/form-data; boundary=XyZ"
URLENCODED = "application/x-www-form-urlencoded"


@pytest.mark.parametrize(
    ("content", "content_type", "status", "detail"),
    [
        (b"a=%ZZ", URLENCODED, 400, "invalid percent-encoding in the form body"),
        (b"a=%FF", URLENCODED, 400, "form body is not valid UTF-8"),
        (b"a\xff=1", URLENCODED, 400, "form body is not valid UTF-8"),
        (b"a&" * 10 + b"a", URLENCODED, 413, "form has more than 10 fields"),
        (
            multipart([('form-data; name="a"', b"1")]),
            "multipart/form-data",
            400,
            "multipart body without a boundary in its Content-Type",
        ),
        (
            multipart([('form-data; name="a"', b"1")])[:-8],
            MULTIPART_XYZ,
            400,
            "malformed multipart body: missing the closing boundary",
        ),
        (
            multipart([("attachment", b"1")]),
            MULTIPART_XYZ,
            400,
            "multipart part without 'Content-Disposition: form-data; name=...'",
        ),
        (
            b"--XyZ\r\nX-Other: 1\r\n\r\n1\r\n--XyZ--\r\n",
            MULTIPART_XYZ,
            400,
            "multipart part without 'Content-Disposition: form-data; name=...'",
        ),
        (
            b'--XyZ\r\nContent-Disposition: form-data; name="caf\xe9"\r\n\r\n1\r\n--XyZ--\r\n',
            MULTIPART_XYZ,
            400,
            "multipart field name is not valid UTF-8",
        ),
        (
            multipart([('form-data; name="a"', b"\xff")]),
            MULTIPART_XYZ,
            400,
            "multipart field 'a' is not valid UTF-8",
        ),
        (
            multipart([(f'form-data; name="a"; x={"y" * PART_HEADER_LIMIT}', b"1")]),
            MULTIPART_XYZ,
            400,
            "multipart part header too large",
        ),
        (
            multipart([('form-data; name="a"', b"1")] * 11),
            MULTIPART_XYZ,
            413,
            "multipart body has more than 10 parts",
        ),
    ],
)
def test_form_errors_say_exactly_what_was_wrong(make_client, content, content_type, status, detail):
    app, calls = recording_app(max_form_fields=10)
    client = make_client(app)
    response = client.post("/form", content=content, headers={"content-type": content_type})
    assert_problem(response, status)
    assert response.json()["detail"] == detail
    assert calls == []
    assert_still_serving(client)


# -- uploaded files: what the part said is kept --------------------------------------


def _upload_app() -> App:
    """An app answering what it read of the uploaded file ``doc``."""
    app = App()

    @app.post("/upload")
    def upload(req):
        upload = req.files["doc"]
        return {
            "filename": upload.filename,
            "content_type": upload.content_type,
            "headers": list(upload.headers.items()),
            "x-custom": upload.headers.get("x-custom"),
            "data": upload.data.decode("latin-1"),
        }

    return app


def test_uploaded_file_keeps_all_its_part_headers(make_client):
    body = (
        b"--XyZ\r\n"
        b'Content-Disposition: form-data; name="doc"; filename="a.txt"\r\n'
        b"Content-Type: text/plain; charset=utf-8\r\n"
        b"X-Custom: kept\r\n\r\n"
        b"hello\r\n"
        b"--XyZ--\r\n"
    )
    response = make_client(_upload_app()).post(
        "/upload", content=body, headers={"content-type": MULTIPART_XYZ}
    )
    assert response.status_code == 200, response.text
    assert response.json() == {
        "filename": "a.txt",
        "content_type": "text/plain; charset=utf-8",
        "headers": [
            ["Content-Disposition", 'form-data; name="doc"; filename="a.txt"'],
            ["Content-Type", "text/plain; charset=utf-8"],
            ["X-Custom", "kept"],
        ],
        "x-custom": "kept",
        "data": "hello",
    }


def test_non_utf8_filename_is_read_with_replacement_characters(make_client):
    # Filenames are data: bytes that are not UTF-8 (a latin-1 é here) become U+FFFD
    # instead of refusing the upload or failing with a 500.
    body = (
        b'--XyZ\r\nContent-Disposition: form-data; name="doc"; filename="caf\xe9 \xff.txt"'
        b"\r\n\r\nx\r\n--XyZ--\r\n"
    )
    response = make_client(_upload_app()).post(
        "/upload", content=body, headers={"content-type": MULTIPART_XYZ}
    )
    assert response.status_code == 200, response.text
    assert response.json()["filename"] == "caf\ufffd \ufffd.txt"


@pytest.mark.parametrize(
    ("sent", "filename"),
    [
        # python-multipart reduces a Windows full path (what old Internet Explorer
        # sent) to its last segment; the part's headers keep the value as sent.
        (rb"C:\Users\ann\report.pdf", "report.pdf"),
        (rb"d:\x.txt", "x.txt"),
        # A quoted-string's escapes are decoded; other backslashes are kept.
        (rb"say \"hi\".txt", 'say "hi".txt'),
        (rb"a\\b.txt", r"a\b.txt"),
        (rb"..\..\boot.ini", r"..\..\boot.ini"),
        (rb"dir\C:\x.txt", r"dir\C:\x.txt"),
    ],
)
def test_filename_is_the_decoded_value_and_headers_keep_what_was_sent(make_client, sent, filename):
    disposition = b'form-data; name="doc"; filename="' + sent + b'"'
    body = b"--XyZ\r\nContent-Disposition: " + disposition + b"\r\n\r\nx\r\n--XyZ--\r\n"
    response = make_client(_upload_app()).post(
        "/upload", content=body, headers={"content-type": MULTIPART_XYZ}
    )
    assert response.status_code == 200, response.text
    assert response.json()["filename"] == filename
    assert response.json()["headers"] == [["Content-Disposition", disposition.decode("latin-1")]]
