"""app.wsgi under waitress (``waitress-serve examples.echo:app.wsgi``): the streaming echo.

The blog runs under waitress in test_blog_servers.py, with the other servers.

waitress follows the dotted ``module:app.wsgi`` path itself, so the commands are
the documented ones with a loopback port. Unlike gunicorn, waitress reads a
whole request body (spooling it to a temporary file past 512 KiB) before it
calls the app, and buffers the response the same way: the echo is byte-identical
and the worker's memory stays bounded, but an upload is not throttled by a
client that reads slowly (docs/servers.md says so).
"""

from __future__ import annotations

import time
from collections.abc import Callable
from pathlib import Path

import pytest
from process_memory import MiB, peak_rss, reset_peak_rss
from realserver import Server
from test_echo_servers import EchoCall

pytestmark = pytest.mark.servers

WAITRESS = ["waitress", "--listen=127.0.0.1:{port}", "--threads=8"]
BODY_SIZE = 100 * MiB
# waitress keeps up to its outbuf_high_watermark (16 MiB by default) of response in
# memory before it stops the app; measured growth is 17-23 MiB for 30 to 150 MiB
# bodies. A server (or twinframe) holding the body would grow by 100 MiB.
WAITRESS_MAX_RSS_GROWTH = 40 * MiB


@pytest.mark.parametrize(
    ("path", "framing"),
    [("/echo", "content-length"), ("/echo", "chunked"), ("/echo/upper", "content-length")],
)
def test_echo_under_waitress_is_byte_identical_with_bounded_memory(
    server_factory: Callable[..., Server], tmp_path: Path, path: str, framing: str
) -> None:
    server = server_factory([*WAITRESS, "examples.echo:app.wsgi"], timeout=60)
    pid = server.proc.pid  # waitress: one process, threads
    # A first echo warms up what every later request reuses (waitress's threads and
    # buffers, twinframe's per-thread loop), so the bound below is about the body.
    warm_up = EchoCall(server.port, 8 * MiB, path=path, chunked=framing == "chunked")
    warm_up.finish()
    before = reset_peak_rss(pid)
    size = BODY_SIZE
    started = time.monotonic()
    call = EchoCall(server.port, size, path=path, chunked=framing == "chunked")
    assert call.response.status == 200
    assert call.response.getheader("content-type") == "application/octet-stream"
    call.finish()
    growth = peak_rss(pid) - before
    print(
        f"waitress echoed {size / MiB:.0f} MiB in {time.monotonic() - started:.1f} s; "
        f"peak RSS growth {growth / MiB:.1f} MiB"
    )
    assert call.received == size
    assert call.received_hash.hexdigest() == call.sent_hash.hexdigest()
    assert growth < WAITRESS_MAX_RSS_GROWTH
    server.stop()
    assert "Traceback" not in server.output, server.output
