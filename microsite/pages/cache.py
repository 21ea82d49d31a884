"""The public pages' bytes, rendered once, and the WSGI layer that answers them from memory.

A public page is the same for every visitor of its URL, so after its first view nothing about it is
left to compute: its body (plain, gzip and Brotli), a strong ETag per encoding, and the headers that
let a browser, nginx or a CDN keep it. `PageCache` sits in front of Flask (microsite.wsgi_stack) and
answers a GET or HEAD for such a path itself: 200 with the bytes, or 304 when the client already
holds them. It ignores the query string, so campaign tags never change a page. Anything it does not
hold (a first view, a POST, a staff page, an unknown path) goes on to Flask, whose views fill it.
"""

from __future__ import annotations

import gzip
import hashlib
import logging
import threading
import time
from collections.abc import Callable, Iterable
from dataclasses import dataclass
from functools import cached_property

import brotli
from flask import current_app
from werkzeug.http import parse_etags

log = logging.getLogger(__name__)

# Five minutes: a changed page (a deploy, a corrected article) reaches every reader within that, and a
# reader who comes back later revalidates with If-None-Match for a body-less 304.
CACHE_CONTROL = "public, max-age=300"


@dataclass(frozen=True)
class Variant:
    """One encoding of a page: its bytes and the headers of a 200 and of a 304 for it."""

    body: bytes
    etag: str  # unquoted
    ok: list[tuple[str, str]]
    not_modified: list[tuple[str, str]]


def _variant(body: bytes, content_type: str, encoding: str | None, digest: str) -> Variant:
    etag = f"{digest}-{encoding}" if encoding else digest
    # A 304 repeats the validators and caching headers of the 200 it stands for (RFC 9110).
    common = [("ETag", f'"{etag}"'), ("Cache-Control", CACHE_CONTROL), ("Vary", "Accept-Encoding")]
    ok = [("Content-Type", content_type), ("Content-Length", str(len(body))), *common]
    if encoding:
        ok.append(("Content-Encoding", encoding))
    return Variant(body, etag, ok, common)


class PublicPage:
    """A page every visitor is sent, as a small WSGI app: 200, 304, HEAD, gzip or Brotli."""

    def __init__(self, body: bytes, content_type: str):
        self.content_type = content_type
        self.digest = hashlib.sha256(body).hexdigest()[:32]
        self.plain = _variant(body, content_type, None, self.digest)

    # Compressed once per process, when a client first asks for that encoding: a phone downloads a
    # quarter of the bytes. (Two threads asking at once may both compress; either result is the same.)
    @cached_property
    def br(self) -> Variant:
        return _variant(brotli.compress(self.plain.body, quality=11), self.content_type, "br", self.digest)

    @cached_property
    def gzip(self) -> Variant:
        return _variant(gzip.compress(self.plain.body, 9, mtime=0), self.content_type, "gzip", self.digest)

    def variant_for(self, accept_encoding: str) -> Variant:
        # As WhiteNoise chooses: by name, without weighing q-values (no browser sends "br;q=0").
        if "br" in accept_encoding:
            return self.br
        if "gzip" in accept_encoding:
            return self.gzip
        return self.plain

    def __call__(self, environ: dict, start_response: Callable) -> Iterable[bytes]:
        variant = self.variant_for(environ.get("HTTP_ACCEPT_ENCODING", ""))
        if_none_match = environ.get("HTTP_IF_NONE_MATCH")
        if if_none_match and parse_etags(if_none_match).contains_weak(variant.etag):
            start_response("304 Not Modified", list(variant.not_modified))
            return []
        start_response("200 OK", list(variant.ok))
        return [] if environ["REQUEST_METHOD"] == "HEAD" else [variant.body]


class Freshness:
    """Whether the pages held still show what the database says (the published readers' questions).

    Publishing or unpublishing bumps a version number in the database (questions/service.py). Each
    process reads it at most once every `seconds`, by a monotonic clock, and forgets every page it holds
    when the number changed: the next view renders it again, with a new ETag. Between two reads a page
    view costs one clock read. Only one thread reads at a time; the others serve what is held meanwhile.
    """

    def __init__(self, pages: dict[str, PublicPage], read_version: Callable[[], int], seconds: float,
                 clock: Callable[[], float] = time.monotonic):  # fmt: skip
        self.pages = pages
        self.read_version = read_version
        self.seconds = seconds
        self.clock = clock
        self.version: int | None = None
        # Bumped whenever the pages are forgotten: a page rendered across a bump is not kept (views).
        self.generation = 0
        self._next_check = float("-inf")
        self._lock = threading.Lock()

    def check(self) -> None:
        """Read the version if `seconds` have passed since the last read; forget the pages if it changed."""
        now = self.clock()
        if now < self._next_check or not self._lock.acquire(blocking=False):
            return
        try:
            self._next_check = now + self.seconds
            try:
                version = self.read_version()
            except Exception as exc:  # the database away: serve what is held, ask again later
                log.warning("page cache: version not read (%s)", type(exc).__name__)
                return
            if version != self.version:
                if self.version is not None:
                    self.forget()
                self.version = version
        finally:
            self._lock.release()

    def forget(self) -> None:
        self.generation += 1
        self.pages.clear()

    def expire(self) -> None:
        """Read the version at the next view: this process has just changed it (a staff member published)."""
        self._next_check = float("-inf")


class PageCache:
    """WSGI middleware: the public pages from memory, everything else from `wsgi_app`."""

    def __init__(self, wsgi_app, pages: dict[str, PublicPage], freshness: Freshness | None = None):
        self.wsgi_app = wsgi_app
        self.pages = pages  # path -> page, filled by the views at each page's first view
        self.freshness = freshness

    def __call__(self, environ: dict, start_response: Callable) -> Iterable[bytes]:
        if environ["REQUEST_METHOD"] in ("GET", "HEAD"):
            if self.freshness is not None:
                self.freshness.check()
            page = self.pages.get(environ.get("PATH_INFO", ""))
            if page is not None:
                environ["microsite.route_group"] = "pages"  # for /metrics (metrics.GROUP)
                return page(environ, start_response)
        return self.wsgi_app(environ, start_response)


def held_pages() -> dict[str, PublicPage]:
    """This app's public pages, by path, as rendered so far in this process."""
    return current_app.extensions["public_pages"]


def page_freshness() -> Freshness:
    """What keeps this app's held pages in step with the published questions."""
    return current_app.extensions["page_freshness"]
