"""Prediction receipts: what ``/predict`` answered, signed by the server, redeemed by ``/feedback``.

A receipt (format 3) is binary, and its text is standard base64 with padding::

    "mpr3" (three magic bytes) · payload · mac (16 bytes)

so every receipt's text starts with ``mpr3``. The payload is what one answer says, packed
little-endian (``_HEAD``, the version, then ``_ROW``)::

    issued_at u32 · version length u8 · version (UTF-8) · prediction u8 · probability f64 ·
    Age u16 · Gender u8 · Department u8 · CGPA, Sleep_Duration, Study_Hours,
    Social_Media_Hours, Physical_Activity f64 · Stress_Level u8 · nonce u64

Gender and Department are their places in the schema's lists (new categories are added at the
end, so a code never changes meaning); floats are the exact doubles that were scored. The
random 62-bit nonce tells apart two identical answers given in the same second. The mac is
keyed BLAKE2s-128 over everything before it. The server that takes the feedback reads the
features, the prediction, the probability and the model version from the receipt, so a client
can only say what the true class was, and only for an estimate the service really gave, once,
within :data:`DEFAULT_MAX_AGE` seconds.

Binary, so the API writes a receipt as a ``bytes`` field and msgspec's encoder does the base64
inside the answer's JSON: a receipt is signed for every prediction, and this costs a third of
what the text formats did, in 124 characters (a five-character version) instead of 210.

Receipts of the earlier text formats are still redeemed, so an upgrade does not void the
answers given before it: ``r2.<payload>.<mac>`` (the same fields as the JSON array
``[issued_at, version, prediction, probability, [nine values], nonce]`` in base64url, keyed
BLAKE2s-128 over ``r2.<payload>`` in hex) and ``r1.`` (that array with a text nonce,
HMAC-SHA256 in base64url). Each format has a key of its own, derived from the receipt key.

The key is ``RECEIPT_KEY`` (or ``RECEIPT_KEY_FILE``) when set; otherwise it is derived from the
model signing key with a label of its own, so every replica that can load the models (they all
hold that key) checks receipts issued by the others, and a receipt mac is never a manifest
signature. Stateless: nothing is stored until the feedback, whose row then carries the
receipt's mac (in hex) as its idempotency key.
"""

from __future__ import annotations

import base64
import binascii
import hashlib
import hmac
import math
import os
import random
import struct
from collections.abc import Callable, Sequence
from typing import TYPE_CHECKING, Any, Final

import msgspec

from mp_core.errors import InvalidReceipt
from mp_core.schema import DEPARTMENTS, FEATURE_NAMES, GENDERS, StudentProfile, profile_from_mapping
from mp_core.settings import ConfigError
from mp_core.stores.feedback_files import RECEIPT_KEY_PREFIX

if TYPE_CHECKING:
    from mp_core.settings import Settings

#: The text every receipt of the current format starts with (its three magic bytes in base64).
MAGIC_TEXT: Final = "mpr3"
_MAGIC: Final = base64.b64decode(MAGIC_TEXT)
_MAC_BYTES: Final = 16
#: The earlier text formats, still redeemed (see the module docstring).
PREFIX_V2: Final = "r2."
PREFIX_V1: Final = "r1."
DEFAULT_MAX_AGE: Final = 7 * 24 * 3600  # RECEIPT_MAX_AGE, seconds: a week to learn the outcome
#: Clock difference between replicas tolerated for a receipt issued "in the future".
CLOCK_SKEW: Final = 60
MIN_KEY_CHARS: Final = 32
#: Label of the key derived from the model signing key (domain separation).
DERIVATION_LABEL: Final = b"mindpulse prediction receipt v1"
#: Longest receipt accepted: nine features, a version and a float never come near it.
MAX_CHARS: Final = 1000
NONCE_BITS: Final = 62  # a batch adds each row's index: stays below 2**64 (u64)

#: The payload: the head (issued_at, length of the version that follows it), then the row.
_HEAD: Final = struct.Struct("<IB")
_ROW: Final = struct.Struct("<BdHBBdddddBQ")
#: Gender and Department are written as their places in these (the schema's own order).
CATEGORY_CODES: Final = (GENDERS, DEPARTMENTS)
_GENDER_CODE: Final = {level: i for i, level in enumerate(GENDERS)}
_DEPARTMENT_CODE: Final = {level: i for i, level in enumerate(DEPARTMENTS)}

#: Person strings of the BLAKE2s keys derived from the receipt key (32 bytes each).
_PERSON: Final = b"mpr3key"
_PERSON_V2: Final = b"mpr2key"
_decode_v2_payload = msgspec.json.Decoder(tuple[int, str, int, float, list[Any], int | str])

# Nonces only need to differ, not to be secret (the mac is what cannot be forged), so a seeded
# generator serves them: os.urandom per receipt was a fifth of a receipt's cost. Each process
# seeds its own, again in a forked child, so two workers never share a sequence.
_nonces = random.Random(os.urandom(32))
os.register_at_fork(after_in_child=lambda: _nonces.seed(os.urandom(32)))

RowIssuer = Callable[[Sequence[Any], int, float, int], bytes]
"""``issue(values, prediction, probability, nonce)``: a receipt's bytes (:meth:`ReceiptSigner.issuer`)."""


def receipt_text(receipt: bytes) -> str:
    """A receipt's text, as the API writes it (msgspec encodes ``bytes`` the same way)."""
    return binascii.b2a_base64(receipt, newline=False).decode("ascii")


def receipt_mac(token: str) -> str:
    """The mac a receipt's text carries, unchecked ("" when there is none): what the store keys
    its feedback row on (``receipt:<mac>``), and what a client may send as Idempotency-Key."""
    if not token.startswith(MAGIC_TEXT):
        return token.rpartition(".")[2]  # an earlier format: its mac is its last part
    try:
        receipt = base64.b64decode(token, validate=True)
    except binascii.Error:
        return ""
    return receipt[-_MAC_BYTES:].hex()


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


def _b64url(data: bytes) -> str:
    return base64.urlsafe_b64encode(data).rstrip(b"=").decode("ascii")


def _unb64url(text: str) -> bytes:
    return base64.urlsafe_b64decode(text + "=" * (-len(text) % 4))


class ReceiptSigner:
    """Issues and checks receipts with one key (``key`` bytes, at least 32 of them)."""

    def __init__(self, key: bytes, *, max_age: int = DEFAULT_MAX_AGE) -> None:
        if len(key) < MIN_KEY_CHARS:
            raise ConfigError(f"receipt key: at least {MIN_KEY_CHARS} bytes")

        def keyed(person: bytes) -> hashlib.blake2s:
            blake_key = hashlib.blake2s(key, person=person).digest()
            return hashlib.blake2s(key=blake_key, digest_size=_MAC_BYTES)

        # Keyed once; each mac copies the keyed state (cheaper than keying it again).
        self._keyed, self._keyed_v2 = keyed(_PERSON), keyed(_PERSON_V2)
        self._keyed_v1 = hmac.new(key, digestmod=hashlib.sha256)
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

    def issuer(self, model_version: str, issued_at: int) -> RowIssuer:
        """Receipts of answers given by ``model_version`` at ``issued_at``, as bytes: what they
        share is packed once. ``values`` are the nine features in schema order; ``nonce``
        (below 2**64) must differ between the answers."""
        version = model_version.encode()
        head = _MAGIC + _HEAD.pack(issued_at, len(version)) + version
        pack, keyed = _ROW.pack, self._keyed.copy
        gender_code, department_code = _GENDER_CODE, _DEPARTMENT_CODE

        def issue(values: Sequence[Any], prediction: int, probability: float, nonce: int) -> bytes:
            age, gender, department, cgpa, sleep, study, social, activity, stress = values
            signed = head + pack(
                prediction, probability, age, gender_code[gender], department_code[department],
                cgpa, sleep, study, social, activity, stress, nonce,
            )  # fmt: skip
            mac = keyed()
            mac.update(signed)
            return signed + mac.digest()

        return issue

    def issue(
        self,
        values: Sequence[Any],
        prediction: int,
        probability: float,
        model_version: str,
        issued_at: int,
        nonce: int | None = None,
    ) -> str:
        """The receipt text of one answer; ``values`` are the nine features in schema order,
        and ``nonce`` must differ between answers (default: :func:`new_nonce`)."""
        issue = self.issuer(model_version, issued_at)
        nonce = new_nonce() if nonce is None else nonce
        return receipt_text(issue(values, prediction, probability, nonce))

    def redeem(self, token: str, now: float) -> Receipt:
        """The receipt ``token`` stands for, or :class:`InvalidReceipt` saying which rule fails."""
        if len(token) > MAX_CHARS or not token.isascii():
            raise _not_a_receipt()
        if token.startswith(MAGIC_TEXT):
            mac, read = self._verify(token)
        else:
            mac, read = self._verify_text(token)
        try:
            issued_at, version, prediction, probability, values = read()
            profile = profile_from_mapping(dict(zip(FEATURE_NAMES, values, strict=True)))
        except (ValueError, struct.error, msgspec.DecodeError, msgspec.ValidationError):
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

    def _verify(self, token: str) -> tuple[str, Callable[[], _Fields]]:
        """The mac (hex) of a current receipt that our key signed, and how to read its payload."""
        try:
            receipt = base64.b64decode(token, validate=True)
        except binascii.Error:  # not base64: nothing this service wrote
            raise _not_a_receipt() from None
        if len(receipt) <= len(_MAGIC) + _MAC_BYTES:  # no room for a payload and its mac
            raise _not_a_receipt()
        signed, mac = receipt[:-_MAC_BYTES], receipt[-_MAC_BYTES:]
        expected = self._keyed.copy()
        expected.update(signed)
        if not hmac.compare_digest(mac, expected.digest()):
            raise _altered()
        return mac.hex(), lambda: _read_payload(signed[len(_MAGIC) :])

    def _verify_text(self, token: str) -> tuple[str, Callable[[], _Fields]]:
        """The same for a receipt of an earlier format (``rN.<payload>.<mac>``)."""
        signed, dot, mac = token.rpartition(".")
        prefix = signed[: len(PREFIX_V2)]
        if not dot or prefix not in (PREFIX_V2, PREFIX_V1):
            raise _not_a_receipt()
        if prefix == PREFIX_V2:
            keyed = self._keyed_v2.copy()
            keyed.update(signed.encode("ascii"))
            expected = keyed.hexdigest()
        else:
            keyed_v1 = self._keyed_v1.copy()
            keyed_v1.update(signed.encode("ascii"))
            expected = _b64url(keyed_v1.digest())
        if not hmac.compare_digest(mac, expected):
            raise _altered()

        def read() -> _Fields:
            fields = _decode_v2_payload.decode(_unb64url(signed[len(prefix) :]))
            return fields[:5]  # the text nonce or number is not needed

        return mac, read


_Fields = tuple[int, str, int, float, Sequence[Any]]
"""issued_at, model version, prediction, probability and the nine values."""


def _read_payload(payload: bytes) -> _Fields:
    """The fields of a current receipt's payload (see the module docstring)."""
    issued_at, length = _HEAD.unpack_from(payload)
    start = _HEAD.size + length
    if len(payload) != start + _ROW.size:
        raise ValueError("not the length of a payload")
    version = payload[_HEAD.size : start].decode()
    prediction, probability, age, gender, department, *numbers, stress, _ = _ROW.unpack_from(
        payload, start
    )
    genders, departments = CATEGORY_CODES
    if gender >= len(genders) or department >= len(departments):
        raise ValueError("a category code this version does not know")
    values = (age, genders[gender], departments[department], *numbers, stress)
    return issued_at, version, prediction, probability, values


def _not_a_receipt() -> InvalidReceipt:
    return InvalidReceipt(
        "a receipt returned by POST /predict",
        "not a receipt: send the prediction_id that POST /predict returned",
    )


def _altered() -> InvalidReceipt:
    return InvalidReceipt(
        "signed by this service",
        "the signature does not match: the receipt was altered, or issued by another "
        "deployment (another RECEIPT_KEY or signing key)",
    )
