"""What search engines, link previews and a visitor who hit an error see: JSON-LD, Open Graph, error pages."""

from __future__ import annotations

import json
import re

import pytest
from conftest import make_config, text_of
from werkzeug.exceptions import abort

from microsite import create_app

INDEXABLE = ["/", "/ketamine-therapy-bradenton", "/ketamine-therapy-sarasota", "/privacy", "/phq-9"]


@pytest.fixture
def site(tmp_path):
    """The app with two extra routes that fail on purpose, added before the first request."""
    app = create_app(make_config(f"sqlite:///{tmp_path / 'seo.sqlite3'}", tmp_path))

    def fail(code: int):
        abort(code)

    def boom():
        raise RuntimeError("a secret detail that must never reach the page")

    app.add_url_rule("/_fail/<int:code>", "fail", fail)
    app.add_url_rule("/_fail/boom", "boom", boom)
    return app


def json_ld(html: str) -> dict:
    blocks = re.findall(r'<script type="application/ld\+json">(.*?)</script>', html, re.S)
    assert len(blocks) == 1
    return json.loads(blocks[0])


def meta(html: str, attr: str, name: str) -> str | None:
    match = re.search(rf'<meta {attr}="{re.escape(name)}" content="([^"]*)">', html)
    return match.group(1) if match else None


def test_every_indexable_page_has_its_own_title_description_canonical_and_share_card(site):
    client = site.test_client()
    titles, descriptions = set(), set()
    for path in INDEXABLE:
        html = client.get(path).get_data(as_text=True)
        assert '<html lang="en">' in html and 'name="viewport"' in html
        title = re.search(r"<title>(.*?)</title>", html).group(1)
        description = meta(html, "name", "description")
        titles.add(title)
        descriptions.add(description)
        assert f'<link rel="canonical" href="https://clinic.example.com{path}">' in html
        assert meta(html, "property", "og:url") == f"https://clinic.example.com{path}"
        assert meta(html, "property", "og:title") == title
        assert meta(html, "property", "og:description") == description
        image = meta(html, "property", "og:image")
        assert image.startswith("https://clinic.example.com/static/share")
        assert client.get(image.removeprefix("https://clinic.example.com")).status_code == 200
        assert "noindex" not in html
    assert len(titles) == len(descriptions) == len(INDEXABLE)


@pytest.mark.parametrize("path", ["/", "/ketamine-therapy-bradenton", "/privacy", "/thanks", "/phq-9"])
def test_nothing_is_fetched_from_another_site_and_nothing_is_inline(site, path):
    """No CDN, font or tracker; nothing the Content-Security-Policy (script-src/style-src 'self') refuses."""
    html = site.test_client().get(path).get_data(as_text=True)
    for tag, url in re.findall(r'<(script|link|img)\b[^>]*?(?:src|href)="([^"]+)"', html):
        assert url.startswith(("/", "https://clinic.example.com/")), (tag, url)
    tags = re.findall(r"<[^>]+>", html)
    assert not [t for t in tags if re.search(r"\s(?:style|on[a-z]+)=", t)]
    assert "<style" not in html
    assert all(
        'type="application/ld+json"' in t or 'src="/static/' in t for t in tags if t.startswith("<script")
    )


def test_thanks_page_is_not_indexed_and_has_no_canonical(site):
    html = site.test_client().get("/thanks").get_data(as_text=True)
    assert '<meta name="robots" content="noindex">' in html
    assert 'rel="canonical"' not in html


def test_landing_page_describes_the_article_and_both_offices(site):
    clinic = site.extensions["clinic"]
    article = site.extensions["article"]
    data = json_ld(site.test_client().get("/").get_data(as_text=True))
    assert data["@context"] == "https://schema.org"
    page, *offices = data["@graph"]
    assert page["@type"] == "MedicalWebPage"
    assert page["headline"] == article.title
    assert page["datePublished"] == article.published.isoformat()
    assert page["dateModified"] == article.updated.isoformat()
    # A study is known by its DOI; a drug label or an FDA notice has none (content/article.md).
    dois = [s.doi and f"https://doi.org/{s.doi}" for s in article.sources]
    assert [c.get("sameAs") for c in page["citation"]] == dois
    assert "reviewedBy" not in page and "lastReviewed" not in page  # the shipped data file names no reviewer
    assert [o["@type"] for o in offices] == ["MedicalClinic"] * len(clinic.offices)


@pytest.mark.parametrize("slug", ["bradenton", "sarasota"])
def test_location_page_describes_its_office_as_the_page_shows_it(site, slug):
    office = site.extensions["clinic"].office(slug)
    html = site.test_client().get(f"/ketamine-therapy-{slug}").get_data(as_text=True)
    page, clinic = json_ld(html)["@graph"]
    assert page["url"] == f"https://clinic.example.com/ketamine-therapy-{slug}"
    assert clinic["@type"] == "MedicalClinic"
    assert clinic["name"] == office.name and office.name in text_of(html)
    assert clinic["telephone"] == office.phone and f'href="{office.tel_href}"' in html
    address = clinic["address"]
    assert (
        f"{address['streetAddress']}, {address['addressLocality']}, {address['addressRegion']} "
        + address["postalCode"]
        == office.address_line
    )
    assert office.address_line in text_of(html)
    assert "medicalSpecialty" not in clinic  # the shipped data file names none: none is claimed
    hours = clinic["openingHoursSpecification"]
    assert [(h["opens"], h["closes"]) for h in hours] == [(h.opens, h.closes) for h in office.hours]
    assert hours[0]["dayOfWeek"][0] == "Monday"
    assert "geo" not in clinic  # the shipped data file gives none


def test_reviewer_and_geo_appear_only_when_the_data_file_gives_them(tmp_path):
    from microsite.config import DEFAULT_CLINIC_FILE

    text = DEFAULT_CLINIC_FILE.read_text()
    text = text.replace("# [review]", "[review]").replace(
        '# reviewer = "Jane Example, MD"', 'reviewer = "Jane Example, MD"'
    )
    text = text.replace("# reviewed = 2026-11-01", "reviewed = 2026-11-01")
    text = text.replace(
        "# geo = { latitude = 0.0, longitude = 0.0 }", "geo = { latitude = 27.49, longitude = -82.57 }"
    )
    clinic_file = tmp_path / "clinic.toml"
    clinic_file.write_text(text)
    app = create_app(
        make_config(f"sqlite:///{tmp_path / 'r.sqlite3'}", tmp_path, CLINIC_FILE=str(clinic_file))
    )
    html = app.test_client().get("/ketamine-therapy-bradenton").get_data(as_text=True)
    page, clinic = json_ld(html)["@graph"]
    assert page["reviewedBy"] == {"@type": "Person", "name": "Jane Example, MD"}
    assert page["lastReviewed"] == "2026-11-01"
    assert "Medically reviewed by Jane Example, MD" in text_of(html)
    assert clinic["geo"] == {"@type": "GeoCoordinates", "latitude": 27.49, "longitude": -82.57}


def test_the_medical_specialty_is_the_clinic_files_or_none(tmp_path):
    """An article about depression does not make its clinic a psychiatric practice: only the clinic file
    says what the offices practise, in schema.org's names; a name schema.org does not know stops start-up."""
    from microsite.config import DEFAULT_CLINIC_FILE
    from microsite.content import load_clinic

    clinic_file = tmp_path / "clinic.toml"
    text = DEFAULT_CLINIC_FILE.read_text()
    commented = '# specialties = ["Anesthesia", "Psychiatric"]'
    assert commented in text
    clinic_file.write_text(text.replace(commented, commented.removeprefix("# ")))
    app = create_app(
        make_config(f"sqlite:///{tmp_path / 's.sqlite3'}", tmp_path, CLINIC_FILE=str(clinic_file))
    )
    page, *offices = json_ld(app.test_client().get("/").get_data(as_text=True))["@graph"]
    for office in offices:
        assert office["medicalSpecialty"] == [
            "https://schema.org/Anesthesia",
            "https://schema.org/Psychiatric",
        ]
    assert "medicalSpecialty" not in page and "specialty" not in page
    clinic_file.write_text(text.replace(commented, 'specialties = ["Ketamine"]'))
    with pytest.raises(ValueError, match="specialties"):
        load_clinic(clinic_file)


def test_json_ld_cannot_close_its_script_element(site):
    html = site.test_client().get("/").get_data(as_text=True)
    block = re.search(r'<script type="application/ld\+json">(.*?)</script>', html, re.S).group(1)
    assert "<" not in block and ">" not in block


@pytest.mark.parametrize("code", [400, 404, 405, 413, 429, 500])
def test_error_pages_are_branded_with_the_phone_numbers(site, code):
    response = site.test_client().get(f"/_fail/{code}" if code != 500 else "/_fail/boom")
    assert response.status_code == code
    html = response.get_data(as_text=True)
    assert "<h1>" in html and '<meta name="robots" content="noindex">' in html
    for office in site.extensions["clinic"].offices:
        assert f'href="{office.tel_href}"' in html and office.phone_display in html
    assert 'href="tel:988"' in html
    assert "Traceback" not in html and "secret detail" not in html


def test_real_405_and_413_are_branded(site):
    client = site.test_client()
    assert "Call an office" in client.get("/consultation").get_data(as_text=True)
    site.config["MAX_CONTENT_LENGTH"] = 1024
    response = client.post("/consultation", data={"message": "x" * 5000})
    assert response.status_code == 413
    assert "shorten your message" in response.get_data(as_text=True)
