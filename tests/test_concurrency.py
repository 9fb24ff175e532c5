"""Where handlers run (twinframe/concurrency.py): the per-thread event loop for async
handlers under WSGI, the bounded thread pool for sync handlers under ASGI."""

from __future__ import annotations

import asyncio
import gc
import threading
import warnings
from concurrent.futures import ThreadPoolExecutor

from twinframe import App, Response
from twinframe.testing import TestClient
from twinframe.testing.scope import asgi_scope

# -- event loops for async handlers -------------------------------------------------


def test_async_handlers_reuse_one_loop(make_client, interface):
    app = App()
    seen: list[tuple[asyncio.AbstractEventLoop, int]] = []

    @app.get("/loop")
    async def loop(req):
        seen.append((asyncio.get_running_loop(), threading.get_ident()))
        return "ok"

    client = make_client(app)
    assert client.get("/loop").text == "ok"
    assert client.get("/loop").text == "ok"
    (loop1, thread1), (loop2, thread2) = seen
    assert loop1 is loop2  # not a new event loop per request
    assert thread1 == thread2
    assert not loop1.is_closed()
    if interface == "wsgi":
        # Under WSGI the loop belongs to the worker thread that called the app: here, this one.
        assert thread1 == threading.get_ident()


def test_wsgi_async_handler_loop_is_per_thread():
    app = App()
    seen: list[tuple[asyncio.AbstractEventLoop, int]] = []

    @app.get("/loop")
    async def loop(req):
        seen.append((asyncio.get_running_loop(), threading.get_ident()))
        return "ok"

    both_started = threading.Barrier(2, timeout=30)
    both_done = threading.Barrier(2, timeout=30)

    def two_requests() -> None:
        with TestClient(app, "wsgi") as client:
            client.get("/loop")
            both_started.wait()  # both threads alive at once, so their idents differ
            client.get("/loop")
            # Neither client shuts the shared app down while the other is still sending:
            # shutdown resumes the loop startup ran on, which may be the other thread's.
            both_done.wait()

    threads = [threading.Thread(target=two_requests) for _ in range(2)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(30)
    by_thread: dict[int, set[int]] = {}
    for loop, ident in seen:
        by_thread.setdefault(ident, set()).add(id(loop))
    assert len(seen) == 4
    assert len(by_thread) == 2
    assert all(len(loops) == 1 for loops in by_thread.values())  # one loop per thread, reused
    first, second = by_thread.values()
    assert first != second  # and each thread has its own


def test_wsgi_thread_loop_is_closed_when_its_thread_ends():
    app = App()
    loops: list[asyncio.AbstractEventLoop] = []

    @app.get("/loop")
    async def loop(req):
        loops.append(asyncio.get_running_loop())
        return "ok"

    def one_request() -> None:
        with TestClient(app, "wsgi") as client:
            assert client.get("/loop").text == "ok"

    # A server that starts a thread per request must not leave a loop per thread
    # for the garbage collector (which would warn about an unclosed loop).
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always", ResourceWarning)
        thread = threading.Thread(target=one_request)
        thread.start()
        thread.join(30)
        del thread
        gc.collect()
        assert len(loops) == 1
        assert loops[0].is_closed()
        del loops[:]
        gc.collect()
    assert not [w for w in caught if issubclass(w.category, ResourceWarning)]


# -- threads for sync handlers ------------------------------------------------------


def test_sync_handler_thread(make_client, interface):
    app = App()
    seen: dict[str, threading.Thread] = {}

    @app.get("/sync")
    def sync_handler(req):
        seen["sync"] = threading.current_thread()
        return "sync"

    @app.get("/async")
    async def async_handler(req):
        seen["async"] = threading.current_thread()
        return "async"

    client = make_client(app)
    assert client.get("/sync").text == "sync"
    assert client.get("/async").text == "async"
    if interface == "wsgi":
        # Called directly by the server's worker thread.
        assert seen["sync"] is threading.current_thread()
        assert seen["async"] is threading.current_thread()
    else:
        # Never on the event loop's thread: in the app's thread pool.
        assert seen["sync"] is not seen["async"]
        assert seen["sync"].name.startswith("twinframe")


def test_asgi_thread_pool_is_bounded_by_max_threads():
    app = App(max_threads=2)
    lock = threading.Lock()
    running = [0]
    peak = [0]

    # Two handlers must run at once to pass the barrier (a pool of one would break it);
    # the counter shows a third never joins them.
    pair = threading.Barrier(2, timeout=10)

    @app.get("/work")
    def work(req):
        with lock:
            running[0] += 1
            peak[0] = max(peak[0], running[0])
        pair.wait()
        with lock:
            running[0] -= 1
        return "done"

    with TestClient(app, "asgi") as client, ThreadPoolExecutor(6) as pool:
        results = list(pool.map(lambda _: client.get("/work").text, range(6)))
    assert results == ["done"] * 6
    assert peak[0] == 2


def test_asgi_sync_handler_does_not_block_the_loop():
    app = App()
    entered = threading.Event()
    release = threading.Event()

    @app.get("/block")
    def block(req):
        entered.set()
        release.wait(10)
        return "unblocked"

    @app.get("/ping")
    async def ping(req):
        return "pong"

    with TestClient(app, "asgi") as client, ThreadPoolExecutor(1) as pool:
        blocked = pool.submit(client.get, "/block")
        assert entered.wait(10)
        # The async route answers while the sync one is still blocked in its worker thread.
        assert client.get("/ping", timeout=5).text == "pong"
        assert not blocked.done()
        release.set()
        assert blocked.result(10).text == "unblocked"


# -- a sync response stream when the client leaves (ASGI) ---------------------------------


def test_asgi_sync_stream_is_closed_in_a_worker_after_its_running_step_when_the_client_leaves():
    app = App()
    second_step = threading.Event()
    release = threading.Event()
    events: list[tuple[str, str]] = []

    def chunks():
        try:
            yield b"first"
            second_step.set()
            release.wait(10)  # a blocking read, in flight when the client leaves
            yield b"second"
        finally:
            events.append(("closed", threading.current_thread().name))

    @app.get("/")
    def stream(req):
        return Response.stream(chunks())

    scope = asgi_scope("http", b"/", b"", [], method="GET")
    sent: list[dict] = []

    async def run() -> None:
        loop = asyncio.get_running_loop()
        request_sent = False

        async def receive():
            nonlocal request_sent
            if not request_sent:
                request_sent = True
                return {"type": "http.request", "body": b"", "more_body": False}
            await loop.run_in_executor(None, second_step.wait, 10)
            # The app cancels its pump now; the blocked step finishes a little later.
            loop.call_later(0.05, release.set)
            return {"type": "http.disconnect"}

        async def send(message):
            sent.append(message)

        await app.asgi(scope, receive, send)

    with warnings.catch_warnings():
        warnings.simplefilter("error")
        asyncio.run(run())
    assert [m.get("body") for m in sent[1:]] == [b"first"]
    # Closed once, after the running next() returned, in a worker thread: never
    # "generator already executing", never user code blocking the event loop.
    assert len(events) == 1
    assert events[0][1].startswith("twinframe")
