"""itsdangerous serializers for the small signed values of every page view, without their fixed costs.

A form page signs three things per visit: the session cookie, the CSRF token and the form's start
time. itsdangerous' URL-safe serializers try zlib on every payload (a fresh deflate state costs
more than the rest of the signing) and derive the HMAC key again at each call. These subclasses
keep the wire format (stock itsdangerous and Flask-WTF read what they write, and they read what
stock itsdangerous writes, compressed or not) and skip that work:

- payloads are never compressed: ours are a few dozen bytes, where zlib never wins anyway;
- the signer is built once per serializer, not at every call, and derives its keys when built;
- the HMAC is one C call, and the compact JSON comes from one encoder.
"""

from __future__ import annotations

import hmac
import json

from itsdangerous import Signer, TimestampSigner, URLSafeSerializer, URLSafeTimedSerializer
from itsdangerous.encoding import base64_encode, want_bytes
from itsdangerous.signer import HMACAlgorithm


class _OneCallHMAC(HMACAlgorithm):
    def get_signature(self, key: bytes, value: bytes) -> bytes:
        return hmac.digest(key, value, self.digest_method)


class _DerivedOnce:
    """A signer whose keys are derived when it is built (our serializers build it once), not at each call."""

    def __init__(self, *args, **kwargs):
        super().__init__(*args, **kwargs)
        if type(self.algorithm) is HMACAlgorithm:
            self.algorithm = _OneCallHMAC(self.digest_method)
        derive = super().derive_key
        self._derived = {key: derive(key) for key in self.secret_keys}

    def derive_key(self, secret_key: str | bytes | None = None) -> bytes:
        key = self.secret_keys[-1] if secret_key is None else want_bytes(secret_key)
        return self._derived.get(key) or super().derive_key(key)


class FastSigner(_DerivedOnce, Signer):
    pass


class FastTimestampSigner(_DerivedOnce, TimestampSigner):
    pass


class _CompactJSON:
    """itsdangerous' compact JSON, from one encoder: json.dumps builds a new one whenever given options."""

    _encoder = json.JSONEncoder(separators=(",", ":"))
    loads = staticmethod(json.loads)
    dumps = staticmethod(_encoder.encode)


class _OneSigner:
    """One signer for the serializer's own salt, built with it; payloads never compressed."""

    def __init__(self, *args, **kwargs):
        super().__init__(*args, **kwargs)
        self._signer = super().make_signer(self.salt)

    def make_signer(self, salt=None):
        # loads() too: iter_unsigners() asks for the serializer's own salt first.
        if salt is None or salt == self.salt:
            return self._signer
        return super().make_signer(salt)

    def dump_payload(self, obj) -> bytes:
        return base64_encode(self.serializer.dumps(obj, **self.serializer_kwargs))


class SignedSerializer(_OneSigner, URLSafeSerializer):
    default_serializer = _CompactJSON
    default_signer = FastSigner


class TimedSerializer(_OneSigner, URLSafeTimedSerializer):
    default_serializer = _CompactJSON
    default_signer = FastTimestampSigner
