# gunicorn reads this file from the working directory. It lets gunicorn load
# "module:app.wsgi" (and "module:app.asgi" with -k asgi / uvicorn workers);
# see docs/deployment.md. Without it, use a module-level `wsgi = app.wsgi`.
import twinframe.gunicorn  # noqa: F401
