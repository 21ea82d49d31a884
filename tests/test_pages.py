"""The pages: the article from content/, the form, thanks, privacy, health, sitemap, robots."""

import re

import pytest
from conftest import hidden_fields, text_of

SECTIONS = [
    "The Role of NMDA Receptors",
    "Glutamate and Neuroplasticity",
    "Neuroplastic Effects of Ketamine",
    "Insights from Recent Studies",
]
FORM_FIELDS = ["full_name", "phone", "email", "location", "contact_method", "best_time", "message", "consent",
               "website", "referrer", "elapsed"]  # fmt: skip


def test_landing_page_shows_the_article_and_the_form(client, app):
    response = client.get("/")
    assert response.status_code == 200
    html = response.get_data(as_text=True)
    title = app.extensions["article"].title
    assert title.startswith("Off-Label Ketamine for Depression")
    assert f'<h1 id="article-title">{title}</h1>' in html
    for heading in SECTIONS:
        assert f">{heading}</h2>" in html
    # The clinic's own words, not a paraphrase.
    assert "Glutamate is the most abundant excitatory neurotransmitter in the brain." in html
    # Blogger leftovers are not content.
    assert "Post a Comment" not in html
    assert '<form id="consultation" method="post" action="/consultation"' in html
    for name in FORM_FIELDS:
        assert f'name="{name}"' in html
    # Nothing per visitor in the page (crossorigin.py): no token, no key, no signed time.
    for name in ["csrf_token", "submission_key", "started", "landing"]:
        assert f'name="{name}"' not in html
    assert 'value="bradenton"' in html and 'value="sarasota"' in html


def test_clinic_facts_come_from_the_data_file(client, app):
    clinic = app.extensions["clinic"]
    html = client.get("/").get_data(as_text=True)
    assert clinic.name == "Anti Aging and Ketamine Center"
    for office in clinic.offices:
        assert office.phone_display in html
        assert f'href="tel:{office.phone}"' in html
        assert office.phone.startswith("+1941555")  # the shipped example is fictional


def test_article_is_rendered_once_at_start_up(app, monkeypatch):
    from microsite.content import article as content

    def fail(*args, **kwargs):
        raise AssertionError("the article was rendered again during a request")

    monkeypatch.setattr(content, "load_article", fail)
    monkeypatch.setattr(content.markdown, "Markdown", fail)
    assert app.test_client().get("/").status_code == 200


@pytest.mark.parametrize("slug,city", [("bradenton", "Bradenton"), ("sarasota", "Sarasota")])
def test_location_page_preselects_its_office(client, app, slug, city):
    html = client.get(f"/ketamine-therapy-{slug}").get_data(as_text=True)
    radios = re.findall(r'<input[^>]*name="location"[^>]*>', html)
    assert len(radios) == 2
    checked = [re.search(r'value="(\w+)"', r).group(1) for r in radios if " checked" in r]
    assert checked == [slug]
    title = app.extensions["article"].title
    assert f'<h1 id="article-title">{city}, FL: {title}</h1>' in html
    assert f'<link rel="canonical" href="https://clinic.example.com/ketamine-therapy-{slug}">' in html


def test_unknown_location_is_404(client):
    assert client.get("/ketamine-therapy-tampa").status_code == 404


def test_the_hidden_fields_are_empty_until_site_js_fills_them(client):
    fields = hidden_fields(client.get("/?utm_source=google", headers={"Referer": "https://www.google.com/"})
                           .get_data(as_text=True))  # fmt: skip
    # `language` is the page's own, the same for every visitor (the lead records it); `office` is the
    # question form's (empty on the main article, the office's slug on its page).
    # `phq9` stays empty unless the visitor chose to send their self-check with the request.
    assert fields == {"referrer": "", "elapsed": "", "language": "en", "phq9": "", "office": ""}


def test_thanks_page_is_noindex_and_lists_the_phones(client, app):
    html = client.get("/thanks").get_data(as_text=True)
    assert '<meta name="robots" content="noindex">' in html
    assert app.extensions["clinic"].callback_promise in html
    for office in app.extensions["clinic"].offices:
        assert office.phone_display in html


def test_privacy_page_says_what_why_who_and_how_long(client, app):
    text = text_of(client.get("/privacy").get_data(as_text=True))
    for heading in ["What we collect", "Why", "Who sees it", "How long we keep it"]:
        assert heading in text
    assert f"{app.extensions['clinic'].retention_days} days" in text


def test_healthz_answers_when_the_database_does(client):
    response = client.get("/healthz")
    assert response.status_code == 200
    assert response.get_json() == {"status": "ok"}


def test_healthz_is_503_when_the_database_is_unreachable(tmp_path):
    from conftest import make_config

    from microsite import create_app

    config = make_config("postgresql+psycopg://nobody@127.0.0.1:1/none", tmp_path)
    app = create_app(config)
    response = app.test_client().get("/healthz")
    assert response.status_code == 503
    assert response.get_json() == {"status": "unavailable"}


def test_sitemap_and_robots(client):
    sitemap = client.get("/sitemap.xml")
    assert sitemap.headers["Content-Type"].startswith("application/xml")
    body = sitemap.get_data(as_text=True)
    for path in ["/", "/ketamine-therapy-bradenton", "/ketamine-therapy-sarasota"]:
        assert f"<loc>https://clinic.example.com{path}</loc>" in body
    assert "<lastmod>" in body
    robots = client.get("/robots.txt").get_data(as_text=True)
    assert "Sitemap: https://clinic.example.com/sitemap.xml" in robots


def test_unknown_page_is_a_branded_404_with_phones(client, app):
    response = client.get("/no-such-page")
    assert response.status_code == 404
    html = response.get_data(as_text=True)
    for office in app.extensions["clinic"].offices:
        assert office.phone_display in html


def test_healthz_does_not_queue_behind_a_writer_on_sqlite(tmp_path):
    import sqlite3

    from conftest import make_config

    from microsite import create_app
    from microsite.extensions import db

    path = tmp_path / "busy.sqlite3"
    app = create_app(make_config(f"sqlite:///{path}", tmp_path, SQLITE_BUSY_TIMEOUT_MS=200))
    with app.app_context():
        db.create_all()
    writer = sqlite3.connect(path, isolation_level=None)
    writer.execute("BEGIN IMMEDIATE")
    writer.execute("CREATE TABLE held (a)")
    try:
        assert app.test_client().get("/healthz").status_code == 200
    finally:
        writer.rollback()
        writer.close()


def test_robots_lets_crawlers_read_the_noindex_pages(client):
    robots = client.get("/robots.txt").get_data(as_text=True)
    assert "Disallow" not in robots


@pytest.mark.parametrize("path", ["/", "/ketamine-therapy-sarasota", "/thanks"])
def test_links_to_other_sites_send_no_referrer(client, path):
    # A visitor who follows a study or the 988 link tells that site nothing about having been here.
    links = re.findall(r"<a\s[^>]*href=\"https?://[^\"]*\"[^>]*>", client.get(path).get_data(as_text=True))
    outside = [link for link in links if "://localhost" not in link and "://127.0.0.1" not in link]
    assert outside, "the page has no outside links to check"
    for link in outside:
        assert 'rel="noreferrer"' in link, link
