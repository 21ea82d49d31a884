"""itsdangerous serializers for the small signed values of every page view, without their fixed costs.

A form page signs three things per visit: the session cookie, the CSRF token and the form's start
time. itsdangerous' URL-safe serializers try zlib on every payload (a fresh deflate state costs
more than the rest of the signing) and derive the HMAC key again at each call. These subclasses
keep the wire format (stock itsdangerous and Flask-WTF read what they write, and they read what
stock itsdangerous writes, compressed or not) and skip that work:

- payloads are never compressed: ours are a few dozen bytes, where zlib never wins anyway;
- the derived key is computed once per secret and salt, and the HMAC is one C call;
- the signer is built once per serializer, not at every call, and `dumps` signs in one pass.
"""

from __future__ import annotations

import functools
import hmac
import json
import time

from itsdangerous import Signer, TimestampSigner, URLSafeSerializer, URLSafeTimedSerializer
from itsdangerous.encoding import base64_encode, int_to_bytes, want_bytes
from itsdangerous.signer import HMACAlgorithm


@functools.lru_cache(maxsize=32)
def _derived_key(secret_key: bytes, salt: bytes, key_derivation: str, digest_method) -> bytes:
    signer = Signer(secret_key, salt=salt, key_derivation=key_derivation, digest_method=digest_method)
    return signer.derive_key()


class _OneCallHMAC(HMACAlgorithm):
    def get_signature(self, key: bytes, value: bytes) -> bytes:
        return hmac.digest(key, value, self.digest_method)


class _CachedKey:
    def __init__(self, *args, **kwargs):
        super().__init__(*args, **kwargs)
        if type(self.algorithm) is HMACAlgorithm:
            self.algorithm = _OneCallHMAC(self.digest_method)

    def derive_key(self, secret_key: str | bytes | None = None) -> bytes:
        key = self.secret_keys[-1] if secret_key is None else want_bytes(secret_key)
        return _derived_key(key, self.salt, self.key_derivation, self.digest_method)


class FastSigner(_CachedKey, Signer):
    pass


class FastTimestampSigner(_CachedKey, TimestampSigner):
    pass


class _CompactJSON:
    """itsdangerous' compact JSON, from one encoder: json.dumps builds a new one whenever given options."""

    _encoder = json.JSONEncoder(separators=(",", ":"))
    loads = staticmethod(json.loads)
    dumps = staticmethod(_encoder.encode)


class _OneSigner:
    """One signer for the serializer's own salt, built with it; `dumps` is Signer.sign without the layers."""

    timed = False

    def __init__(self, *args, **kwargs):
        super().__init__(*args, **kwargs)
        self._signer = super().make_signer(self.salt)
        self._key = self._signer.derive_key()  # the newest secret's: what sign() uses
        self._sep = want_bytes(self._signer.sep)

    def make_signer(self, salt=None):
        # loads() too: iter_unsigners() asks for the serializer's own salt first.
        if salt is None or salt == self.salt:
            return self._signer
        return super().make_signer(salt)

    def dump_payload(self, obj) -> bytes:
        return base64_encode(self.serializer.dumps(obj, **self.serializer_kwargs))

    def dumps(self, obj, salt=None) -> str:
        if salt is not None or type(self._signer.algorithm) is not _OneCallHMAC:
            return super().dumps(obj, salt)
        value = self.dump_payload(obj)
        if self.timed:
            value = value + self._sep + base64_encode(int_to_bytes(int(time.time())))
        signature = base64_encode(hmac.digest(self._key, value, self._signer.digest_method))
        return (value + self._sep + signature).decode("ascii")


class SignedSerializer(_OneSigner, URLSafeSerializer):
    default_serializer = _CompactJSON
    default_signer = FastSigner


class TimedSerializer(_OneSigner, URLSafeTimedSerializer):
    default_serializer = _CompactJSON
    default_signer = FastTimestampSigner
    timed = True
