"""Say only what the studies show: the article, its sources, the privacy notice and the promises.

Each test names the item it keeps fixed. The clinic's own facts (prices, Spravato, reviewer, legal name,
privacy contact) come from the data file and show only when it gives them, so those tests write a
variant of the shipped file into tmp_path.
"""

from __future__ import annotations

import re
from datetime import date
from html.parser import HTMLParser
from pathlib import Path

import pytest
import textstat
from conftest import make_config, text_of

from microsite import create_app
from microsite.config import DEFAULT_CLINIC_FILE
from microsite.content.article import ARTICLE_FILE, load_article
from microsite.content.clinic import load_clinic

ROOT = Path(__file__).resolve().parent.parent
ARTICLE_PAGES = ["/", "/ketamine-therapy-bradenton", "/ketamine-therapy-sarasota"]
PUBLIC_PAGES = [*ARTICLE_PAGES, "/thanks", "/privacy", "/phq-9"]
# The seed's four headings, kept word for word.
SEED_HEADINGS = [
    "The Role of NMDA Receptors",
    "Glutamate and Neuroplasticity",
    "Neuroplastic Effects of Ketamine",
    "Insights from Recent Studies",
]
# Claims the FTC's Health Products Compliance Guidance and Florida's rule 64B8-11.001 treat as needing
# proof, and the seed's promotional phrases.
PROMOTIONAL = [
    "groundbreaking",
    "effective results",
    "transform",
    "this blog",
    "long-term relief",
    "promising alternative",
    "rapid and sustained",
    "near me",
    "crucial role",
    "intriguing",
]
# PMIDs checked against a PubMed or PubMed Central record (see the article's front matter).
CHECKED_PMIDS = {"li-2010": "20724638", "fava-2020": "30283029", "anand-2023": "37224232"}
READING_GRADE_LIMIT = 8.0
# The two newest trials, with the DOIs SOURCES.md gives them.
NEW_TRIALS = {"anand-2023": ("ELEKT-D", "10.1056/NEJMoa2302399"),
              "jelovac-2025": ("KARMA-Dep 2", "10.1001/jamapsychiatry.2025.3019")}  # fmt: skip


def build(tmp_path, clinic_text: str | None = None, **config):
    """The app with the shipped clinic file, or with `clinic_text` in its place."""
    if clinic_text is not None:
        clinic_file = tmp_path / "clinic.toml"
        clinic_file.write_text(clinic_text, encoding="utf-8")
        config["CLINIC_FILE"] = str(clinic_file)
    return create_app(make_config(f"sqlite:///{tmp_path / 'content.sqlite3'}", tmp_path, **config))


def shipped_clinic() -> str:
    return DEFAULT_CLINIC_FILE.read_text(encoding="utf-8")


def uncomment(text: str, *lines: str) -> str:
    """The shipped file with some of its commented-out example lines switched on (the first of each)."""
    for line in lines:
        assert f"# {line}" in text, line
        text = text.replace(f"# {line}", line, 1)
    return text


@pytest.fixture(scope="module")
def site(tmp_path_factory):
    return build(tmp_path_factory.mktemp("content"))


@pytest.fixture(scope="module")
def landing(site) -> str:
    return site.test_client().get("/").get_data(as_text=True)


def section(html: str, heading: str) -> str:
    """The HTML from an <h2> with this text to the next <h2> (or the end of the article's prose, whose
    table sits in a <div> of its own)."""
    match = re.search(
        rf"<h2[^>]*>{re.escape(heading)}</h2>(.*?)(?=<h2|</div>\s*<(?:section|aside)|</section>|</aside>)",
        html,
        re.S,
    )
    assert match, heading
    return match.group(1)


def blocks_citing(html: str, key: str) -> list[str]:
    """The text of each paragraph or list item that cites the source `key`."""
    found = [
        text_of(b)
        for b in re.findall(r"<(?:p|li)\b[^>]*>(.*?)</(?:p|li)>", html, re.S)
        if f"#source-{key}" in b
    ]
    assert found, key
    return found


class _Blocks(HTMLParser):
    """The text of each heading, paragraph, list item and table cell, one block apiece."""

    BLOCKS = frozenset({"h1", "h2", "h3", "p", "li", "caption", "th", "td"})

    def __init__(self):
        super().__init__()
        self.blocks: list[str] = []
        self.depth = 0
        self.skip = 0

    def handle_starttag(self, tag, attrs):
        if tag == "sup":
            self.skip += 1  # a citation mark [n] is not prose
        if tag in self.BLOCKS:
            self.depth += 1
            self.blocks.append("")

    def handle_endtag(self, tag):
        if tag == "sup":
            self.skip -= 1
        if tag in self.BLOCKS:
            self.depth -= 1

    def handle_data(self, data):
        if self.depth and not self.skip:
            self.blocks[-1] += data


def key_facts(html: str) -> str:
    """The key facts box under the title."""
    return re.search(r'<aside class="key-facts".*?</aside>', html, re.S).group(0)


def article_body_blocks(html: str) -> list[str]:
    """The article's body as a reader reads it: the key facts, the prose with its table, the clinic's own
    part and the disclaimer; not the title, the table of contents or the sources list. Each block is a
    sentence or more, ended with a full stop when it has none (a heading, a list item), as textstat counts
    them."""
    start = html.index('<div class="prose">')
    end = html.index('<section class="sources"')
    parser = _Blocks()
    parser.feed(key_facts(html))
    parser.feed(html[start:end])
    blocks = [re.sub(r"\s+", " ", b).strip() for b in parser.blocks]
    return [b if b[-1] in ".?!:" else b + "." for b in blocks if b]


# -- the four sentences that said more than their studies ------------------------------


def test_murrough_2013_is_quoted_for_what_it_measured(landing):
    """Item 1: one infusion, measured at 24 hours, people followed for 7 days; never "up to two weeks"."""
    text = text_of(landing)
    assert "up to two weeks" not in text and "can last for up to" not in text
    for block in blocks_citing(landing, "murrough-2013"):
        if "73" in block and "midazolam" in block:
            assert "One day later" in block and "64 out of 100" in block and "28 out of 100" in block
            assert "7 days" in block
            break
    else:
        pytest.fail("no sentence describes the 2013 trial of 73 people")


def test_repeated_infusions_cite_the_controlled_trial_and_say_the_effect_fades(landing):
    """Item 2: Singh 2016 for the controlled result; aan het Rot 2010 as the small open series it was."""
    text = text_of(landing)
    assert "promising alternative" not in text and "could maintain" not in text
    assert any(
        "day 15" in b and "two or three times a week" in b for b in blocks_citing(landing, "singh-2016")
    )
    series = " ".join(blocks_citing(landing, "aan-het-rot-2010"))
    assert "no placebo" in series.lower() and "10 people" in series
    assert "fades after infusions stop" in text


def test_the_mechanism_is_told_as_mostly_animal_research(landing):
    """Item 3: rodent findings are not stated as facts about people; no "long-term relief"."""
    glutamate = text_of(section(landing, "Glutamate and Neuroplasticity"))
    assert "mostly in animals" in glutamate
    assert "increase in glutamate release" not in glutamate and '"reset"' not in glutamate
    assert "not been proven in people" in glutamate
    assert "how ketamine might ease depression in people is not yet clear" in text_of(landing).lower()
    neuro = text_of(section(landing, "Neuroplastic Effects of Ketamine"))
    assert "in rats" in neuro and "Results in rats do not always hold in people" in neuro
    assert "sustained" not in text_of(landing) and "long-term relief" not in text_of(landing)


def test_zarate_2006_is_a_crossover_trial_not_the_first(landing):
    """Item 4: the first placebo-controlled trial was Berman 2000; Zarate 2006 was a crossover of 18."""
    assert "first placebo-controlled" not in text_of(landing)
    research = section(landing, "Insights from Recent Studies")
    assert any(
        "18 people" in b and "one of a placebo" in b and "in random order" in b
        for b in blocks_citing(research, "zarate-2006")
    )
    listed = re.search(r'<li id="source-zarate-2006">.*?</li>', landing, re.S).group(0)
    assert "A crossover trial in 18 people" in text_of(listed)


# -- the disclaimer, the risks, no promotion -------------------------------------------


def test_the_spravato_approvals_monitoring_and_the_2023_warning_are_stated(landing):
    """Item 5, with the August 2020 approval and monitoring until the person is stable (the current label)."""
    html = section(landing, "Other treatments to compare")
    text = text_of(html)
    spravato = next(s for s in re.split(r"(?<=\.)\s", text) if "January 2025" in s)
    assert "on its own" in spravato and "treatment-resistant depression" in spravato
    august = next(s for s in re.split(r"(?<=\.)\s", text) if "August 2020" in s)
    assert "acute suicidal thoughts or behavior" in august and "antidepressant taken by mouth" in august
    for fact in ["March 2019", "together with an antidepressant taken by mouth", "REMS",
                 "not been shown to prevent suicide",
                 "at least two hours after each dose, and until they are stable"]:  # fmt: skip
        assert fact in text, fact
    assert "#source-spravato-label" in html
    risks = text_of(section(landing, "Risks and side effects"))
    for fact in ["October 2023", "compounded ketamine", "including forms taken by mouth", "at home"]:
        assert fact in risks, fact


def test_a_risks_section_names_the_side_effects_and_who_may_not_be_a_candidate(landing):
    """Item 6, citing Singh 2016 and the Spravato label: side effects, the boxed warning, harm with frequent
    use, interactions, pregnancy and breastfeeding; then who should not have it."""
    html = section(landing, "Risks and side effects") + section(landing, "Who should not have ketamine")
    risks = text_of(html)
    side_effects = [
        "dissociation",
        "Dizziness",
        "nausea",
        "Sleepiness",
        "rise in blood pressure",
        "pass within hours",
        "Do not drive",
        "after a restful night's sleep",
        "controlled substance",
        "misused",
        "bladder damage (ketamine cystitis)",
        "liver problems",
        "Sedatives, opioids and alcohol",
        "Stimulants and MAO inhibitors",
        "during pregnancy or while breastfeeding",
        "high blood pressure that is not under control",
        "heart or blood vessel",
        "psychosis",
        "drugs or alcohol",
        "pregnant",
        "not well known",
    ]
    for named in side_effects:
        assert named in risks, named
    assert "#source-singh-2016" in html and "#source-spravato-label" in html


def test_the_risks_name_the_labels_boxed_warning_and_contraindications(landing):
    """The Spravato label as SOURCES.md states it: the boxed warning's five parts and the three
    contraindications, each in its own item under the label's citation."""
    boxed = next(b for b in blocks_citing(section(landing, "Risks and side effects"), "spravato-label")
                 if "boxed warning" in b)  # fmt: skip
    for part in ["sedation", "dissociation", "respiratory depression", "abuse and misuse",
                 "suicidal thoughts and behaviors"]:  # fmt: skip
        assert part in boxed, part
    who = section(landing, "Who should not have ketamine")
    intro, contraindications = re.search(r"<p>(.*?)</p>\s*<ul>(.*?)</ul>", who, re.S).groups()
    assert "must not be used" in text_of(intro) and "#source-spravato-label" in intro
    items = [text_of(li) for li in re.findall(r"<li>(.*?)</li>", contraindications, re.S)]
    assert len(items) == 3
    assert "aneurysmal vascular disease" in items[0] and "arteriovenous malformation" in items[0]
    assert "bleeding in the brain" in items[1]
    assert "allergic to esketamine or ketamine" in items[2]


@pytest.mark.parametrize("path", PUBLIC_PAGES)
def test_no_promotional_words(site, path):
    """Item 7: say what happens and what is known."""
    text = text_of(site.test_client().get(path).get_data(as_text=True)).lower()
    assert [w for w in PROMOTIONAL if w in text] == []


def test_the_seed_headings_stay_and_the_new_sections_follow_them(landing, site):
    headings = re.findall(r'<h2 id="[^"]+">([^<]+)</h2>', landing)
    article = [h for h in headings if h in SEED_HEADINGS]
    assert article == SEED_HEADINGS
    toc = [heading for _, heading in site.extensions["article"].toc]
    assert toc[:4] == SEED_HEADINGS
    assert toc[4:] == [
        "Risks and side effects",
        "Who should not have ketamine",
        "Other treatments to compare",
        "Questions to ask your doctor",
        "Working with your own psychiatrist",
        "What a visit is like",
    ]


def test_the_title_and_key_facts_say_off_label_and_name_the_approved_alternative_first(landing, site):
    """The title claims no more than the body shows; the key facts come before the first seed heading."""
    title = site.extensions["article"].title
    assert "Off-Label" in title and "Other Treatments Have Not Helped" in title and "Short-Term" in title
    assert "Not Yet Clear" in title and "Alleviates" not in title
    assert f'<h1 id="article-title">{title}</h1>' in landing
    facts_at = landing.index('<aside class="key-facts"')
    assert facts_at < landing.index(f">{SEED_HEADINGS[0]}</h2>")
    facts = key_facts(landing)
    assert '<h2 id="key-facts-title">Key facts</h2>' in facts and 'aria-labelledby="key-facts-title"' in facts
    text = text_of(facts)
    for said in ["Who it is for", "off-label use", "often fades", "KARMA-Dep 2",
                 "no clear difference from an active placebo", "Main risks",
                 "esketamine nasal spray (Spravato)", "FDA-approved"]:  # fmt: skip
        assert said in text, said
    # The approved alternative is named before the article begins, not only in an aside at its end.
    assert landing.index("esketamine nasal spray (Spravato)") < landing.index(f">{SEED_HEADINGS[0]}</h2>")


@pytest.mark.parametrize("key", NEW_TRIALS)
def test_elekt_d_and_karma_dep_2_are_cited_with_their_dois(landing, key):
    name, doi = NEW_TRIALS[key]
    research = section(landing, "Insights from Recent Studies")
    told = " ".join(blocks_citing(research, key))
    assert name in told
    listed = re.search(rf'<li id="source-{key}">.*?</li>', landing, re.S).group(0)
    assert f'<a href="https://doi.org/{doi}" rel="noreferrer">doi:{doi}</a>' in listed


def test_elekt_d_and_karma_dep_2_are_told_as_they_were_run(landing):
    """ELEKT-D was open-label and showed non-inferiority; KARMA-Dep 2 found no difference and its blinding
    largely failed. The trials are listed from the largest and newest to the study with no comparison."""
    research = section(landing, "Insights from Recent Studies")
    elekt = " ".join(blocks_citing(research, "anand-2023"))
    for said in ["403 people", "People knew which one they got", "55 out of 100", "41 out of 100",
                 "did not do worse than ECT", "more memory loss", "more dissociation"]:  # fmt: skip
        assert said in elekt, said
    karma = " ".join(blocks_citing(research, "jelovac-2025"))
    for said in ["65 adults in the hospital", "On top of their usual care", "not clearly different",
                 "6 months", "could be due to chance", "guessed which drug"]:  # fmt: skip
        assert said in karma, said
    order = [re.search(r'href="#source-([^"]+)"', li).group(1)
             for li in re.findall(r"<li>(.*?)</li>", research, re.S)]  # fmt: skip
    assert order == ["anand-2023", "jelovac-2025", "fava-2020", "murrough-2013", "singh-2016", "zarate-2006",
                     "aan-het-rot-2010"]  # fmt: skip


def test_the_alternatives_are_side_by_side_in_a_labelled_table(landing):
    html = section(landing, "Other treatments to compare")
    region = re.search(
        r'<div class="table-scroll" role="region" aria-labelledby="([^"]+)" tabindex="0">', html
    )
    assert region and f'<caption id="{region.group(1)}">' in html
    rows = [text_of(th) for th in re.findall(r'<th scope="rowgroup" colspan="2">(.*?)</th>', html, re.S)]
    assert rows == [
        "IV ketamine (this page)",
        "Esketamine nasal spray (Spravato)",
        "ECT (electroconvulsive therapy)",
        "Other medicines, or adding a second one",
        "Psychotherapy (talk therapy)",
        "TMS (transcranial magnetic stimulation)",
    ]
    assert "augmentation" in text_of(html)


# -- a privacy notice true in both email modes ---------------------------------------------


def privacy_text(app) -> str:
    return text_of(app.test_client().get("/privacy").get_data(as_text=True))


def test_privacy_with_full_emails_says_the_copies_stay_in_the_mailboxes(tmp_path):
    text = privacy_text(build(tmp_path, LEAD_EMAIL_DETAIL="full"))
    assert "staff's mailboxes with no fixed end date" in text
    assert "clinic's own email retention" in text
    assert "The emails are not deleted with the request" in text
    assert "your name, phone number, email address, how and when you would like to be contacted" in text
    assert "does not hold how you found this page or the consent record" in text


def test_privacy_with_minimal_emails_says_the_details_stay_behind_the_login(tmp_path):
    text = privacy_text(build(tmp_path, LEAD_EMAIL_DETAIL="minimal"))
    assert "does not hold your phone number, email address or message" in text
    assert "no fixed end date" not in text and "not deleted with the request" not in text


def test_privacy_names_the_clinics_contact_address_notice_and_date_when_given(tmp_path):
    text = uncomment(
        shipped_clinic(),
        'legal_name = "Example Clinic Holdings, LLC"',
        'mailing_address = "100 Example Street, Suite 1, Bradenton, FL 34205"',
        'contact_phone = "+19415550103"',
        'notice_url = "https://clinic.example.com/notice-of-privacy-practices.pdf"',
    )
    html = build(tmp_path, text).test_client().get("/privacy").get_data(as_text=True)
    page = text_of(html)
    assert "Effective November 30, 2026" in page
    assert load_clinic(DEFAULT_CLINIC_FILE).privacy.effective == date(2026, 11, 30)
    assert "Example Clinic Holdings, LLC, which runs Anti Aging and Ketamine Center" in page
    assert "by mail: Example Clinic Holdings, LLC, 100 Example Street, Suite 1, Bradenton, FL 34205" in page
    assert 'href="mailto:privacy@example.com"' in html and 'href="tel:+19415550103"' in html
    assert '<a href="https://clinic.example.com/notice-of-privacy-practices.pdf" rel="noreferrer">' in html


def test_privacy_without_the_clinics_facts_says_where_to_ask(tmp_path):
    text = re.sub(r"\n\[privacy\]\n(?:[a-z_]+ = .*\n)+", "\n", shipped_clinic())
    assert "privacy@example.com" not in text
    page = privacy_text(build(tmp_path, text))
    assert "Ask either office for a copy" in page and "Notice of Privacy Practices" in page
    assert "Effective" not in page and "by mail" not in page
    assert "Anti Aging and Ketamine Center decides how this information is used" in page


def test_privacy_says_how_to_stop_contact_and_what_the_logs_keep_truly(site):
    text = privacy_text(site)
    assert "To stop calls, texts or emails from us" in text
    assert "Neither records your IP address, the page you came from, your browser" in text
    # What the page says must stay true of gunicorn's access log (gunicorn.conf.py).
    namespace: dict = {}
    exec(compile((ROOT / "gunicorn.conf.py").read_text(), "gunicorn.conf.py", "exec"), namespace)
    log_format = namespace["access_log_format"]
    for atom in ["%(h)s", "%(r)s", "%(q)s", "%(f)s", "%(a)s", "%({x-forwarded-for}i)s"]:
        assert atom not in log_format, atom


WEBHOOK_SECRET = "whsec_" + "A" * 43  # a Standard Webhooks secret (32 bytes)
PRIVACY_CASES = {
    "defaults": (
        {},
        ["These logs are deleted after 14 days.", "Once a day our server makes a copy (a backup)",
         "Each backup is deleted after 14 days, so a request deleted from our request system stays in the "
         "backups for up to 14 days more", "download a list of them as a spreadsheet file",
         "the web server's error log records the IP address it came from",
         "If your message has words that suggest you may be in crisis"],
        ["other system", "database hosting"],
    ),
    "kept-longer": (
        {"BACKUP_KEEP": 30, "LOG_RETENTION_DAYS": 7},
        ["These logs are deleted after 7 days.", "Each backup is deleted after 30 days",
         "for up to 30 days more"],
        ["14 days"],
    ),
    "one-webhook-minimal": (
        {"WEBHOOK_URLS": ["https://crm.example.com/hook"], "WEBHOOK_SECRET": WEBHOOK_SECRET},
        ["also tells one other system the clinic uses", "It does not send your name, phone number, email "
         "address or message."],
        ["sends it to"],
    ),
    "two-webhooks-full": (
        {"WEBHOOK_URLS": ["https://crm.example.com/hook", "https://phones.example.com/in"],
         "WEBHOOK_SECRET": WEBHOOK_SECRET, "WEBHOOK_DETAIL": "full"},
        ["also sends it to 2 other systems", "your name, phone number, email address, the best time to reach "
         "you and your message", "agreements that bind their providers to protect health information"],
        ["It does not send your name"],
    ),
    "postgresql": (
        # A shared database is backed up by its hosting (the page renders without reaching it).
        {"SQLALCHEMY_DATABASE_URI": "postgresql+psycopg://nobody@127.0.0.1:1/none"},
        ["Our database is copied (backed up) by our database hosting, encrypted",
         "Each backup is deleted after 14 days"],
        ["Once a day our server makes a copy"],
    ),
}  # fmt: skip


@pytest.mark.parametrize("case", list(PRIVACY_CASES))
def test_the_privacy_notice_says_what_this_configuration_does(tmp_path, case):
    settings, said, unsaid = PRIVACY_CASES[case]
    text = privacy_text(build(tmp_path, **settings))
    for words in said:
        assert words in text, words
    for words in unsaid:
        assert words not in text, words


@pytest.mark.parametrize("path", ["/privacy", "/es/privacidad"])
def test_both_notices_state_the_settings_periods(tmp_path, path):
    app = build(tmp_path, BACKUP_KEEP=21, LOG_RETENTION_DAYS=9)
    text = text_of(app.test_client().get(path).get_data(as_text=True))
    assert re.search(r"\b21 (days|días)\b", text) and re.search(r"\b9 (days|días)\b", text)


# -- the promise fits every way of being contacted ----------------------------------------


@pytest.mark.parametrize("path", [*ARTICLE_PAGES, "/thanks"])
def test_the_promise_fits_a_text_or_an_email(site, path):
    text = text_of(site.test_client().get(path).get_data(as_text=True))
    assert "call you back" not in text
    assert "contact you the way you chose" in text


def test_a_clinic_file_that_promises_a_call_is_refused(tmp_path):
    path = tmp_path / "clinic.toml"
    path.write_text(shipped_clinic().replace("will contact you the way you chose", "will call you back"))
    with pytest.raises(ValueError, match="callback_promise"):
        load_clinic(path)


@pytest.mark.parametrize("escape", ["\\u0000", "\\u001b", "\\u202e"])
def test_a_clinic_file_with_a_control_or_invisible_character_is_refused(tmp_path, escape):
    """The rule for text from outside (inputs.py) holds for the file every page is built from too."""
    path = tmp_path / "clinic.toml"
    path.write_text(shipped_clinic().replace('city = "Sarasota"', f'city = "Sara{escape}sota"', 1))
    with pytest.raises(ValueError, match=r"offices\[sarasota\]\.city holds a control or invisible character"):
        load_clinic(path)


# -- what happens next; the clinic's own facts only when given -------------------


def test_what_a_visit_is_like_comes_from_the_studies_and_the_label_only(landing):
    html = section(landing, "What a visit is like")
    text = text_of(html)
    steps = [
        "two or three infusions a week, for two to four weeks",
        "about 40 minutes",
        "at least two hours, and until they are stable",
        "should not drive until the next day",
    ]
    for said in steps:
        assert said in text, said
    assert (
        "#source-singh-2016" in html
        and "#source-aan-het-rot-2010" in html
        and "#source-spravato-label" in html
    )
    # The shipped example states no protocol, prices, insurance, Spravato or clinicians: the page guesses
    # none of them (the questions to ask are the one place cost and insurance come up).
    assert 'class="visit-steps' not in landing and 'id="clinic-care"' not in landing
    assert "$" not in text_of(landing) and "Cost and insurance" not in landing
    page = text_of(landing)
    assert "insurance" not in page.replace("will my insurance pay for any of it?", "")


CARE_EXAMPLE = (
    "[care]",
    'prices = "A consultation costs $X. Each infusion costs $Y; we explain the total before you decide."',
    'insurance = "We do not bill insurance for infusions; we give you a receipt for your insurer."',
    "offers_spravato = false",
    'clinicians = ["Jane Example, MD, anesthesiologist"]',
    "visit = [",
    '  "A clinician asks about your health, past treatments and medicines, and takes your blood pressure.",',
    '  "During the infusion a nurse checks your blood pressure and breathing.",',
    '  "You rest with us until you are steady; someone else drives you home.",',
    "]",
)


def test_the_clinics_prices_insurance_visit_spravato_and_clinicians_show_when_given(tmp_path):
    text = uncomment(shipped_clinic(), *CARE_EXAMPLE)
    html = build(tmp_path, text).test_client().get("/ketamine-therapy-sarasota").get_data(as_text=True)
    care = text_of(re.search(r'<section class="clinic-care.*?</section>', html, re.S).group(0))
    assert "At Anti Aging and Ketamine Center" in care
    assert "Jane Example, MD, anesthesiologist" in care
    assert "We do not offer Spravato" in care
    assert "A consultation costs $X." in care
    assert '<a href="#clinic-care">' in html
    cost = text_of(key_facts(html)).split("Cost and insurance:")[1]
    assert "A consultation costs $X." in cost and "We do not bill insurance" in cost
    visit = re.search(r'<section class="visit-steps.*?</section>', html, re.S).group(0)
    assert "A visit at Anti Aging and Ketamine Center" in text_of(visit)
    assert len(re.findall(r"<li>", visit)) == 3 and "a nurse checks your blood pressure" in text_of(visit)
    # Right after the article's own part on a visit, before the clinic's part and the disclaimer.
    assert (
        html.index(">What a visit is like</h2>")
        < html.index('class="visit-steps')
        < html.index('id="clinic-care"')
    )


@pytest.mark.parametrize(
    "lines,shown",
    [
        ((), []),
        (("[review]", "next_review = 2027-11-01"), ["Next medical review November 1, 2027"]),
        (
            ("[review]", 'reviewer = "Jane Example, MD"', "reviewed = 2026-11-01",
             "next_review = 2027-11-01"),
            ["Medically reviewed by Jane Example, MD, last reviewed November 1, 2026",
             "Next medical review November 1, 2027"],
        ),
    ],
)  # fmt: skip
def test_the_reviewed_by_and_next_review_line_shows_only_what_the_clinic_file_sets(tmp_path, lines, shown):
    html = build(tmp_path, uncomment(shipped_clinic(), *lines)).test_client().get("/").get_data(as_text=True)
    meta = text_of(re.search(r'<p class="meta">.*?</p>', html, re.S).group(0))
    for said in shown:
        assert said in meta, said
    assert ("Medically reviewed" in meta) == any("Medically reviewed" in s for s in shown)
    assert ("Next medical review" in meta) == any("Next medical review" in s for s in shown)
    if shown:
        assert '<time datetime="2027-11-01">' in html


def test_the_reviewer_line_shows_the_license_type_when_given(tmp_path):
    text = uncomment(
        shipped_clinic(),
        "[review]",
        'reviewer = "Jane Example, MD"',
        "reviewed = 2026-11-01",
        'license = "Florida-licensed physician"',
    )
    html = build(tmp_path, text).test_client().get("/").get_data(as_text=True)
    assert "Medically reviewed by Jane Example, MD (Florida-licensed physician), last reviewed" in text_of(
        html
    )
    assert '"credentialCategory": "Florida-licensed physician"' in html.replace('":"', '": "')


# -- readability ---------------------------------------------------------------------------


def test_the_article_body_reads_at_grade_8_or_so(landing):
    """Flesch–Kincaid grade of the body (textstat 0.7.3); the medical words stay, explained."""
    body = " ".join(article_body_blocks(landing))
    grade = textstat.flesch_kincaid_grade(body)
    assert grade <= READING_GRADE_LIMIT, f"the article body reads at grade {grade}; keep it at 8 or below"
    assert textstat.lexicon_count(body) > 1500  # the whole body was measured, not a part of it
    for term in ["NMDA", "glutamate", "neurotransmitter", "Neuroplasticity", "synapse", "prefrontal cortex",
                 "dissociation", "treatment-resistant depression", "Key facts", "augmentation"]:  # fmt: skip
        assert term in body, term


# -- sources ----------------------------------------------------------------------------------


def test_sources_are_numbered_in_the_order_the_page_first_cites_them(landing, site):
    cited = [
        int(n)
        for n in re.findall(r'<sup class="cite"><a href="#source-[^"]+" aria-label="Source (\d+)">', landing)
    ]
    first = list(dict.fromkeys(cited))
    sources = site.extensions["article"].sources
    assert first == list(range(1, len(sources) + 1))
    listed = re.findall(r'<li id="source-([^"]+)">', landing)
    assert listed == [s.id for s in sources]
    assert {"singh-2016", "fava-2020"} <= set(listed)


def test_every_study_has_a_doi_and_only_checked_pmids_are_printed(site):
    for source in site.extensions["article"].sources:
        if source.journal:
            assert source.doi and source.doi.startswith("10."), source.id
        assert source.pmid == CHECKED_PMIDS.get(source.id), source.id
    front_matter = ARTICLE_FILE.read_text().split("---")[1]
    assert "pmids_checked:" in front_matter


def test_a_source_never_cited_stops_start_up(tmp_path):
    text = ARTICLE_FILE.read_text().replace("[^fda-2023]", "")
    path = tmp_path / "article.md"
    path.write_text(text)
    with pytest.raises(ValueError, match=r"never cited.*fda-2023"):
        load_article(path)


# -- coordinates ----------------------------------------------------------------------------


def test_an_office_position_out_of_range_stops_start_up(tmp_path):
    """`geo` goes into the JSON-LD (test_seo.py); swapped or mistyped degrees are caught at start-up."""
    path = tmp_path / "clinic.toml"
    commented = "# geo = { latitude = 0.0, longitude = 0.0 }"
    path.write_text(shipped_clinic().replace(commented, "geo = { latitude = 127.49, longitude = -82.57 }"))
    with pytest.raises(ValueError, match="geo"):
        load_clinic(path)
    path.write_text(shipped_clinic().replace(commented, "geo = { latitude = 27.49, longitude = -82.57 }"))
    assert load_clinic(path).office("bradenton").geo == {"latitude": 27.49, "longitude": -82.57}
