"""The article and the clinic's facts, loaded once at start-up from the files beside this module."""

from __future__ import annotations

import math
import re
import tomllib
from dataclasses import dataclass, field
from datetime import date
from pathlib import Path

import frontmatter
import markdown
import phonenumbers
from flask import Flask
from markupsafe import Markup

ARTICLE_FILE = Path(__file__).with_name("article.md")
DAY_NAMES = {
    "Mo": "Monday", "Tu": "Tuesday", "We": "Wednesday", "Th": "Thursday",
    "Fr": "Friday", "Sa": "Saturday", "Su": "Sunday",
}  # fmt: skip
WORDS_PER_MINUTE = 200


@dataclass(frozen=True)
class Hours:
    days: tuple[str, ...]
    opens: str
    closes: str

    @property
    def label(self) -> str:
        """ "Monday–Friday 9 am–5 pm", as people in the US read opening hours."""
        names = [DAY_NAMES[d] for d in self.days]
        span = names[0] if len(names) == 1 else f"{names[0]}–{names[-1]}"
        return f"{span} {_clock(self.opens)}–{_clock(self.closes)}"


def _clock(hhmm: str) -> str:
    hour, minute = (int(part) for part in hhmm.split(":"))
    suffix = "am" if hour < 12 else "pm"
    hour12 = hour % 12 or 12
    return f"{hour12} {suffix}" if minute == 0 else f"{hour12}:{minute:02d} {suffix}"


@dataclass(frozen=True)
class Office:
    slug: str
    name: str
    city: str
    street: str
    region: str
    postal_code: str
    phone: str  # E.164, as stored in the data file
    hours: tuple[Hours, ...]
    notify: tuple[str, ...]
    geo: dict | None = None

    @property
    def phone_display(self) -> str:
        return phonenumbers.format_number(
            phonenumbers.parse(self.phone, "US"), phonenumbers.PhoneNumberFormat.NATIONAL
        )

    @property
    def tel_href(self) -> str:
        return f"tel:{self.phone}"

    @property
    def address_line(self) -> str:
        return f"{self.street}, {self.city}, {self.region} {self.postal_code}"


@dataclass(frozen=True)
class Clinic:
    name: str
    sender: str
    callback_promise: str
    retention_days: int
    consent_text: str
    consent_version: str
    offices: tuple[Office, ...]
    reviewer: str | None = None
    reviewed: date | None = None

    def office(self, slug: str) -> Office | None:
        return next((o for o in self.offices if o.slug == slug), None)


@dataclass(frozen=True)
class Source:
    id: str
    number: int
    authors: str
    title: str
    journal: str
    year: int
    citation: str
    doi: str
    finding: str
    pmid: str | None = None


@dataclass(frozen=True)
class Article:
    title: str
    description: str
    published: date
    updated: date
    html: Markup
    toc: tuple[tuple[str, str], ...]  # (anchor, heading)
    reading_minutes: int
    sources: tuple[Source, ...] = field(default=())


def load_clinic(path: str | Path) -> Clinic:
    """Read the clinic's data file; a phone number that does not parse stops start-up."""
    data = tomllib.loads(Path(path).read_text(encoding="utf-8"))
    offices = []
    for raw in data["offices"]:
        number = phonenumbers.parse(raw["phone"], "US")
        if not phonenumbers.is_valid_number(number):
            raise ValueError(f"{path}: office {raw['slug']!r} has an invalid phone number")
        offices.append(
            Office(
                slug=raw["slug"],
                name=raw["name"],
                city=raw["city"],
                street=raw["street"],
                region=raw["region"],
                postal_code=raw["postal_code"],
                phone=phonenumbers.format_number(number, phonenumbers.PhoneNumberFormat.E164),
                hours=tuple(Hours(tuple(h["days"]), h["opens"], h["closes"]) for h in raw["hours"]),
                notify=tuple(raw["notify"]),
                geo=raw.get("geo"),
            )
        )
    review = data.get("review", {})
    return Clinic(
        name=data["name"],
        sender=data["sender"],
        callback_promise=data["callback_promise"],
        retention_days=int(data["retention_days"]),
        consent_text=data["consent"]["text"],
        consent_version=str(data["consent"]["version"]),
        offices=tuple(offices),
        reviewer=review.get("reviewer"),
        reviewed=review.get("reviewed"),
    )


_CITATION = re.compile(r"\[\^([a-z0-9-]+)\]")


def load_article(path: str | Path = ARTICLE_FILE) -> Article:
    """Render the Markdown article once: its HTML, table of contents, reading time and sources."""
    post = frontmatter.load(str(path))
    sources = tuple(
        Source(number=i, **{k: str(v) if k != "year" else int(v) for k, v in raw.items()})
        for i, raw in enumerate(post.get("sources", []), start=1)
    )
    numbers = {s.id: s.number for s in sources}

    def cite(match: re.Match) -> str:
        key = match.group(1)
        if key not in numbers:
            raise ValueError(f"{path}: citation [^{key}] has no source in the front matter")
        n = numbers[key]
        return f'<sup class="cite"><a href="#source-{key}" aria-label="Source {n}">[{n}]</a></sup>'

    body = _CITATION.sub(cite, post.content)
    md = markdown.Markdown(extensions=["toc"], extension_configs={"toc": {"toc_depth": "2"}})
    html = md.convert(body)
    toc = tuple((t["id"], t["name"]) for t in md.toc_tokens)
    words = len(re.findall(r"\w+", post.content))
    return Article(
        title=post["title"],
        description=post["description"],
        published=post["published"],
        updated=post["updated"],
        html=Markup(html),  # noqa: S704 -- our own content file, written by the clinic
        toc=toc,
        reading_minutes=max(1, math.ceil(words / WORDS_PER_MINUTE)),
        sources=sources,
    )


def init_app(app: Flask) -> None:
    """Load the content once and make it available to every template."""
    clinic = load_clinic(app.config["CLINIC_FILE"])
    article = load_article()
    app.extensions["clinic"] = clinic
    app.extensions["article"] = article
    app.jinja_env.globals.update(clinic=clinic, article=article)
