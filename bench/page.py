"""`make bench`'s page-only baseline: the saved landing page and its headers, from a view doing nothing else.

It sits between hello-world and the app: what sending our page costs before any of our own Python
runs. scripts/bench.py saves one new visitor's page and headers and names the files; gunicorn serves
this app with the same gunicorn.conf.py as the others.
"""

import json
import os
from pathlib import Path

from flask import Flask

BODY = Path(os.environ["BENCH_PAGE_BODY"]).read_bytes()
HEADERS = [tuple(header) for header in json.loads(Path(os.environ["BENCH_PAGE_HEADERS"]).read_text())]

app = Flask(__name__)


@app.get("/")
def page():
    return BODY, 200, HEADERS
