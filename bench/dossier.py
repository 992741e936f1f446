"""`make bench-dossier`: render a large case's dossier against a bare WeasyPrint table.

Builds one case with the real services: BENCH_ROWS (default 1,000,000) query-log rows
from bench.rows, 50 exhibits with 20 custody events each and 5 forensic results. Then
renders that case's dossier (dossiers.services.dossier_render, every section, unsigned)
and, as the baseline, a bare 5,000-row HTML table with WeasyPrint; each in a fresh
child process, so each peak RSS (VmHWM) is that render's alone. Building the case is
setup and is not timed. Prints both times, their ratio and both peaks. It reports; it
does not gate: the exit status is non-zero only when something failed.

Database handling is bench.ingest's: PostgreSQL from DATABASE_URL (by default
casebook_bench, dropped and recreated on every run; BENCH_RESET=1 allows another
name), BENCH_KEEP=1 keeps it afterwards, BENCH_SEED changes the rows.
"""

import collections
import contextlib
import html
import logging
import multiprocessing
import os
import shutil
import sys
import tempfile
import time
import traceback
from concurrent.futures import ProcessPoolExecutor
from concurrent.futures.process import BrokenProcessPool
from pathlib import Path
from unittest import mock

import psycopg

from bench import ingest
from bench import rows as generator
from bench.ingest import say, verdict

EXHIBITS = 50
CUSTODY_EVENTS = 20  # per exhibit, the `received` event included
FORENSIC_RESULTS = 5
BASELINE_ROWS = 5000
TARGET_RATIO = 1.0
TARGET_RSS_MIB = 500
MIB = 1024 * 1024


# --- the case ------------------------------------------------------------------------


def _exhibit_bytes(number: int) -> tuple[bytes, str]:
    """A small file of a kind an analyst attaches: logs, notes, a CSV extract."""
    kind = number % 3
    lines = 40 + (number * 37) % 400
    if kind == 0:
        body = "".join(
            f'{{"seq": {i}, "exhibit": {number}, "event": "api.request", '
            f'"status": {200 + (i % 3) * 100}}}\n'
            for i in range(lines)
        )
        return body.encode(), f"gateway-extract-{number:02d}.json"
    if kind == 1:
        body = "".join(
            f"{i:05d} analyst note for exhibit {number}: observed repeated prompts\n"
            for i in range(lines)
        )
        return body.encode(), f"analyst-notes-{number:02d}.txt"
    body = "account_id,requests,first_seen\n" + "".join(
        f"acct_{number:02d}{i:06d},{(i * 7919) % 10000},2026-03-0{1 + i % 9}\n"
        for i in range(lines)
    )
    return body.encode(), f"account-volume-{number:02d}.csv"


def build_case(reference: str, body) -> dict:
    """Query logs, exhibits with their custody and forensic results for `reference`,
    through the same services the API calls. Runs in this (already set up) process."""
    from accounts.models import User
    from evidence.models import CustodyEvent
    from evidence.services.forensics import forensic_result_record, one_sided_normal_p
    from evidence.services.items import custody_add, evidence_add
    from evidence.services.querylogs import query_log_ingest
    from evidence.uploads import hashed_upload
    from incidents.models import Incident

    incident = Incident.objects.get(reference=reference)
    analyst = User.objects.get(username="bench-analyst")
    detector = User.objects.get(username="bench-detector")

    started = time.perf_counter()
    with body.open("rb") as stream:
        batch, _ = query_log_ingest(
            incident=incident,
            by=detector,
            stream=stream,
            content_type="application/x-ndjson",
            content_encoding="gzip",
        )
    say(f"  {batch.rows:,} query-log rows in {time.perf_counter() - started:.0f} s")

    started = time.perf_counter()
    custodians = ("evidence-room", "j.alvarez", "forensics-lab", "k.osei", "counsel")
    tools = (("sha256sum", "9.1"), ("casebook-diff", "0.4"), ("jq", "1.7"))
    for number in range(1, EXHIBITS + 1):
        content, name = _exhibit_bytes(number)
        item = evidence_add(
            incident=incident,
            by=analyst,
            upload=hashed_upload(content, name),
            title=f"Exhibit {number}: {name}",
            description="Collected during the benchmark investigation",
            source="bench",
            location="Evidence locker 3",
        )
        for step in range(1, CUSTODY_EVENTS):
            action = ("transferred", "analysed", "note")[step % 3]
            tool, version = tools[step % len(tools)]
            custody_add(
                evidence=item,
                by=analyst,
                action=action,
                purpose=f"Step {step} of the review of {name}",
                location="Forensics lab" if step % 2 else "Evidence locker 3",
                to_custodian=custodians[step % len(custodians)]
                if action == "transferred"
                else "",
                tool=tool if action == "analysed" else "",
                tool_version=version if action == "analysed" else "",
            )
    say(
        f"  {EXHIBITS} exhibits with {CUSTODY_EVENTS} custody events each "
        f"in {time.perf_counter() - started:.0f} s"
    )

    for index in range(FORENSIC_RESULTS):
        z = 1.2 + index * 1.1  # 1.2 .. 5.6; the first two do not reach alpha = 0.01
        p_value = one_sided_normal_p(z)
        forensic_result_record(
            incident=incident,
            by=analyst,
            method={
                "family": "watermark" if index % 2 else "membership-inference",
                "name": f"bench-detector-{index + 1}",
                "version": "1.0",
            },
            suspect_model="suspect-llm-7b",
            parameters={"samples": 1000 * (index + 1), "seed": index},
            statistic={"name": "z", "value": z},
            p_value=p_value,
            alpha=0.01,
            verdict="supports" if p_value <= 0.01 else "inconclusive",
            summary=f"Benchmark result {index + 1}: z = {z:.1f}",
            limitations=["Synthetic benchmark data"],
        )
    return {
        "incident_id": incident.pk,
        "rows": batch.rows,
        "exhibits": EXHIBITS,
        "custody_events": CustodyEvent.objects.filter(
            evidence__incident=incident
        ).count(),
        "forensic_results": FORENSIC_RESULTS,
    }


def request_dossier(incident_id: int) -> int:
    """A queued dossier of every section; nothing is enqueued (the child renders it)."""
    from accounts.models import User
    from dossiers import services
    from incidents.models import Incident

    with mock.patch.object(services, "job_send"):
        dossier = services.dossier_request(
            incident=Incident.objects.get(pk=incident_id),
            by=User.objects.get(username="bench-analyst"),
            sign=False,
        )
    return dossier.pk


# --- the two measurements, each in its own child process -----------------------------


def memory_mib() -> dict[str, float]:
    """This process's current and peak resident memory, MiB."""
    found = {}
    for line in Path("/proc/self/status").read_text().splitlines():
        if line.startswith(("VmRSS:", "VmHWM:")):
            found[line[:5]] = int(line.split()[1]) / 1024
    return found


class _Counter(logging.Handler):
    """Counts WeasyPrint's warnings (one per glyph a font lacks) instead of printing
    each of them; the report shows the tally and one example of each kind."""

    def __init__(self) -> None:
        super().__init__(logging.WARNING)
        self.counts: collections.Counter[str] = collections.Counter()
        self.examples: dict[str, str] = {}

    def emit(self, record: logging.LogRecord) -> None:
        kind = str(record.msg)
        self.counts[kind] += 1
        self.examples.setdefault(kind, record.getMessage()[:120])

    def summary(self) -> list[str]:
        return [
            f"{count:,} x {self.examples[kind]}"
            for kind, count in self.counts.most_common()
        ]


def _quiet_weasyprint() -> _Counter:
    counter = _Counter()
    weasy = logging.getLogger("weasyprint")
    weasy.handlers[:] = [counter]
    weasy.propagate = False
    return counter


def _child_render_dossier(dossier_id: int) -> dict:
    """In a fresh interpreter: time dossier_render and note each stage it reports."""
    import django

    django.setup()
    from dossiers import rendering, services  # noqa: F401  (imported before the clock)
    from dossiers.models import Dossier

    warnings = _quiet_weasyprint()
    stages: list[tuple[float, str, float, float]] = []
    # Instrumented through the names dossiers.services calls: every stage it reports
    # goes through job_progress, and every attachment through embed_attachments.
    report_progress = services.job_progress
    attached: list[tuple[str, int]] = []
    embed = services.embed_attachments

    def embed_attachments(laid_out, pdf, attachments: list, **kwargs) -> None:
        attached.extend((a.name, a.size) for a in attachments)
        embed(laid_out, pdf, attachments, **kwargs)

    started = 0.0

    def progress(*, stage: str, **kwargs) -> None:
        memory = memory_mib()
        stages.append(
            (time.perf_counter() - started, stage, memory["VmRSS"], memory["VmHWM"])
        )
        report_progress(stage=stage, **kwargs)

    error = ""
    with (
        mock.patch.object(services, "job_progress", progress),
        mock.patch.object(services, "embed_attachments", embed_attachments),
    ):
        started = time.perf_counter()
        try:
            services.dossier_render(dossier_id=dossier_id)
        except Exception:  # the report shows it; the stored job says the same
            error = traceback.format_exc(limit=4).strip().splitlines()[-1]
        seconds = time.perf_counter() - started
    dossier = Dossier.objects.get(pk=dossier_id)
    return {
        "seconds": seconds,
        "peak_mib": memory_mib()["VmHWM"],
        "status": dossier.status,
        "pages": dossier.pages,
        "size": dossier.size,
        "error": error or dossier.error,
        "stages": stages,
        "attachments": attached,
        "warnings": warnings.summary(),
    }


def baseline_html(rows: int, seed: int) -> str:
    """A bare table: five columns of real-looking query-log rows, no stylesheet."""
    cells = []
    for record in generator.records(rows, seed):
        values = (
            record["timestamp"][:19].replace("T", " "),
            record["account_id"],
            record["ip"],
            record["model"],
            record["prompt"][:40],
        )
        cells.append(
            "<tr>" + "".join(f"<td>{html.escape(v)}</td>" for v in values) + "</tr>"
        )
    return (
        '<!DOCTYPE html><html lang="en"><head><meta charset="utf-8">'
        "<title>Baseline</title></head><body><table><thead><tr><th>Timestamp</th>"
        "<th>Account</th><th>IP</th><th>Model</th><th>Prompt</th></tr></thead><tbody>"
        + "\n".join(cells)
        + "</tbody></table></body></html>"
    )


def _child_render_baseline(rows: int, seed: int, output: str) -> dict:
    # The app imports WeasyPrint only in dossiers/rendering.py; the benchmark needs
    # it directly for a baseline that has nothing of the app in it.
    import weasyprint

    warnings = _quiet_weasyprint()
    markup = baseline_html(rows, seed)
    started = time.perf_counter()
    document = weasyprint.HTML(string=markup).render()
    document.write_pdf(output)
    seconds = time.perf_counter() - started
    return {
        "seconds": seconds,
        "peak_mib": memory_mib()["VmHWM"],
        "pages": len(document.pages),
        "size": Path(output).stat().st_size,
        "warnings": warnings.summary(),
    }


def in_child(function, *args) -> dict:
    """Run `function(*args)` in a fresh spawned interpreter; it inherits os.environ."""
    context = multiprocessing.get_context("spawn")
    with ProcessPoolExecutor(max_workers=1, mp_context=context) as pool:
        try:
            return pool.submit(function, *args).result()
        except BrokenProcessPool:
            raise ingest.BenchError(
                f"The child process running {function.__name__} died (out of "
                "memory?); see the kernel log (dmesg)."
            ) from None


# --- report --------------------------------------------------------------------------


def report(case: dict, dossier: dict, baseline: dict, version: str) -> None:
    ratio = dossier["seconds"] / baseline["seconds"]
    say("")
    say("Dossier rendering benchmark (MiB = 2^20 bytes; each render in its own child)")
    say(f"  query-log rows      {case['rows']:,}")
    say(f"  exhibits            {case['exhibits']}")
    say(f"  custody events      {case['custody_events']:,} (every item of the case)")
    say(f"  forensic results    {case['forensic_results']}")
    say(f"  PostgreSQL {version}; {os.cpu_count()} CPUs")
    say("")
    say("                               seconds   pages    PDF MiB  peak RSS MiB")
    for name, result in (
        ("dossier (dossier_render)", dossier),
        (f"baseline ({BASELINE_ROWS:,}-row table)", baseline),
    ):
        say(
            f"  {name:<27} {result['seconds']:>9.1f} {result['pages'] or 0:>7,} "
            f"{(result['size'] or 0) / MIB:>10.1f} {result['peak_mib']:>13.0f}"
        )
    say(f"    dossier status: {dossier['status']}")
    if dossier["error"]:
        say(f"    dossier error: {dossier['error']}")
    for name, size in dossier["attachments"]:
        say(f"    dossier attachment: {name} {size / MIB:,.1f} MiB")
    for name, result in (("dossier", dossier), ("baseline", baseline)):
        for line in result["warnings"]:
            say(f"    {name} WeasyPrint warnings: {line}")
    say("    dossier stages (s from start, stage, RSS MiB, peak MiB):")
    for at, stage, rss, peak in dossier["stages"]:
        say(f"      {at:>8.1f}  {stage:<32} {rss:>7.0f} {peak:>7.0f}")
    say("")
    say(
        f"  dossier / baseline time   {ratio:>6.2f}     target < {TARGET_RATIO:.2f}"
        f"         {verdict(ratio < TARGET_RATIO)}"
    )
    say(
        f"  dossier peak RSS (VmHWM) {dossier['peak_mib']:>6.0f} MiB  "
        f"target < {TARGET_RSS_MIB} MiB     {verdict(dossier['peak_mib'] < TARGET_RSS_MIB)}"
    )


def main() -> int:
    count = int(os.environ.get("BENCH_ROWS", "1000000"))
    seed = int(os.environ.get("BENCH_SEED", "20260302"))
    keep = os.environ.get("BENCH_KEEP") == "1"
    scratch = Path(tempfile.mkdtemp(prefix="casebook-bench-dossier-"))
    database = None
    try:
        database = ingest.bench_database()
        version = ingest.database_reset(database)
        say(f"Generating {count:,} rows (seed {seed}) as gzip NDJSON in {scratch}")
        started = time.perf_counter()
        body = scratch / "query-logs.ndjson.gz"
        generated = generator.write_ndjson_gz(body, count, seed)
        say(
            f"  {generated.compressed_bytes / ingest.MB:,.1f} MB gzip "
            f"({generated.uncompressed_bytes / ingest.MB:,.1f} MB NDJSON) "
            f"in {time.perf_counter() - started:.0f} s"
        )
        env = ingest.server_env(database, scratch)
        env["DOSSIER_SIGNING_KEY_PATH"] = str(scratch / "keys" / "dossier-signing.key")
        env["DOSSIER_SIGNING_CERT_PATH"] = str(scratch / "keys" / "dossier-signing.crt")
        # The rendering child writes its temporary files (the CSV export) here too.
        env["TMPDIR"] = str(scratch)
        say("Building the case with the services (setup, not timed)")
        reference, _ = ingest.prepare(env)  # migrates; sets os.environ for children
        case = build_case(reference, body)
        body.unlink()
        dossier_id = request_dossier(case["incident_id"])
        from django.db import connections

        connections.close_all()
        say(f"Rendering dossier {dossier_id} in a child process")
        dossier = in_child(_child_render_dossier, dossier_id)
        say(
            f"  {dossier['status']} in {dossier['seconds']:.1f} s, "
            f"peak {dossier['peak_mib']:.0f} MiB"
        )
        say(f"Rendering the {BASELINE_ROWS:,}-row baseline table in a child process")
        baseline = in_child(
            _child_render_baseline,
            BASELINE_ROWS,
            seed,
            str(scratch / "baseline.pdf"),
        )
        say(f"  {baseline['pages']} pages in {baseline['seconds']:.1f} s")
        report(case, dossier, baseline, version)
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
