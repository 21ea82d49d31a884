"""Our cheaper serializers keep itsdangerous' and Flask-WTF's wire formats, both ways."""

from __future__ import annotations

import hashlib

import pytest
from flask import session
from flask_wtf.csrf import generate_csrf, validate_csrf
from itsdangerous import BadSignature, URLSafeSerializer, URLSafeTimedSerializer
from wtforms import ValidationError

from microsite.sessions import csrf_token
from microsite.signing import SignedSerializer, TimedSerializer

SECRET = "s" * 32
# A long, repetitive value: stock itsdangerous compresses it, and ours must still read it.
VALUES = ["7f317f688f24e41da171b74fa5627355120a9b11", 1764412345.25, {"csrf_token": "a" * 200, "n": 1}]


@pytest.mark.parametrize("value", VALUES)
def test_timed_tokens_read_both_ways(value):
    ours, stock = TimedSerializer(SECRET, salt="x"), URLSafeTimedSerializer(SECRET, salt="x")
    assert stock.loads(ours.dumps(value), max_age=60) == value
    assert ours.loads(stock.dumps(value), max_age=60) == value


@pytest.mark.parametrize("value", VALUES)
def test_untimed_tokens_read_both_ways(value):
    ours, stock = SignedSerializer(SECRET, salt="x"), URLSafeSerializer(SECRET, salt="x")
    assert stock.loads(ours.dumps(value)) == value
    assert ours.loads(stock.dumps(value)) == value


def test_short_payloads_come_out_as_stock_itsdangerous_makes_them():
    value = hashlib.sha1(b"x").hexdigest()
    assert SignedSerializer(SECRET, salt="x").dumps(value) == URLSafeSerializer(SECRET, salt="x").dumps(value)


def test_timed_tokens_come_out_as_stock_itsdangerous_makes_them(monkeypatch):
    import time

    monkeypatch.setattr(time, "time", lambda: 1764412345.75)
    value = hashlib.sha1(b"x").hexdigest()
    stock = URLSafeTimedSerializer(SECRET, salt="x").dumps(value)
    assert TimedSerializer(SECRET, salt="x").dumps(value) == stock


def test_a_token_signed_with_a_retired_key_still_opens_and_new_ones_use_the_newest():
    old, new = "o" * 32, "n" * 32
    rotated = TimedSerializer([old, new], salt="x")
    assert rotated.loads(URLSafeTimedSerializer(old, salt="x").dumps("value")) == "value"
    assert URLSafeTimedSerializer(new, salt="x").loads(rotated.dumps("value")) == "value"
    with pytest.raises(BadSignature):
        URLSafeTimedSerializer(old, salt="x").loads(rotated.dumps("value"))


def test_another_salt_asked_for_by_name_is_honoured():
    ours = SignedSerializer(SECRET, salt="x")
    assert URLSafeSerializer(SECRET, salt="y").loads(ours.dumps("value", salt="y")) == "value"
    with pytest.raises(BadSignature):
        ours.loads(ours.dumps("value", salt="y"))


def test_a_wrong_key_or_salt_or_a_changed_payload_is_refused():
    token = SignedSerializer(SECRET, salt="x").dumps("value")
    with pytest.raises(BadSignature):
        SignedSerializer("t" * 32, salt="x").loads(token)
    with pytest.raises(BadSignature):
        SignedSerializer(SECRET, salt="y").loads(token)
    payload, signature = token.rsplit(".", 1)
    with pytest.raises(BadSignature):
        SignedSerializer(SECRET, salt="x").loads(payload[:-2] + "AA." + signature)


def test_our_csrf_token_is_what_flask_wtf_accepts(app):
    with app.test_request_context("/"):
        token = csrf_token()
        assert csrf_token() == token  # one per request
        validate_csrf(token)  # raises when Flask-WTF does not accept it
        raw = session["csrf_token"]
    with app.test_request_context("/"):
        session["csrf_token"] = "another visitor's secret"
        with pytest.raises(ValidationError):
            validate_csrf(token)
    with app.test_request_context("/"):
        # Flask-WTF's own token for the same session secret reads the same way.
        session["csrf_token"] = raw
        validate_csrf(generate_csrf())


def test_session_cookie_signed_before_the_change_still_opens(app, client):
    # What Flask's stock session interface signed (a visitor's cookie from before a deploy).
    stock = URLSafeTimedSerializer(
        app.secret_key,
        salt="cookie-session",
        serializer=app.session_interface.serializer,
        signer_kwargs={"key_derivation": "hmac", "digest_method": hashlib.sha1},
    )
    client.set_cookie("session", stock.dumps({"csrf_token": "a" * 40}))
    with client:
        client.get("/")
        assert session["csrf_token"] == "a" * 40
