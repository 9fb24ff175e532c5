"""app.static and a template under real servers (tests/servers/test_static_servers.py).

``TWINFRAME_TEST_DIR`` holds ``public/`` (served at ``/static``) and ``templates/``.
"""

from __future__ import annotations

import os

from twinframe import App, Request, Response
from twinframe.templates import Templates

DATA_DIR = os.environ.get("TWINFRAME_TEST_DIR", ".")

app = App()
app.static("/static", os.path.join(DATA_DIR, "public"), max_age=600)
templates = Templates(os.path.join(DATA_DIR, "templates"))


@app.get("/")
def index(req: Request) -> Response:
    return templates.render(req, "page.html", title=req.query.get("title", "<home>"))


@app.get("/async")
async def async_index(req: Request) -> Response:
    return templates.render(req, "page.html", title="async")
