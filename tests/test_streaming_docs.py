"""docs/streaming.md's RQ snippet, for real: a handler enqueues to a real redis-server,
an RQ worker (in this process, burst mode) runs the job. (tests/test_docs.py runs the
snippet too, without Redis: redis-py connects on first use, so it only builds the app.)"""

from __future__ import annotations

import sys
import textwrap
from collections.abc import Iterator
from pathlib import Path

import pytest
from redis import Redis
from rq import Queue, SimpleWorker
from system_programs import RedisServer, run_redis_server
from test_docs import _blocks

from twinframe.testing import TestClient


def rq_snippet() -> str:
    (code,) = [code for code in _blocks("streaming.md") if "from rq import" in code]
    return code


@pytest.fixture
def redis_server(tmp_path: Path) -> Iterator[RedisServer]:
    yield from run_redis_server(tmp_path)


def test_the_rq_snippet_enqueues_a_job_a_worker_runs(
    redis_server, tmp_path, monkeypatch, interface
):
    monkeypatch.setenv("CHAT_REDIS_URL", redis_server.url)
    outbox = tmp_path / "outbox.txt"
    (tmp_path / "tasks.py").write_text(
        textwrap.dedent(
            f"""
            def send_welcome_email(address):
                with open({str(outbox)!r}, "a") as out:
                    out.write(address + "\\n")
            """
        )
    )
    monkeypatch.syspath_prepend(str(tmp_path))
    namespace: dict[str, object] = {"__name__": "docs_streaming_rq"}
    exec(compile(rq_snippet(), "docs/streaming.md#rq", "exec"), namespace)

    with TestClient(namespace["app"], interface) as client:  # type: ignore[arg-type]
        response = client.post("/signup", json={"email": "ann@example.org"})
    assert response.status_code == 202
    job_id = response.json()["job"]
    assert not outbox.exists()  # queued, not run in the web process

    connection = Redis.from_url(redis_server.url)
    try:
        queue = Queue("emails", connection=connection)
        assert queue.job_ids == [job_id]
        SimpleWorker([queue], connection=connection).work(burst=True)
        assert outbox.read_text() == "ann@example.org\n"
        assert queue.fetch_job(job_id).get_status() == "finished"
    finally:
        connection.close()
    sys.modules.pop("tasks", None)
