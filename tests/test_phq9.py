"""The PHQ-9 self-check without a browser: its wording held to the validated text, its scoring, the public
page, the result without JavaScript (no row, no log line), and a self-check sent with a request (stored,
its email, webhook, CSV, staff pages). The browser's side is tests/test_phq9_browser.py.
"""

from __future__ import annotations

import csv
import io
import logging
import os
import re
from html.parser import HTMLParser
from pathlib import Path

import pytest
from conftest import SITE_URL, add_staff, browser_headers, hidden_fields, staff_login, submit, text_of
from sqlalchemy import func, inspect, select, text

from microsite.content import phq9
from microsite.extensions import db
from microsite.leads.notifications import lead_data
from microsite.leads.service import urgent
from microsite.models import Lead
from microsite.notify.outbox import run_once

ROOT = Path(__file__).resolve().parent.parent
# A verbatim copy of SOURCES.md's PHQ-9 section, so the suite runs from a clone that has no ../shared/;
# test_the_copy_is_the_sources_section holds the copy to SOURCES.md wherever that is found.
COPY = Path(__file__).with_name("phq9_validated.md")
SOURCES_MD = [Path(os.environ["SOURCES_MD"])] if os.environ.get("SOURCES_MD") else [
    ROOT.parent / "shared" / "SOURCES.md", ROOT.parent.parent / "shared" / "SOURCES.md"]  # fmt: skip
SECTION = "## The PHQ-9 self-check"

# q1..q9 = 0,1,2,3,0,1,2,3,0 (total 12, moderate), then the difficulty 1.
CODE = "0123012301"


def flat(value: str) -> str:
    return " ".join(value.split())


def validated(section: str) -> dict[str, dict]:
    """The questionnaire in each language as SOURCES.md states it: stem, items, the answers to an item
    (from its scoring paragraph), the difficulty question with its answers, the attribution."""
    whole = flat(section)

    def between(start: str, end: str) -> str:
        i = whole.index(start) + len(start)
        return whole[i : whole.index(end, i)]

    def items(after: str) -> list[str]:
        block = section[section.index(after) :]
        return re.findall(r"^\d\. (.+)$", block[: block.index("Then:")], re.M)

    pairs = re.findall(r"\d \(([^/)]+) / ([^)]+)\)", between("Scoring: each of items 1–9 is ", "; the total"))
    spanish = 'Spanish (US), "Cuestionario sobre la salud del paciente-9 (PHQ-9)": "'
    return {
        "en": {
            "stem": between('English (US): "', '"'),
            "items": items("English (US):"),
            "options": [english.strip() for english, _ in pairs],
            "difficulty": between('Then: "', '"'),
            "difficulty_options": between('other people?" ', ".").split(" / "),
            "attribution": re.search(r"Developed by .*?Pfizer Inc\.", whole).group(0),
        },
        "es": {
            "stem": between(spanish, '"'),
            "items": items(spanish),
            "options": [spanish.strip() for _, spanish in pairs],
            "difficulty": "Si marcó" + between('"Si marcó', '"'),
            "difficulty_options": between('otras personas?" ', ". Attribution").split(" / "),
            "attribution": between('Attribution in Spanish: "', '"'),
        },
    }


VALIDATED = validated(COPY.read_text(encoding="utf-8"))


def test_the_copy_is_the_sources_section():
    found = [path for path in SOURCES_MD if path.exists()]
    if not found:
        pytest.skip("SOURCES.md is not beside this clone (set SOURCES_MD to its path)")
    sources = found[0].read_text(encoding="utf-8")
    assert sources[sources.index(SECTION) :] == COPY.read_text(encoding="utf-8")


def test_the_parsed_source_has_the_whole_questionnaire():
    """The parser found every line, so a test comparing with it compares something."""
    for language, form in VALIDATED.items():
        assert len(form["items"]) == 9 and len(form["options"]) == 4, language
        assert len(form["difficulty_options"]) == 4, language
    assert (
        VALIDATED["en"]["items"][8]
        == "Thoughts that you would be better off dead or of hurting yourself in some way"
    )
    assert VALIDATED["es"]["options"][3] == "casi todos los días"


class _Questionnaire(HTMLParser):
    """What the page shows for each question: its legend's item text (`.phq9-text`), its choices' labels."""

    def __init__(self):
        super().__init__()
        self.groups: dict[str, dict] = {}
        self.stem = self.attribution = ""
        self._group = self._into = None

    def handle_starttag(self, tag, attrs):
        a = dict(attrs)
        classes = (a.get("class") or "").split()
        if tag == "template":
            self._into = "skip"
        elif self._into == "skip":
            return
        elif tag == "fieldset" and "phq9-item" in classes:
            self._group = self.groups.setdefault(a["id"], {"text": "", "options": []})
        elif tag == "span" and "phq9-text" in classes:
            self._into = "text"
        elif tag == "label" and self._group is not None:
            self._group["options"].append("")
            self._into = "option"
        elif tag == "p" and "phq9-stem" in classes:
            self._into = "stem"
        elif tag == "p" and "phq9-attribution" in classes:
            self._into = "attribution"

    def handle_endtag(self, tag):
        if tag == "template":
            self._into = None
        elif self._into == "skip":
            return
        elif tag == "fieldset":
            self._group = None
        elif (tag, self._into) in {
            ("span", "text"),
            ("label", "option"),
            ("p", "stem"),
            ("p", "attribution"),
        }:
            self._into = None

    def handle_data(self, data):
        if self._into == "text":
            self._group["text"] += data
        elif self._into == "option":
            self._group["options"][-1] += data
        elif self._into == "stem":
            self.stem += data
        elif self._into == "attribution":
            self.attribution += data


def shown(html: str) -> _Questionnaire:
    parser = _Questionnaire()
    parser.feed(html)
    return parser


@pytest.mark.parametrize("path,language", [("/phq-9", "en"), ("/es/phq-9", "es")])
def test_the_page_shows_the_validated_wording_word_for_word(client, path, language):
    """Every item, the stem, the difficulty question and the answers, read from the page, are the validated
    text. The answers have a capital first letter, as the printed forms have them; nothing else differs."""
    page = shown(client.get(path).get_data(as_text=True))
    source = VALIDATED[language]
    assert flat(page.stem) == source["stem"]
    assert [flat(page.groups[f"q{n}"]["text"]) for n in range(1, 10)] == source["items"]
    for n in range(1, 10):
        labels = [flat(label) for label in page.groups[f"q{n}"]["options"]]
        assert labels == [option[0].upper() + option[1:] for option in source["options"]], n
    assert flat(page.groups["difficulty"]["text"]) == source["difficulty"]
    assert [flat(label) for label in page.groups["difficulty"]["options"]] == source["difficulty_options"]
    assert flat(page.attribution).startswith(source["attribution"])
    assert "606–613" in page.attribution and "10.1046/j.1525-1497.2001.016009606.x" in page.attribution


@pytest.mark.parametrize("path", ["/phq-9", "/es/phq-9"])
def test_each_question_is_one_radio_group_named_for_the_contract(client, path):
    html = client.get(path).get_data(as_text=True)
    form = html[html.index('<form id="phq9-form"') : html.index("</form>")]
    for name in [*phq9.ITEM_NAMES, "difficulty"]:
        radios = re.findall(rf'<input type="radio" id="{name}-(\d)" name="{name}" value="(\d)"', form)
        assert radios == [(v, v) for v in "0123"], name
        assert form.count(f'<fieldset class="field phq9-item" id="{name}">') == 1
    assert form.count("<legend>") == 10


# -- scoring ----------------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    "total,band",
    [(0, "minimal"), (4, "minimal"), (5, "mild"), (9, "mild"), (10, "moderate"), (14, "moderate"),
     (15, "moderately severe"), (19, "moderately severe"), (20, "severe"), (27, "severe")],
)  # fmt: skip
def test_the_bands_are_kroenke_2001s(total, band):
    assert phq9.band_of(total) == band


@pytest.mark.parametrize(
    "code,items,difficulty,total,crisis",
    [("0123012301", (0, 1, 2, 3, 0, 1, 2, 3, 0), 1, 12, False), ("000000001", (0,) * 8 + (1,), None, 1, True),
     ("3333333333", (3,) * 9, 3, 27, True)],
)  # fmt: skip
def test_a_code_holds_the_answers(code, items, difficulty, total, crisis):
    answers = phq9.parse(code)
    assert (answers.items, answers.difficulty, answers.total, answers.crisis) == (
        items,
        difficulty,
        total,
        crisis,
    )
    assert answers.code == code


@pytest.mark.parametrize("code", ["9999", "", "01230123", "01230123012", "0123012304", "4123012301",
                                  "012301230a", " 012301230", "012301230\n",
                                  "０１２３０１２３０"])  # fmt: skip
def test_anything_else_is_not_a_code(code):
    assert phq9.parse(code) is None


# -- the public page and the result without JavaScript ----------------------------------------------------


def test_the_page_is_linked_from_the_article_each_office_and_the_form(client):
    for path, target in [("/", "/phq-9"), ("/ketamine-therapy-bradenton", "/phq-9"),
                         ("/ketamine-therapy-sarasota", "/phq-9"), ("/es/", "/es/phq-9")]:  # fmt: skip
        html = client.get(path).get_data(as_text=True)
        article = html[: html.index('<section class="consultation"')]
        section = html[html.index('<section class="consultation"') :]
        for part in (article, section):
            assert f'href="{target}">' in part and (
                "Not sure? A two-minute self-check" in part
                or "¿Tiene dudas? Una autoevaluación de dos minutos" in part
            ), path


def counts(app) -> dict[str, int]:
    """Rows in every table."""
    with app.app_context():
        tables = inspect(db.engine).get_table_names()
        with db.engine.connect() as connection:
            return {t: connection.scalar(text(f"SELECT count(*) FROM {t}")) for t in tables}


def answers_of(code: str) -> dict[str, str]:
    data = {f"q{n}": code[n - 1] for n in range(1, 10)}
    if len(code) == 10:
        data["difficulty"] = code[9]
    return data


def test_the_result_without_javascript_is_shown_and_kept_nowhere(app, client, caplog):
    caplog.set_level(logging.DEBUG)
    before = counts(app)
    response = client.post("/phq-9", data=answers_of(CODE), headers=browser_headers("/phq-9"))
    assert response.status_code == 200
    assert response.headers["Cache-Control"] == "no-store"
    assert not response.headers.getlist("Set-Cookie")
    page = text_of(response.get_data(as_text=True))
    assert "Your score: 12 out of 27, moderate" in page
    assert "This is a screening, not a diagnosis." in page and "Talk to your doctor" in page
    assert "You said you have had thoughts" not in page  # item 9 was "Not at all"
    # The consultation form, carrying the answers for the visitor to send if they choose.
    assert hidden_fields(response.get_data(as_text=True))["phq9"] == CODE
    assert "PHQ-9 score 12 out of 27" in page
    assert counts(app) == before
    logged = " ".join(f"{r.getMessage()} {r.args}" for r in caplog.records)
    assert CODE not in logged and "q1" not in logged and "phq9=" not in logged


def test_item_9_above_0_puts_the_crisis_notice_first_without_javascript(client):
    for code, path in [("0000000010", "/phq-9"), ("000000003", "/es/phq-9")]:
        html = client.post(path, data=answers_of(code), headers=browser_headers(path)).get_data(as_text=True)
        result = html[html.index('<div class="phq9-result"') :]
        crisis, score = result.index('class="phq9-crisis"'), result.index('class="phq9-score"')
        assert crisis < score
        assert 'href="tel:988"' in result[crisis:score] and "911" in result[crisis:score]
    assert "marque 2" in html and "AYUDA" in html  # the Spanish: press 2, or text AYUDA


def test_questions_left_out_come_back_with_the_answers_kept_and_the_crisis_notice_first(app, client):
    before = counts(app)
    response = client.post("/phq-9", data={"q9": "1", "q2": "3"}, headers=browser_headers("/phq-9"))
    assert response.status_code == 422 and response.headers["Cache-Control"] == "no-store"
    html = response.get_data(as_text=True)
    main = html[html.index("<main") :]
    assert main.index('class="phq9-crisis"') < main.index('id="error-summary"')
    assert re.findall(r'<a href="#q(\d)-0">', main) == ["1", "3", "4", "5", "6", "7", "8"]
    assert 'id="q9-1" name="q9" value="1" checked' in html and 'id="q2-3" name="q2" value="3" checked' in html
    assert "noindex" in html and 'rel="canonical"' not in html
    assert counts(app) == before


def test_another_sites_post_is_refused_and_an_unvouched_one_asks_for_a_token(client):
    """The result stores nothing, but another site could still show a visitor a "result" of its making:
    the POST gets the same cross-origin check as every other."""
    assert (
        client.post("/phq-9", data=answers_of(CODE), headers={"Sec-Fetch-Site": "cross-site"}).status_code
        == 403
    )
    assert (
        client.post("/phq-9", data=answers_of(CODE), headers={"Origin": "https://evil.example"}).status_code
        == 403
    )
    response = client.post("/phq-9", data=answers_of(CODE))  # neither header: an old browser, or a script
    assert response.status_code == 400
    html = response.get_data(as_text=True)
    fields = hidden_fields(html)
    assert fields["csrf_token"] and 'id="q4-3" name="q4" value="3" checked' in html
    again = client.post("/phq-9", data={**answers_of(CODE), "csrf_token": fields["csrf_token"]})
    assert again.status_code == 200 and "Your score: 12 out of 27" in text_of(again.get_data(as_text=True))


# -- sent with a request ----------------------------------------------------------------------------------


def latest(app) -> Lead:
    with app.app_context():
        lead = db.session.scalars(select(Lead).order_by(Lead.id.desc())).first()
        db.session.expunge_all()
        return lead


@pytest.mark.both_databases
def test_a_request_with_the_answers_stores_them_and_its_email_says_total_and_band(app, client, runner, smtp):
    assert submit(client, phq9=CODE).status_code == 303
    lead = latest(app)
    assert (lead.phq9_items, lead.phq9_total, lead.phq9_band, lead.phq9_difficulty) == (
        "012301230",
        12,
        "moderate",
        1,
    )
    assert lead.phq9.code == CODE
    assert submit(client, phone="(941) 555-0199", email="other@example.com").status_code == 303
    assert latest(app).phq9_items is None and latest(app).phq9_total is None
    with app.app_context():
        run_once()
    with_answers = next(m for m in smtp.messages if m["X-Lead-Id"] == str(lead.id))
    body = with_answers.get_body(("plain",)).get_content()
    assert "PHQ-9: 12 (moderate)" in body
    assert "PHQ-9: 12 (moderate)" in text_of(with_answers.get_body(("html",)).get_content())
    assert "012301230" not in body and "Nearly every day" not in body  # total and band only
    assert not with_answers["Subject"].startswith("URGENT")
    without = next(m for m in smtp.messages if m["X-Lead-Id"] != str(lead.id))
    assert "PHQ-9" not in without.get_body(("plain",)).get_content()


@pytest.mark.parametrize(
    "page,thanks,code",
    [("/", "/thanks/support", "0000000010"), ("/es/", "/es/gracias/apoyo", "3333333333")],
)
def test_item_9_above_0_makes_the_request_urgent_like_crisis_words(app, client, smtp, page, thanks, code):
    """The same decision as crisis words in the message (leads/service.py `urgent`): URGENT first in the
    staff email's Subject, and the thank-you page that begins with the crisis lines."""
    response = submit(client, page, phq9=code, message="")
    assert response.status_code == 303 and response.headers["Location"] == thanks
    lead = latest(app)
    assert lead.urgent and lead.phq9.crisis
    with app.app_context():
        run_once()
    [email] = smtp.messages
    assert email["Subject"].startswith("URGENT: ")
    assert f"PHQ-9: {lead.phq9_total} ({lead.phq9_band})" in email.get_body(("plain",)).get_content()


@pytest.mark.parametrize(
    "items,message,expected",
    [
        (None, "", False),
        ("012301230", "I have tried two antidepressants.", False),
        ("000000001", "", True),
        ("000000003", None, True),
        (None, "I want to end my life.", True),
    ],
)
def test_urgent_is_item_9_above_0_or_crisis_words(app, items, message, expected):
    with app.app_context():
        assert urgent({"message": message, "phq9_items": items}, app.extensions["clinic"]) is expected


@pytest.mark.parametrize(
    "value", ["9999", "01230123", "0123012304", "01230123011", "abcdefghi", "0123 12301"]
)
def test_anything_else_in_the_field_is_a_422_that_stores_nothing(app, client, value):
    before = counts(app)
    response = submit(client, phq9=value)
    assert response.status_code == 422
    html = response.get_data(as_text=True)
    assert "We could not read the self-check answers sent with this request" in text_of(html)
    assert '<a href="#phq9">' in html  # the summary links to the message
    assert hidden_fields(html)["phq9"] == ""  # left out: Send again goes without them
    assert 'value="Maria Example"' in html
    assert counts(app) == before


def test_the_minimal_email_carries_nothing_of_it(app, client, smtp):
    app.config["LEAD_EMAIL_DETAIL"] = "minimal"
    assert submit(client, phq9=CODE).status_code == 303
    with app.app_context():
        run_once()
    [message] = smtp.messages
    content = message.get_body(("plain",)).get_content() + message.get_body(("html",)).get_content()
    assert "PHQ-9" not in content and "moderate" not in content


@pytest.mark.parametrize("detail", ["minimal", "full"])
def test_the_webhook_carries_total_and_band_only_when_full(app, client, detail):
    assert submit(client, phq9=CODE).status_code == 303
    app.config["WEBHOOK_DETAIL"] = detail
    with app.app_context():
        data = lead_data(db.session.get(Lead, latest(app).id))
    if detail == "full":
        assert (data["phq9_total"], data["phq9_band"]) == (12, "moderate")
    else:
        assert not any(key.startswith("phq9") for key in data)
    assert "012301230" not in str(data) and "phq9_items" not in data


@pytest.fixture
def staff_client(app, client):
    """A manager, logged in with the password and the authenticator code."""
    with app.app_context():
        add_staff("staff@example.com")
    assert staff_login(client, "staff@example.com").status_code == 303
    return client


def test_staff_see_the_answers_on_the_lead_page_marked_in_the_inbox_and_counted_by_band(app, staff_client):
    submit(staff_client, phq9="3333333333")
    crisis = latest(app).id
    submit(staff_client, phq9=CODE, phone="(941) 555-0177", email="b@example.com")
    plain = latest(app).id
    submit(staff_client, phone="(941) 555-0178", email="c@example.com")

    page = text_of(staff_client.get(f"/staff/leads/{plain}").get_data(as_text=True))
    assert "PHQ-9 self-check: 12 of 27 (moderate)" in page
    assert "Trouble falling or staying asleep, or sleeping too much More than half the days (2)" in page
    assert "Extremely difficult" not in page and "Somewhat difficult" in page
    assert "Item 9 answered above 0" not in page
    assert "Item 9 answered above 0" in text_of(
        staff_client.get(f"/staff/leads/{crisis}").get_data(as_text=True)
    )

    inbox = staff_client.get("/staff/").get_data(as_text=True)
    assert inbox.count('class="tag tag--phq9"') == 2
    assert "PHQ-9 27, severe" in inbox and "PHQ-9 12, moderate" in inbox

    exported = list(
        csv.DictReader(
            io.StringIO(staff_client.get("/staff/leads.csv").get_data(as_text=True).lstrip("\ufeff"))
        )
    )
    assert [(row["phq9_total"], row["phq9_band"]) for row in exported] == [
        ("", ""),
        ("12", "moderate"),
        ("27", "severe"),
    ]
    assert not any(key == "phq9_items" for key in exported[0])

    dashboard = staff_client.get("/staff/dashboard").get_data(as_text=True)
    assert "2 requests in all" in text_of(dashboard)
    table = re.search(
        r"<caption>Requests sent with a PHQ-9 self-check, by band</caption>(.*?)</table>", dashboard, re.S
    )
    bands = ["minimal", "0", "mild", "0", "moderate", "1", "moderately", "severe", "0", "severe", "1"]
    assert text_of(table.group(1)).split() == bands


@pytest.mark.parametrize("path", ["/privacy", "/es/privacidad"])
def test_the_privacy_notice_says_what_the_self_check_keeps(client, path):
    page = text_of(client.get(path).get_data(as_text=True))
    if path == "/privacy":
        for words in ["the self-check works out your score on the page itself", "keeps nothing",
                      "Send my answers with a consultation request", "your nine answers",
                      "the total score and its severity band", "holds only your total score and its band",
                      "is marked urgent", "deleted with it", "for this tab only"]:  # fmt: skip
            assert words in page, words
    else:
        assert "Ningún día" in page and "solo en esta pestaña" in page
    assert 'id="self-check"' in client.get(path).get_data(as_text=True)


def test_the_sitemap_lists_the_self_check_in_both_languages(client):
    sitemap = client.get("/sitemap.xml").get_data(as_text=True)
    for path in ["/phq-9", "/es/phq-9"]:
        assert f"<loc>{SITE_URL}{path}</loc>" in sitemap


def test_a_view_of_the_self_check_is_counted_by_its_path(app, client):
    from microsite.models import PageViewCount

    headers = {"Sec-Fetch-Site": "same-origin"}
    assert client.post("/v", data={"path": "/phq-9"}, headers=headers).status_code == 204
    with app.app_context():
        assert (
            db.session.scalar(select(func.sum(PageViewCount.views)).where(PageViewCount.path == "/phq-9"))
            == 1
        )
