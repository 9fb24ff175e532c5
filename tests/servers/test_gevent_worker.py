"""app.wsgi under gunicorn's gevent worker (all greenlets share one OS thread and one loop)."""

from __future__ import annotations

import os
import signal
import threading
import time

import httpx
import pytest
from realserver import GUNICORN_BASE_ARGS, ROOT

pytestmark = pytest.mark.servers


def test_gevent_worker_runs_sync_and_concurrent_async_handlers(server_factory, tmp_path):
    env = {
        "PYTHONPATH": os.pathsep.join([str(ROOT), str(ROOT / "tests")]),
        "TWINFRAME_TEST_MARKERS": str(tmp_path),
    }
    server = server_factory(
        [*GUNICORN_BASE_ARGS, "-k", "gevent", "servers.gevent_app:app.wsgi"],
        env=env,
    )
    with httpx.Client(base_url=server.url, timeout=30) as client:
        assert client.get("/").text == "sync"
        assert client.get("/ticks").text == "0\n1\n2\n3\n4\n"

        # Several requests wait in async handlers at once; another request releases them.
        answers: list[httpx.Response] = []

        def wait() -> None:
            answers.append(httpx.get(server.url + "/wait", timeout=30))

        waiters = [threading.Thread(target=wait) for _ in range(5)]
        for waiter in waiters:
            waiter.start()
        # Open the gate only once all five handlers are parked at it: each is then
        # known to be suspended in its own coroutine on the shared loop at once.
        deadline = time.monotonic() + 20
        while client.get("/parked").text != "5":
            assert time.monotonic() < deadline, f"parked: {client.get('/parked').text} of 5"
            time.sleep(0.05)
        assert client.post("/open").text == "opened for 5"
        for waiter in waiters:
            waiter.join(30)
        assert [a.status_code for a in answers] == [200] * 5
        assert {a.text for a in answers} == {"gate was opened"}
        # Streams of async generators from concurrent greenlets share the loop too.
        streams: list[str] = []
        readers = [
            threading.Thread(target=lambda: streams.append(httpx.get(server.url + "/ticks").text))
            for _ in range(5)
        ]
        for reader in readers:
            reader.start()
        for reader in readers:
            reader.join(30)
        assert streams == ["0\n1\n2\n3\n4\n"] * 5
    assert "Traceback" not in server.output, server.output
    assert (tmp_path / "startup").exists()
    assert server.stop(signal.SIGTERM) == 0
    assert (tmp_path / "shutdown").exists(), server.output
    assert "Traceback" not in server.output, server.output
