from twinframe import App, HTTPError, Response


def build_app() -> App:
    app = App()

    @app.get("/")
    def index(req):
        return "Hello, World!"

    @app.get("/posts/{id:d}", name="post")
    def show(req, id):
        if id != 1:
            raise HTTPError(404, "no such post")
        return {"id": id}

    @app.post("/posts")
    async def create(req):
        return Response.json(req.json, status=201, headers={"Location": app.url_for("post", id=1)})

    return app


def test_hello(make_client):
    client = make_client(build_app())
    response = client.get("/")
    assert response.status_code == 200
    assert response.text == "Hello, World!"
    assert response.headers["content-type"] == "text/plain; charset=utf-8"
    assert response.headers["content-length"] == "13"


def test_json_roundtrip_and_errors(make_client):
    client = make_client(build_app())
    assert client.get("/posts/1").json() == {"id": 1}
    missing = client.get("/posts/2")
    assert missing.status_code == 404
    assert missing.headers["content-type"] == "application/problem+json"
    assert missing.json()["detail"] == "no such post"
    created = client.post("/posts", json={"title": "x"})
    assert created.status_code == 201
    assert created.headers["location"] == "/posts/1"
    bad = client.post("/posts", content=b"{oops", headers={"content-type": "application/json"})
    assert bad.status_code == 400
    assert "malformed JSON" in bad.json()["detail"]
