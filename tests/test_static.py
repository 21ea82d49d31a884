"""Static files: fingerprinted names in the pages, compressed copies, a year's cache for hashed names."""

from __future__ import annotations

import re

from microsite.assets import build, hashed_name
from microsite.config import PROJECT_ROOT


def static_urls(html: str) -> list[str]:
    return re.findall(r'(/static/[^"]+)"', html)


def test_pages_link_fingerprinted_files(client):
    urls = static_urls(client.get("/").get_data(as_text=True))
    assert any(re.fullmatch(r"/static/site\.[0-9a-f]{12}\.css", u) for u in urls)
    assert any(re.fullmatch(r"/static/site\.[0-9a-f]{12}\.js", u) for u in urls)


def test_hashed_file_is_cached_for_a_year_and_sent_compressed(client):
    css = next(u for u in static_urls(client.get("/").get_data(as_text=True)) if u.endswith(".css"))
    for encoding in ["br", "gzip"]:
        response = client.get(css, headers={"Accept-Encoding": encoding})
        assert response.status_code == 200
        assert response.headers["Content-Encoding"] == encoding
        assert "immutable" in response.headers["Cache-Control"]
        assert "max-age=315360000" in response.headers["Cache-Control"]
        assert response.headers["Vary"] == "Accept-Encoding"
        assert response.headers["X-Content-Type-Options"] == "nosniff"
    plain = client.get(css, headers={"Accept-Encoding": "identity"})
    assert "Content-Encoding" not in plain.headers
    assert plain.data == (PROJECT_ROOT / "static" / "site.css").read_bytes()


def test_plain_name_still_works_with_a_short_cache(client):
    response = client.get("/static/site.css")
    assert response.status_code == 200
    assert response.headers["Cache-Control"] == "max-age=60, public"


def test_build_is_content_addressed(tmp_path):
    source = tmp_path / "src"
    source.mkdir()
    (source / "a.css").write_text("body { color: red }\n" * 50)
    (source / "logo.png").write_bytes(b"\x89PNG not really")
    manifest = build(source, tmp_path / "out")
    assert manifest["a.css"] == hashed_name("a.css", (source / "a.css").read_bytes())
    names = {p.name for p in (tmp_path / "out").iterdir()}
    assert {"a.css", "a.css.br", "a.css.gz", manifest["a.css"], manifest["a.css"] + ".br"} <= names
    assert "logo.png.gz" not in names  # already compressed formats are left alone
    (source / "a.css").write_text("body { color: blue }\n" * 50)
    assert build(source, tmp_path / "out")["a.css"] != manifest["a.css"]
    assert (tmp_path / "out" / "a.css").read_text().startswith("body { color: blue }")
