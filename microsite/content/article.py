"""The article: Markdown with front matter (sources, dates, reviewer), rendered once at start-up."""

from __future__ import annotations

import math
import re
from dataclasses import dataclass, field
from datetime import date
from pathlib import Path

import frontmatter
import markdown
from markupsafe import Markup

ARTICLE_FILE = Path(__file__).with_name("article.md")
# The same article in Spanish, for /es/: same sources, caveats and risks (tests/test_spanish.py).
ARTICLE_FILE_ES = Path(__file__).with_name("article.es.md")
WORDS_PER_MINUTE = 200


@dataclass(frozen=True)
class Source:
    """A study (journal, citation, DOI) or a document without a DOI (a drug label, an FDA notice)."""

    id: str
    number: int
    authors: str
    title: str
    year: int
    finding: str
    journal: str | None = None
    citation: str | None = None
    doi: str | None = None
    pmid: str | None = None  # printed only where it was checked against PubMed
    issued: str | None = None  # for a document: its date or revision, in words


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
    language: str = "en"
    translation_reviewer: str | None = None  # a translation's front matter: who checked it
    key_facts: tuple[Markup, ...] = ()  # the box under the title, one fact an item


_CITATION = re.compile(r"\[\^([a-z0-9-]+)\]")


def _numbered_sources(path: str | Path, raw_sources: list[dict], body: str) -> tuple[Source, ...]:
    """The sources numbered in the order the body first cites them; one never cited stops start-up."""
    by_id = {raw["id"]: raw for raw in raw_sources}
    order: list[str] = []
    for key in _CITATION.findall(body):
        if key not in by_id:
            raise ValueError(f"{path}: citation [^{key}] has no source in the front matter")
        if key not in order:
            order.append(key)
    if uncited := sorted(set(by_id) - set(order)):
        raise ValueError(f"{path}: sources never cited in the article: {', '.join(uncited)}")
    return tuple(
        Source(number=i, **{k: str(v) if k != "year" else int(v) for k, v in by_id[key].items()})
        for i, key in enumerate(order, start=1)
    )


def _inline_markdown(text: str) -> Markup:
    """One key fact: Markdown's inline marks (bold, links), without the paragraph around it."""
    html = markdown.markdown(text)
    return Markup(html.removeprefix("<p>").removesuffix("</p>"))  # noqa: S704 -- our own content file


def load_article(path: str | Path = ARTICLE_FILE) -> Article:
    """Render the Markdown article once: its key facts, HTML, table of contents, reading time and sources."""
    post = frontmatter.load(str(path))
    key_facts = [str(fact) for fact in post.get("key_facts", [])]
    # The key facts come first on the page, so their citations are numbered first.
    sources = _numbered_sources(path, post.get("sources", []), "\n".join([*key_facts, post.content]))
    numbers = {s.id: s.number for s in sources}
    # The citation mark's spoken label, in the article's language ("Fuente 3" on the Spanish page).
    label = post.get("source_label", "Source")

    def cite(match: re.Match) -> str:
        key = match.group(1)
        n = numbers[key]
        # A word joiner keeps the mark on the line of the word or full stop it follows.
        return f'\u2060<sup class="cite"><a href="#source-{key}" aria-label="{label} {n}">[{n}]</a></sup>'

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
        language=post.get("language", "en"),
        translation_reviewer=post.get("translation_reviewer") or None,
        key_facts=tuple(_inline_markdown(_CITATION.sub(cite, fact)) for fact in key_facts),
    )
