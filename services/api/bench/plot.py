"""The benchmark's figures as one PNG: throughput, p99 and CPU per request for every server.

Drawn from the JSON document (:func:`services.api.bench.report.as_json`), so a saved run can be
plotted again. Top row: single rows; bottom row: 1,000-row batches. Throughput is on a log
scale (the baseline and the ceiling are orders of magnitude apart).
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import matplotlib

matplotlib.use("Agg")  # files only: never a display

import matplotlib.pyplot as plt
from matplotlib.ticker import NullFormatter

OURS = "#2a9d8f"
OTHERS = "#8d99ae"
REFERENCE = "#e9c46a"


Entry = tuple[str, dict[str, Any], str]  # label, figures of one phase, colour


def _entries(document: dict[str, Any], phase: str) -> list[Entry]:
    """Every server measured in ``phase`` (``predict`` or ``batch``), ours first."""
    api = document["api"]
    if phase == "predict":
        rows: list[Entry] = [
            ("baseline (FastAPI+pandas)", document["baseline"]["predict"], OTHERS),
            (
                f"ceiling ({document['ceiling']['server']})",
                document["ceiling"]["predict"],
                REFERENCE,
            ),
            (f"MindPulse ({api['server']})", api["predict"], OURS),
        ]
        other = "MindPulse ({})"
    else:
        rows = [(f"MindPulse /predict/batch ({api['server']})", api["batch"], OURS)]
        if "v2_batch" in api:
            rows.append((f"MindPulse V2 infer ({api['server']})", api["v2_batch"], OURS))
        other = "MindPulse /predict/batch ({})"
    servers = document["servers"].items()
    rows += [
        (other.format(name), data[phase], OURS)
        for name, data in servers
        if isinstance(data, dict) and name != api["server"]
    ]
    peers = document.get("peers", {}).items()
    rows += [(name, data[phase], OTHERS) for name, data in peers if "error" not in data]
    return rows


def _bars(
    axis: Any, labels: list[str], values: list[float], colours: list[str], title: str
) -> None:
    positions = range(len(labels))
    axis.barh(list(positions), values, color=colours)
    axis.set_yticks(list(positions), labels, fontsize=8)
    axis.invert_yaxis()
    axis.set_title(title, fontsize=10)
    axis.grid(axis="x", alpha=0.3)
    axis.set_xscale("log")
    axis.xaxis.set_minor_formatter(NullFormatter())  # label the decades only
    for position, value in zip(positions, values, strict=True):
        axis.annotate(
            f"{value:,.0f}" if value >= 10 else f"{value:.2f}",
            (value, position),
            xytext=(3, 0),
            textcoords="offset points",
            va="center",
            fontsize=7,
        )


def write_plot(document: dict[str, Any], path: Path) -> Path:
    """Draw the figures of ``document`` into ``path`` (PNG) and return it."""
    figure, axes = plt.subplots(2, 3, figsize=(16, 9), constrained_layout=True)
    single, batch = _entries(document, "predict"), _entries(document, "batch")
    for row, (entries, unit, key, cpu_unit) in enumerate(
        (
            (single, "req/s", "requests_per_s", "CPU us per request"),
            (batch, "rows/s", "rows_per_s", "CPU us per 1,000-row request"),
        )
    ):
        labels = [label for label, _, _ in entries]
        colours = [colour for _, _, colour in entries]
        throughput = [float(result.get(key, result["requests_per_s"])) for _, result, _ in entries]
        _bars(axes[row][0], labels, throughput, colours, f"throughput ({unit}, log scale)")
        p99 = [float(result["p99_ms"]) for _, result, _ in entries]
        _bars(axes[row][1], labels, p99, colours, "p99 latency (ms, log scale)")
        cpu = [float(result["cpu_us_per_request"]) for _, result, _ in entries]
        _bars(axes[row][2], labels, cpu, colours, f"{cpu_unit} (log scale)")
    meta = document.get("meta", {})
    figure.suptitle(
        "MindPulse API benchmark: single rows (top), 1,000-row batches (bottom); "
        f"{meta.get('placement', '')}; wrk -c{meta.get('connections')} "
        f"(batches -c{meta.get('batch_connections')}), {meta.get('phase_seconds')} s per phase; "
        f"other load up to {document.get('other_load_cores_max', 0):.2f} cores",
        fontsize=10,
    )
    path.parent.mkdir(parents=True, exist_ok=True)
    figure.savefig(path, dpi=100)
    plt.close(figure)
    return path
