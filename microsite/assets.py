"""Static files: fingerprinted, compressed (gzip and Brotli) and served with a long cache by WhiteNoise.

At start-up each file in `static/` is copied into STATIC_ROOT (default `instance/static/`) under its own
name and under a name carrying a hash of its content (`site.css` → `site.1a2b3c4d5e6f.css`), each with
`.gz` and `.br` beside it. `url_for('static', filename='site.css')` then points at the hashed name,
which never changes content and so is cached for a year; the plain name stays available for a minute's
cache. In production nginx may serve STATIC_ROOT itself (`flask --app wsgi static build`, deploy/).
"""

from __future__ import annotations

import hashlib
import os
import tempfile
from pathlib import Path

import click
from flask import Flask, current_app
from flask.cli import with_appcontext
from whitenoise import WhiteNoise
from whitenoise.compress import Compressor

from .security import STATIC_HEADERS

HASH_LENGTH = 12
PLAIN_MAX_AGE = 60  # seconds, for a file asked for by its plain name (an old page, a bookmark)


def _write_if_changed(path: Path, data: bytes) -> None:
    """Write atomically, and only when the content differs: workers that start together may race here."""
    try:
        if path.read_bytes() == data:
            return
    except FileNotFoundError:
        pass
    fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=".tmp-")
    with os.fdopen(fd, "wb") as fh:
        fh.write(data)
    os.chmod(tmp, 0o644)
    os.replace(tmp, path)


def _make_public_dirs(target: Path, folder: Path) -> None:
    """Make `folder` and those from `target` down to it 0755 whatever the umask (077): nginx lists them."""
    path = target
    for part in ("", *folder.relative_to(target).parts):
        path = path / part
        if not path.is_dir():
            path.mkdir(parents=True, exist_ok=True)
            path.chmod(0o755)


def hashed_name(name: str, data: bytes) -> str:
    """`css/site.css` → `css/site.<first 12 hex of its SHA-256>.css`."""
    digest = hashlib.sha256(data).hexdigest()[:HASH_LENGTH]
    stem, dot, ext = name.rpartition(".")
    return f"{stem}.{digest}.{ext}" if dot and stem else f"{name}.{digest}"


def _variants(compressor: Compressor, name: str, data: bytes) -> dict[str, bytes]:
    """The file itself, and its Brotli and gzip copies when compression is worth it."""
    variants = {"": data}
    if compressor.should_compress(name):
        brotli_data = compressor.compress_brotli(data)
        if len(brotli_data) <= 0.95 * len(data):  # not worth it for tiny or incompressible files
            variants[".br"] = brotli_data
            variants[".gz"] = compressor.compress_gzip(data)
    return variants


def build(source: Path, target: Path) -> dict[str, str]:
    """Copy `source` into `target` as plain and hashed names with their compressed variants.

    Returns the manifest: plain name → hashed name, with '/' separators.
    """
    compressor = Compressor(quiet=True)
    manifest: dict[str, str] = {}
    for path in sorted(source.rglob("*")):
        if not path.is_file() or any(part.startswith(".") for part in path.relative_to(source).parts):
            continue
        name = path.relative_to(source).as_posix()
        data = path.read_bytes()
        manifest[name] = hashed_name(name, data)
        hashed = target / manifest[name]
        if hashed.exists():
            # A hashed name fixes its content: reuse the variants an earlier start-up compressed.
            variants = {
                suffix: variant.read_bytes()
                for suffix in ("", ".br", ".gz")
                if (variant := hashed.with_name(hashed.name + suffix)).exists()
            }
        else:
            variants = _variants(compressor, name, data)
        for out_name in (name, manifest[name]):
            out = target / out_name
            _make_public_dirs(target, out.parent)
            for suffix, content in variants.items():
                _write_if_changed(out.with_name(out.name + suffix), content)
    return manifest


def _add_headers(headers, path: str, url: str) -> None:
    # WhiteNoise answers before security.SecurityHeaders (which wraps Flask only) sees the request, so the
    # fixed security headers are added here, once per file when WhiteNoise indexes it, not per response.
    for name, value in STATIC_HEADERS:
        headers[name] = value


@click.group("static")
def static_cli() -> None:
    """Static files."""


@static_cli.command("build")
@with_appcontext
def build_command() -> None:
    """Write the fingerprinted and compressed static files into STATIC_ROOT (for nginx)."""
    app = current_app
    manifest = build(Path(app.static_folder), Path(app.config["STATIC_ROOT"]))
    click.echo(f"{len(manifest)} files in {app.config['STATIC_ROOT']}")


def init_app(app: Flask) -> None:
    """Build the static files and make `url_for('static', …)` name the fingerprinted copies."""
    app.cli.add_command(static_cli)
    if app.debug:
        # While developing, Flask serves static/ as it is, so an edited stylesheet shows on reload.
        return
    manifest = build(Path(app.static_folder), Path(app.config["STATIC_ROOT"]))
    app.extensions["static_manifest"] = manifest

    @app.url_defaults
    def fingerprinted_static_url(endpoint: str, values: dict) -> None:
        """`url_for('static', filename='site.css')` names the hashed copy, cached for a year."""
        if endpoint == "static":
            values["filename"] = manifest.get(values.get("filename"), values.get("filename"))


def serve_static(app: Flask, wsgi_app):
    """WhiteNoise in front of `wsgi_app`, serving STATIC_ROOT; `wsgi_app` itself while debugging."""
    manifest = app.extensions.get("static_manifest")
    if manifest is None:
        return wsgi_app
    hashed_urls = {f"{app.static_url_path}/{hashed}" for hashed in manifest.values()}
    return WhiteNoise(
        wsgi_app,
        root=app.config["STATIC_ROOT"],
        prefix=app.static_url_path,
        max_age=PLAIN_MAX_AGE,
        allow_all_origins=False,
        add_headers_function=_add_headers,
        immutable_file_test=lambda path, url: url in hashed_urls,
    )
