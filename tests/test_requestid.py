"""RequestID and the twinframe.access log line, on both entrypoints, sync and async code."""

from __future__ import annotations

import asyncio
import logging
import re
import threading

import pytest

from twinframe import App, Response
from twinframe.middleware import RequestID, current_request_id

HEX32 = re.compile(r"[0-9a-f]{32}\Z")
app_log = logging.getLogger("tests.requestid")


def id_app(**options) -> App:
    app = App(middleware=[RequestID(**options)])

    @app.before_request
    def before(req):
        app_log.warning("before hook")

    @app.get("/sync")
    def sync_handler(req):
        app_log.warning("sync handler")
        return {"id": req.request_id, "current": current_request_id()}

    @app.get("/async")
    async def async_handler(req):
        app_log.warning("async handler")
        return {"id": req.request_id, "current": current_request_id()}

    @app.get("/stream")
    def stream(req):
        def chunks():
            app_log.warning("sync stream")
            yield "abc"
            yield "defg"

        return Response.stream(chunks(), content_type="text/plain")

    @app.get("/astream")
    async def astream(req):
        async def chunks():
            app_log.warning("async stream")
            yield b"abc"

        return Response.stream(chunks(), content_type="text/plain")

    @app.get("/boom")
    def boom(req):
        raise RuntimeError("failed")

    return app


@pytest.mark.parametrize("path", ["/sync", "/async"])
def test_an_id_is_made_and_shown_everywhere(make_client, path):
    client = make_client(id_app())
    first, second = client.get(path), client.get(path)
    request_id = first.headers["x-request-id"]
    assert HEX32.match(request_id)
    assert first.json() == {"id": request_id, "current": request_id}
    assert second.headers["x-request-id"] != request_id


@pytest.mark.parametrize(
    ("incoming", "kept"),
    [
        ("abc-123", True),
        ("0d3e2f10-7bb9-4b0c-9f36-1b1dc4c0a2a1", True),
        ("Root=1-5759e988-bd862e3fe1be46a994272793;Sampled=1", False),  # ";" is not safe
        ("x" * 128, True),
        ("x" * 129, False),
        ("has space", False),
        ("<script>", False),
    ],
)
def test_a_well_formed_incoming_id_is_kept(make_client, incoming, kept):
    response = make_client(id_app()).get("/sync", headers={"x-request-id": incoming})
    assert (response.headers["x-request-id"] == incoming) is kept
    if not kept:
        assert HEX32.match(response.headers["x-request-id"])
    assert response.json()["id"] == response.headers["x-request-id"]


def test_header_name_and_trust_are_options(make_client):
    client = make_client(id_app(header="X-Correlation-ID", trust_incoming=False))
    response = client.get("/sync", headers={"x-correlation-id": "mine"})
    assert HEX32.match(response.headers["x-correlation-id"])
    assert "x-request-id" not in response.headers


def test_error_responses_carry_the_id(make_client):
    client = make_client(id_app())
    for path, status in (("/boom", 500), ("/missing", 404)):
        response = client.get(path, headers={"x-request-id": "trace-me"})
        assert (response.status_code, response.headers["x-request-id"]) == (status, "trace-me")


@pytest.mark.parametrize(
    ("path", "messages"),
    [
        ("/sync", ["before hook", "sync handler"]),
        ("/async", ["before hook", "async handler"]),
        ("/stream", ["before hook", "sync stream"]),
        ("/astream", ["before hook", "async stream"]),
    ],
)
def test_every_log_record_of_the_request_has_its_id(make_client, caplog, path, messages):
    client = make_client(id_app())
    with caplog.at_level(logging.WARNING, "tests.requestid"):
        response = client.get(path, headers={"x-request-id": "req-1"})
        assert response.status_code == 200
        client.get(path, headers={"x-request-id": "req-2"})
    records = [r for r in caplog.records if r.name == "tests.requestid"]
    assert [r.getMessage() for r in records] == messages * 2
    assert [r.request_id for r in records] == ["req-1"] * len(messages) + ["req-2"] * len(messages)
    # Outside a request the attribute is there too, so a format string never fails.
    app_log.warning("outside")
    assert caplog.records[-1].request_id == "-"
    assert current_request_id() is None


# -- the access log --------------------------------------------------------------------


def access_records(caplog) -> list[logging.LogRecord]:
    return [r for r in caplog.records if r.name == "twinframe.access"]


def test_the_access_log_is_off_unless_asked(make_client, caplog):
    with caplog.at_level(logging.INFO):
        make_client(id_app()).get("/sync")
    assert access_records(caplog) == []


def test_one_access_line_per_response(make_client, caplog):
    client = make_client(id_app(access_log=True))
    with caplog.at_level(logging.INFO, "twinframe.access"):
        ok = client.get("/sync?x=1", headers={"x-request-id": "id-7"})
        client.get("/missing")
        client.head("/sync")
    records = access_records(caplog)
    assert len(records) == 3
    first = records[0]
    assert re.fullmatch(
        rf"GET /sync\?x=1 200 {len(ok.content)}B [0-9.]+ms id=id-7", first.getMessage()
    )
    assert (first.method, first.path, first.status, first.bytes) == (
        "GET",
        "/sync?x=1",
        200,
        len(ok.content),
    )
    assert first.duration_ms >= 0 and first.request_id == "id-7"
    assert records[1].status == 404 and records[1].path == "/missing"
    assert records[2].method == "HEAD" and records[2].bytes == 0


@pytest.mark.parametrize("kind", ["sync", "async"])
def test_a_stream_is_logged_when_it_ends_with_its_size(make_client, caplog, kind):
    release = threading.Event()
    app = App(middleware=[RequestID(access_log=True)])

    @app.get("/sync")
    def sync_stream(req):
        def chunks():
            yield "abc"
            release.wait(5)
            yield "defg"

        return Response.stream(chunks(), content_type="text/plain")

    @app.get("/async")
    async def async_stream(req):
        async def chunks():
            yield b"abc"
            for _ in range(500):
                if release.is_set():
                    break
                await asyncio.sleep(0.01)
            yield b"defg"

        return Response.stream(chunks(), content_type="text/plain")

    client = make_client(app)
    with caplog.at_level(logging.INFO, "twinframe.access"):
        with client.stream("GET", f"/{kind}") as response:
            chunks = response.iter_raw()
            assert next(chunks) == b"abc"
            assert access_records(caplog) == []  # the stream has not ended yet
            release.set()
            rest = b"".join(chunks)
    [record] = access_records(caplog)
    assert (record.bytes, record.status) == (3 + len(rest), 200)


def test_a_file_is_logged_with_its_length(make_client, caplog, tmp_path):
    (tmp_path / "f.bin").write_bytes(b"x" * 1000)
    app = App(middleware=[RequestID(access_log=True)])

    @app.get("/f")
    def file(req):
        return Response.file(tmp_path / "f.bin")

    with caplog.at_level(logging.INFO, "twinframe.access"):
        assert len(make_client(app).get("/f").content) == 1000
    [record] = access_records(caplog)
    assert record.bytes == 1000
