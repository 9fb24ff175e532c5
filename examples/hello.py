"""The smallest twinframe app: serve it with either entrypoint (from the repository root).

gunicorn examples.hello:app.wsgi
gunicorn --workers=2 --worker-class=gthread examples.hello:app.wsgi
uvicorn examples.hello:app.asgi
uvicorn examples.hello:app.asgi --workers 4
python -m twinframe serve examples.hello:app            # no extra install
"""

from twinframe import App

app = App()


@app.get("/")
def hello(req):
    return "Hello, World!"
