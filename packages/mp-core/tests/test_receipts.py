"""Prediction receipts: what they carry, which key signs them, and every way one is refused."""

from __future__ import annotations

import base64
import hashlib
import hmac
import json
import multiprocessing
from pathlib import Path

import pytest

from mp_core.contract import EXAMPLE_PROFILE
from mp_core.errors import InvalidReceipt
from mp_core.receipts import DERIVATION_LABEL, NONCE_BITS, ReceiptSigner, new_nonce
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
    assert receipt.idempotency_key == "receipt:" + token.rsplit(".", 1)[1]
    # The same answer twice in one second still gets two receipts (two rows when fed back).
    assert signer.issue(VALUES, 1, 0.73, "v0007", NOW) != signer.issue(
        VALUES, 1, 0.73, "v0007", NOW
    )


def test_every_kind_of_bad_receipt_names_the_field_and_the_rule() -> None:
    signer = ReceiptSigner(KEY, max_age=100)
    token = signer.issue(VALUES, 0, 0.2, "v0001", NOW)
    head, payload, mac = token.split(".")
    swapped = signer.issue(VALUES, 1, 0.2, "v0001", NOW).split(".")[1]
    bad = {
        f"{head}.{swapped}.{mac}": "signed by this service",
        f"{head}.{payload}.{mac[::-1]}": "signed by this service",
        ReceiptSigner(b"o" * 32).issue(VALUES, 0, 0.2, "v0001", NOW): "signed by this service",
        "": "a receipt returned by POST /predict",
        "r1.no-dot-mac": "a receipt returned by POST /predict",
        "é" + token: "a receipt returned by POST /predict",
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


def _v1_receipt(key: bytes, payload: list[object]) -> str:
    """A receipt of the first format, made from its description: HMAC-SHA256 in base64url."""

    def b64(data: bytes) -> str:
        return base64.urlsafe_b64encode(data).rstrip(b"=").decode()

    signed = "r1." + b64(json.dumps(payload, separators=(",", ":")).encode())
    return f"{signed}.{b64(hmac.new(key, signed.encode(), hashlib.sha256).digest())}"


def test_receipts_are_blake2s_signed_and_those_of_the_first_format_still_count() -> None:
    signer = ReceiptSigner(KEY)
    token = signer.issue(VALUES, 1, 0.73, "v0007", NOW, nonce=5)
    head, payload, mac = token.split(".")
    blake_key = hashlib.blake2s(KEY, person=b"mpr2key").digest()
    signed = f"{head}.{payload}".encode()
    assert (
        head == "r2" and mac == hashlib.blake2s(signed, key=blake_key, digest_size=16).hexdigest()
    )
    decoded = json.loads(base64.urlsafe_b64decode(payload + "=" * (-len(payload) % 4)))
    assert decoded == [NOW, "v0007", 1, 0.73, VALUES, 5]
    old = _v1_receipt(KEY, [NOW, "v0003", 0, 0.25, VALUES, "vQix39Zwyex6"])
    receipt = signer.redeem(old, NOW + 5)
    assert (receipt.model_version, receipt.prediction, receipt.probability) == ("v0003", 0, 0.25)
    assert [getattr(receipt.profile, name) for name in EXAMPLE_PROFILE] == VALUES
    for forged in (_v1_receipt(b"o" * 32, [NOW, "v0003", 1, 0.25, VALUES, "n"]),
                   "r1." + token.split(".", 1)[1], "r3." + token.split(".", 1)[1]):  # fmt: skip
        with pytest.raises(InvalidReceipt):
            signer.redeem(forged, NOW)


def test_a_forked_worker_draws_other_nonces_than_its_parent() -> None:
    context = multiprocessing.get_context("fork")
    with context.Pool(2) as pool:
        children = pool.map(_nonces, range(2))
    drawn = [*children, _nonces(0)]
    assert len({n for batch in drawn for n in batch}) == 3 * 50
    assert all(0 <= n < 2**NONCE_BITS for batch in drawn for n in batch)


def _nonces(_: int) -> list[int]:
    return [new_nonce() for _ in range(50)]
