"""deploy/: nginx's site file is valid, its microcache keeps the public pages and nothing else, it drops
unknown hosts, and a flood of POSTs is turned away before it reaches the app."""

from __future__ import annotations

import os
import re
import shutil
import socket
import ssl
import subprocess
import tempfile
import time
import urllib.error
import urllib.request
from pathlib import Path

import pytest
from conftest import free_port, live_server, make_config, unavailable

from microsite import create_app
from microsite.extensions import db

ROOT = Path(__file__).resolve().parent.parent
DEPLOY = ROOT / "deploy" / "nginx"


def nginx_binary() -> str:
    found = shutil.which("nginx") or ("/usr/sbin/nginx" if Path("/usr/sbin/nginx").exists() else None)
    if found is None:
        unavailable("nginx is not installed (apt-get install nginx)")
    return found


def local_copy(tmp_path: Path) -> Path:
    """The shipped site file with this machine's paths: a throwaway certificate, logs and cache here."""
    (tmp_path / "snippets").mkdir()
    shutil.copy(DEPLOY / "microsite-cache.conf", tmp_path / "snippets")
    subprocess.run(
        ["openssl", "req", "-x509", "-newkey", "rsa:2048", "-nodes", "-days", "1",
         "-subj", "/CN=clinic.example.com",
         "-keyout", str(tmp_path / "key.pem"), "-out", str(tmp_path / "cert.pem")],
        check=True, capture_output=True,
    )  # fmt: skip
    site = (DEPLOY / "microsite.conf").read_text()
    for old, new in [
        ("/var/cache/nginx/microsite", str(tmp_path / "cache")),
        ("/etc/letsencrypt/live/clinic.example.com/fullchain.pem", str(tmp_path / "cert.pem")),
        ("/etc/letsencrypt/live/clinic.example.com/privkey.pem", str(tmp_path / "key.pem")),
        ("/var/log/nginx/microsite/access.log combined_no_query", str(tmp_path / "access.log")),
        ("/var/log/nginx/microsite/error.log", str(tmp_path / "error.log")),
        ("include snippets/", f"include {tmp_path}/snippets/"),
    ]:
        assert old in site, old
        site = site.replace(old, new)
    (tmp_path / "site.conf").write_text(site)
    return tmp_path / "site.conf"


def nginx_conf(tmp_path: Path, body: str) -> Path:
    conf = tmp_path / "nginx.conf"
    conf.write_text(
        f"pid {tmp_path}/nginx.pid;\nerror_log {tmp_path}/error.log;\nevents {{}}\n"
        f"http {{\n  client_body_temp_path {tmp_path}/body;\n  proxy_temp_path {tmp_path}/proxy;\n"
        f"{body}\n}}\n"
    )
    return conf


def test_the_shipped_site_file_is_valid_nginx(tmp_path):
    conf = nginx_conf(tmp_path, f"include {local_copy(tmp_path)};")
    command = [nginx_binary(), "-t", "-p", str(tmp_path), "-c", str(conf)]
    done = subprocess.run(command, check=False, capture_output=True, text=True)
    assert done.returncode == 0, done.stderr


@pytest.fixture
def cached(tmp_path):
    """The app behind nginx with the shipped microcache; X-Cache tells what nginx did."""
    app = create_app(make_config(f"sqlite:///{tmp_path / 'app.sqlite3'}", tmp_path))
    with app.app_context():
        db.create_all()
    binary = nginx_binary()
    # nginx's workers run as nobody: their folder must be theirs to write in, outside pytest's own.
    tmp_path = Path(tempfile.mkdtemp(prefix="microsite-nginx-"))
    os.chmod(tmp_path, 0o777)
    (tmp_path / "snippets").mkdir()
    shutil.copy(DEPLOY / "microsite-cache.conf", tmp_path / "snippets")
    port = free_port()
    with live_server(app):
        upstream = app.base_url.removeprefix("http://")
        site = (DEPLOY / "microsite.conf").read_text()
        cache_path = re.search(r"proxy_cache_path [^;]+;", site).group(0)
        conf = nginx_conf(
            tmp_path,
            f"""  {cache_path.replace("/var/cache/nginx/microsite", str(tmp_path / "cache"))}
  server {{
    listen 127.0.0.1:{port};
    add_header X-Cache $upstream_cache_status always;
    location /staff/ {{ proxy_pass http://{upstream}; proxy_cache off; }}
    location = /consultation {{ proxy_pass http://{upstream}; proxy_cache off; }}
    location / {{ proxy_pass http://{upstream}; include {tmp_path}/snippets/microsite-cache.conf; }}
  }}""",
        )
        process = subprocess.Popen([binary, "-p", str(tmp_path), "-c", str(conf), "-g", "daemon off;"])
        try:
            base = f"http://127.0.0.1:{port}"
            for _ in range(100):
                try:
                    urllib.request.urlopen(base + "/healthz", timeout=1)
                    break
                except OSError:
                    time.sleep(0.05)
            yield base
        finally:
            process.terminate()
            process.wait(10)
            shutil.rmtree(tmp_path, ignore_errors=True)


def fetch(url: str, method: str = "GET", data: bytes | None = None):
    request = urllib.request.Request(url, method=method, data=data)
    try:
        with urllib.request.urlopen(request, timeout=5) as response:
            return response.status, response.headers
    except urllib.error.HTTPError as error:
        return error.code, error.headers


def test_the_microcache_keeps_the_public_pages_whatever_the_query_string(cached):
    assert fetch(cached + "/")[1]["X-Cache"] == "MISS"
    status, headers = fetch(cached + "/?utm_source=google&utm_campaign=spring")
    assert status == 200 and headers["X-Cache"] == "HIT"
    assert headers["Cache-Control"] == "public, max-age=300" and "Set-Cookie" not in headers
    assert fetch(cached + "/privacy")[1]["X-Cache"] == "MISS"
    assert fetch(cached + "/privacy")[1]["X-Cache"] == "HIT"


@pytest.mark.parametrize(
    "method,path", [("GET", "/staff/login"), ("GET", "/healthz"), ("GET", "/no-such-page"),
                    ("POST", "/consultation")],
)  # fmt: skip
def test_the_microcache_never_keeps_what_the_app_says_not_to(cached, method, path):
    data = b"full_name=x" if method == "POST" else None
    for _ in range(3):
        _, headers = fetch(cached + path, method, data)
        assert headers.get("X-Cache") in (None, "", "MISS", "BYPASS", "EXPIRED"), (
            path,
            headers.get("X-Cache"),
        )
        assert headers["Cache-Control"] == "no-store"


# -- the whole shipped site file, live: unknown hosts, server_tokens, limit_req ------------------

HOST = "clinic.example.com"


@pytest.fixture
def site(tmp_path):
    """nginx with the shipped site file as it is, on free ports, in front of the app (its own limiter off,
    so every 429 here is nginx's); returns the HTTP and HTTPS ports."""
    app = create_app(make_config(f"sqlite:///{tmp_path / 'app.sqlite3'}", tmp_path))
    with app.app_context():
        db.create_all()
    binary = nginx_binary()
    work = Path(tempfile.mkdtemp(prefix="microsite-nginx-"))
    os.chmod(work, 0o777)  # nginx's workers run as nobody
    http_port, https_port = free_port(), free_port()
    with live_server(app):
        site = local_copy(work).read_text()
        site = re.sub(r"\n\s*listen \[::\]:\d+[^;]*;", "", site)  # this machine may have no IPv6
        site = re.sub(r"listen 80\b", f"listen 127.0.0.1:{http_port}", site)
        site = re.sub(r"listen 443\b", f"listen 127.0.0.1:{https_port}", site)
        site = site.replace("server 127.0.0.1:8000;", f"server {app.base_url.removeprefix('http://')};")
        conf = nginx_conf(work, f"include {work / 'live.conf'};")
        (work / "live.conf").write_text(site)
        process = subprocess.Popen([binary, "-p", str(work), "-c", str(conf), "-g", "daemon off;"])
        try:
            for _ in range(100):
                try:
                    socket.create_connection(("127.0.0.1", https_port), 1).close()
                    break
                except OSError:
                    time.sleep(0.05)
            yield http_port, https_port
        finally:
            process.terminate()
            process.wait(10)
            shutil.rmtree(work, ignore_errors=True)


def exchange(
    port: int, method: str, path: str, host: str = HOST, sni: str | None = None, body: bytes = b""
) -> tuple[int, str]:
    """One request on a new connection (over TLS when `sni` is given); (status, head), status 0 when
    nginx closed the connection without an answer."""
    raw = socket.create_connection(("127.0.0.1", port), 5)
    if sni is not None:
        context = ssl.create_default_context()
        context.check_hostname, context.verify_mode = False, ssl.CERT_NONE  # a throwaway certificate
        raw = context.wrap_socket(raw, server_hostname=sni)
    request = (
        f"{method} {path} HTTP/1.1\r\nHost: {host}\r\nConnection: close\r\n"
        f"Content-Type: application/x-www-form-urlencoded\r\nContent-Length: {len(body)}\r\n\r\n"
    )
    data = b""
    with raw:
        raw.sendall(request.encode() + body)
        try:
            while chunk := raw.recv(65536):
                data += chunk
        except (ConnectionResetError, ssl.SSLError):
            pass
    head = data.split(b"\r\n\r\n", 1)[0].decode("latin-1")
    return (int(head.split()[1]) if head else 0), head


def test_an_unknown_host_gets_no_answer_at_all(site):
    http_port, https_port = site
    assert exchange(http_port, "GET", "/")[0] == 301  # our name: off to HTTPS
    assert exchange(http_port, "GET", "/", host="203.0.113.7") == (0, "")
    assert exchange(http_port, "GET", "/", host="evil.example") == (0, "")
    assert exchange(https_port, "GET", "/", sni=HOST)[0] == 200
    assert exchange(https_port, "GET", "/", sni=HOST, host="evil.example") == (0, "")
    with pytest.raises(ssl.SSLError):  # no certificate, nothing shown, for a name that is not ours
        exchange(https_port, "GET", "/", sni="evil.example")


def test_nginx_does_not_say_its_version(site):
    _, https_port = site
    status, head = exchange(https_port, "GET", "/no-such-page", sni=HOST)
    assert status == 404
    assert re.search(r"(?im)^server: nginx\r?$", head), head


@pytest.mark.parametrize("path", ["/consultation", "/staff/login"])
def test_a_flood_of_posts_is_turned_away_by_nginx_while_pages_are_served(site, path):
    _, https_port = site
    statuses = [exchange(https_port, "POST", path, sni=HOST, body=b"full_name=x")[0] for _ in range(40)]
    assert 429 not in statuses[:5], statuses  # a person sending again gets through to the app
    assert statuses.count(429) >= 10, statuses
    assert exchange(https_port, "GET", "/", sni=HOST)[0] == 200  # reading is never limited
    assert exchange(https_port, "GET", path, sni=HOST)[0] != 429


# -- the servers' logs: kept as long as the privacy notice says ------------------------------------

LOGROTATE = ROOT / "deploy" / "logrotate" / "microsite"


def test_every_log_the_deploy_files_write_is_rotated_at_the_notices_period(tmp_path):
    from fnmatch import fnmatch

    from microsite import config as settings

    days = settings.from_env(tmp_path, env={})["LOG_RETENTION_DAYS"]
    stanzas = re.findall(r"^(/\S+) \{(.*?)^\}", LOGROTATE.read_text(), re.MULTILINE | re.DOTALL)
    assert len(stanzas) == 2
    for _, body in stanzas:
        # Rotated daily, a line stays up to a day in the current file, then `rotate` days.
        for line in ("daily", f"rotate {days - 1}", f"maxage {days}"):
            assert re.search(rf"^\s*{line}$", body, re.MULTILINE), line
    site = (DEPLOY / "microsite.conf").read_text()
    written = re.findall(r"^\s*(?:access|error)_log (/\S+?);?(?:\s|$)", site, re.MULTILINE)
    for unit in ("microsite-web.service", "microsite-outbox.service"):
        written += re.findall(r"=append:(\S+)", (ROOT / "deploy" / "systemd" / unit).read_text())
    assert len(written) == 6
    for path in written:
        assert any(fnmatch(path, glob) for glob, _ in stanzas), path


def test_logrotate_deletes_a_line_after_the_notices_period(tmp_path):
    """The shipped file run by logrotate itself, one forced rotation standing for a day."""
    logrotate = shutil.which("logrotate") or "/usr/sbin/logrotate"
    if not Path(logrotate).exists():
        unavailable("logrotate is not installed (apt-get install logrotate)")
    conf = LOGROTATE.read_text()
    here = {"/var/log/nginx/microsite/": f"{tmp_path}/nginx/", "/run/nginx.pid": f"{tmp_path}/pid",
            "/var/log/microsite/": f"{tmp_path}/app/"}  # fmt: skip
    for shipped, local in here.items():
        assert shipped in conf
        conf = conf.replace(shipped, local)
    (tmp_path / "logrotate.conf").write_text(conf)
    (tmp_path / "logrotate.conf").chmod(0o644)
    for folder in ("nginx", "app"):
        (tmp_path / folder).mkdir()
    log = tmp_path / "nginx" / "error.log"

    def day(n: int) -> None:
        with log.open("a") as fh:
            fh.write(f"day {n}: client: 192.0.2.{n}\n")
        command = [logrotate, "-f", "-s", str(tmp_path / "state"), str(tmp_path / "logrotate.conf")]
        done = subprocess.run(command, capture_output=True, text=True, check=False)
        assert done.returncode == 0, done.stderr

    def kept() -> str:
        import gzip

        return "".join(
            (gzip.decompress(p.read_bytes()).decode() if p.suffix == ".gz" else p.read_text())
            for p in (tmp_path / "nginx").iterdir()
        )

    retention = int(re.search(r"^\s*maxage (\d+)$", conf, re.MULTILINE).group(1))
    for n in range(retention - 1):
        day(n)
    assert "client: 192.0.2.0\n" in kept()  # on its last day
    day(retention - 1)
    assert "client: 192.0.2.0\n" not in kept() and "client: 192.0.2.1\n" in kept()


# -- nginx counts a client as the app does: an IPv6 client by its /64 ---------------------------


def test_nginx_keys_its_limits_by_the_ipv4_address_or_the_ipv6_64(tmp_path):
    """The shipped map's key, answered as the body: 4 bytes for 127.0.0.1, the first 8 of ::1's 16."""
    try:
        socket.socket(socket.AF_INET6).close()
        with socket.socket(socket.AF_INET6) as probe:
            probe.bind(("::1", 0))
    except OSError:
        unavailable("no IPv6 loopback (::1) on this machine")
    shipped = (DEPLOY / "microsite.conf").read_text()
    client_map = re.search(r"map \$binary_remote_addr \$microsite_client \{.*?\n\}", shipped, re.S).group(0)
    assert re.search(r"limit_req_zone \$microsite_post_address zone=microsite_(form|login|beacon)", shipped)
    work = Path(tempfile.mkdtemp(prefix="microsite-nginx-"))
    os.chmod(work, 0o777)  # nginx's workers run as nobody
    port = free_port()
    conf = nginx_conf(
        work,
        f"""{client_map}
  server {{
    listen 127.0.0.1:{port};
    listen [::1]:{port};
    location / {{ return 200 "$microsite_client"; }}
  }}""",
    )
    process = subprocess.Popen([nginx_binary(), "-p", str(work), "-c", str(conf), "-g", "daemon off;"])

    def key_of(host: str) -> bytes:
        for _ in range(100):
            try:
                raw = socket.create_connection((host, port), 1)
                break
            except OSError:
                time.sleep(0.05)
        with raw:
            raw.sendall(b"GET / HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n")
            data = b""
            while chunk := raw.recv(65536):
                data += chunk
        return data.split(b"\r\n\r\n", 1)[1]

    try:
        assert key_of("127.0.0.1") == bytes([127, 0, 0, 1])
        assert key_of("::1") == bytes(8)  # ::1's /64: eight zero bytes, the interface half left out
    finally:
        process.terminate()
        process.wait(10)
        shutil.rmtree(work, ignore_errors=True)


def test_nginx_buffers_whole_requests_and_times_out_slow_ones():
    """gunicorn must never face a slow client: nginx reads the whole body first, within a deadline."""
    shipped = (DEPLOY / "microsite.conf").read_text()
    assert re.search(r"^\s*proxy_request_buffering on;", shipped, re.M)
    assert not re.search(r"^\s*proxy_request_buffering off;", shipped, re.M)
    for directive in ("client_body_timeout", "client_header_timeout", "send_timeout"):
        assert re.search(rf"^\s*{directive} \d+s;", shipped, re.M), directive
