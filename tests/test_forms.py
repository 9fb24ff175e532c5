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


@pytest.mark.parametrize(
    ("content", "content_type", "status", "detail"),
    [
        (b"a=1", "application/json", 415, "x-www-form-urlencoded"),
        (b"a=1", None, 415, "no Content-Type"),
        (b"a=%FF", "application/x-www-form-urlencoded", 400, "UTF-8"),
        (b"a=%ZZ", "application/x-www-form-urlencoded", 400, "percent-encoding"),
    ],
)
def test_bad_urlencoded_form(make_client, content, content_type, status, detail):
    app, _ = recording_app()
    client = make_client(app)
    headers = {"content-type": content_type} if content_type else {}
    assert_problem(client.post("/form", content=content, headers=headers), status, detail)
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
