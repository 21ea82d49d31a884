"""POST /consultation: valid requests become one lead; invalid ones change nothing."""

import re

import pytest
from conftest import SITE_URL, browser_headers, hidden_fields, submit, text_of, valid_data
from sqlalchemy import func, select

from microsite.extensions import db
from microsite.models import Lead, Notification, NotificationStatus

# On SQLite; on PostgreSQL too where what is stored, and once, is the point (a double click, the same
# request again). The fields' checks and attribution's parsing come before SQL.


def lead_count(app) -> int:
    with app.app_context():
        return db.session.scalar(select(func.count()).select_from(Lead))


def only_lead(app) -> Lead:
    with app.app_context():
        leads = db.session.scalars(select(Lead)).all()
        assert len(leads) == 1
        db.session.expunge_all()
        return leads[0]


@pytest.mark.parametrize("office", ["bradenton", "sarasota"])
@pytest.mark.both_databases
def test_valid_request_is_stored_with_its_notification(client, app, office):
    response = submit(client, location=office)
    assert response.status_code == 303
    assert response.headers["Location"] == "/thanks"
    with app.app_context():
        lead = db.session.scalars(select(Lead)).one()
        assert lead.location == office
        assert lead.full_name == "Maria Example"
        assert lead.phone == "+19415550123"  # normalised to E.164
        assert lead.email == "maria@example.com"
        assert lead.contact_method == "phone"
        assert lead.best_time == "morning"
        assert lead.status == "new"
        assert lead.consent_text == app.extensions["clinic"].consent_text
        assert lead.consent_version == app.extensions["clinic"].consent_version
        assert lead.consent_at is not None and lead.consent_at.tzinfo is not None
        assert lead.landing_path == "/"
        [notification] = lead.notifications
        assert notification.status == NotificationStatus.PENDING


def test_attribution_comes_from_the_page_the_form_was_sent_from(client, app):
    """Campaign tags and landing page from the POST's Referer; the search engine from site.js's field."""
    path = "/ketamine-therapy-sarasota?utm_source=google&utm_medium=organic&utm_campaign=winter"
    page = client.get(path)
    fields = hidden_fields(page.get_data(as_text=True))
    fields["referrer"] = "https://www.google.com"  # what site.js copies from document.referrer
    response = client.post(
        "/consultation", data={**fields, **valid_data(location="sarasota")}, headers=browser_headers(path)
    )
    assert response.status_code == 303
    lead = only_lead(app)
    assert (lead.utm_source, lead.utm_medium, lead.utm_campaign) == ("google", "organic", "winter")
    assert lead.referrer == "https://www.google.com"
    assert lead.landing_path == "/ketamine-therapy-sarasota"


def test_only_the_referring_sites_origin_is_kept(client, app):
    response = submit(client, referrer="https://www.google.com/search?q=ketamine+depression+sarasota")
    assert response.status_code == 303
    assert only_lead(app).referrer == "https://www.google.com"


def test_without_javascript_or_referer_the_lead_is_stored_without_attribution(client, app):
    headers = {"Sec-Fetch-Site": "same-origin"}  # a browser with Referer switched off, no script
    assert client.post("/consultation", data=valid_data(), headers=headers).status_code == 303
    lead = only_lead(app)
    assert (lead.utm_source, lead.referrer, lead.landing_path) == (None, None, None)


def test_another_sites_referer_is_not_taken_for_a_landing_page(client, app):
    headers = {"Origin": SITE_URL, "Referer": "https://elsewhere.example/?utm_source=fake"}
    assert client.post("/consultation", data=valid_data(), headers=headers).status_code == 303
    lead = only_lead(app)
    assert lead.utm_source is None and lead.landing_path is None


def test_a_form_shown_again_keeps_the_landing_page_for_the_next_send(client, app):
    path = "/ketamine-therapy-bradenton?utm_source=newsletter&utm_campaign=fall"
    first = client.post("/consultation", data=valid_data(phone="12"), headers=browser_headers(path))
    assert first.status_code == 422
    fields = hidden_fields(first.get_data(as_text=True))
    assert fields["landing"] == path
    # The next POST's Referer is /consultation: the hidden field carries the landing page on.
    again = client.post(
        "/consultation", data={**fields, **valid_data()}, headers=browser_headers("/consultation")
    )
    assert again.status_code == 303
    lead = only_lead(app)
    assert (lead.utm_source, lead.utm_campaign, lead.landing_path) == (
        "newsletter", "fall", "/ketamine-therapy-bradenton"
    )  # fmt: skip


def test_optional_fields_may_be_left_out(client, app):
    assert submit(client, best_time="", message="").status_code == 303
    lead = only_lead(app)
    assert lead.best_time is None and lead.message is None


INVALID = [
    ("full_name", "", "Please enter your name."),
    ("full_name", "x" * 101, "Please shorten your name to 100 characters or fewer."),
    ("full_name", "Maria\x07Example", "Please remove the special or invisible characters"),
    ("phone", "12345", "Please enter a phone number with its area code"),
    ("phone", "", "Please enter a phone number we can call you on."),
    ("email", "not-an-email", "Please enter an email address like name@example.com."),
    ("email", "a@example.com, b@example.com", "Please enter an email address like name@example.com."),
    ("email", '"x" <evil@example.com>', "Please enter an email address like name@example.com."),
    ("location", "tampa", "Not a valid choice"),
    ("location", None, "Please choose the Bradenton or the Sarasota office."),
    ("contact_method", "pigeon", "Not a valid choice"),
    ("best_time", "midnight", "Not a valid choice"),
    ("message", "x" * 2001, "Please shorten your message to 2,000 characters or fewer."),
    ("consent", None, "Please tick this box so that we may contact you."),
]


@pytest.mark.parametrize("field,value,message", INVALID)
def test_invalid_field_is_422_with_values_kept_and_nothing_stored(client, app, field, value, message):
    response = submit(client, **{field: value})
    assert response.status_code == 422
    html = response.get_data(as_text=True)
    assert message in html
    # The message sits next to the field, and the field points at it.
    assert f'id="{field}-error"' in html
    assert re.search(rf'aria-describedby="[^"]*{field}-error', html)
    assert 'aria-invalid="true"' in html
    # An error summary at the top links to the field.
    assert 'class="error-summary"' in html
    assert re.search(rf'<a href="#{field}(-0)?">', html)
    # Every other value the visitor typed is still there.
    if field != "full_name":
        assert 'value="Maria Example"' in html
    if field != "message":
        assert "I have tried two antidepressants." in html
    assert lead_count(app) == 0


def test_every_wrong_field_gets_its_own_message(client, app):
    response = submit(client, full_name="", phone="12", email="nope", consent=None)
    assert response.status_code == 422
    html = response.get_data(as_text=True)
    for field in ["full_name", "phone", "email", "consent"]:
        assert f'id="{field}-error"' in html
    assert "Please check these 4 answers" in html
    assert lead_count(app) == 0


@pytest.mark.both_databases
def test_double_click_stores_one_lead_and_thanks_both_clicks(client, app):
    page = client.get("/")
    fields = hidden_fields(page.get_data(as_text=True))
    first = client.post("/consultation", data={**fields, **valid_data()}, headers=browser_headers())
    second = client.post("/consultation", data={**fields, **valid_data()}, headers=browser_headers())
    assert first.status_code == second.status_code == 303
    assert second.headers["Location"] == "/thanks"
    with app.app_context():
        assert db.session.scalar(select(func.count()).select_from(Lead)) == 1
        assert db.session.scalar(select(func.count()).select_from(Notification)) == 1


@pytest.mark.both_databases
def test_back_and_send_again_from_another_page_is_still_one_lead(client, app):
    """Whatever else the form carries (another page, a JavaScript field, a best time), the same request
    (office, phone, email, message) within the hour is one lead."""
    assert submit(client, "/").status_code == 303
    again = submit(client, "/ketamine-therapy-bradenton", best_time="any", elapsed="40.2", referrer="")
    assert again.status_code == 303
    assert lead_count(app) == 1


@pytest.mark.parametrize(
    "change",
    [{"location": "sarasota"}, {"phone": "941-555-0177"}, {"email": "other@example.com"},
     {"message": "Another question."}],
)  # fmt: skip
@pytest.mark.both_databases
def test_a_different_request_from_the_same_person_is_a_new_lead(client, app, change):
    assert submit(client).status_code == 303
    assert submit(client, **change).status_code == 303
    assert lead_count(app) == 2


@pytest.mark.both_databases
def test_the_same_request_after_the_hour_is_a_new_lead(client, app):
    from datetime import timedelta

    from sqlalchemy import update

    from microsite.database import writing
    from microsite.models import utcnow

    assert submit(client).status_code == 303
    with app.app_context(), writing() as session:
        session.execute(update(Lead).values(created_at=utcnow() - timedelta(minutes=61)))
    assert submit(client).status_code == 303
    assert lead_count(app) == 2


@pytest.mark.parametrize("name", ["José Ñúñez", "李小龙", "O'Brien", "Zoë Ångström-Łukasz"])
@pytest.mark.both_databases
def test_unicode_names_round_trip(client, app, name):
    assert submit(client, full_name=name).status_code == 303
    assert only_lead(app).full_name == name


@pytest.mark.both_databases
def test_script_in_the_message_is_stored_as_typed_and_escaped_when_shown(client, app):
    script = "<script>alert('x')</script>"
    response = submit(client, message=script, phone="12")  # invalid, so the form is shown again
    assert response.status_code == 422
    html = response.get_data(as_text=True)
    assert script not in html
    assert "&lt;script&gt;" in html
    assert submit(client, message=script).status_code == 303
    assert only_lead(app).message == script


def test_the_flow_needs_no_javascript(client):
    """The form posts as plain HTML: no field is filled in by script."""
    html = client.get("/").get_data(as_text=True)
    form = html[html.index('<form id="consultation"') : html.index("</form>")]
    assert "<script" not in form
    assert text_of(form).count("Send my request") == 1


@pytest.mark.parametrize(
    "sent,stored", [("es", "es"), ("en", "en"), (None, "en"), ("fr", "en"), ("es\n", "en")]
)
def test_a_lead_records_the_language_of_its_page(client, app, sent, stored):
    assert submit(client, language=sent).status_code == 303
    assert only_lead(app).language == stored
