"""The wrk driver and the process helpers, against small real servers on loopback."""

from __future__ import annotations

import json
import os
import subprocess
import sys
import threading
import time
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path

import msgspec
import pytest

from mp_core.receipts import ReceiptSigner
from services.api.bench.load import LoadError, LoadSettings, lua_script, parse_result, run_wrk
from services.api.bench.servers import descendants, read_memory
from services.api.bench.workload import BATCH_ROWS, BENCH_RECEIPT_KEY, build_workload


class _Recorder(BaseHTTPRequestHandler):
    """Answers 200 to POSTs on /ok (418 elsewhere) and remembers the bodies it saw."""

    protocol_version = "HTTP/1.1"  # keep-alive, as wrk expects
    seen: list[tuple[str, str, str]] = []  # noqa: RUF012 - shared with the test on purpose

    def do_POST(self) -> None:
        body = self.rfile.read(int(self.headers.get("Content-Length", "0"))).decode()
        type(self).seen.append((self.path, self.headers.get("Content-Type", ""), body))
        status = 200 if self.path == "/ok" else 418
        self.send_response(status)
        self.send_header("Content-Length", "2")
        self.end_headers()
        self.wfile.write(b"{}")

    def log_message(self, *_args: object) -> None:
        return None


@pytest.fixture
def recorder() -> Iterator[str]:
    _Recorder.seen = []
    server = ThreadingHTTPServer(("127.0.0.1", 0), _Recorder)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    yield f"http://127.0.0.1:{server.server_address[1]}"
    server.shutdown()
    server.server_close()


def test_wrk_sends_every_body_in_turn_and_reports_json(recorder: str) -> None:
    bodies = ['{"n":1}', '{"n":2,"text":"a \\"quoted\\" ]] string"}', '{"n":3}']
    script = lua_script("/ok", bodies, headers={"X-Bench": "yes"})
    result = run_wrk(recorder + "/ok", script, LoadSettings(duration=1, connections=2))
    assert result.requests > 0
    assert result.requests_per_s > 0
    assert result.errors == 0
    assert result.non_2xx == 0
    assert 0 < result.p50_ms <= result.p99_ms <= result.max_ms
    paths = {path for path, _, _ in _Recorder.seen}
    assert paths == {"/ok"}
    assert {ctype for _, ctype, _ in _Recorder.seen} == {"application/json"}
    assert {body for _, _, body in _Recorder.seen} == set(bodies)


def test_wrk_counts_error_statuses(recorder: str) -> None:
    script = lua_script("/teapot", ['{"n":1}'])
    result = run_wrk(recorder + "/teapot", script, LoadSettings(duration=1, connections=1))
    assert result.non_2xx == result.requests > 0


def test_unreachable_server_is_a_load_error() -> None:
    script = lua_script("/x", ["{}"])
    with pytest.raises(LoadError):
        run_wrk("http://127.0.0.1:9/x", script, LoadSettings(duration=1, connections=1))


def test_parse_result_refuses_output_without_result_line() -> None:
    with pytest.raises(LoadError, match="no result line"):
        parse_result("Running 1s test @ http://127.0.0.1:1/\n")


def test_lua_script_refuses_empty_or_unquotable_bodies() -> None:
    with pytest.raises(ValueError, match="at least one body"):
        lua_script("/x", [])
    with pytest.raises(ValueError, match="terminator"):
        lua_script("/x", ['{"a":"]=====]"}'])


def test_workload_bodies_are_valid_requests() -> None:
    from mp_core.schema import decode_profile

    workload = build_workload()
    for body in workload.predict:
        decode_profile(json.dumps(json.loads(body)["features"]))
    batches = [json.loads(body)["instances"] for body in workload.batch]
    assert {len(rows) for rows in batches} == {BATCH_ROWS}
    feedback = json.loads(workload.feedback[0])
    assert set(feedback) == {"prediction_id", "actual"}  # a receipt signed ahead of the run
    # ... which the started APIs (RECEIPT_KEY=BENCH_RECEIPT_KEY) redeem for one of the rows.
    receipt = ReceiptSigner(BENCH_RECEIPT_KEY.encode()).redeem(
        feedback["prediction_id"], time.time()
    )
    assert msgspec.structs.asdict(receipt.profile) == json.loads(workload.predict[0])["features"]
    again = build_workload()
    # The same rows on every run; receipts carry their issue time and a nonce, so only their
    # number is the same (a plain == would diff 50,000 bodies on failure).
    assert again.predict == workload.predict and again.batch == workload.batch
    assert len(again.feedback) == len(workload.feedback)
    assert len(set(workload.feedback)) == len(workload.feedback)  # each body a first use


def test_memory_and_descendants_of_a_real_process_tree() -> None:
    code = "import subprocess, sys; subprocess.run([sys.executable, '-c', 'import time; time.sleep(30)'])"
    parent = subprocess.Popen([sys.executable, "-c", code])
    try:
        for _ in range(100):
            children = descendants(parent.pid)
            if children:
                break
            threading.Event().wait(0.05)
        assert children, "the child process never appeared"
        memory = read_memory(children[0])
        assert memory.pid == children[0]
        assert 1.0 < memory.rss_mb < 200.0
        assert "time.sleep" in memory.command
    finally:
        for pid in [*descendants(parent.pid), parent.pid]:
            os.kill(pid, 9)
        parent.wait(timeout=10)


def test_bench_package_is_runnable() -> None:
    root = Path(__file__).resolve().parents[4]
    done = subprocess.run(
        [sys.executable, "-m", "services.api.bench", "--help"],
        cwd=root,
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )
    assert done.returncode == 0, done.stderr
    assert "--quick" in done.stdout
    assert "--json" in done.stdout
