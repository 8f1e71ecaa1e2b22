"""The benchmark's figures as the text printed at the end of a run."""

from __future__ import annotations

from services.api.bench.report import (
    batch_breakdown,
    best_batch,
    measured_peers,
    other_load,
    predict_breakdown,
    ratios,
    server_winner,
    targets,
)
from services.api.bench.runner import Figures
from services.api.bench.workload import BATCH_ROWS


def render(figures: Figures) -> str:
    api = figures.api
    base = figures.baseline["predict"]
    ceiling = figures.ceiling["predict"]
    lines = ["", "MindPulse API benchmark", "=" * 23, ""]
    meta = figures.meta
    lines.append(f"  {meta.get('placement', '')}")
    lines.append(
        f"  wrk -t{meta.get('threads')} -c{meta.get('connections')} (batches: "
        f"-c{meta.get('batch_connections')}), {meta.get('phase_seconds')} s per phase after "
        f"{meta.get('warmup_seconds')} s of warm-up; model {meta.get('model', {}).get('version')} "
        f"({meta.get('model', {}).get('algorithm')}, {meta.get('model', {}).get('dataset_rows'):,} rows)"
    )
    lines.append(
        f"  load average before / after: {meta.get('loadavg_before')} / {meta.get('loadavg_after')}"
    )
    busiest = other_load(figures)
    lines.append(
        f"  other processes during measured phases: up to {busiest:.2f} cores"
        + (" - the machine was busy, figures are low and noisy" if busiest > 0.1 else " (quiet)")
    )
    lines += [
        "",
        "  single predictions                  req/s     p50 ms     p99 ms  CPU us/req  errors",
    ]
    rows = [
        ("baseline (FastAPI+pandas+sklearn)", base),
        (f"MindPulse API ({api['server']})", api["predict"]),
        (f"ceiling ({figures.ceiling['server']}, constant)", ceiling),
    ]
    rows += [
        (f"MindPulse API ({name})", data["predict"])
        for name, data in figures.servers.items()
        if name != api["server"]
    ]
    rows += [(data["label"][:34], data["predict"]) for data in measured_peers(figures).values()]
    for label, result in rows:
        lines.append(
            f"  {label:<34}{result['requests_per_s']:>7,.0f} {result['p50_ms']:>10.2f} "
            f"{result['p99_ms']:>10.2f} {result['cpu_us_per_request']:>11.0f}"
            f" {result['errors'] + result['non_2xx']:>7}"
        )
    batch, feedback, retrain = api["batch"], api["feedback"], api["retrain"]
    lines += [
        "",
        f"  batches of {BATCH_ROWS} rows                rows/s     p50 ms     p99 ms  CPU us/row    RSS MB",
    ]
    batch_rows = [(f"MindPulse /predict/batch ({api['server']})", batch, api["memory"])]
    if "v2_batch" in api:
        batch_rows.append((f"MindPulse V2 infer ({api['server']})", api["v2_batch"], api["memory"]))
    batch_rows += [
        (data["label"][:34], data["batch"], data["memory"])
        for data in measured_peers(figures).values()
    ]
    for label, result, memory in batch_rows:
        lines.append(
            f"  {label:<34}{result['rows_per_s']:>10,.0f} {result['p50_ms']:>10.2f} "
            f"{result['p99_ms']:>10.2f} {result['cpu_us_per_request'] / BATCH_ROWS:>11.2f}"
            f" {sum(p['rss_mb'] for p in memory):>9.1f}"
        )
    for name, data in figures.peers.items():
        if "error" in data:
            lines.append(f"  peer {name} not measured: {data['error'][:300]}")
    limit = figures.limit
    if limit:
        lines += [
            "",
            f"  in-process limit (decode + score of one {BATCH_ROWS}-row body, no HTTP, one core):",
        ]
        for route, key in (("/predict/batch", "batch"), ("V2 infer", "v2")):
            part = limit[key]
            lines.append(
                f"    {route:<16} decode {part['decode_us']:6.0f} us + score {part['score_us']:5.0f} us"
                f" = {part['rows_per_s']:>11,.0f} rows/s; answer JSON {part['encode_us']:.0f} us"
                + (" (with its receipts)" if key == "batch" else "")
            )
        single = predict_breakdown(figures)
        if single:
            lines.append(
                f"    over HTTP, /predict: {single['total_us']:,.0f} CPU us per request = the "
                f"ceiling's {single['ceiling_us']:,.0f} + the row in process "
                f"{single['rows_in_process_us']:.1f} + rest {single['rest_us']:,.1f} (the row's "
                "code and data cold between turns, the longer answer)"
            )
        for route, parts in batch_breakdown(figures).items():
            lines.append(
                f"    over HTTP, {route}: {parts['total_us']:,.0f} CPU us per request = HTTP and "
                f"body read {parts['http_and_body_us']:,.0f} (constant route, same bodies) + decode "
                f"{parts['decode_us']:,.0f} + score {parts['score_us']:,.0f} + answer JSON "
                f"{parts['encode_us']:,.0f} + rest {parts['rest_us']:,.0f}"
            )
    lines += [
        "",
        f"  batch scoring: {batch['rows_per_s']:,.0f} rows/s ({batch['requests_per_s']:,.1f} "
        f"requests/s of {batch['rows_per_request']} rows, p99 {batch['p99_ms']:.1f} ms, "
        f"{batch['cpu_us_per_request'] / batch['rows_per_request']:.2f} CPU us/row)",
        f"  feedback (fsync per row): {feedback['feedback_per_s']:,.0f} feedback/s "
        f"(p50 {feedback['p50_ms']:.2f} ms, p99 {feedback['p99_ms']:.2f} ms, "
        f"{feedback['cpu_us_per_request']:.0f} CPU us/feedback)",
        f"  /predict idle: {retrain['idle']['requests_per_s']:,.0f} req/s, p99 "
        f"{retrain['idle']['p99_ms']:.2f} ms; during retrain (job on CPU "
        f"{','.join(map(str, retrain['retrain_cpus']))}): "
        f"{retrain['during']['requests_per_s']:,.0f} req/s, p99 {retrain['during']['p99_ms']:.2f} ms"
        f" (retrain running throughout: {retrain['retrain_running_throughout']})",
        "",
        "  resident memory (VmRSS)",
    ]
    for label, processes in [
        ("baseline", figures.baseline["memory"]),
        *[(f"api ({name})", data["memory"]) for name, data in figures.servers.items()],
    ]:
        for process in processes:
            lines.append(f"    {label:<16} {process['rss_mb']:7.1f} MB  {process['command']}")
    found = ratios(figures)
    lines += [
        "",
        f"  ratios: /predict vs baseline x{found['predict_vs_baseline']:.1f}, vs ceiling "
        f"{found['predict_vs_ceiling']:.0%} (in CPU per request: "
        f"{found['predict_vs_ceiling_cpu']:.0%}), p99 during retrain vs idle x"
        f"{found['retrain_p99_vs_idle']:.2f}",
    ]
    if "predict_vs_fastest_peer" in found:
        lines.append(
            f"  vs the fastest peer: /predict x{found['predict_vs_fastest_peer']:.1f}, "
            f"batch rows/s x{found['batch_vs_fastest_peer']:.1f} ({best_batch(figures)[0]})"
        )
    if "batch_vs_limit" in found:
        lines.append(
            f"  HTTP batch throughput as a share of the in-process limit: /predict/batch "
            f"{found['batch_vs_limit']:.0%} (CPU: {found['batch_vs_limit_cpu']:.0%})"
            + (
                f", V2 infer {found['v2_batch_vs_limit']:.0%} (CPU: {found['v2_batch_vs_limit_cpu']:.0%})"
                if "v2_batch_vs_limit" in found
                else ""
            )
        )
    winner = server_winner(figures)
    lines.append("  ASGI servers        /predict req/s  CPU us/req   batch rows/s  CPU us/row")
    for name, data in figures.servers.items():
        predict, batch = data["predict"], data["batch"]
        lines.append(
            f"    {name:<18}{predict['requests_per_s']:>14,.0f} {predict['cpu_us_per_request']:>11.0f}"
            f" {batch['rows_per_s']:>14,.0f} {batch['cpu_us_per_request'] / BATCH_ROWS:>11.2f}"
        )
    lines += [f"  -> {winner} serves /predict faster", "", "  targets"]
    lines += [t.line() for t in targets(figures)]
    return "\n".join(lines)
