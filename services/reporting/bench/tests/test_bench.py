"""The benchmark runs end to end at a small size and writes its figures."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from services.reporting.bench.__main__ import main


@pytest.mark.slow
def test_bench_runs_and_writes_json(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    out = tmp_path / "bench.json"

    code = main(["--ref-rows", "3000", "--prod-rows", "400", "--no-cli", "--json", str(out)])

    figures = json.loads(out.read_text())
    assert code == (0 if figures["met"] else 1)
    assert figures["reference_rows"] == 3000 and figures["production_rows"] == 400
    assert figures["sampled"] is False
    assert "Sleep_Duration" in figures["drifted_columns"]
    assert "three reports + summary in" in capsys.readouterr().out
