"""The smallest twinframe app: serve it with either entrypoint.

    gunicorn examples.hello:app.wsgi
    uvicorn examples.hello:app.asgi
"""

from twinframe import App

app = App()


@app.get("/")
def hello(req):
    return "Hello, World!"
