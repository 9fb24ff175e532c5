"""HTTP/2 under Hypercorn and Granian: cleartext with prior knowledge (h2c) and TLS with ALPN.

Each server runs tests/serverapp.py once per module (Hypercorn serves
``app.asgi``; Granian both ``app.asgi`` and ``app.wsgi``). The TLS certificate
comes from a throwaway CA that trustme makes for the test session; the client
is httpx with ``http2=True`` (``http1=False`` too over cleartext, which is how
it speaks h2c by prior knowledge). Every test checks the answer came over
HTTP/2, so a server that fell back to HTTP/1.1 fails.
"""

from __future__ import annotations

import asyncio
import hashlib
import random
import ssl
import uuid
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import httpx
import pytest
import trustme
from process_memory import MiB, peak_rss, reset_peak_rss, worker_pids
from realserver import GRANIAN_BASE_ARGS, Server, start_server

pytestmark = pytest.mark.servers

ECHO_SIZE = 10 * MiB
# Peak RSS growth allowed while echoing ECHO_SIZE: the body is streamed, not held.
MAX_RSS_GROWTH = 8 * MiB
CONCURRENT = 30  # requests held open together on one connection (App(max_threads) is 40)
REQUESTS = 300  # requests multiplexed on one connection in all
TIMEOUT = 30

SERVERS = {
    "hypercorn": ["hypercorn", "--bind", "127.0.0.1:{port}", "{tls}", "serverapp:app.asgi"],
    "granian-asgi": [*GRANIAN_BASE_ARGS, "--interface", "asgi", "{tls}", "serverapp:app.asgi"],
    "granian-wsgi": [*GRANIAN_BASE_ARGS, "--interface", "wsgi", "{tls}", "serverapp:app.wsgi"],
}


@dataclass
class Certificates:
    ca: Path  # the CA the client trusts
    cert: Path  # the server's certificate (for 127.0.0.1 and localhost)
    key: Path  # its private key (PKCS#8 PEM, which Granian requires)


@pytest.fixture(scope="module")
def certificates(tmp_path_factory: pytest.TempPathFactory) -> Certificates:
    directory = tmp_path_factory.mktemp("tls")
    ca = trustme.CA()
    issued = ca.issue_cert("127.0.0.1", "localhost")
    found = Certificates(directory / "ca.pem", directory / "cert.pem", directory / "key.pem")
    ca.cert_pem.write_to_path(str(found.ca))
    issued.cert_chain_pems[0].write_to_path(str(found.cert))
    issued.private_key_pem.write_to_path(str(found.key))
    return found


def _tls_options(server: str, certificates: Certificates) -> list[str]:
    if server == "hypercorn":
        return ["--certfile", str(certificates.cert), "--keyfile", str(certificates.key)]
    return ["--ssl-certificate", str(certificates.cert), "--ssl-keyfile", str(certificates.key)]


@dataclass
class Running:
    server: Server
    base_url: str
    mode: str  # "h2c" or "tls"
    data_dir: Path
    verify: ssl.SSLContext | bool

    def client(self) -> httpx.Client:
        return httpx.Client(
            base_url=self.base_url,
            http2=True,
            http1=self.mode == "tls",  # over TLS, ALPN must pick h2 by itself
            verify=self.verify,
            timeout=TIMEOUT,
        )

    def async_client(self) -> httpx.AsyncClient:
        return httpx.AsyncClient(
            base_url=self.base_url,
            http2=True,
            http1=self.mode == "tls",
            verify=self.verify,
            timeout=TIMEOUT,
        )


@pytest.fixture(
    scope="module",
    params=[(server, mode) for server in SERVERS for mode in ("h2c", "tls")],
    ids=lambda p: f"{p[0]}-{p[1]}",
)
def running(
    request: pytest.FixtureRequest,
    certificates: Certificates,
    tmp_path_factory: pytest.TempPathFactory,
) -> Iterator[Running]:
    name, mode = request.param
    directory = tmp_path_factory.mktemp(f"{name}-{mode}")
    tls = _tls_options(name, certificates) if mode == "tls" else []
    args: list[str] = []
    for arg in SERVERS[name]:
        args += tls if arg == "{tls}" else [arg]
    verify: ssl.SSLContext | bool = True
    if mode == "tls":
        verify = ssl.create_default_context(cafile=str(certificates.ca))
        # start_server's readiness probe speaks plain HTTP: wait for the port instead.
        server = start_server(
            args, directory, env={"TWINFRAME_TEST_DIR": str(directory)}, wait=False
        )
        _wait_for_tls(server, verify)
        base_url = f"https://127.0.0.1:{server.port}"
    else:
        server = start_server(args, directory, env={"TWINFRAME_TEST_DIR": str(directory)})
        base_url = server.url
    try:
        yield Running(server, base_url, mode, directory, verify)
    finally:
        server.stop()


def _wait_for_tls(server: Server, verify: ssl.SSLContext | bool, timeout: float = 30) -> None:
    import time

    deadline = time.monotonic() + timeout
    while True:
        if server.proc.poll() is not None:
            raise RuntimeError(f"server exited with {server.proc.returncode}:\n{server.output}")
        try:
            httpx.get(f"https://127.0.0.1:{server.port}/", verify=verify, timeout=1)
            return
        except httpx.TransportError:
            if time.monotonic() > deadline:
                server.stop()
                raise RuntimeError(f"no TLS answer within {timeout}s:\n{server.output}") from None
            time.sleep(0.1)


def test_hello(running: Running) -> None:
    with running.client() as client:
        response = client.get("/")
    assert response.http_version == "HTTP/2"
    assert response.status_code == 200
    assert response.text == "Hello, World!"
    assert response.headers["content-type"] == "text/plain; charset=utf-8"
    assert response.headers["content-length"] == "13"


def _body(size: int, chunk: int = 256 * 1024) -> Iterator[bytes]:
    rng = random.Random(size)
    for start in range(0, size, chunk):
        yield rng.randbytes(min(chunk, size - start))


def test_streamed_echo_of_10_mib(running: Running) -> None:
    (pid,) = worker_pids(running.server.proc.pid)
    before = reset_peak_rss(pid)
    sent = hashlib.sha256()

    def upload() -> Iterator[bytes]:
        for chunk in _body(ECHO_SIZE):
            sent.update(chunk)
            yield chunk

    received = hashlib.sha256()
    length = 0
    with running.client() as client:
        with client.stream("POST", "/echo-stream", content=upload()) as response:
            assert response.http_version == "HTTP/2"
            assert response.status_code == 200
            assert "content-length" not in response.headers  # streamed, not buffered
            for chunk in response.iter_bytes():
                received.update(chunk)
                length += len(chunk)
    growth = peak_rss(pid) - before
    print(f"echoed {ECHO_SIZE // MiB} MiB over {running.mode}; peak RSS +{growth / MiB:.1f} MiB")
    assert length == ECHO_SIZE
    assert received.hexdigest() == sent.hexdigest()
    assert growth < MAX_RSS_GROWTH


@pytest.mark.parametrize("route", ["stream", "astream"])
def test_streamed_response_arrives_incrementally(running: Running, route: str) -> None:
    """The first chunk reaches the client while the handler's generator still waits."""
    token = uuid.uuid4().hex
    with running.client() as client:
        with client.stream("GET", f"/{route}/{token}") as response:
            assert response.http_version == "HTTP/2"
            assert response.status_code == 200
            assert "content-length" not in response.headers
            assert "transfer-encoding" not in response.headers  # no such thing in HTTP/2
            chunks = response.iter_bytes()
            received = b""
            while len(received) < len(b"first;"):
                received += next(chunks)
            # The generator waits for this marker before producing anything else.
            assert received == b"first;"
            (running.data_dir / token).touch()
            rest = b"".join(chunks)
    assert received + rest == b"first;second;last"


def test_many_concurrent_streams_on_one_connection(running: Running) -> None:
    name = uuid.uuid4().hex

    async def everything() -> tuple[list[httpx.Response], list[httpx.Response]]:
        async with running.async_client() as client:
            # CONCURRENT requests that can only answer once all of them are in flight.
            together = await asyncio.gather(
                *(
                    client.get(f"/rendezvous/{name}/{CONCURRENT}", params={"n": i})
                    for i in range(CONCURRENT)
                )
            )
            # Then many more, each asking for something different.
            many = await asyncio.gather(*(client.get(f"/items/{i}") for i in range(REQUESTS)))
            return together, many

    together, many = asyncio.run(everything())
    assert {r.http_version for r in together + many} == {"HTTP/2"}
    assert [r.json()["n"] for r in together] == [str(i) for i in range(CONCURRENT)]
    assert all(r.json()["met"] for r in together), "the requests were not in flight together"
    # One TCP connection: every request came from the same client port.
    ports = {r.json()["peer_port"] for r in together}
    assert len(ports) == 1 and None not in ports
    assert [r.json() for r in many] == [{"id": i, "type": "int"} for i in range(REQUESTS)]
