import errno
import json
import multiprocessing
import os
import re
import resource
import signal
import subprocess
import sys
import textwrap
import time
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import msgspec
import pytest

from mp_core.errors import FeedbackStoreError, IdempotencyConflict
from mp_core.schema import profile_from_mapping
from mp_core.stores.feedback_files import (
    PROD_COLUMNS,
    FeedbackRecord,
    FeedbackStore,
    Stored,
    format_row,
    request_body,
)

PROFILE = profile_from_mapping(
    {
        "Age": 22,
        "Gender": "Other",
        "Department": "Arts",
        "CGPA": 3.1,
        "Sleep_Duration": 6.5,
        "Study_Hours": 4.0,
        "Social_Media_Hours": 5.0,
        "Physical_Activity": 90.0,
        "Stress_Level": 8,
    }
)


def record(actual: int = 1, version: str = "v0001") -> FeedbackRecord:
    return FeedbackRecord(
        profile=PROFILE, prediction=1, probability=0.73, actual=actual, model_version=version
    )


def test_first_append_writes_the_header_and_counts(tmp_path: Path) -> None:
    store = FeedbackStore(tmp_path / "data" / "prod_data.csv")
    assert store.count() == 0
    assert store.read().frame.empty
    assert [store.append(record()) for _ in range(3)] == [1, 2, 3]
    lines = store.path.read_text().splitlines()
    assert lines[0] == ",".join(PROD_COLUMNS)
    assert len(lines) == 4
    frame = store.read().frame
    assert list(frame.columns) == list(PROD_COLUMNS)
    assert frame["probability"].tolist() == [0.73] * 3
    assert FeedbackStore(store.path).count() == 3  # a fresh instance counts from the file


def test_every_number_reads_back_exactly_as_it_was_stored(tmp_path: Path) -> None:
    """Probabilities and features with all 17 digits (pandas' own parser rounds about a
    third of those one unit off in the last place)."""
    import random

    draw = random.Random(3)
    store = FeedbackStore(tmp_path / "p.csv")
    written = []
    for _ in range(200):
        profile = msgspec.structs.replace(
            PROFILE, CGPA=draw.uniform(0, 4), Sleep_Duration=draw.uniform(0, 24)
        )
        probability = draw.random()
        written.append((profile.CGPA, profile.Sleep_Duration, probability))
        store.append(
            FeedbackRecord(
                profile=profile, prediction=1, probability=probability, actual=1,
                model_version="v0001",
            )
        )  # fmt: skip
    frame = store.read().frame
    read = list(zip(frame["CGPA"], frame["Sleep_Duration"], frame["probability"], strict=True))
    assert read == written


def test_read_since_skips_the_first_rows(tmp_path: Path) -> None:
    store = FeedbackStore(tmp_path / "p.csv")
    for i in range(5):
        store.append(record(actual=i % 2, version=f"v{i:04d}"))
    assert store.read(since=3).frame["model_version"].tolist() == ["v0003", "v0004"]
    assert store.read(since=5).frame.empty


def test_a_torn_last_line_is_cut_and_never_read(tmp_path: Path) -> None:
    store = FeedbackStore(tmp_path / "p.csv")
    store.append(record())
    store.append(record())
    with store.path.open("ab") as handle:
        handle.write(b"2026-01-01T00:00:00,v0001,22,Oth")  # a crash mid-row
    assert len(store.read().frame) == 2  # readers stop at the last newline
    assert store.count() == 2
    assert store.repair() > 0
    assert store.path.read_bytes().endswith(b"\n")
    assert store.append(record()) == 3
    assert store.read().bad_lines == {}


def _append_many(path: str, n: int) -> None:
    store = FeedbackStore(Path(path))
    for _ in range(n):
        store.append(record())


@pytest.mark.slow
def test_concurrent_writers_in_several_processes_never_tear_rows(tmp_path: Path) -> None:
    path = tmp_path / "p.csv"
    context = multiprocessing.get_context("spawn")
    workers = [context.Process(target=_append_many, args=(str(path), 100)) for _ in range(4)]
    for w in workers:
        w.start()
    for w in workers:
        w.join(timeout=120)
        assert w.exitcode == 0
    loaded = FeedbackStore(path).read()
    assert len(loaded.frame) == 400
    assert loaded.bad_lines == {}
    assert FeedbackStore(path).count() == 400


@pytest.mark.slow
def test_every_acknowledged_row_survives_kill_9(tmp_path: Path) -> None:
    path = tmp_path / "p.csv"
    script = textwrap.dedent(
        f"""
        import sys
        from pathlib import Path
        sys.path.insert(0, {str(Path(__file__).parent)!r})
        from test_feedback import record
        from mp_core.stores.feedback_files import FeedbackStore
        store = FeedbackStore(Path({str(path)!r}))
        while True:
            total = store.append(record())
            print(total, flush=True)
        """
    )
    with subprocess.Popen(
        [sys.executable, "-c", script], stdout=subprocess.PIPE, text=True
    ) as proc:
        assert proc.stdout is not None
        acknowledged = 0
        deadline = time.monotonic() + 30
        while acknowledged < 200 and time.monotonic() < deadline:
            acknowledged = int(proc.stdout.readline())
        os.kill(proc.pid, signal.SIGKILL)
        proc.wait(timeout=10)
    assert acknowledged >= 200
    store = FeedbackStore(path)
    store.repair()
    loaded = store.read()
    assert loaded.bad_lines == {}
    assert len(loaded.frame) >= acknowledged
    assert store.count() == len(loaded.frame)


def test_bad_rows_read_with_since_keep_their_line_numbers_in_the_file(tmp_path: Path) -> None:
    store = FeedbackStore(tmp_path / "p.csv")
    for i in range(6):
        store.append(record(version=f"v{i:04d}"))
    lines = store.path.read_bytes().split(b"\n")
    lines[3] = lines[3].replace(
        b",22,", b",twenty-two,"
    )  # row 3 is on line 4 (line 1 is the header)
    lines[6] = b"2026-01-01T00:00:00,v0005,22"  # row 6, line 7: too few fields
    store.path.write_bytes(b"\n".join(lines))

    assert set(store.read().bad_lines) == {4, 7}
    assert set(store.read(since=1).bad_lines) == {4, 7}
    assert store.read(since=1).frame["model_version"].tolist() == ["v0001", "v0003", "v0004"]
    assert set(store.read(since=2).bad_lines) == {4, 7}
    since_four = store.read(since=4)
    assert set(since_four.bad_lines) == {7}
    assert since_four.frame["model_version"].tolist() == ["v0004"]
    assert store.read(since=5).frame.empty  # row 6, the only one after 5, is the bad one
    assert store.read(since=6).bad_lines == {}


def test_a_last_row_without_its_newline_is_cut_then_the_next_row_follows(tmp_path: Path) -> None:
    """A row is acknowledged only once its newline is on disk, so a row without one is torn."""
    store = FeedbackStore(tmp_path / "p.csv")
    store.append(record(version="v0001"))
    kept = store.path.read_bytes()
    store.path.write_bytes(kept + format_row(record(version="v0002")).rstrip(b"\n"))
    assert store.count() == 1
    assert store.repair() == len(format_row(record(version="v0002"))) - 1
    assert store.path.read_bytes() == kept
    assert store.repair() == 0  # nothing more to cut
    assert store.append(record(version="v0003")) == 2
    loaded = store.read()
    assert loaded.frame["model_version"].tolist() == ["v0001", "v0003"]
    assert loaded.bad_lines == {}


def test_a_torn_header_is_cut_to_nothing_and_written_again(tmp_path: Path) -> None:
    path = tmp_path / "p.csv"
    path.write_bytes(",".join(PROD_COLUMNS[:4]).encode())  # a crash while the header was written
    store = FeedbackStore(path)
    assert store.append(record()) == 1
    assert path.read_bytes().split(b"\n")[0] == ",".join(PROD_COLUMNS).encode()
    assert store.read().bad_lines == {}
    assert len(store.read().frame) == 1


@pytest.mark.parametrize("torn", [4095, 4096, 4097, 9000, 3 * 4096])
@pytest.mark.parametrize("repair_by", ["repair", "append"])
def test_a_torn_tail_longer_than_one_read_is_cut_whole(
    tmp_path: Path, torn: int, repair_by: str
) -> None:
    """The walk back to the last newline reads 4 KiB at a time: a tail of any length goes."""
    store = FeedbackStore(tmp_path / "p.csv")
    for _ in range(3):
        store.append(record())
    kept = store.path.read_bytes()
    with store.path.open("ab") as handle:
        handle.write(b"x" * torn)
    before_repair = store.read()  # readers never look past the last newline
    assert (len(before_repair.frame), before_repair.bad_lines) == (3, {})
    if repair_by == "repair":
        assert store.repair() == torn
        assert store.path.read_bytes() == kept
    else:  # the next writer, in a fresh instance, cuts it before writing its own row
        row = msgspec.structs.replace(record(), timestamp="2026-01-01T00:00:00.000+00:00")
        assert FeedbackStore(store.path).append(row) == 4
        assert store.path.read_bytes() == kept + format_row(row)
    assert store.read().bad_lines == {}


@pytest.mark.parametrize("size", [10, 4096, 5000])
def test_a_file_with_no_newline_at_all_is_cut_to_nothing(tmp_path: Path, size: int) -> None:
    path = tmp_path / "p.csv"
    path.write_bytes(b"y" * size)
    assert FeedbackStore(path).repair() == size
    assert path.read_bytes() == b""
    assert FeedbackStore(tmp_path / "absent.csv").repair() == 0


def test_a_row_gets_a_utc_timestamp_and_plain_newlines(tmp_path: Path) -> None:
    store = FeedbackStore(tmp_path / "p.csv")
    store.append(record())
    data = store.path.read_bytes()
    assert b"\r" not in data
    stamp = datetime.fromisoformat(data.split(b"\n")[1].split(b",")[0].decode())
    assert stamp.utcoffset() == timedelta(0)
    assert abs((datetime.now(UTC) - stamp).total_seconds()) < 600


def test_counting_resumes_and_reads_files_larger_than_one_chunk(tmp_path: Path) -> None:
    """Rows are counted 1 MiB at a time, then only what was added since."""
    path = tmp_path / "p.csv"
    row = format_row(record())
    rows = (3 << 20) // len(row)  # three chunks and a part
    path.write_bytes(",".join(PROD_COLUMNS).encode() + b"\n" + row * rows)
    store = FeedbackStore(path)
    assert store.count() == rows
    assert store.append(record()) == rows + 1
    assert store.count() == rows + 1


def _append_past_the_file_size_limit(path: str, answers: Any) -> None:
    """In a child process: the next row only partly fits under RLIMIT_FSIZE."""
    signal.signal(signal.SIGXFSZ, signal.SIG_IGN)  # so the write fails with EFBIG instead
    limit = Path(path).stat().st_size + 40
    resource.setrlimit(resource.RLIMIT_FSIZE, (limit, limit))
    try:
        FeedbackStore(Path(path)).append(record())
    except Exception as exc:
        answers.put(f"{type(exc).__name__}: {exc}")
    else:
        answers.put("stored")


def test_a_write_that_fails_part_way_leaves_no_torn_row(tmp_path: Path) -> None:
    store = FeedbackStore(tmp_path / "p.csv")
    store.append(record())
    store.append(record())
    before = store.path.read_bytes()
    context = multiprocessing.get_context("fork")
    answers = context.Queue()
    child = context.Process(
        target=_append_past_the_file_size_limit, args=(str(store.path), answers)
    )
    child.start()
    answer = answers.get(timeout=60)
    child.join(timeout=60)
    assert re.fullmatch(r"FeedbackStoreError: cannot write .*p\.csv: File too large", answer)
    assert store.path.read_bytes() == before  # the part that reached the file was cut back
    assert store.append(record()) == 3
    assert store.read().bad_lines == {}


def test_a_row_whose_fsync_fails_is_cut_with_its_key(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The whole row reached the file but the disk refused to make it durable (EIO): the row
    was never acknowledged, so it must not stay, nor its key."""
    store = FeedbackStore(tmp_path / "p.csv")
    store.add(record(), key="kept")
    rows_before, keys_before = store.path.read_bytes(), store.keys_path.read_bytes()
    real_fsync = os.fsync

    def fsync_failing_on_the_rows(fd: int) -> None:
        if Path(os.readlink(f"/proc/self/fd/{fd}")) == store.path:
            raise OSError(errno.EIO, os.strerror(errno.EIO))
        real_fsync(fd)

    monkeypatch.setattr(os, "fsync", fsync_failing_on_the_rows)
    with pytest.raises(FeedbackStoreError, match=r"cannot write .*p\.csv: Input/output error"):
        store.add(record(actual=0), key="failed")
    assert store.path.read_bytes() == rows_before
    assert store.keys_path.read_bytes() == keys_before
    monkeypatch.undo()
    # Once the disk is back, the retry is a new row (not the replay of one never stored).
    assert store.add(record(actual=0), key="failed") == Stored(total=2)
    assert FeedbackStore(store.path).read().frame["actual"].tolist() == [1, 0]


def test_a_retry_with_the_same_key_finds_its_row_even_in_a_fresh_instance(
    tmp_path: Path,
) -> None:
    store = FeedbackStore(tmp_path / "p.csv")
    assert store.add(record(), key="first") == Stored(total=1)
    assert store.add(record(actual=0), key="second") == Stored(total=2)
    assert store.add(record(), key="first") == Stored(total=1, replayed=True)
    assert store.keys_path == tmp_path / "p.keys.jsonl"
    fresh = FeedbackStore(store.path)  # reads the keys back from the file
    assert fresh.add(record(actual=0), key="second") == Stored(total=2, replayed=True)
    assert fresh.add(record(), key="third") == Stored(total=3)
    assert fresh.count() == 3
    keys = [json.loads(line) for line in fresh.keys_path.read_text().splitlines()]
    assert [(k["key"], k["row"]) for k in keys] == [("first", 1), ("second", 2), ("third", 3)]
    assert keys[0]["request"] == request_body(record())


@pytest.mark.parametrize(
    ("changed", "field"),
    [
        (
            msgspec.structs.replace(record(), profile=msgspec.structs.replace(PROFILE, CGPA=3.2)),
            "features.CGPA",
        ),
        (msgspec.structs.replace(record(), prediction=0), "prediction"),
        (record(actual=0), "actual"),
    ],
)
def test_another_body_under_a_known_key_names_the_first_field_that_differs(
    tmp_path: Path, changed: FeedbackRecord, field: str
) -> None:
    store = FeedbackStore(tmp_path / "p.csv")
    store.add(record(), key="k")
    with pytest.raises(
        IdempotencyConflict, match="Idempotency-Key 'k'; a retry must repeat"
    ) as caught:
        FeedbackStore(store.path).add(changed, key="k")
    assert caught.value.field == field
    # What only the server fills in (its version, probability, time) is not the client's body.
    same = msgspec.structs.replace(record(), probability=0.1, model_version="v0009")
    assert store.add(same, key="k") == Stored(total=1, replayed=True)
    assert store.count() == 1


def test_a_key_written_before_a_crash_lost_its_row_is_cut_so_the_retry_is_stored(
    tmp_path: Path,
) -> None:
    """The key goes to disk before its row: a crash between the two leaves a key past the end."""
    store = FeedbackStore(tmp_path / "p.csv")
    store.add(record(), key="kept")
    kept = store.keys_path.read_bytes()
    lost = {"key": "lost", "row": 2, "request": request_body(record(actual=0))}
    with store.keys_path.open("ab") as keys:
        keys.write(msgspec.json.encode(lost) + b"\n" + b'{"key": "torn", "ro')
    fresh = FeedbackStore(store.path)
    assert fresh.add(record(actual=0), key="lost") == Stored(total=2)  # stored, not "replayed"
    assert fresh.add(record(), key="kept") == Stored(total=1, replayed=True)
    entries = fresh.keys_path.read_bytes()
    assert entries.startswith(kept) and entries.count(b'"lost"') == 1
    assert b"torn" not in entries
    assert fresh.read().frame["actual"].tolist() == [1, 0]


def test_a_torn_key_line_is_cut_before_the_next_key(tmp_path: Path) -> None:
    store = FeedbackStore(tmp_path / "p.csv")
    store.add(record(), key="a")
    with store.keys_path.open("ab") as keys:
        keys.write(b'{"key": "b", "row": 2, "requ')
    assert FeedbackStore(store.path).add(record(), key="c") == Stored(total=2)
    lines = store.keys_path.read_text().splitlines()
    assert [json.loads(line)["key"] for line in lines] == ["a", "c"]
