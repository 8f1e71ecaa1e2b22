"""Prediction receipts: what ``/predict`` answered, signed by the server, redeemed by ``/feedback``.

A receipt is ``r2.<payload>.<mac>``: the payload is the compact JSON array
``[issued_at, model_version, prediction, probability, [nine feature values], nonce]`` in
base64url (the random 62-bit nonce tells apart two identical answers given in the same second),
and the mac is keyed BLAKE2s-128 over ``r2.<payload>``, in hex. The server that takes the
feedback reads the features, the prediction, the probability and the model version from the
receipt, so a client can only say what the true class was, and only for an estimate the
service really gave, once, within :data:`DEFAULT_MAX_AGE` seconds.

Receipts of the first format (``r1.``: HMAC-SHA256, base64url mac, a text nonce) are still
redeemed, so an upgrade does not void the answers given before it. ``r2`` exists for speed:
one keyed BLAKE2s call and a nonce from a seeded generator cost a third of what ``r1`` did, and
a receipt is signed for every prediction.

The key is ``RECEIPT_KEY`` (or ``RECEIPT_KEY_FILE``) when set; otherwise it is derived from the
model signing key with a label of its own, so every replica that can load the models (they all
hold that key) checks receipts issued by the others, and a receipt mac is never a manifest
signature. Stateless: nothing is stored until the feedback, whose row then carries the
receipt's mac as its idempotency key.
"""

from __future__ import annotations

import base64
import binascii
import hashlib
import hmac
import math
import os
import random
from collections.abc import Sequence
from typing import TYPE_CHECKING, Any, Final

import msgspec

from mp_core.errors import InvalidReceipt
from mp_core.schema import FEATURE_NAMES, StudentProfile, profile_from_mapping
from mp_core.settings import ConfigError
from mp_core.stores.feedback_files import RECEIPT_KEY_PREFIX

if TYPE_CHECKING:
    from mp_core.settings import Settings

PREFIX: Final = "r2."
_PREFIX_BYTES: Final = PREFIX.encode("ascii")
#: The first format, still redeemed (see the module docstring).
PREFIX_V1: Final = "r1."
DEFAULT_MAX_AGE: Final = 7 * 24 * 3600  # RECEIPT_MAX_AGE, seconds: a week to learn the outcome
#: Clock difference between replicas tolerated for a receipt issued "in the future".
CLOCK_SKEW: Final = 60
MIN_KEY_CHARS: Final = 32
#: Label of the key derived from the model signing key (domain separation).
DERIVATION_LABEL: Final = b"mindpulse prediction receipt v1"
#: Longest receipt accepted: nine features, a version and a float never come near it.
MAX_CHARS: Final = 1000

_encode = msgspec.json.encode
_Payload = tuple[int, str, int, float, tuple[Any, ...], int]
_decode_payload = msgspec.json.Decoder(tuple[int, str, int, float, list[Any], int | str])
#: Person string of the BLAKE2s key derived from the receipt key (BLAKE2s keys are 32 bytes).
_BLAKE_PERSON: Final = b"mpr2key"
NONCE_BITS: Final = 62  # a batch adds each row's index: stays a signed 64-bit JSON integer

# Nonces only need to differ, not to be secret (the mac is what cannot be forged), so a seeded
# generator serves them: os.urandom per receipt was a fifth of a receipt's cost. Each process
# seeds its own, again in a forked child, so two workers never share a sequence.
_nonces = random.Random(os.urandom(32))
os.register_at_fork(after_in_child=lambda: _nonces.seed(os.urandom(32)))


def new_nonce() -> int:
    """A random 62-bit number; a batch adds each row's index to one of these."""
    return _nonces.getrandbits(NONCE_BITS)


class Receipt(msgspec.Struct, frozen=True, kw_only=True):
    """What a receipt says the service answered, and when."""

    profile: StudentProfile
    prediction: int
    probability: float
    model_version: str
    issued_at: int
    mac: str  # the receipt's own id: its idempotency key when redeemed

    @property
    def idempotency_key(self) -> str:
        return RECEIPT_KEY_PREFIX + self.mac


#: base64 to base64url; binascii and this table are what base64.urlsafe_b64encode calls,
#: without its two Python frames (a fifth of a receipt's cost).
_URLSAFE: Final = bytes.maketrans(b"+/", b"-_")
_b2a = binascii.b2a_base64


def _b64_bytes(data: bytes) -> bytes:
    """Unpadded base64url of ``data``."""
    return _b2a(data, newline=False).translate(_URLSAFE).rstrip(b"=")


def _b64(data: bytes) -> str:
    return _b64_bytes(data).decode("ascii")


def _unb64(text: str) -> bytes:
    return base64.urlsafe_b64decode(text + "=" * (-len(text) % 4))


class ReceiptSigner:
    """Issues and checks receipts with one key (``key`` bytes, at least 32 of them)."""

    def __init__(self, key: bytes, *, max_age: int = DEFAULT_MAX_AGE) -> None:
        if len(key) < MIN_KEY_CHARS:
            raise ConfigError(f"receipt key: at least {MIN_KEY_CHARS} bytes")
        # Keyed once; each mac copies the keyed state (cheaper than keying it again).
        self._keyed_v1 = hmac.new(key, digestmod=hashlib.sha256)
        blake_key = hashlib.blake2s(key, person=_BLAKE_PERSON).digest()
        self._keyed = hashlib.blake2s(key=blake_key, digest_size=16)
        self.max_age = max_age

    @classmethod
    def from_settings(cls, settings: Settings) -> ReceiptSigner:
        """``RECEIPT_KEY`` when set; otherwise derived from the model signing key."""
        if settings.receipt_key is not None:
            if len(settings.receipt_key) < MIN_KEY_CHARS:
                raise ConfigError(
                    f"environment variable RECEIPT_KEY: at least {MIN_KEY_CHARS} characters "
                    '(make one with `python -c "import secrets; print(secrets.token_urlsafe(32))"`)'
                )
            key = settings.receipt_key.encode()
        else:
            from mp_core.stores.bundle_trust import SigningKey

            signing = (
                SigningKey.from_settings(settings)
                if settings.model_signing_key is not None
                else SigningKey.from_env()
            )
            key = signing.derive(DERIVATION_LABEL)
        return cls(key, max_age=settings.receipt_max_age)

    def _mac(self, signed: bytes) -> str:
        keyed = self._keyed.copy()
        keyed.update(signed)
        return keyed.hexdigest()

    def _mac_v1(self, signed: bytes) -> str:
        keyed = self._keyed_v1.copy()
        keyed.update(signed)
        return _b64(keyed.digest())

    def issue(
        self,
        values: Sequence[Any],
        prediction: int,
        probability: float,
        model_version: str,
        issued_at: int,
        nonce: int | None = None,
    ) -> str:
        """The receipt of one answer; ``values`` are the nine features in schema order, and
        ``nonce`` must differ between answers (default: :func:`new_nonce`)."""
        payload: _Payload = (
            issued_at,
            model_version,
            prediction,
            probability,
            tuple(values),
            new_nonce() if nonce is None else nonce,
        )
        signed = _PREFIX_BYTES + _b64_bytes(_encode(payload))
        return f"{signed.decode('ascii')}.{self._mac(signed)}"

    def redeem(self, token: str, now: float) -> Receipt:
        """The receipt ``token`` stands for, or :class:`InvalidReceipt` saying which rule fails."""
        signed, dot, mac = token.rpartition(".")
        prefix = signed[: len(PREFIX)]  # both formats: "rN."
        if (
            len(token) > MAX_CHARS
            or not dot
            or prefix not in (PREFIX, PREFIX_V1)
            or not token.isascii()
        ):
            raise InvalidReceipt(
                "a receipt returned by POST /predict",
                "not a receipt: send the prediction_id that POST /predict returned",
            )
        sign = self._mac if prefix == PREFIX else self._mac_v1
        if not hmac.compare_digest(mac, sign(signed.encode("ascii"))):
            raise InvalidReceipt(
                "signed by this service",
                "the signature does not match: the receipt was altered, or issued by another "
                "deployment (another RECEIPT_KEY or signing key)",
            )
        try:
            issued_at, version, prediction, probability, values, _ = _decode_payload.decode(
                _unb64(signed[len(prefix) :])
            )
            profile = profile_from_mapping(dict(zip(FEATURE_NAMES, values, strict=True)))
        except (ValueError, msgspec.DecodeError, msgspec.ValidationError):
            # Signed by our key yet unreadable: a receipt format this version does not know.
            raise InvalidReceipt(
                "a receipt returned by POST /predict",
                "a receipt this server cannot read (issued by another version?)",
            ) from None
        age = now - issued_at
        if age > self.max_age:
            raise InvalidReceipt(
                f"used within RECEIPT_MAX_AGE ({self.max_age} s) of the prediction",
                f"expired: issued {math.floor(age)} s ago, receipts are accepted for "
                f"{self.max_age} s (RECEIPT_MAX_AGE)",
            )
        if age < -CLOCK_SKEW:
            raise InvalidReceipt(
                "issued in the past",
                f"issued {math.ceil(-age)} s in the future: the servers' clocks disagree",
            )
        return Receipt(
            profile=profile,
            prediction=prediction,
            probability=probability,
            model_version=version,
            issued_at=issued_at,
            mac=mac,
        )
