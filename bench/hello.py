"""The framework floor for `make bench`: a minimal Flask app served with the same gunicorn.conf.py."""

from flask import Flask

app = Flask(__name__)


@app.get("/")
def hello():
    return "Hello, World!"
