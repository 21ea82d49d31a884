"""Reading leaves no trace: every public page is the same bytes for everyone, cacheable, and cookieless."""

import pytest
from conftest import browser_headers, valid_data

PUBLIC = ["/", "/ketamine-therapy-bradenton", "/ketamine-therapy-sarasota", "/thanks", "/thanks/support",
          "/privacy", "/phq-9", "/es/phq-9", "/sitemap.xml", "/robots.txt"]  # fmt: skip


def assert_leaves_no_trace(response):
    assert not response.headers.getlist("Set-Cookie")
    assert "cookie" not in response.headers.get("Vary", "").lower()


@pytest.mark.parametrize("path", PUBLIC)
def test_a_public_page_sets_no_cookie_and_may_be_cached(client, path):
    response = client.get(path)
    assert response.status_code == 200
    assert_leaves_no_trace(response)
    assert response.headers["Cache-Control"] == "public, max-age=300"
    etag = response.headers["ETag"]
    assert etag.startswith('"') and etag.endswith('"') and not etag.startswith("W/")  # strong


@pytest.mark.parametrize("path", PUBLIC)
def test_the_same_bytes_for_every_visitor_and_every_query_string(app, path):
    first, second = app.test_client(), app.test_client()
    plain = first.get(path)
    tagged = second.get(
        f"{path}?utm_source=google&utm_medium=cpc&utm_campaign=Zo%C3%AB&gclid=abc",
        headers={
            "Referer": "https://www.google.com/",
            "Cookie": "__Host-session=whatever; session=whatever",
            "Accept-Language": "es",
        },
    )
    assert plain.get_data() == tagged.get_data()
    assert plain.headers["ETag"] == tagged.headers["ETag"]
    assert_leaves_no_trace(tagged)
    assert b"Zo\xc3\xab" not in tagged.get_data() and b"gclid" not in tagged.get_data()


@pytest.mark.parametrize("path", PUBLIC)
def test_a_matching_if_none_match_is_a_304_without_a_body(client, path):
    etag = client.get(path).headers["ETag"]
    for header in (etag, f"W/{etag}", f'"other", {etag}', "*"):
        response = client.get(path, headers={"If-None-Match": header})
        assert response.status_code == 304, header
        assert response.get_data() == b""
        assert response.headers["ETag"] == etag
        assert response.headers["Cache-Control"] == "public, max-age=300"
        assert_leaves_no_trace(response)
    assert client.get(path, headers={"If-None-Match": '"stale"'}).status_code == 200


def test_pages_differ_from_each_other(client):
    tags = {client.get(path).headers["ETag"] for path in PUBLIC}
    assert len(tags) == len(PUBLIC)


def test_head_answers_the_headers_of_get(client):
    get, head = client.get("/"), client.head("/")
    assert head.status_code == 200 and head.get_data() == b""
    assert head.headers["ETag"] == get.headers["ETag"]
    assert head.headers["Content-Length"] == get.headers["Content-Length"]


def test_no_public_page_reads_the_session(app, client):
    """Reading it anywhere on the way (a hook, a template) would mark the page Vary: Cookie."""
    from flask.sessions import SecureCookieSessionInterface

    read = []

    class Recording(SecureCookieSessionInterface):
        def save_session(self, app, session, response):
            read.append(session.accessed)
            super().save_session(app, session, response)

    app.session_interface = Recording()
    for path in PUBLIC:
        client.get(path)
        client.get(path, headers={"If-None-Match": '"x"'})
    # Each page's first view went through Flask and left the session alone; later views never reach it.
    assert read == [False] * len(PUBLIC)
    # The check can fail: a staff page does read it.
    client.get("/staff/login")
    assert read[-1] is True


def test_a_page_is_rendered_once_per_process(app, client, monkeypatch):
    import flask

    from microsite.pages import views as pages

    client.get("/")
    calls = []
    monkeypatch.setattr(
        pages, "render_template", lambda *a, **k: calls.append(a) or flask.render_template(*a, **k)
    )
    for _ in range(3):
        client.get("/")
    client.get("/privacy")
    assert calls == [("privacy.html",)]


@pytest.mark.parametrize(
    "make",
    [
        lambda c: c.post("/consultation", data=valid_data(phone="12"), headers=browser_headers()),  # 422
        lambda c: c.post("/consultation", data=valid_data()),  # 400: no Fetch Metadata, no token
        lambda c: c.post("/consultation", data=valid_data(), headers={"Sec-Fetch-Site": "cross-site"}),  # 403
        lambda c: c.get("/no-such-page"),  # 404
        lambda c: c.get("/staff/login"),
        lambda c: c.get("/healthz"),
    ],
)
def test_everything_else_is_never_stored(client, make):
    response = make(client)
    assert response.headers["Cache-Control"] == "no-store"
    assert "ETag" not in response.headers


@pytest.mark.parametrize("path", ["/", "/privacy"])
def test_gzip_and_brotli_copies_are_the_same_page_with_their_own_etags(client, path):
    import gzip

    import brotli

    plain = client.get(path)
    br = client.get(path, headers={"Accept-Encoding": "gzip, deflate, br"})
    gz = client.get(path, headers={"Accept-Encoding": "gzip"})
    assert "Content-Encoding" not in plain.headers
    assert br.headers["Content-Encoding"] == "br" and gz.headers["Content-Encoding"] == "gzip"
    assert brotli.decompress(br.get_data()) == gzip.decompress(gz.get_data()) == plain.get_data()
    assert len(br.get_data()) < len(plain.get_data()) / 2
    assert len({plain.headers["ETag"], br.headers["ETag"], gz.headers["ETag"]}) == 3
    for response in (plain, br, gz):
        assert response.headers["Vary"] == "Accept-Encoding"
    # A plain client's tag does not stand for the Brotli bytes.
    stale = client.get(path, headers={"Accept-Encoding": "br", "If-None-Match": plain.headers["ETag"]})
    assert stale.status_code == 200
