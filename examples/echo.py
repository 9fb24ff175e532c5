"""Echo: stream the request body straight back, chunk by chunk, as it arrives.

One sync handler serves both entrypoints, unchanged. The body is never held
whole: ``req.stream()`` yields chunks as the server receives them (wsgi.input
reads under WSGI, ``receive()`` under ASGI), and ``Response.stream`` sends each
one before the next is read, so memory stays at a chunk or two however big the
upload is, and a client that reads slowly simply slows the upload down.

    gunicorn examples.echo:app.wsgi
    uvicorn examples.echo:app.asgi
    curl -T big.iso http://127.0.0.1:8000/echo | cmp - big.iso
"""

from twinframe import App, Response

app = App()


@app.route("/echo", methods=["POST", "PUT"], stream=True)  # stream=True: no pre-read body
def echo(req):
    # req.stream() is both a sync and an async iterable, so Response.stream sends it
    # the way each protocol prefers: reading wsgi.input under WSGI, awaiting
    # receive() on the server's event loop under ASGI (no thread hop per chunk).
    content_type = req.content_type or "application/octet-stream"
    return Response.stream(req.stream(), content_type=content_type)


@app.post("/echo/upper", stream=True)
def echo_upper(req):
    # To transform chunks, wrap the stream in an async generator: it runs on the
    # server's loop under ASGI and on the worker thread's own loop under WSGI.
    async def upper():
        async for chunk in req.stream():
            yield chunk.upper()

    return Response.stream(upper(), content_type=req.content_type or "application/octet-stream")
