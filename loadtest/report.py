"""The summary page of a run: tables and inline SVG charts, from the run's own figures.

Requests (throughput, percentiles per journey step, errors, the edge cache's share, the
abusive clients' blocks) come from every request locust made (samples.csv); what happened
inside (the app's cache, heartbeats buffered and flushed, server time per route, CPU per
process, the load average) from the run's Prometheus. No chart library: the charts are SVG
written here, so the report is one self-contained HTML file.
"""

from __future__ import annotations

import csv
import html
import json
import math
import sys
import urllib.parse
import urllib.request
from collections import defaultdict
from collections.abc import Iterable, Sequence
from pathlib import Path
from typing import Any

from loadtest import prometheus
from loadtest.analysis import ABUSIVE, Sample, by_step, legitimate, percentile, read_samples

Points = list[tuple[float, float]]

# What Prometheus is asked for each chart (rates over a few scrapes).
QUERIES = {
    "app_cache_hit_ratio": 'sum(rate(streamsite_cache_requests_total{result="hit"}[30s]))'
    " / sum(rate(streamsite_cache_requests_total[30s]))",
    "heartbeats_buffered": "sum(rate(streamsite_progress_heartbeats_total"
    '{result="buffered"}[30s]))',
    "heartbeats_database": "sum(rate(streamsite_progress_heartbeats_total"
    '{result="database"}[30s]))',
    "rows_flushed": "sum(rate(streamsite_progress_flush_rows_total[1m]))",
    "pending_entries": "max(streamsite_progress_pending_entries)",
    "cpu": "sum by (process) (rate(loadtest_process_cpu_seconds_total[10s]))",
    "server_p99_by_role": "histogram_quantile(0.99, sum by (le, role) "
    "(rate(streamsite_request_seconds_bucket[30s])))",
    "load_average": "loadtest_load_average",
}
# Totals over the whole run, for "where the time goes".
TOTALS = {
    "server_seconds_by_route": "sum by (route) (increase(streamsite_request_seconds_sum[{d}s]))",
    "requests_by_route": "sum by (route) (increase(streamsite_request_seconds_count[{d}s]))",
    "cpu_seconds_by_process": "sum by (process) "
    "(increase(loadtest_process_cpu_seconds_total[{d}s]))",
    "heartbeats_by_result": "sum by (result) "
    "(increase(streamsite_progress_heartbeats_total[{d}s]))",
    "rows_flushed": "sum(increase(streamsite_progress_flush_rows_total[{d}s]))",
    "flush_seconds": "sum(increase(streamsite_progress_flush_seconds_sum[{d}s]))",
    "cache_by_result": "sum by (result) (increase(streamsite_cache_requests_total[{d}s]))",
}


def collect(base: str, began: float, ended: float) -> dict[str, Any]:
    series = {name: prometheus.query_range(base, q, began, ended) for name, q in QUERIES.items()}
    duration = max(1, round(ended - began))
    totals = {}
    for name, query in TOTALS.items():
        arguments = urllib.parse.urlencode({"query": query.format(d=duration), "time": ended})
        with urllib.request.urlopen(f"{base}/api/v1/query?{arguments}", timeout=30) as answer:
            result = json.load(answer)["data"]["result"]
        totals[name] = {
            next(iter(r["metric"].values()), "all"): float(r["value"][1]) for r in result
        }
    return {"series": series, "totals": totals, "began": began, "ended": ended}


# --- Figures from the requests ---------------------------------------------------------------


def buckets(samples: Iterable[Sample], start: float, width: float) -> dict[int, list[Sample]]:
    grouped: dict[int, list[Sample]] = defaultdict(list)
    for sample in samples:
        grouped[int((sample.time - start) // width)].append(sample)
    return grouped


def over_time(grouped: dict[int, list[Sample]], width: float, value: Any) -> Points:
    return [((n + 0.5) * width, value(group)) for n, group in sorted(grouped.items())]


def edge_share(samples: Sequence[Sample]) -> float:
    """The share of requests nginx's micro-cache answered (HIT, or a stale copy while it
    refreshed: UPDATING, STALE)."""
    served = [s for s in samples if s.status]
    hits = sum(s.edge_cache in {"HIT", "UPDATING", "STALE"} for s in served)
    return hits / len(served) if served else 0.0


def abuse_figures(samples: Sequence[Sample]) -> dict[str, Any]:
    """Per abusive client: was it blocked (a 403 from the shield), and after how long."""
    clients: dict[tuple[str, str], list[Sample]] = defaultdict(list)
    for sample in samples:
        if sample.journey in ABUSIVE:
            clients[(sample.journey, sample.client)].append(sample)
    rows = []
    for (journey, client), mine in sorted(clients.items()):
        mine.sort(key=lambda s: s.time)
        blocked = next((s for s in mine if s.status == 403), None)
        rows.append(
            {
                "journey": journey,
                "client": client,
                "requests": len(mine),
                "blocked": blocked is not None,
                "seconds_to_block": round(blocked.time - mine[0].time, 1) if blocked else None,
                "requests_before_block": sum(s.time < blocked.time for s in mine)
                if blocked
                else None,
                "refused": sum(s.status in {403, 429} for s in mine),
            }
        )
    return {"clients": rows, "blocked": sum(r["blocked"] for r in rows), "total": len(rows)}


def figures(samples: Sequence[Sample], began: float, ended: float) -> dict[str, Any]:
    mine = legitimate(samples)
    seconds = max(1.0, ended - began)
    return {
        "requests": len(samples),
        "requests_per_second": len(samples) / seconds,
        "legitimate_requests": len(mine),
        "legitimate_failures": sum(s.failed for s in mine),
        "legitimate_error_rate": sum(s.failed for s in mine) / len(mine) if mine else 0.0,
        "server_errors": sum(s.server_error for s in samples),
        "edge_cache_share": edge_share(samples),
        "edge_cache_share_legitimate": edge_share(mine),
        "p99_ms_legitimate": percentile([s.ms for s in mine], 0.99),
        "steps": [vars(f) for f in by_step(samples)],
        "abuse": abuse_figures(samples),
    }


# --- SVG ---------------------------------------------------------------------------------------

COLOURS = (
    "#1f77b4",
    "#d62728",
    "#2ca02c",
    "#ff7f0e",
    "#9467bd",
    "#8c564b",
    "#e377c2",
    "#7f7f7f",
    "#bcbd22",
    "#17becf",
    "#393b79",
    "#637939",
)


def nice_ceiling(value: float) -> float:
    if value <= 0:
        return 1.0
    power = 10 ** math.floor(math.log10(value))
    return next(m * power for m in (1, 2, 2.5, 5, 10) if m * power >= value)


def chart(
    title: str,
    series: dict[str, Points],
    unit: str,
    *,
    width: int = 620,
    height: int = 220,
    y_max: float | None = None,
) -> str:
    """A line chart: seconds since the start across, ``unit`` up, one line per series."""
    left, right, top, bottom = 56, 150, 24, 30
    plot_w, plot_h = width - left - right, height - top - bottom
    points = [p for line in series.values() for p in line if math.isfinite(p[1])]
    x_max = max((x for x, _ in points), default=1.0) or 1.0
    top_value = y_max or nice_ceiling(max((y for _, y in points), default=1.0))
    out = [
        f'<svg xmlns="http://www.w3.org/2000/svg" width="{width}" height="{height}" '
        f'role="img" aria-label="{html.escape(title)}" font-family="sans-serif" font-size="11">',
        f'<text x="{left}" y="14" font-weight="bold">{html.escape(title)}</text>',
    ]
    for n in range(5):
        value = top_value * n / 4
        y = top + plot_h - plot_h * n / 4
        out.append(
            f'<line x1="{left}" x2="{left + plot_w}" y1="{y:.1f}" y2="{y:.1f}" stroke="#ddd"/>'
        )
        out.append(f'<text x="{left - 4}" y="{y + 4:.1f}" text-anchor="end">{value:g}</text>')
    for n in range(6):
        x = left + plot_w * n / 5
        out.append(
            f'<text x="{x:.1f}" y="{height - 12}" text-anchor="middle">{x_max * n / 5:.0f}</text>'
        )
    out.append(
        f'<text x="{left + plot_w}" y="{height - 1}" text-anchor="end">s since start'
        f'</text><text x="4" y="{top - 6}">{html.escape(unit)}</text>'
    )
    for index, (label, line) in enumerate(series.items()):
        colour = COLOURS[index % len(COLOURS)]
        coords = " ".join(
            f"{left + plot_w * x / x_max:.1f},"
            f"{top + plot_h - plot_h * min(y, top_value) / top_value:.1f}"
            for x, y in line
            if math.isfinite(y)
        )
        out.append(
            f'<polyline fill="none" stroke="{colour}" stroke-width="1.5" points="{coords}"/>'
        )
        y = top + 10 + 14 * index
        out.append(
            f'<rect x="{left + plot_w + 8}" y="{y - 8}" width="10" height="3" '
            f'fill="{colour}"/><text x="{left + plot_w + 22}" y="{y}">'
            f"{html.escape(label[:22])}</text>"
        )
    out.append("</svg>")
    return "".join(out)


def prometheus_lines(
    result: list[dict[str, Any]], began: float, label: str = "", scale: float = 1.0
) -> dict[str, Points]:
    lines = {}
    for item in result:
        name = next(iter(item["metric"].values()), label or "value")
        values = [(float(t) - began, float(v) * scale) for t, v in item["values"]]
        lines[label or name] = [(t, v) for t, v in values if math.isfinite(v)]
    return lines


# --- The page ---------------------------------------------------------------------------------


def build(
    output: Path,
    *,
    series: dict[str, Any],
    cores: dict[str, Any],
    args: dict[str, Any],
    began: float,
    ended: float,
    counters: dict[str, float] | None = None,
) -> Path:
    samples = read_samples(output / "samples.csv")
    summary = figures(samples, began, ended)
    steps = []
    if (output / "steps.jsonl").exists():
        steps = [json.loads(line) for line in (output / "steps.jsonl").read_text().splitlines()]
    held = [s for s in steps if s["passed"]]
    site_cpu = site_cores_used(series, *held[-1]["window"]) if held else 0.0
    summary["capacity"] = {
        "viewers": held[-1]["users"] if held else 0,
        "site_cpu_cores_used": site_cpu,
        "viewers_per_core": held[-1]["users"] / site_cpu if held and site_cpu else 0.0,
        "cores_by_process": cores_by_process(series, *held[-1]["window"]) if held else {},
        "steps": steps,
        "site_cores": cores["site"],
    }
    summary["cores"] = cores
    summary["counters"] = {
        **(counters or {}),
        "seconds": ended - began,
        "viewer_seconds": user_seconds(output / "locust_stats_history.csv", journey_share=1.0)
        if args.get("capacity")
        else 0.0,
    }
    summary["totals"] = series["totals"]
    (output / "summary.json").write_text(json.dumps(summary, indent=1))
    charts = request_charts(samples, began) + inside_charts(series, began)
    page = render(summary, charts, args)
    (output / "index.html").write_text(page)
    return output / "index.html"


def user_seconds(history: Path, *, journey_share: float) -> float:
    """Clients × seconds over the run, from locust's history (a row every couple of seconds)."""
    if not history.exists():
        return 0.0
    with history.open() as file:
        rows = [
            (float(r["Timestamp"]), float(r["User Count"]))
            for r in csv.DictReader(file)
            if r["Name"] == "Aggregated"
        ]
    total = sum((t2 - t1) * users for (t1, users), (t2, _) in zip(rows, rows[1:], strict=False))
    return total * journey_share


# The load generator and the figures' store: not the site.
NOT_SITE = {"locust", "prometheus"}


def cores_by_process(series: dict[str, Any], start: float, end: float) -> dict[str, float]:
    """Each process's CPU in cores, averaged over [start, end]."""
    cores = {}
    for item in series["series"]["cpu"]:
        values = [float(v) for t, v in item["values"] if start <= float(t) <= end]
        if values:
            cores[item["metric"].get("process", "")] = sum(values) / len(values)
    return cores


def site_cores_used(series: dict[str, Any], start: float, end: float) -> float:
    """The site's CPU (every process of it, PostgreSQL's backends for this run included) in
    cores, averaged over [start, end]: what "per core" divides by."""
    used = cores_by_process(series, start, end)
    return sum(v for name, v in used.items() if name not in NOT_SITE)


def request_charts(samples: Sequence[Sample], began: float) -> list[str]:
    by_journey: dict[str, list[Sample]] = defaultdict(list)
    for sample in samples:
        by_journey[sample.journey].append(sample)
    width = 5.0
    throughput = {
        journey: over_time(buckets(mine, began, width), width, lambda g: len(g) / width)
        for journey, mine in sorted(by_journey.items())
    }
    mine = legitimate(samples)
    errors = {
        "legitimate errors %": over_time(
            buckets(mine, began, width), width, lambda g: 100 * sum(s.failed for s in g) / len(g)
        ),
        "abusive refused %": over_time(
            buckets([s for s in samples if s.journey in ABUSIVE], began, width),
            width,
            lambda g: 100 * sum(s.status in {403, 429} for s in g) / len(g),
        ),
    }
    edge = {
        "edge cache share %": over_time(
            buckets(samples, began, width), width, lambda g: 100 * edge_share(g)
        )
    }
    charts = [
        chart("Throughput by journey", throughput, "req/s"),
        chart("Errors (legitimate) and refusals (abusive)", errors, "%", y_max=100),
        chart("nginx micro-cache: share of requests it answered", edge, "%", y_max=100),
    ]
    steps: dict[str, list[Sample]] = defaultdict(list)
    for sample in mine:
        steps[f"{sample.journey}: {sample.step}"].append(sample)
    for name, group in sorted(steps.items()):
        grouped = buckets(group, began, 10.0)
        lines = {
            label: over_time(grouped, 10.0, lambda g, q=q: percentile([s.ms for s in g], q))
            for label, q in (("p50", 0.5), ("p95", 0.95), ("p99", 0.99))
        }
        charts.append(chart(name, lines, "ms", width=460, height=180))
    return charts


def inside_charts(series: dict[str, Any], began: float) -> list[str]:
    found = series["series"]
    cache = prometheus_lines(found["app_cache_hit_ratio"], began, "app cache hit %", 100)
    heartbeats = {
        **prometheus_lines(found["heartbeats_buffered"], began, "buffered /s"),
        **prometheus_lines(found["heartbeats_database"], began, "to database /s"),
        **prometheus_lines(found["rows_flushed"], began, "rows flushed /s"),
    }
    return [
        chart("Catalog cache (Redis) hit ratio", cache, "%", y_max=100),
        chart("Heartbeats buffered vs rows flushed", heartbeats, "per s"),
        chart(
            "Pending progress entries after a flush",
            prometheus_lines(found["pending_entries"], began, "pending"),
            "entries",
        ),
        chart(
            "CPU by process (1.0 = one core)",
            prometheus_lines(found["cpu"], began),
            "cores",
            height=320,
        ),
        chart(
            "Server p99 by pool (Prometheus histogram)",
            prometheus_lines(found["server_p99_by_role"], began, scale=1000),
            "ms",
        ),
        chart("Load average (1 min)", prometheus_lines(found["load_average"], began, "load"), ""),
    ]


STEPS_TABLE = (
    "<h2>Step-load search</h2><table><tr><th>viewers</th><th>verdict</th><th>worst p99 ms</th>"
    "<th>errors</th><th>requests</th></tr>{rows}</table>"
)


def render(summary: dict[str, Any], charts: list[str], args: dict[str, Any]) -> str:
    esc = html.escape
    rows = "".join(
        f"<tr><td>{esc(s['journey'])}</td><td>{esc(s['step'])}</td><td>{s['requests']}</td>"
        f"<td>{s['failures']}</td><td>{s['p50']:.0f}</td><td>{s['p95']:.0f}</td>"
        f"<td>{s['p99']:.0f}</td></tr>"
        for s in summary["steps"]
    )
    capacity = summary["capacity"]
    step_rows = "".join(
        f"<tr><td>{s['users']}</td><td>{'held' if s['passed'] else 'did not hold'}</td>"
        f"<td>{s['worst_p99']:.0f} ({esc(s['worst_step'])})</td><td>{s['error_rate']:.3%}</td>"
        f"<td>{s['requests']}</td></tr>"
        for s in capacity["steps"]
    )
    abuse = summary["abuse"]
    cores = summary["cores"]
    time_rows = "".join(
        f"<tr><td>{esc(route)}</td><td>{seconds:.1f}</td>"
        f"<td>{summary['totals']['requests_by_route'].get(route, 0):.0f}</td></tr>"
        for route, seconds in sorted(
            summary["totals"]["server_seconds_by_route"].items(), key=lambda kv: -kv[1]
        )[:15]
    )
    cpu_rows = "".join(
        f"<tr><td>{esc(name)}</td><td>{seconds:.1f}</td></tr>"
        for name, seconds in sorted(
            summary["totals"]["cpu_seconds_by_process"].items(), key=lambda kv: -kv[1]
        )
    )
    return f"""<!doctype html>
<html lang="en"><head><meta charset="utf-8"><title>StreamSite load test</title>
<style>body{{font-family:sans-serif;margin:1.5em;max-width:1300px}}
table{{border-collapse:collapse;margin:.5em 0 1.5em}}td,th{{border:1px solid #ccc;padding:2px 6px;
text-align:right}}td:first-child,td:nth-child(2){{text-align:left}}svg{{margin:4px}}</style>
</head><body>
<h1>StreamSite load test</h1>
<p>Options: <code>{esc(json.dumps(args))}</code></p>
<h2>How the cores were shared</h2>
<p>The site (nginx, every gunicorn instance, Redis, Celery) on core(s)
<b>{esc(str(cores["site"]))}</b>;
locust and Prometheus on core(s) <b>{esc(str(cores["locust"]))}</b>; PostgreSQL:
{esc(cores["postgresql"])}. The machine has {cores["machine"]} cores. Load average (1, 5, 15 min)
before the run {esc(str(tuple(round(x, 2) for x in cores["load_before"])))}, after
{esc(str(tuple(round(x, 2) for x in cores["load_after"])))}: others using the machine show here.</p>
<h2>Figures</h2>
<ul>
<li>{summary["requests"]} requests, {summary["requests_per_second"]:.1f} a second through nginx</li>
<li>Legitimate clients: {summary["legitimate_requests"]} requests, {summary["legitimate_failures"]}
failed ({summary["legitimate_error_rate"]:.3%}); p99 {summary["p99_ms_legitimate"]:.0f} ms</li>
<li>Server errors or dropped connections, all clients: {summary["server_errors"]}</li>
<li>nginx micro-cache answered {summary["edge_cache_share"]:.1%} of all requests
({summary["edge_cache_share_legitimate"]:.1%} of the legitimate ones)</li>
<li>Abusive clients blocked: {abuse["blocked"]} of {abuse["total"]}</li>
<li>Redis commands: {summary["counters"].get("redis_commands", 0):.0f}; PostgreSQL (this run's
database): {summary["counters"].get("pg_transactions", 0):.0f} transactions,
{summary["counters"].get("pg_rows_written", 0):.0f} rows written</li>
<li>Capacity (step-load search): {capacity["viewers"]} watching viewers, the site using
{capacity["site_cpu_cores_used"]:.2f} cores meanwhile: {capacity["viewers_per_core"]:.0f} viewers
per core</li>
</ul>
{STEPS_TABLE.format(rows=step_rows) if step_rows else ""}
<h2>Every journey step</h2>
<table><tr><th>journey</th><th>step</th><th>requests</th><th>failed</th><th>p50 ms</th>
<th>p95 ms</th><th>p99 ms</th></tr>{rows}</table>
<h2>Where the time goes</h2>
<table><tr><th>route (server time, all instances)</th><th>seconds</th><th>requests</th></tr>
{time_rows}</table>
<table><tr><th>process</th><th>CPU seconds</th></tr>{cpu_rows}</table>
<h2>Charts</h2>
{"".join(charts)}
<p>Raw: <a href="locust.html">locust's report</a>, locust_*.csv (locust's series),
samples.csv (every request), summary.json, prometheus.json.</p>
</body></html>
"""


def main() -> None:
    """Build the summary again from a run's files: ``python -m loadtest.report loadtest-report``."""
    output = Path(sys.argv[1] if len(sys.argv) > 1 else "loadtest-report")
    run = json.loads((output / "run.json").read_text())
    series = json.loads((output / "prometheus.json").read_text())
    print(build(output, series=series, **run))


if __name__ == "__main__":
    main()
