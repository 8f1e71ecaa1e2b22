"""Prediction receipts: what they carry, which key signs them, and every way one is refused."""

from __future__ import annotations

import base64
import hashlib
import hmac
import json
import multiprocessing
import struct
from pathlib import Path

import pytest

from mp_core.contract import EXAMPLE_PROFILE
from mp_core.errors import InvalidReceipt
from mp_core.receipts import (
    CATEGORY_CODES,
    DERIVATION_LABEL,
    NONCE_BITS,
    ReceiptSigner,
    new_nonce,
    receipt_mac,
)
from mp_core.settings import ConfigError, Settings

KEY = b"k" * 32
VALUES = list(EXAMPLE_PROFILE.values())
NOW = 1_800_000_000


def test_a_receipt_gives_back_exactly_what_was_answered() -> None:
    signer = ReceiptSigner(KEY)
    token = signer.issue(VALUES, 1, 0.7312345678901234, "v0007", NOW)
    receipt = signer.redeem(token, NOW + 10)
    assert receipt.prediction == 1 and receipt.probability == 0.7312345678901234
    assert receipt.model_version == "v0007" and receipt.issued_at == NOW
    assert list(receipt.profile.__struct_fields__) == list(EXAMPLE_PROFILE)
    assert [getattr(receipt.profile, name) for name in EXAMPLE_PROFILE] == VALUES
    assert receipt.idempotency_key == "receipt:" + base64.b64decode(token)[-16:].hex()
    assert receipt.idempotency_key == "receipt:" + receipt_mac(token)
    assert receipt_mac("mpr3 not base64") == ""
    # The same answer twice in one second still gets two receipts (two rows when fed back).
    assert signer.issue(VALUES, 1, 0.73, "v0007", NOW) != signer.issue(
        VALUES, 1, 0.73, "v0007", NOW
    )


def test_every_kind_of_bad_receipt_names_the_field_and_the_rule() -> None:
    signer = ReceiptSigner(KEY, max_age=100)
    token = signer.issue(VALUES, 0, 0.2, "v0001", NOW)
    receipt = base64.b64decode(token)
    swapped = base64.b64decode(signer.issue(VALUES, 1, 0.2, "v0001", NOW))
    bad = {
        _text(swapped[:-16] + receipt[-16:]): "signed by this service",  # another payload
        _text(receipt[:-16] + receipt[-16:][::-1]): "signed by this service",  # another mac
        _text(receipt[:-17] + receipt[-16:]): "signed by this service",  # a byte short
        ReceiptSigner(b"o" * 32).issue(VALUES, 0, 0.2, "v0001", NOW): "signed by this service",
        "": "a receipt returned by POST /predict",
        "r1.no-dot-mac": "a receipt returned by POST /predict",
        "é" + token: "a receipt returned by POST /predict",
        token + "!": "a receipt returned by POST /predict",  # not base64
        token[:-2] + " " + token[-1]: "a receipt returned by POST /predict",
        "mpr3" + token[4:24]: "a receipt returned by POST /predict",  # too short for a mac
        signer.issue(VALUES, 0, 0.2, "v0001", NOW - 101): "RECEIPT_MAX_AGE",
        signer.issue(VALUES, 0, 0.2, "v0001", NOW + 61): "issued in the past",
    }
    for text, rule in bad.items():
        with pytest.raises(InvalidReceipt) as caught:
            signer.redeem(text, NOW)
        assert caught.value.field == "prediction_id" and rule in caught.value.rule, text
    assert signer.redeem(signer.issue(VALUES, 0, 0.2, "v0001", NOW + 59), NOW).prediction == 0


def test_the_key_is_receipt_key_or_derived_from_the_signing_key(tmp_path: Path) -> None:
    signing = "s" * 40
    derived = ReceiptSigner.from_settings(Settings(model_signing_key=signing))
    expected = hmac.new(signing.encode(), DERIVATION_LABEL, hashlib.sha256).digest()
    assert derived.redeem(ReceiptSigner(expected).issue(VALUES, 0, 0.1, "v1", NOW), NOW)
    # Two replicas with the same signing key check each other's receipts; the label keeps a
    # receipt mac from ever being a manifest signature made with the signing key itself.
    with pytest.raises(InvalidReceipt):
        derived.redeem(ReceiptSigner(signing.encode()).issue(VALUES, 0, 0.1, "v1", NOW), NOW)
    own = Settings(model_signing_key=signing, receipt_key="r" * 32, receipt_max_age=5)
    signer = ReceiptSigner.from_settings(own)
    assert signer.max_age == 5
    with pytest.raises(InvalidReceipt):
        signer.redeem(derived.issue(VALUES, 0, 0.1, "v1", NOW), NOW)
    secret = tmp_path / "receipt.key"
    secret.write_text("f" * 32 + "\n")
    from_file = Settings.from_env({"RECEIPT_KEY_FILE": str(secret), "MODEL_SIGNING_KEY": signing})
    assert from_file.receipt_key == "f" * 32
    with pytest.raises(ConfigError, match="RECEIPT_KEY: at least 32"):
        ReceiptSigner.from_settings(Settings(receipt_key="short"))
    with pytest.raises(ConfigError, match="RECEIPT_MAX_AGE"):
        Settings.from_env({"RECEIPT_MAX_AGE": "0"})


def _b64(data: bytes) -> str:
    return base64.urlsafe_b64encode(data).rstrip(b"=").decode()


def _v1_receipt(key: bytes, payload: list[object]) -> str:
    """A receipt of the first format, made from its description: HMAC-SHA256 in base64url."""
    signed = "r1." + _b64(json.dumps(payload, separators=(",", ":")).encode())
    return f"{signed}.{_b64(hmac.new(key, signed.encode(), hashlib.sha256).digest())}"


def _v2_receipt(key: bytes, payload: list[object]) -> str:
    """A receipt of the second format, made from its description: a JSON array, keyed BLAKE2s."""
    signed = "r2." + _b64(json.dumps(payload, separators=(",", ":")).encode())
    blake_key = hashlib.blake2s(key, person=b"mpr2key").digest()
    return f"{signed}.{hashlib.blake2s(signed.encode(), key=blake_key, digest_size=16).hexdigest()}"


def _text(receipt: bytes) -> str:
    return base64.b64encode(receipt).decode()


def _payload(values: list[object], *, version: bytes = b"v0007", gender: int = 1) -> bytes:
    """The packed payload as the module docstring lays it out (EXAMPLE_PROFILE's values)."""
    age, _, _, cgpa, sleep, study, social, activity, stress = values
    return (
        struct.pack("<IB", NOW, len(version))
        + version
        + struct.pack("<Bd", 1, 0.73)
        + struct.pack("<HBB", age, gender, 3)  # Department: Business is the schema's fourth
        + struct.pack("<5d", cgpa, sleep, study, social, activity)
        + struct.pack("<BQ", stress, 5)
    )


def _signed(payload: bytes, key: bytes = KEY) -> str:
    """A receipt made from its description: magic bytes, payload, keyed BLAKE2s-128."""
    signed = base64.b64decode("mpr3") + payload
    blake_key = hashlib.blake2s(key, person=b"mpr3key").digest()
    return _text(signed + hashlib.blake2s(signed, key=blake_key, digest_size=16).digest())


def test_receipts_are_packed_as_documented_and_those_of_earlier_formats_still_count() -> None:
    signer = ReceiptSigner(KEY)
    values = [*VALUES]
    values[1], values[2] = "Female", "Business"
    token = signer.issue(values, 1, 0.73, "v0007", NOW, nonce=5)
    assert token == _signed(_payload(values)) and token.startswith("mpr3")
    assert len(token) == 124  # with a five-character version
    redeemed = signer.redeem(token, NOW)
    assert [getattr(redeemed.profile, name) for name in EXAMPLE_PROFILE] == values
    for old in (_v2_receipt(KEY, [NOW, "v0003", 0, 0.25, VALUES, 77]),
                _v1_receipt(KEY, [NOW, "v0003", 0, 0.25, VALUES, "vQix39Zwyex6"])):  # fmt: skip
        receipt = signer.redeem(old, NOW + 5)
        assert (receipt.model_version, receipt.prediction, receipt.probability) == (
            "v0003", 0, 0.25,
        )  # fmt: skip
        assert [getattr(receipt.profile, name) for name in EXAMPLE_PROFILE] == VALUES
        assert receipt.idempotency_key == "receipt:" + old.rsplit(".", 1)[1]
        assert receipt.idempotency_key == "receipt:" + receipt_mac(old)
    for forged in (_v1_receipt(b"o" * 32, [NOW, "v0003", 1, 0.25, VALUES, "n"]),
                   _v2_receipt(b"o" * 32, [NOW, "v0003", 1, 0.25, VALUES, 7]),
                   _signed(_payload(values), b"o" * 32)):  # fmt: skip
        with pytest.raises(InvalidReceipt, match="signature does not match"):
            signer.redeem(forged, NOW)


def test_category_codes_keep_their_meaning() -> None:
    """A receipt writes a category as its place in the schema's list: reordering the list
    would make every receipt already given say another category, so the order is pinned here
    (new categories go at the end)."""
    assert CATEGORY_CODES == (
        ("Male", "Female", "Other"),
        ("Engineering", "Science", "Arts", "Business", "Medical", "Law"),
    )


def test_a_signed_payload_this_version_cannot_read_is_refused_as_such() -> None:
    """Signed with our key, yet a length, version or category code that it does not have."""
    signer = ReceiptSigner(KEY)
    unreadable = [
        _payload(VALUES, gender=9),  # a category code past the list
        _payload(VALUES)[:-1],  # a byte short
        _payload(VALUES) + b"\0",  # a byte more
        _payload(VALUES, version=b"\xff\xfe"),  # a version that is not UTF-8
        b"\0" * 3,  # shorter than the head
    ]
    for payload in unreadable:
        with pytest.raises(InvalidReceipt, match="cannot read"):
            signer.redeem(_signed(payload), NOW)


def test_a_forked_worker_draws_other_nonces_than_its_parent() -> None:
    context = multiprocessing.get_context("fork")
    with context.Pool(2) as pool:
        children = pool.map(_nonces, range(2))
    drawn = [*children, _nonces(0)]
    assert len({n for batch in drawn for n in batch}) == 3 * 50
    assert all(0 <= n < 2**NONCE_BITS for batch in drawn for n in batch)


def _nonces(_: int) -> list[int]:
    return [new_nonce() for _ in range(50)]
