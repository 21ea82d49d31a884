"""itsdangerous serializers for the small signed values of every page view, without their fixed costs.

A form page signs three things per visit: the session cookie, the CSRF token and the form's start
time. itsdangerous' URL-safe serializers try zlib on every payload (a fresh deflate state costs
more than the rest of the signing) and derive the HMAC key again at each call. These subclasses
keep the wire format (stock itsdangerous and Flask-WTF read what they write, and they read what
stock itsdangerous writes, compressed or not) and skip that work:

- payloads are never compressed: ours are a few dozen bytes, where zlib never wins anyway;
- the derived key is computed once per secret and salt, and the HMAC is one C call.
"""

from __future__ import annotations

import functools
import hmac

from itsdangerous import Signer, TimestampSigner, URLSafeSerializer, URLSafeTimedSerializer
from itsdangerous.encoding import base64_encode, want_bytes
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


class _Uncompressed:
    def dump_payload(self, obj) -> bytes:
        return base64_encode(self.serializer.dumps(obj, **self.serializer_kwargs))


class SignedSerializer(_Uncompressed, URLSafeSerializer):
    default_signer = FastSigner


class TimedSerializer(_Uncompressed, URLSafeTimedSerializer):
    default_signer = FastTimestampSigner
