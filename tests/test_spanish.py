"""The public site in Spanish: every page under /es/, linked to its English twin both ways,
as cacheable as the English pages, with the form, its messages and the error pages in Spanish."""

from __future__ import annotations

import json
import os
import re
import shutil
from html.parser import HTMLParser
from pathlib import Path

import pytest
import textstat
from babel.messages.frontend import CommandLineInterface
from babel.messages.mofile import read_mo
from babel.messages.pofile import read_po
from conftest import SITE_URL, browser_headers, make_config, submit, text_of, valid_data
from sqlalchemy import select
from test_content import (
    article_body_blocks,
    build,
    key_facts,
    section,
    shipped_clinic,
    uncomment,
)
from test_outbox import outbox_once

from microsite import create_app, i18n
from microsite.content.article import ARTICLE_FILE, ARTICLE_FILE_ES, load_article
from microsite.errors import render_error
from microsite.extensions import db
from microsite.models import Lead

ROOT = Path(__file__).resolve().parent.parent
CATALOGUE = ROOT / "microsite" / "translations" / "es" / "LC_MESSAGES" / "messages.po"
ENGLISH_PUBLIC = ["/", "/ketamine-therapy-bradenton", "/ketamine-therapy-sarasota", "/thanks",
                  "/thanks/support", "/privacy", "/phq-9"]  # fmt: skip
SPANISH_PUBLIC = ["/es/", "/es/terapia-con-ketamina-bradenton", "/es/terapia-con-ketamina-sarasota",
                  "/es/gracias", "/es/gracias/apoyo", "/es/privacidad", "/es/phq-9"]  # fmt: skip
LEFT_IN_ENGLISH = ["Request a consultation", "Call or text", "Privacy notice", "Please", "Skip to content",
                   "Office hours", "What happens next", "Sources"]  # fmt: skip
FERNANDEZ_HUERTA_TARGET = 70  # "bastante fácil" (70–80) or easier


class _Links(HTMLParser):
    """The page's <html lang> and its <link rel="alternate" hreflang> targets."""

    def __init__(self):
        super().__init__()
        self.lang = None
        self.alternates: dict[str, str] = {}

    def handle_starttag(self, tag, attrs):
        a = dict(attrs)
        if tag == "html":
            self.lang = a.get("lang")
        if tag == "link" and a.get("rel") == "alternate" and a.get("hreflang"):
            self.alternates[a["hreflang"]] = a["href"]


def links_of(html: str) -> _Links:
    parser = _Links()
    parser.feed(html)
    return parser


def path_of(url: str) -> str:
    assert url.startswith(SITE_URL), url
    return url.removeprefix(SITE_URL)


# -- every page has its translation, both ways --------------------------------------------------


@pytest.mark.parametrize("path", ENGLISH_PUBLIC)
def test_each_english_page_links_its_spanish_twin_and_back(client, path):
    english = links_of(client.get(path).get_data(as_text=True))
    assert english.lang == "en"
    assert path_of(english.alternates["en"]) == path
    assert english.alternates["x-default"] == english.alternates["en"]
    spanish_path = path_of(english.alternates["es"])
    assert spanish_path in SPANISH_PUBLIC

    response = client.get(spanish_path)
    assert response.status_code == 200
    spanish = links_of(response.get_data(as_text=True))
    assert spanish.lang == "es"
    assert spanish.alternates == english.alternates  # the same set, whichever page names it
    assert client.get(path_of(spanish.alternates["en"])).status_code == 200


@pytest.mark.parametrize("path", SPANISH_PUBLIC)
def test_a_spanish_page_is_cached_like_an_english_one(app, path):
    """No cookie, no Vary on the language: the URL says it, whatever the browser asks for."""
    plain = app.test_client().get(path)
    asked_english = app.test_client().get(path, headers={"Accept-Language": "en-US,en;q=0.9"})
    assert plain.status_code == 200
    assert plain.get_data() == asked_english.get_data()
    assert plain.headers["ETag"] == asked_english.headers["ETag"]
    assert plain.headers["Cache-Control"] == "public, max-age=300"
    assert not plain.headers.getlist("Set-Cookie")
    assert plain.headers["Vary"] == "Accept-Encoding"


def test_an_english_page_stays_english_for_a_spanish_browser(client):
    response = client.get("/", headers={"Accept-Language": "es-US,es;q=0.9"})
    assert links_of(response.get_data(as_text=True)).lang == "en"
    assert "Request a consultation" in response.get_data(as_text=True)


def test_a_visible_link_switches_the_language(client):
    english = client.get("/ketamine-therapy-sarasota").get_data(as_text=True)
    spanish = client.get("/es/terapia-con-ketamina-sarasota").get_data(as_text=True)
    assert '<a href="/es/terapia-con-ketamina-sarasota" hreflang="es" lang="es">Español</a>' in english
    assert '<a href="/ketamine-therapy-sarasota" hreflang="en" lang="en">English</a>' in spanish


def test_the_sitemap_lists_each_page_with_its_alternates(client):
    sitemap = client.get("/sitemap.xml").get_data(as_text=True)
    assert 'xmlns:xhtml="http://www.w3.org/1999/xhtml"' in sitemap
    locs = re.findall(r"<loc>([^<]+)</loc>", sitemap)
    for path in ["/", "/es/", "/ketamine-therapy-bradenton", "/es/terapia-con-ketamina-bradenton",
                 "/privacy", "/es/privacidad"]:  # fmt: skip
        assert f"{SITE_URL}{path}" in locs, path
    entry = re.search(rf"<url><loc>{SITE_URL}/es/privacidad</loc>.*?</url>", sitemap, re.S).group(0)
    assert f'hreflang="en" href="{SITE_URL}/privacy"' in entry
    assert f'hreflang="es" href="{SITE_URL}/es/privacidad"' in entry
    assert f'hreflang="x-default" href="{SITE_URL}/privacy"' in entry


def test_the_json_ld_says_the_page_is_in_spanish(client):
    html = client.get("/es/terapia-con-ketamina-bradenton").get_data(as_text=True)
    data = html[html.index('<script type="application/ld+json">') :]
    assert '"inLanguage": "es-US"' in data
    assert f'"url": "{SITE_URL}/es/terapia-con-ketamina-bradenton"' in data
    page = json.loads(re.search(r"<script[^>]*>(.*?)</script>", data, re.S).group(1))["@graph"][0]
    assert page["headline"] == load_article(ARTICLE_FILE_ES).title
    assert page["headline"].startswith("Ketamina fuera de etiqueta para la depresión")
    assert '"inLanguage": "en-US"' in client.get("/").get_data(as_text=True)


# -- what a Spanish reader reads ------------------------------------------------------------------


@pytest.mark.parametrize("path", SPANISH_PUBLIC)
def test_the_crisis_notice_gives_what_works_in_spanish(client, path):
    text = text_of(client.get(path).get_data(as_text=True))
    assert "marque 2" in text and "AYUDA" in text and "911" in text


def test_dates_and_hours_are_written_for_spanish_readers(client):
    text = text_of(client.get("/es/terapia-con-ketamina-sarasota").get_data(as_text=True))
    assert "7 de diciembre de 2026" in text
    assert "lunes a jueves, 9:00–17:00" in text and "viernes, 9:00–13:00" in text
    assert "(941) 555-0102" in text  # the number as dialled in the US, the same as in English
    english = text_of(client.get("/ketamine-therapy-sarasota").get_data(as_text=True))
    assert "December 7, 2026" in english and "Monday–Thursday 9 am–5 pm" in english


def test_the_spanish_article_has_the_english_sources_and_sections():
    english, spanish = load_article(ARTICLE_FILE), load_article(ARTICLE_FILE_ES)
    assert spanish.language == "es"
    assert [(s.id, s.doi, s.pmid) for s in spanish.sources] == [
        (s.id, s.doi, s.pmid) for s in english.sources
    ]
    assert len(spanish.toc) == len(english.toc)
    headings = [heading for _, heading in spanish.toc]
    assert "Riesgos y efectos secundarios" in headings
    assert "El papel de los receptores NMDA" in headings


def test_the_spanish_risks_and_caveats_are_there(client):
    text = text_of(client.get("/es/").get_data(as_text=True))
    for words in ["disociación", "presión arterial", "No maneje", "sustancia controlada", "psicosis",
                  "embarazada", "Esto no se ha probado en personas", "no es un consejo médico",
                  "fuera de lo indicado en la etiqueta", "REMS"]:  # fmt: skip
        assert words.lower() in text.lower(), words


@pytest.fixture(scope="module")
def site(tmp_path_factory):
    """One app for the checks of what the pages say, which need no database behind them."""
    return build(tmp_path_factory.mktemp("spanish"))


def test_the_spanish_title_and_key_facts_say_off_label_and_name_spravato_first(site):
    html = site.test_client().get("/es/").get_data(as_text=True)
    title = load_article(ARTICLE_FILE_ES).title
    assert "fuera de etiqueta" in title and "no ha mejorado con otros tratamientos" in title
    assert "corto plazo" in title and "aún no claro" in title and "alivia" not in title
    first_seed_heading = html.index(">El papel de los receptores NMDA</h2>")
    assert html.index('<aside class="key-facts"') < first_seed_heading
    facts = text_of(key_facts(html))
    assert facts.strip().startswith("Datos clave")
    for said in ["Para quién es", "fuera de lo indicado en la etiqueta", "suele desaparecer", "KARMA-Dep 2",
                 "placebo activo", "Riesgos principales", "esketamina en aerosol nasal (Spravato)",
                 "aprobada por la FDA"]:  # fmt: skip
        assert said in facts, said


def test_the_spanish_page_says_what_the_english_one_says_citation_for_citation(site):
    """The same key facts, sections, table rows and citations in the same order: the same content."""
    english, spanish = (site.test_client().get(path).get_data(as_text=True) for path in ("/", "/es/"))

    def cited(html: str) -> list[str]:
        return re.findall(r'<sup class="cite"><a href="#source-([^"]+)"', html)

    assert cited(spanish) == cited(english) and len(cited(english)) > 40
    for pattern in [r"<li>", r"<h2 id="]:
        assert len(re.findall(pattern, key_facts(spanish))) == len(re.findall(pattern, key_facts(english)))
        assert len(re.findall(pattern, spanish)) == len(re.findall(pattern, english))
    rows = r'<th scope="rowgroup" colspan="2">'
    assert len(re.findall(rows, spanish)) == len(re.findall(rows, english)) == 6
    risks = text_of(section(spanish, "Quién no debe recibir ketamina"))
    for said in ["enfermedad vascular aneurismática", "malformación arteriovenosa", "sangrado en el cerebro",
                 "alérgicas a la esketamina o a la ketamina"]:  # fmt: skip
        assert said in risks, said
    for doi in ["10.1056/NEJMoa2302399", "10.1001/jamapsychiatry.2025.3019"]:
        assert f'href="https://doi.org/{doi}"' in spanish


def test_the_citation_marks_are_labelled_in_the_pages_language(site):
    spanish = site.test_client().get("/es/").get_data(as_text=True)
    english = site.test_client().get("/").get_data(as_text=True)
    assert re.findall(r'aria-label="(Fuente|Source) \d+"', spanish) == ["Fuente"] * spanish.count(
        'class="cite"'
    )
    assert re.findall(r'aria-label="(Fuente|Source) \d+"', english) == ["Source"] * english.count(
        'class="cite"'
    )


# The Spanish editor's corrections: what the page or the catalogue said, and what it says now.
EDITOR_CORRECTIONS = [
    ("antes de una cirugía", "durante una cirugía"),
    ("miraron la depresión", "incluyeron a personas cuya depresión no había mejorado"),
    ("nuevos enlaces", "nuevas conexiones"),
    ("breve ola de", "breve oleada de"),
    ("se unen y se pasan", "se comunican y se pasan"),
    ("ayuda a planear", "interviene en la planificación y el estado de ánimo"),
    ("se pierde cuando paran las infusiones", "La mejoría suele desaparecer al suspender las infusiones"),
    ("Sentirse separado", "Sentirse desconectado"),
    ("Sueño.", "Somnolencia."),
    ("después de dormir una noche", "La información de prescripción de Spravato dice que espere hasta el día "
     "siguiente, tras una noche de sueño reparador"),
    ("Un tratamiento son varias infusiones", "Un tratamiento consta de varias infusiones"),
    ("se aprobó también sola", "también se aprobó como tratamiento único"),
    ("Nadie vigila este formulario a toda hora", "Nadie revisa este formulario las 24 horas"),
    ("oficina", "consultorio"),
    ("0,5", "0.5 mg/kg"),
]  # fmt: skip


@pytest.fixture(scope="module")
def spanish_text(site) -> str:
    """The text of every Spanish public page, the article's sources included."""
    paths = [*SPANISH_PUBLIC, "/es/preguntas/gracias"]
    return " ".join(text_of(site.test_client().get(path).get_data(as_text=True)) for path in paths)


@pytest.mark.parametrize("before,after", EDITOR_CORRECTIONS)
def test_the_spanish_editors_corrections_are_in(spanish_text, before, after):
    assert before not in spanish_text and after in spanish_text
    assert before not in CATALOGUE.read_text(encoding="utf-8")


def test_the_questions_thanks_page_sends_the_reader_back_in_the_imperative(spanish_text):
    assert "Vuelva al artículo" in spanish_text and "Volver al artículo" not in spanish_text


def test_the_spanish_article_reads_bastante_facil_or_easier(client):
    """Fernández-Huerta (textstat 0.7.3, Spanish syllables) of the same body the English test measures."""
    body = " ".join(article_body_blocks(client.get("/es/").get_data(as_text=True)))
    textstat.set_lang("es")
    try:
        score = textstat.fernandez_huerta(body)
        words = textstat.lexicon_count(body)
    finally:
        textstat.set_lang("en_US")
    assert score >= FERNANDEZ_HUERTA_TARGET, f"Fernández-Huerta {score}: aim for 70 or more"
    assert words > 900


def test_no_translation_review_is_claimed_unless_the_clinic_names_one(tmp_path):
    (tmp_path / "shipped").mkdir()
    (tmp_path / "named").mkdir()
    shipped = build(tmp_path / "shipped").test_client().get("/es/").get_data(as_text=True)
    assert "Traducción revisada" not in shipped and "contributor" not in shipped
    assert "es_reviewer =" not in shipped_clinic().replace("# es_reviewer =", "")  # commented out

    clinic = uncomment(
        shipped_clinic(), "[review]", 'es_reviewer = "Juana Ejemplo, intérprete médica certificada"'
    )
    site = build(tmp_path / "named", clinic)
    spanish = site.test_client().get("/es/").get_data(as_text=True)
    assert "Traducción revisada por Juana Ejemplo, intérprete médica certificada" in text_of(spanish)
    assert '"contributor": {"@type": "Person", "description": "Translation reviewer"' in spanish.replace(
        '":"', '": "'
    )
    assert "Traducción revisada" not in site.test_client().get("/").get_data(as_text=True)


# -- the form in Spanish ------------------------------------------------------------------------


def test_a_spanish_request_is_stored_as_spanish_and_thanked_in_spanish(client, app):
    response = submit(client, "/es/terapia-con-ketamina-bradenton")
    assert response.status_code == 303
    assert response.headers["Location"] == "/es/gracias"
    with app.app_context():
        lead = db.session.scalars(select(Lead)).one()
        assert lead.language == "es"
        assert lead.consent_text == app.extensions["clinic"].consent_text_es
        assert lead.landing_path == "/es/terapia-con-ketamina-bradenton"
    page = client.get("/es/gracias").get_data(as_text=True)
    assert "Gracias. Recibimos su solicitud." in page


def test_an_english_request_stays_english(client, app):
    assert submit(client, "/").headers["Location"] == "/thanks"
    with app.app_context():
        assert db.session.scalars(select(Lead.language)).one() == "en"


def test_a_spanish_422_shows_spanish_messages_with_the_values_kept(client, app):
    response = submit(client, "/es/", full_name="José Ejemplo", phone="123", email="no", consent=None)
    assert response.status_code == 422
    html = response.get_data(as_text=True)
    assert links_of(html).lang == "es"
    text = text_of(html)
    assert "Revise estas 3 respuestas" in text
    assert "Escriba un número de teléfono con su código de área" in text
    assert "Escriba un correo electrónico como nombre@example.com." in text
    assert "Marque esta casilla para que podamos comunicarnos con usted." in text
    assert 'value="José Ejemplo"' in html and 'value="123"' in html
    assert 'name="language" type="hidden" value="es"' in html
    assert "Please" not in text  # nothing left in English
    with app.app_context():
        assert db.session.scalars(select(Lead)).all() == []


def test_a_spanish_form_without_a_token_is_shown_again_in_spanish(client):
    """A browser that sends neither Fetch Metadata nor Origin: 400, the values kept, in Spanish."""
    client.get("/es/")
    data = {**valid_data(), "language": "es"}
    response = client.post("/consultation", data=data)
    assert response.status_code == 400
    assert "Su formulario necesitaba actualizarse." in text_of(response.get_data(as_text=True))


def test_too_many_requests_for_one_contact_is_answered_in_spanish(app_config):
    app = create_app({**app_config, "LEADS_PER_CONTACT_PER_HOUR": 1})
    with app.app_context():
        db.create_all()
    client = app.test_client()
    assert submit(client, "/es/").status_code == 303
    response = submit(client, "/es/", message="Otra pregunta.")
    assert response.status_code == 429
    assert "Ya recibimos varias solicitudes" in text_of(response.get_data(as_text=True))
    with app.app_context():
        db.drop_all()


def test_a_404_under_es_is_in_spanish_and_elsewhere_in_english(client):
    spanish = client.get("/es/no-existe")
    assert spanish.status_code == 404
    assert links_of(spanish.get_data(as_text=True)).lang == "es"
    assert "No encontramos esa página" in spanish.get_data(as_text=True)
    assert 'href="/es/"' in spanish.get_data(as_text=True)
    english = client.get("/no-such-page").get_data(as_text=True)
    assert "We could not find that page" in english and links_of(english).lang == "en"


def test_a_body_too_large_from_a_spanish_page_is_answered_in_spanish(app_config):
    app = create_app({**app_config, "MAX_CONTENT_LENGTH": 2048})
    response = app.test_client().post(
        "/consultation",
        data={**valid_data(message="x" * 4000), "language": "es"},
        headers=browser_headers("/es/"),
    )
    assert response.status_code == 413
    assert "El formulario que envió era más grande de lo que aceptamos." in response.get_data(as_text=True)


@pytest.mark.parametrize(
    "status,words", [(400, "Algo en esa solicitud no funcionó"), (500, "Algo falló de nuestro lado"),
                     (503, "No estamos disponibles por un momento"), (429, "limitamos cuántas veces")]
)  # fmt: skip
def test_every_error_page_has_its_spanish(app, status, words):
    with app.test_request_context("/es/terapia-con-ketamina-bradenton"):
        spanish = render_error(status)[0].decode()
    with app.test_request_context("/ketamine-therapy-bradenton"):
        english = render_error(status)[0].decode()
    assert words in spanish and '<html lang="es">' in spanish
    assert words not in english and '<html lang="en">' in english


def test_the_staff_email_says_prefers_spanish_in_english(client, app, runner, smtp):
    assert submit(client, "/es/", location="sarasota").status_code == 303
    assert (
        submit(client, "/", location="sarasota", phone="941-555-0199", email="b@example.com").status_code
        == 303
    )
    outbox_once(runner)
    spanish, english = sorted(smtp.messages, key=lambda m: "Prefers Spanish" not in m["Subject"])
    assert spanish["Subject"].startswith("Prefers Spanish: Consultation request #")
    assert spanish["Subject"].endswith("– Sarasota office")
    body = spanish.get_body(("plain",)).get_content()
    assert body.startswith("Prefers Spanish:")
    assert "Phone call" in body  # the form's labels, in the staff's English
    assert "Prefers Spanish" in spanish.get_body(("html",)).get_content()
    assert "Prefers Spanish" not in english["Subject"] + english.get_body(("plain",)).get_content()


# -- the catalogue ----------------------------------------------------------------------------


def test_every_message_in_the_code_and_templates_has_its_spanish(tmp_path):
    """Extract afresh (as `make translations` does) and compare: every message there, translated, none
    fuzzy. When this fails, run `make translations` and translate what it adds to messages.po."""
    template = tmp_path / "messages.pot"
    extract = ["extract", "--no-location", "-F", str(ROOT / "babel.cfg"), "-k", "_l", "-o", str(template)]
    CommandLineInterface().run(["pybabel", "-q", *extract, str(ROOT)])
    with template.open("rb") as f:
        wanted = {m.id if isinstance(m.id, str) else tuple(m.id) for m in read_po(f) if m.id}
    with CATALOGUE.open("rb") as f:
        catalogue = {m.id if isinstance(m.id, str) else tuple(m.id): m for m in read_po(f) if m.id}
    assert len(wanted) > 100  # the extraction found the templates, not just the Python code
    assert sorted(map(str, wanted - set(catalogue))) == [], "in the code but not in messages.po"
    untranslated = [str(key) for key in wanted if not all(_strings(catalogue[key]))]
    assert untranslated == [], "without Spanish"
    assert [str(key) for key in wanted if catalogue[key].fuzzy] == [], "fuzzy"
    # No placeholder the English lacks, or a page fails at render time; a singular may leave out the count.
    for key in wanted:
        english = set(re.findall(r"%\(\w+\)s", " ".join([key] if isinstance(key, str) else key)))
        for translated in _strings(catalogue[key]):
            assert set(re.findall(r"%\(\w+\)s", translated)) <= english, key


def _strings(message) -> list[str]:
    return [message.string] if isinstance(message.string, str) else list(message.string)


def test_the_catalogue_is_compiled(app):
    """The app compiles it as it starts; without the .mo the Spanish pages would be English."""
    assert CATALOGUE.with_suffix(".mo").exists()
    assert "Pida una consulta" in app.test_client().get("/es/").get_data(as_text=True)


@pytest.fixture
def translations(tmp_path, monkeypatch):
    """A copy of the catalogues, without the compiled one, for the app's start-up to find."""
    copy = tmp_path / "translations"
    shutil.copytree(CATALOGUE.parent.parent.parent, copy, ignore=shutil.ignore_patterns("*.mo"))
    monkeypatch.setattr(i18n, "TRANSLATIONS", copy)
    return copy / "es" / "LC_MESSAGES"


def test_a_missing_or_older_catalogue_is_compiled_at_start_up_and_a_fresh_one_kept(tmp_path, translations):
    assert i18n.compiled_catalogues(tmp_path / "instance") == translations.parent.parent
    mo = translations / "messages.mo"
    with mo.open("rb") as fh:
        assert read_mo(fh).get("Privacy notice").string == "Aviso de privacidad"
    compiled = mo.stat().st_mtime_ns
    i18n.compiled_catalogues(tmp_path / "instance")
    assert mo.stat().st_mtime_ns == compiled  # fresh: left alone
    po = translations / "messages.po"
    po.write_text(
        po.read_text(encoding="utf-8").replace('"Aviso de privacidad"', '"Aviso de privacidad (nuevo)"')
    )
    os.utime(po, ns=(compiled + 10**9, compiled + 10**9))
    i18n.compiled_catalogues(tmp_path / "instance")
    with mo.open("rb") as fh:
        assert read_mo(fh).get("Privacy notice").string == "Aviso de privacidad (nuevo)"


def test_a_package_folder_the_app_cannot_write_has_its_catalogue_compiled_into_instance(
    tmp_path, translations
):
    # Where the compiled file would be written first is taken (a read-only install refuses it the same way).
    (translations / f".messages.mo.{os.getpid()}").mkdir()
    folder = i18n.compiled_catalogues(tmp_path / "instance")
    assert folder == tmp_path / "instance" / "translations"
    with (folder / "es" / "LC_MESSAGES" / "messages.mo").open("rb") as fh:
        assert read_mo(fh).get("Privacy notice").string == "Aviso de privacidad"


def test_without_spanish_messages_start_up_stops_with_a_clear_message(tmp_path, translations):
    po = translations / "messages.po"
    header = po.read_text(encoding="utf-8").split("\n\n", 1)[0]
    po.write_text(header + "\n")  # a catalogue that translates nothing
    with pytest.raises(i18n.CatalogueMissing, match="translates nothing"):
        i18n.compiled_catalogues(tmp_path / "instance")
    po.unlink()
    (translations / "messages.mo").unlink()
    with pytest.raises(i18n.CatalogueMissing, match=r"catalogue is missing .*messages\.po"):
        create_app(make_config(f"sqlite:///{tmp_path / 'x.sqlite3'}", tmp_path))


@pytest.mark.slow
def test_a_checkout_served_by_gunicorn_without_make_shows_spanish(tmp_path, started):
    """As the common way has it: `pip install -r requirements.txt` (this environment), `flask db upgrade`,
    `gunicorn wsgi:app`, from a checkout whose compiled catalogue was never built."""
    from processes import flask_command, process_env, request

    checkout = tmp_path / "checkout"
    for folder in ("microsite", "templates", "static", "migrations"):
        shutil.copytree(
            ROOT / folder, checkout / folder, ignore=shutil.ignore_patterns("*.mo", "__pycache__")
        )
    for name in ("wsgi.py", "gunicorn.conf.py", "requirements.txt"):
        shutil.copy(ROOT / name, checkout / name)
    assert not list(checkout.rglob("*.mo"))
    env = process_env(OUTBOX_INLINE="false")
    flask_command(["db", "upgrade"], env, cwd=checkout)
    server = started.gunicorn(env, workers=1, threads=2, cwd=checkout)
    server.wait_listening()
    page = request(server.port, "GET", "/es/")
    assert page.status == 200 and '<html lang="es">' in page.body
    assert "Pida una consulta" in page.body and "Enviar mi solicitud" in page.body
    assert "Send my request" not in page.body


def test_no_english_text_is_left_on_the_spanish_pages(client):
    for path in SPANISH_PUBLIC:
        text = text_of(client.get(path).get_data(as_text=True))
        for english in LEFT_IN_ENGLISH:
            assert english not in text, (path, english)


def test_config_is_read_once_per_language(tmp_path):
    """Two apps in one process (the tests' own case) each render their Spanish in Spanish."""
    for n in range(2):
        app = create_app(make_config(f"sqlite:///{tmp_path / f'{n}.sqlite3'}", tmp_path))
        assert "Pida una consulta" in app.test_client().get("/es/").get_data(as_text=True)
