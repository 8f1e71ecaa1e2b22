"""Ratios and targets from the measured figures, printed as PASS/FAIL and kept in the JSON."""

from __future__ import annotations

from dataclasses import asdict, dataclass
from typing import Any, Final

from services.api.bench.runner import Figures

PREDICT_VS_BASELINE: Final = 15.0
PREDICT_VS_CEILING: Final = 0.90
PREDICT_VS_PEERS: Final = 5.0
BATCH_VS_PEERS: Final = 3.0
BATCH_ROWS_PER_S: Final = 500_000.0
RETRAIN_P99_RATIO: Final = 2.0
WORKER_RSS_MB: Final = 150.0


@dataclass(frozen=True, slots=True)
class Target:
    name: str
    value: float
    limit: float
    kind: str  # "min" or "max"
    unit: str
    passed: bool
    note: str = ""

    def line(self) -> str:
        sign = ">=" if self.kind == "min" else "<="
        verdict = "PASS" if self.passed else "FAIL"
        note = f"  ({self.note})" if self.note else ""
        return (
            f"  {verdict}  {self.name:<44} {self.value:>12,.2f} {self.unit:<7}"
            f" {sign} {self.limit:,.2f}{note}"
        )


def _target(name: str, value: float, limit: float, kind: str, unit: str, note: str = "") -> Target:
    passed = value >= limit if kind == "min" else value <= limit
    return Target(name, value, limit, kind, unit, passed, note)


def _clean(result: dict[str, Any]) -> bool:
    return int(result.get("errors", 0)) + int(result.get("non_2xx", 0)) == 0


def measured_peers(figures: Figures) -> dict[str, dict[str, Any]]:
    """The peers that ran (a peer that failed to install or start has an ``error``)."""
    return {name: data for name, data in figures.peers.items() if "error" not in data}


def fastest_peer(figures: Figures, phase: str, key: str) -> tuple[str, float]:
    peers = measured_peers(figures)
    if not peers:
        return "none", 0.0
    name = max(peers, key=lambda n: peers[n][phase][key])
    return name, float(peers[name][phase][key])


def best_batch(figures: Figures) -> tuple[str, float]:
    """Our faster batch route: ``/predict/batch`` or the V2 infer route."""
    api = figures.api
    routes = {"/predict/batch": api["batch"]["rows_per_s"]}
    if "v2_batch" in api:
        routes["/v2/.../infer"] = api["v2_batch"]["rows_per_s"]
    route = max(routes, key=lambda r: routes[r])
    return route, float(routes[route])


def _share(value: float, of: float) -> float:
    return value / of if of > 0 else 0.0


def batch_breakdown(figures: Figures) -> dict[str, dict[str, float]]:
    """Where a 1,000-row request's server CPU goes, per batch route, in microseconds.

    ``http_and_body``: the constant route POSTed the same-size bodies (server, framework,
    metrics and reading the body); decode, score and encode: the in-process limit's parts;
    ``rest``: what is left (the answer's bytes sent, the route's own bookkeeping, noise).
    """
    limit, ceiling = figures.limit, figures.ceiling.get("batch")
    if not limit or not ceiling:
        return {}
    found = {}
    api = figures.api
    for route, phase, key in (("/predict/batch", "batch", "batch"), ("V2 infer", "v2_batch", "v2")):
        if phase not in api:
            continue
        total = float(api[phase]["cpu_us_per_request"])
        parts = {
            "http_and_body_us": float(ceiling["cpu_us_per_request"]),
            "decode_us": float(limit[key]["decode_us"]),
            "score_us": float(limit[key]["score_us"]),
            "encode_us": float(limit[key]["encode_us"]),
        }
        found[route] = {"total_us": total, **parts, "rest_us": total - sum(parts.values())}
    return found


def predict_breakdown(figures: Figures) -> dict[str, float]:
    """Where a /predict request's server CPU goes, in microseconds: the ceiling's (the server,
    the framework, the request read, the turn), the route's own rows as they cost in a loop,
    and the rest (those rows' code and data cold in the server, the longer answer sent)."""
    single = figures.limit.get("predict")
    if not single:
        return {}
    total = float(figures.api["predict"]["cpu_us_per_request"])
    parts = {
        "ceiling_us": float(figures.ceiling["predict"]["cpu_us_per_request"]),
        "rows_in_process_us": float(single["us_per_row"]),
    }
    return {"total_us": total, **parts, "rest_us": total - sum(parts.values())}


def ratios(figures: Figures) -> dict[str, float]:
    api = figures.api
    predict = api["predict"]["requests_per_s"]
    ceiling = figures.ceiling["predict"]
    found = {
        "predict_vs_baseline": predict / figures.baseline["predict"]["requests_per_s"],
        "predict_vs_ceiling": predict / ceiling["requests_per_s"],
        # CPU per request barely moves with other load: the same ratio, measured in CPU.
        "predict_vs_ceiling_cpu": _share(
            ceiling["cpu_us_per_request"], api["predict"]["cpu_us_per_request"]
        ),
        "retrain_p99_vs_idle": api["retrain"]["p99_ratio"],
    }
    if measured_peers(figures):
        found["predict_vs_fastest_peer"] = _share(
            predict, fastest_peer(figures, "predict", "requests_per_s")[1]
        )
        found["batch_vs_fastest_peer"] = _share(
            best_batch(figures)[1], fastest_peer(figures, "batch", "rows_per_s")[1]
        )
    limit = figures.limit
    if limit:
        found["batch_vs_limit"] = _share(api["batch"]["rows_per_s"], limit["batch"]["rows_per_s"])
        found["batch_vs_limit_cpu"] = _share(
            limit["batch"]["limit_us"], api["batch"]["cpu_us_per_request"]
        )
        if "v2_batch" in api:
            found["v2_batch_vs_limit"] = _share(
                api["v2_batch"]["rows_per_s"], limit["v2"]["rows_per_s"]
            )
            found["v2_batch_vs_limit_cpu"] = _share(
                limit["v2"]["limit_us"], api["v2_batch"]["cpu_us_per_request"]
            )
    return found


def targets(figures: Figures) -> list[Target]:
    api = figures.api
    found = ratios(figures)
    # The baseline's own timeouts only lower its figure; they say nothing about the API.
    dirty = [
        name
        for name, result in (
            ("ceiling", figures.ceiling["predict"]),
            ("predict", api["predict"]),
            ("batch", api["batch"]),
            *([("V2 batch", api["v2_batch"])] if "v2_batch" in api else []),
            ("feedback", api["feedback"]),
            ("during retrain", api["retrain"]["during"]),
        )
        if not _clean(result)
    ]
    errors_note = "requests failed in: " + ", ".join(dirty) if dirty else ""
    retrain = api["retrain"]
    retrain_note = "" if retrain["retrain_running_throughout"] else "retrain ended mid-phase"
    worst_rss = max(process["rss_mb"] for process in api["memory"])
    best_route, best_rows_per_s = best_batch(figures)
    found_targets = [
        _target(
            "/predict throughput vs baseline",
            found["predict_vs_baseline"],
            PREDICT_VS_BASELINE,
            "min",
            "x",
        ),
        _target(
            "/predict throughput vs constant-answer ceiling",
            found["predict_vs_ceiling"],
            PREDICT_VS_CEILING,
            "min",
            "x",
        ),
        # On the faster batch route, as the peer comparison: /predict/batch signs a receipt for
        # every row, which V2 (made for batches that need no feedback) does not.
        _target(
            f"batch scoring ({api['batch']['rows_per_request']} rows/request)",
            best_rows_per_s,
            BATCH_ROWS_PER_S,
            "min",
            "rows/s",
            f"{best_route}; /predict/batch with receipts {api['batch']['rows_per_s']:,.0f}",
        ),
        _target(
            "/predict p99 during retrain vs idle",
            found["retrain_p99_vs_idle"],
            RETRAIN_P99_RATIO,
            "max",
            "x",
            retrain_note,
        ),
        _target("resident memory per API process", worst_rss, WORKER_RSS_MB, "max", "MB"),
    ]
    single_peer, _ = fastest_peer(figures, "predict", "requests_per_s")
    batch_peer, _ = fastest_peer(figures, "batch", "rows_per_s")
    if figures.meta.get("peers"):
        no_peer = "no peer could be measured" if single_peer == "none" else ""
        found_targets += [
            _target(
                "/predict vs the fastest peer (single rows)",
                found.get("predict_vs_fastest_peer", 0.0),
                PREDICT_VS_PEERS,
                "min",
                "x",
                no_peer or f"fastest: {single_peer}",
            ),
            _target(
                "batch rows/s vs the fastest peer",
                found.get("batch_vs_fastest_peer", 0.0),
                BATCH_VS_PEERS,
                "min",
                "x",
                no_peer or f"ours: {best_route}; fastest: {batch_peer}",
            ),
        ]
    if errors_note:
        found_targets.append(_target("failed requests", float(len(dirty)), 0, "max", "phases"))
    return found_targets


def _phases(figures: Figures) -> list[dict[str, Any]]:
    api = figures.api
    return [
        figures.baseline["predict"],
        figures.ceiling["predict"],
        api["predict"],
        api["batch"],
        api["feedback"],
        api["retrain"]["idle"],
        api["retrain"]["during"],
        *([api["v2_batch"]] if "v2_batch" in api else []),
        *[data[phase] for data in figures.servers.values() for phase in ("predict", "batch")],
        *[
            data[phase]
            for data in measured_peers(figures).values()
            for phase in ("predict", "batch")
        ],
    ]


def other_load(figures: Figures) -> float:
    """The most CPU (in cores) other processes took during any measured phase."""
    return max(float(phase.get("other_load_cores", 0.0)) for phase in _phases(figures))


def server_winner(figures: Figures) -> str:
    return max(figures.servers, key=lambda name: figures.servers[name]["predict"]["requests_per_s"])


def as_json(figures: Figures) -> dict[str, Any]:
    found = targets(figures)
    return {
        "meta": figures.meta,
        "baseline": figures.baseline,
        "ceiling": figures.ceiling,
        "api": figures.api,
        "servers": {**figures.servers, "winner": server_winner(figures)},
        "peers": figures.peers,
        "limit": figures.limit,
        "batch_breakdown": batch_breakdown(figures),
        "predict_breakdown": predict_breakdown(figures),
        "ratios": ratios(figures),
        "other_load_cores_max": other_load(figures),
        "targets": [asdict(t) for t in found],
        "passed": all(t.passed for t in found),
    }
