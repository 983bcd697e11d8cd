"""The token guard: mutations need the token header, a non-local server needs the token on
every request, Host headers of other sites are refused on localhost, bodies over the limit
get 413, and a weak or missing token cannot start a public server."""

from __future__ import annotations

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from visionflow.app.security import MAX_BODY, is_local, read_token, same_token
from visionflow.core.errors import Error

from .write_helpers import AUTH, BASE, TOKEN, close, make_workspace, open_app

pytest.importorskip("fastapi")


@pytest.fixture(scope="module")
def ws_path(tmp_path_factory):
    return make_workspace(tmp_path_factory.mktemp("sec"))


@pytest.fixture(scope="module")
def local(ws_path):
    client, state = open_app(ws_path)
    yield client
    close(state)


@pytest.fixture(scope="module")
def public(ws_path):
    client, state = open_app(ws_path, public=True)
    yield client
    close(state)


SAVE = "/api/save"
MUTATIONS = [("post", "/api/save"), ("post", "/api/classes"), ("post", "/api/workspace"),
             ("post", "/api/versions"), ("post", "/api/versions/preview"),
             ("post", "/api/export"), ("put", "/api/save"), ("delete", "/api/save")]


@pytest.mark.parametrize("method,path", MUTATIONS)
def test_every_mutation_needs_the_token_header_also_on_localhost(local, method, path):
    for headers in ({}, {"X-Visionflow-Token": "wrong"}, {"X-Visionflow-Token": TOKEN[:-1]},
                    {"X-Visionflow-Token": TOKEN + "x"}):
        r = local.request(method, path, json={}, headers=headers)
        assert r.status_code == 403, (headers, r.text)
        assert "X-Visionflow-Token" in r.json()["error"]


def test_the_cookie_alone_does_not_allow_a_mutation(public):
    """A cross-site form post carries cookies but cannot set the header."""
    public.cookies.set("visionflow_token", TOKEN)
    try:
        assert public.get("/api/meta").status_code == 200         # reads: the cookie is enough
        r = public.post(SAVE, json={})
        assert r.status_code == 403
    finally:
        public.cookies.clear()


def test_reads_on_localhost_need_no_token_but_the_token_header_passes_mutations(local):
    assert local.get("/api/meta").status_code == 200
    r = local.post(SAVE, json={"base_revision": "pets@1", "images": []}, headers=AUTH)
    assert r.status_code == 400                                  # past the guard: a bad body
    assert r.json()["error"] == "nothing to save: no edited images and no new classes"


@pytest.mark.parametrize("host", ["evil.example", "evil.example:8765", "127.0.0.1.evil.example",
                                  "192.168.1.20:8765", "localhost.evil.example:8765", ""])
def test_a_foreign_host_header_is_refused_on_localhost(local, host):
    """DNS rebinding: a page of evil.example resolved to 127.0.0.1 sends Host: evil.example."""
    r = local.get("/api/meta", headers={"host": host})
    assert r.status_code == 403
    assert "is not this server" in r.json()["error"]


@pytest.mark.parametrize("host", ["127.0.0.1:8765", "localhost:8765", "LOCALHOST", "[::1]:8765",
                                  "127.0.0.1"])
def test_local_host_names_are_accepted(local, host):
    assert local.get("/api/meta", headers={"host": host}).status_code == 200


def test_a_cross_origin_request_is_refused_even_with_the_token(local):
    r = local.post(SAVE, json={}, headers={**AUTH, "origin": "http://evil.example"})
    assert r.status_code == 403 and "cross-origin" in r.json()["error"]
    r = local.post(SAVE, json={}, headers={**AUTH, "origin": BASE})
    assert r.status_code == 400                               # same origin: on to the route


def test_no_cors_headers_are_ever_sent(local):
    r = local.options(SAVE, headers={"origin": "http://127.0.0.1:8765",
                                     "access-control-request-method": "POST"})
    assert not any(k.lower().startswith("access-control-") for k in r.headers)
    r = local.get("/api/meta", headers={"origin": BASE})
    assert not any(k.lower().startswith("access-control-") for k in r.headers)


def test_public_server_refuses_every_request_without_the_token(public):
    for path in ("/api/meta", "/api/images", "/api/images/0/file", "/", "/assets/x.js",
                 "/api/versions"):
        r = public.get(path)
        assert r.status_code == 403, path
        assert "needs its token" in r.json()["error"]
    assert public.get("/api/meta", params={"token": "nope" * 10}).status_code == 403
    assert public.get("/api/meta", headers={"host": "evil.example", **AUTH}).status_code == 200


def test_public_token_in_the_url_sets_a_strict_httponly_cookie(public):
    r = public.get("/api/meta", params={"token": TOKEN})
    assert r.status_code == 200
    cookie = r.headers["set-cookie"]
    assert cookie.startswith(f"visionflow_token={TOKEN};")
    assert "HttpOnly" in cookie and "SameSite=Strict" in cookie
    public.cookies.clear()


def test_public_page_with_token_redirects_to_a_url_without_it(public):
    r = public.get("/", params={"token": TOKEN, "class": "cat"}, follow_redirects=False)
    assert r.status_code == 303
    assert r.headers["location"] == "/?class=cat"
    assert "visionflow_token=" in r.headers["set-cookie"]
    public.cookies.clear()

    # a path that reads as another site ("//evil.example/x") stays a path on this one
    sent = _asgi("GET", "//evil.example/x", query=f"token={TOKEN}".encode(), public=True)
    assert sent[0]["status"] == 303
    assert dict(sent[0]["headers"])[b"location"] == b"/evil.example/x"


def test_public_app_without_a_token_or_with_a_weak_one_is_refused(ws_path):
    from visionflow.app.server import create_app
    from visionflow.app.state import AppState
    state = AppState.open(ws_path, background=False)
    try:
        for token in ("", "short", "x" * 15):
            with pytest.raises(Error, match="token of at least 16"):
                create_app(state, token=token, public=True)
            with pytest.raises(Error, match="token"):
                create_app(state, token=token, public=False)
    finally:
        close(state)


def test_body_over_the_limit_is_413_by_content_length(local):
    big = b"0" * (MAX_BODY + 1)
    r = local.post(SAVE, content=big, headers={**AUTH, "content-type": "application/json"})
    assert r.status_code == 413
    assert "over the limit" in r.json()["error"]


def test_body_over_the_limit_is_413_when_streamed_without_a_length(ws_path):
    client, state = open_app(ws_path, max_body=10_000)
    try:
        def chunks():
            for _ in range(20):
                yield b"x" * 1000
        r = client.post(SAVE, content=chunks(), headers=AUTH)
        assert r.status_code == 413
        r = client.post(SAVE, content=b'{"base_revision": "pets@1"}', headers=AUTH)
        assert r.status_code == 400                              # under the limit: read
    finally:
        close(state)


def _asgi(method: str, path: str, *, headers=(), query: bytes = b"", public=False,
          reached: list | None = None) -> list[dict]:
    """What the guard sends for one request given straight through the ASGI interface
    (for requests HTTP clients refuse to make); `reached` collects paths it let through."""
    import asyncio

    from visionflow.app.security import Guard

    async def inner(scope, receive, send):
        if reached is not None:
            reached.append(scope["path"])

    sent: list[dict] = []

    async def send(message):
        sent.append(message)

    async def receive():
        return {"type": "http.request", "body": b"{}", "more_body": False}

    scope = {"type": "http", "method": method, "path": path, "raw_path": path.encode(),
             "query_string": query, "headers": [(b"host", b"127.0.0.1:8765"), *headers]}
    asyncio.run(Guard(inner, token=TOKEN, public=public)(scope, receive, send))
    return sent


def test_bad_content_length_is_a_clear_400():
    import orjson
    reached: list = []
    sent = _asgi("POST", SAVE, headers=[(b"x-visionflow-token", TOKEN.encode()),
                                        (b"content-length", b"abc")], reached=reached)
    assert not reached
    assert sent[0]["status"] == 400
    assert orjson.loads(sent[1]["body"]) == {"error": "Content-Length is not a number"}


def test_read_token(tmp_path):
    good = tmp_path / "token"
    good.write_text("  " + "a" * 20 + "\n")
    assert read_token(good) == "a" * 20
    with pytest.raises(Error, match="cannot read the token file"):
        read_token(tmp_path / "missing")
    short = tmp_path / "short"
    short.write_text("abc\n")
    with pytest.raises(Error, match="at least 16 characters"):
        read_token(short)
    empty = tmp_path / "empty"
    empty.write_text("\n\n")
    with pytest.raises(Error, match="at least 16"):
        read_token(empty)
    spaced = tmp_path / "spaced"
    spaced.write_text("abcdefgh ijklmnopq\n")
    with pytest.raises(Error, match="without spaces"):
        read_token(spaced)


def test_is_local():
    assert all(is_local(h) for h in ("127.0.0.1", "localhost", "::1", "[::1]", "127.0.1.1"))
    assert not any(is_local(h) for h in ("0.0.0.0", "192.168.0.2", "::", "example.com"))


@settings(max_examples=200, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(st.text(max_size=60))
def test_only_the_exact_token_matches(other):
    assert same_token(other, TOKEN) == (other == TOKEN)
    assert not same_token(None, TOKEN)


def test_websockets_follow_the_same_rules():
    import asyncio

    from visionflow.app.security import Guard

    def run(host: bytes, public: bool, query: bytes = b"") -> tuple[list, list]:
        reached: list = []
        sent: list = []

        async def inner(scope, receive, send):
            reached.append(scope["path"])

        async def send(message):
            sent.append(message)

        async def receive():
            return {"type": "websocket.connect"}

        scope = {"type": "websocket", "path": "/ws", "query_string": query,
                 "headers": [(b"host", host)]}
        asyncio.run(Guard(inner, token=TOKEN, public=public)(scope, receive, send))
        return reached, sent

    assert run(b"evil.example", False) == ([], [{"type": "websocket.close", "code": 1008}])
    assert run(b"127.0.0.1:8765", False)[0] == ["/ws"]
    assert run(b"10.0.0.2:8765", True) == ([], [{"type": "websocket.close", "code": 1008}])
    assert run(b"10.0.0.2:8765", True, f"token={TOKEN}".encode())[0] == ["/ws"]
