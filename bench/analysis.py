"""`make bench-analysis`: the account-linkage analysis of a 1,000,000-row case against
a bare `SELECT account_id, count(*) ... GROUP BY account_id` over the same table.

Builds one case with the campaign generator (analysis.campaign): BENCH_ACCOUNTS
(default 20,000) ordinary accounts and BENCH_CAMPAIGNS (2) planted campaigns of
BENCH_CAMPAIGN_SIZE (300) accounts, BENCH_ROWS (1,000,000) rows in all, posted through
the real ingestion service (COPY), then VACUUM ANALYZE as autovacuum would after such
a load. Building the case is setup and is not timed.

Then, in fresh child processes (so each peak RSS is its own): the baseline query,
once to warm the cache and three times timed (the median counts), and the whole
`analysis.engine.analysis_run` over the case's batch, three times, each in a child of
its own as a worker starting cold would run it (the median counts, the largest peak
RSS is reported; a single run on a shared 2-core machine varies by 15%). Prints both
times, their ratio (target <= 20), the analysis's peak RSS (target < 1 GiB), its
stages, and how well its clusters match the planted campaigns. It reports; it does
not gate: the exit status is non-zero only when something failed.

Database handling is bench.ingest's: PostgreSQL from DATABASE_URL (by default
casebook_bench, dropped and recreated on every run; BENCH_RESET=1 allows another
name), BENCH_KEEP=1 keeps it afterwards, and BENCH_REUSE=1 analyses the case a
previous BENCH_KEEP=1 run left there instead of building it again.
"""

import contextlib
import os
import shutil
import statistics
import sys
import tempfile
import time
from pathlib import Path

import psycopg

from bench import ingest
from bench.dossier import in_child, memory_mib
from bench.ingest import say, verdict

TARGET_RATIO = 20.0
TARGET_RSS_MIB = 1024
ANALYSIS_RUNS = 3  # each in a fresh process; the median counts, as for the baseline
BASELINE_SQL = (
    "SELECT account_id, count(*) FROM evidence_querylogrow GROUP BY account_id"
)


def _spec():
    from analysis.campaign import Spec

    return Spec(
        benign=int(os.environ.get("BENCH_ACCOUNTS", "20000")),
        campaigns=int(os.environ.get("BENCH_CAMPAIGNS", "2")),
        campaign_size=int(os.environ.get("BENCH_CAMPAIGN_SIZE", "300")),
        benign_rows=(25, 75),
        campaign_rows=(40, 80),
        total_rows=int(os.environ.get("BENCH_ROWS", "1000000")),
        seed=int(os.environ.get("BENCH_SEED", "20261102")),
    )


def build_case(reference: str) -> dict:
    """The generated population, ingested through the service as one batch."""
    from django.db import connection

    from accounts.models import User
    from analysis.campaign import population_generate, population_ingest
    from incidents.models import Incident

    spec = _spec()
    started = time.perf_counter()
    population = population_generate(spec)
    batch = population_ingest(
        population,
        incident=Incident.objects.get(reference=reference),
        by=User.objects.get(username="bench-detector"),
    )
    say(
        f"  {batch.rows:,} rows of {len(population.accounts):,} accounts generated "
        f"and ingested in {time.perf_counter() - started:.0f} s"
    )
    started = time.perf_counter()
    with connection.cursor() as cursor:
        cursor.execute("VACUUM (ANALYZE) evidence_querylogrow")
    say(f"  VACUUM ANALYZE in {time.perf_counter() - started:.0f} s")
    return {"batch_ids": [batch.pk], "rows": batch.rows}


def existing_case() -> dict:
    from evidence.models import QueryLogBatch

    batches = list(
        QueryLogBatch.objects.filter(
            incident__title="Benchmark: distillation traffic"
        ).order_by("id")
    )
    if not batches:
        raise ingest.BenchError("BENCH_REUSE=1 but the database holds no query logs.")
    return {"batch_ids": [b.pk for b in batches], "rows": sum(b.rows for b in batches)}


# --- the two measurements, each in its own child process -----------------------------


def _timed(connection: psycopg.Connection) -> tuple[list[float], int, str]:
    connection.execute(BASELINE_SQL).fetchall()  # warm the cache, untimed
    runs = []
    for _ in range(3):
        started = time.perf_counter()
        groups = len(connection.execute(BASELINE_SQL).fetchall())
        runs.append(time.perf_counter() - started)
    plan = connection.execute("EXPLAIN " + BASELINE_SQL).fetchall()
    scan = next((line.strip() for (line,) in plan if "Scan" in line), "?")
    return runs, groups, scan.split("  (")[0].lstrip("-> ")


def _child_baseline(url: str) -> dict:
    """The baseline as PostgreSQL plans it (after VACUUM: an index-only scan of
    (incident, account_id, timestamp)), and, for context only, the same query made to
    read the table itself, as every query needing another column must."""
    with psycopg.connect(url, autocommit=True) as connection:
        runs, groups, scan = _timed(connection)
        for setting in (
            "enable_indexonlyscan",
            "enable_indexscan",
            "enable_bitmapscan",
        ):
            connection.execute(f"SET {setting} = off")
        heap_runs, _, heap_scan = _timed(connection)
    return {
        "seconds": statistics.median(runs),
        "runs": runs,
        "groups": groups,
        "scan": scan,
        "heap_seconds": statistics.median(heap_runs),
        "heap_scan": heap_scan,
        "peak_mib": memory_mib()["VmHWM"],
    }


def _child_analyse(batch_ids: list[int]) -> dict:
    import django

    django.setup()
    from analysis import engine  # imported before the clock, as a worker would have

    stages: list[tuple[float, int, str, float, float]] = []
    started = time.perf_counter()

    def progress(percent: int, stage: str) -> None:
        memory = memory_mib()
        stages.append(
            (
                time.perf_counter() - started,
                percent,
                stage,
                memory["VmRSS"],
                memory["VmHWM"],
            )
        )

    started_memory = memory_mib()["VmHWM"]
    started = time.perf_counter()
    result = engine.analysis_run(
        batch_ids=batch_ids,
        parameters=engine.analysis_parameters_clean(None),
        progress=progress,
    )
    seconds = time.perf_counter() - started
    return {
        "seconds": seconds,
        "peak_mib": memory_mib()["VmHWM"],
        "start_mib": started_memory,
        "stages": stages,
        "population": result["population"],
        "clusters": [c["accounts"] for c in result["clusters"]],
        "edges": len(result["edges"]),
    }


# --- report --------------------------------------------------------------------------


def _quality(clusters: list[list[str]], truth: dict) -> list[str]:
    lines = []
    for number, campaign in enumerate(truth["campaigns"], start=1):
        planted = set(campaign["accounts"])
        best = max(clusters, key=lambda c: len(planted & set(c)), default=[])
        hit = len(planted & set(best))
        precision = hit / len(best) if best else 0.0
        lines.append(
            f"  campaign {number}: {len(planted)} planted, best cluster "
            f"{len(best)} accounts, precision {precision:.3f}, "
            f"recall {hit / len(planted):.3f}"
        )
    benign = set(truth["benign"])
    flagged = sum(len(benign & set(c)) for c in clusters)
    lines.append(
        f"  {len(clusters)} cluster(s); ordinary accounts in clusters: {flagged}"
    )
    return lines


def report(case: dict, analysis: dict, baseline: dict, truth: dict, version: str):
    ratio = analysis["seconds"] / baseline["seconds"]
    population = analysis["population"]
    say("")
    say("Account-linkage analysis benchmark (MiB = 2^20 bytes)")
    say(f"  query-log rows      {case['rows']:,}")
    say(f"  accounts            {population['accounts']:,}")
    say(f"  PostgreSQL {version}; {os.cpu_count()} CPUs")
    say("")
    say("                                   seconds   peak RSS MiB")
    say(
        f"  analysis (analysis_run)     {analysis['seconds']:>13.2f} "
        f"{analysis['peak_mib']:>14.0f}"
    )
    say(
        f"  baseline (GROUP BY count)   {baseline['seconds']:>13.3f} "
        f"{baseline['peak_mib']:>14.0f}"
    )
    runs = ", ".join(f"{s:.2f}" for s in analysis["runs"])
    say(f"    analysis runs: {runs} s (median counts; peak RSS is the largest)")
    runs = ", ".join(f"{s:.3f}" for s in baseline["runs"])
    say(f"    baseline runs: {runs} s (median counts); {baseline['groups']:,} groups")
    say(f"    baseline plan: {baseline['scan']}")
    say(
        f"    for context, the same query reading the table ({baseline['heap_scan']}): "
        f"{baseline['heap_seconds']:.3f} s, analysis / that "
        f"{analysis['seconds'] / baseline['heap_seconds']:.1f}"
    )
    say(f"    analysis child before the run: {analysis['start_mib']:.0f} MiB")
    say("    analysis stages (s from start, %, stage, RSS MiB, peak MiB):")
    for at, percent, stage, rss, peak in analysis["stages"]:
        say(f"      {at:>7.2f} {percent:>4}%  {stage:<44} {rss:>6.0f} {peak:>6.0f}")
    say("")
    for line in _quality(analysis["clusters"], truth):
        say(line)
    say(f"  edges reported: {analysis['edges']:,}")
    say("")
    say(
        f"  analysis / baseline time  {ratio:>6.1f}     target <= {TARGET_RATIO:.0f}"
        f"          {verdict(ratio <= TARGET_RATIO)}"
    )
    say(
        f"  analysis peak RSS (VmHWM) {analysis['peak_mib']:>5.0f} MiB  "
        f"target < {TARGET_RSS_MIB} MiB    "
        f"{verdict(analysis['peak_mib'] < TARGET_RSS_MIB)}"
    )


def main() -> int:
    keep = os.environ.get("BENCH_KEEP") == "1"
    reuse = os.environ.get("BENCH_REUSE") == "1"
    scratch = Path(tempfile.mkdtemp(prefix="casebook-bench-analysis-"))
    database = None
    try:
        database = ingest.bench_database()
        env = ingest.server_env(database, scratch)
        if reuse:
            keep = True
            os.environ.update(env)
            import django

            django.setup()
            with database.connect() as connection:
                version = connection.execute("SHOW server_version").fetchone()[0]
            case = existing_case()
        else:
            version = ingest.database_reset(database)
            say("Building the case with the generator and the services (not timed)")
            reference, _ = ingest.prepare(env)  # migrates; sets os.environ for children
            case = build_case(reference)
        from django.db import connections

        from analysis.campaign import population_generate

        truth = population_generate(_spec()).truth()
        connections.close_all()
        say("Timing the baseline query in a child process")
        baseline = in_child(_child_baseline, database.conninfo())
        say(f"  median {baseline['seconds']:.3f} s")
        say(
            f"Running the analysis {ANALYSIS_RUNS} times, each in a fresh child process"
        )
        runs = []
        for _ in range(ANALYSIS_RUNS):
            runs.append(in_child(_child_analyse, case["batch_ids"]))
            say(f"  done in {runs[-1]['seconds']:.2f} s")
        # The median run, as for the baseline; its stages are the ones printed.
        analysis = sorted(runs, key=lambda run: run["seconds"])[len(runs) // 2]
        analysis["runs"] = [run["seconds"] for run in runs]
        analysis["peak_mib"] = max(run["peak_mib"] for run in runs)
        report(case, analysis, baseline, truth, version.split()[0])
    except ingest.BenchError as error:
        print(f"bench: {error}", file=sys.stderr)
        return 2
    finally:
        from django.apps import apps

        if apps.ready:
            from django.db import connections

            connections.close_all()
        if database is not None and not keep:
            with contextlib.suppress(psycopg.Error):
                ingest.database_drop(database)
        shutil.rmtree(scratch, ignore_errors=True)
    return 0


if __name__ == "__main__":
    sys.exit(main())
