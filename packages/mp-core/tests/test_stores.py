"""The stores' contract: every test runs on the files backend and on a real PostgreSQL."""

from __future__ import annotations

import hashlib
import threading
from collections.abc import Iterator
from pathlib import Path

import pytest

from mp_core.errors import CorruptArtifact, IdempotencyConflict, ModelUnavailable
from mp_core.ml.synthetic import generate
from mp_core.ml.training import TrainConfig, TrainingResult, train
from mp_core.schema import profile_from_mapping
from mp_core.settings import Settings
from mp_core.stores import Stores, model_store, open_stores
from mp_core.stores.feedback_files import FeedbackRecord
from testsupport.api import EXAMPLE


@pytest.fixture
def stores(backend_settings: Settings) -> Iterator[Stores]:
    opened = open_stores(backend_settings)
    yield opened
    opened.close()


@pytest.fixture(scope="module")
def result() -> TrainingResult:
    return train(generate(2000, 7), TrainConfig(candidates=("logistic_regression",), n_jobs=1))


def _record(stress: int = 5, actual: int = 1) -> FeedbackRecord:
    return FeedbackRecord(
        profile=profile_from_mapping({**EXAMPLE, "Stress_Level": stress}),
        prediction=1,
        probability=0.75,
        actual=actual,
        model_version="v0001",
    )


# -- feedback rows ---------------------------------------------------------------------------
def test_rows_are_numbered_and_read_back_typed(stores: Stores) -> None:
    assert stores.feedback.count() == 0
    assert [stores.feedback.append(_record(stress=s)) for s in (1, 2, 3)] == [1, 2, 3]
    assert stores.feedback.count() == 3
    frame = stores.feedback.read().frame
    assert list(frame["Stress_Level"]) == [1, 2, 3]
    assert list(frame["probability"]) == [0.75] * 3
    assert list(stores.feedback.read(since=2).frame["Stress_Level"]) == [3]


def test_concurrent_writers_get_distinct_numbers(stores: Stores) -> None:
    totals: list[int] = []
    lock = threading.Lock()

    def write() -> None:
        for _ in range(25):
            total = stores.feedback.append(_record())
            with lock:
                totals.append(total)

    threads = [threading.Thread(target=write) for _ in range(4)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert sorted(totals) == list(range(1, 101))
    assert stores.feedback.count() == 100 == len(stores.feedback.read().frame)


def test_a_retry_with_the_same_key_is_stored_once(stores: Stores) -> None:
    first = stores.feedback.add(_record(), key="abc")
    stores.feedback.add(_record(stress=2), key="other")
    again = stores.feedback.add(_record(), key="abc")
    assert (first.total, first.replayed) == (1, False)
    assert (again.total, again.replayed) == (1, True)
    assert stores.feedback.count() == 2


def test_a_different_body_under_a_known_key_names_the_field(stores: Stores) -> None:
    stores.feedback.add(_record(stress=5), key="k1")
    with pytest.raises(IdempotencyConflict) as caught:
        stores.feedback.add(_record(stress=6), key="k1")
    assert caught.value.field == "features.Stress_Level"
    with pytest.raises(IdempotencyConflict) as caught:
        stores.feedback.add(_record(stress=5, actual=0), key="k1")
    assert caught.value.field == "actual"
    assert stores.feedback.count() == 1


# -- retrain requests ------------------------------------------------------------------------
def test_one_waiting_request_covers_the_next_ones(stores: Stores) -> None:
    requests = stores.requests
    assert requests.waiting() == []
    assert requests.request("api") is True
    assert requests.request("feedback:50") is False  # one is waiting already
    assert [r["trigger"] for r in requests.waiting()] == ["api"]
    with requests.take("t1") as taken:
        assert taken is not None and taken.triggers == ["api"]
        assert requests.is_running()
        assert requests.waiting() == []
        assert requests.request("drift") is True  # waits for the next training
    assert not requests.is_running()
    with requests.take("t1") as taken:
        assert taken is not None and taken.trigger == "drift"
    with requests.take("t1") as taken:
        assert taken is None  # nothing waiting


def test_only_one_trainer_holds_the_lock(stores: Stores) -> None:
    stores.requests.request("api")
    with stores.requests.hold_lock() as held:
        assert held
        with stores.requests.take("t2") as taken:
            assert taken is None  # busy: the request stays for later
        assert len(stores.requests.waiting()) == 1


def test_a_running_status_without_its_trainer_reads_as_interrupted(stores: Stores) -> None:
    assert stores.requests.read_status() is None
    with stores.requests.hold_lock():
        stores.requests.write_status({"state": "running", "trigger": "api"})
        assert stores.requests.read_status() == {"state": "running", "trigger": "api"}
    status = stores.requests.read_status()
    assert status is not None and status["state"] == "failed"
    assert "interrupted" in status["error"]


def test_trainers_say_they_are_alive(stores: Stores) -> None:
    assert stores.requests.trainers() == []
    stores.requests.beat("host-1")
    assert stores.requests.trainers() == ["host-1"]


# -- model bundles ---------------------------------------------------------------------------
def test_bundles_round_trip_promote_and_roll_back(stores: Stores, result: TrainingResult) -> None:
    models = stores.models
    assert models.current_version() is None
    with pytest.raises(ModelUnavailable):
        models.load_scorer()
    v1, v2 = models.save(result, extra={"note": "one"}), models.save(result)
    assert (v1, v2) == ("v0001", "v0002") and models.versions() == [v1, v2]
    assert models.current_version() is None  # saved, not promoted
    models.promote(v1)
    before = models.pointer_state()
    models.promote(v2)
    assert models.pointer_state() != before or models.current_version() == v2
    scorer = models.load_scorer()
    assert scorer.version == v2 and scorer.manifest["version"] == v2
    assert 0.0 <= scorer.scorer.score_profile(profile_from_mapping(EXAMPLE)) <= 1.0
    assert models.load_bundle(v1).manifest["note"] == "one"
    assert models.rollback() == v1 and models.current_version() == v1
    with pytest.raises(ModelUnavailable, match="only version"):
        models.rollback()


def test_a_bundle_is_checked_against_its_manifest(stores: Stores, result: TrainingResult) -> None:
    version = stores.models.save(result)
    manifest, files = stores.models.read_files(version)
    assert set(files) == set(manifest["files"])
    with pytest.raises(CorruptArtifact):
        stores.models.load_scorer("v0099")


def test_a_bundle_signed_with_another_key_is_refused(
    backend_settings: Settings, result: TrainingResult
) -> None:
    import msgspec

    signer = msgspec.structs.replace(backend_settings, model_signing_key="a" * 40)
    reader = msgspec.structs.replace(backend_settings, model_signing_key="b" * 40)
    version = model_store(signer).save(result)
    assert model_store(signer).load_scorer(version).version == version
    with pytest.raises(CorruptArtifact, match="signature does not match"):
        model_store(reader).load_scorer(version)
    with pytest.raises(CorruptArtifact, match="signature does not match"):
        model_store(reader).promote(version)


@pytest.fixture
def signed_in_postgres(database_url: str, tmp_path: Path) -> Settings:
    """Settings of a fresh database with a signing key of their own."""
    from testsupport.data import settings_for

    return settings_for(tmp_path, database_url=database_url, model_signing_key="k" * 40)


def _foreign_skops() -> bytes:
    """A skops file holding a type training never writes."""
    from fractions import Fraction

    import skops.io

    return skops.io.dumps({"payload": Fraction(1, 3)})


def test_postgres_bundle_rewritten_with_its_manifest_is_refused(
    signed_in_postgres: Settings, database_url: str, result: TrainingResult
) -> None:
    """Whoever can write the tables but lacks the key cannot make a bundle load."""
    import json

    import psycopg

    settings = signed_in_postgres
    version = model_store(settings).save(result)
    foreign = _foreign_skops()
    with psycopg.connect(database_url) as conn:
        row = conn.execute(
            "SELECT content FROM model_files WHERE version = %s AND name = 'manifest.json'",
            (version,),
        ).fetchone()
        assert row is not None
        manifest = json.loads(bytes(row[0]))
        manifest["files"]["model.skops"] = hashlib.sha256(foreign).hexdigest()
        conn.execute(
            "UPDATE model_files SET content = %s WHERE version = %s AND name = 'model.skops'",
            (foreign, version),
        )
        conn.execute(
            "UPDATE model_files SET content = %s WHERE version = %s AND name = 'manifest.json'",
            (json.dumps(manifest).encode(), version),
        )
    with pytest.raises(CorruptArtifact, match="signature does not match"):
        model_store(settings).load_bundle(version)
    with psycopg.connect(database_url) as conn:
        conn.execute(
            "DELETE FROM model_files WHERE version = %s AND name = 'manifest.sig'", (version,)
        )
    with pytest.raises(CorruptArtifact, match="not signed"):
        model_store(settings).load_scorer(version)


def test_postgres_loads_only_the_allowed_skops_types(
    signed_in_postgres: Settings, result: TrainingResult
) -> None:
    """A signed bundle holding a type training never writes is refused before it is built."""
    from mp_core.stores.artifacts_files import bundle_files
    from mp_core.stores.artifacts_postgres import PostgresArtifactStore

    store = model_store(signed_in_postgres)
    assert isinstance(store, PostgresArtifactStore)
    files = {**bundle_files(result), "model.skops": _foreign_skops()}
    digests = {name: hashlib.sha256(data).hexdigest() for name, data in files.items()}
    version = store.publish_files({"files": digests}, files)
    with pytest.raises(CorruptArtifact, match=r"not allowed: .*'fractions.Fraction'"):
        store.load_bundle(version)


# -- the PostgreSQL schema -------------------------------------------------------------------
SCHEMA_QUERY = (
    "SELECT table_name, column_name, data_type FROM information_schema.columns"
    " WHERE table_schema = 'public' ORDER BY table_name, ordinal_position"
)


def test_migrations_run_twice_change_nothing(database_url: str) -> None:
    import psycopg

    from mp_core.stores.postgres import migrate, migrations

    with psycopg.connect(database_url) as conn:
        assert migrate(conn) == [name for _, name, _ in migrations()]
        conn.execute("UPDATE feedback_counter SET rows = 7")
        conn.commit()
        schema = conn.execute(SCHEMA_QUERY).fetchall()
        assert migrate(conn) == []
        assert conn.execute(SCHEMA_QUERY).fetchall() == schema
        assert conn.execute("SELECT rows FROM feedback_counter").fetchone() == (7,)
        applied = conn.execute("SELECT number FROM schema_migrations ORDER BY number").fetchall()
        assert [n for (n,) in applied] == [n for n, _, _ in migrations()]
