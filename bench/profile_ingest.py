"""Where the ingestion service spends its time, without HTTP in the way.

    BENCH_ROWS=50000 .venv/bin/python -m bench.profile_ingest

Same database rules and rows as `bench.ingest`; calls `query_log_ingest` in this
process under pyinstrument when it can be imported (a sampling profiler, so the
numbers are not inflated by per-call overhead), else under cProfile.
"""

import os
import shutil
import sys
import tempfile
import time
from pathlib import Path

from bench import ingest
from bench import rows as generator


def _profiled(call):
    try:
        from pyinstrument import Profiler
    except ImportError:
        import cProfile
        import pstats

        profiler = cProfile.Profile()
        result = profiler.runcall(call)
        pstats.Stats(profiler).sort_stats("cumulative").print_stats(40)
        pstats.Stats(profiler).sort_stats("tottime").print_stats(25)
        return result
    profiler = Profiler(interval=0.001)
    profiler.start()
    try:
        return call()
    finally:
        profiler.stop()
        print(profiler.output_text(unicode=True, show_all=False, color=False))


def main() -> int:
    count = int(os.environ.get("BENCH_ROWS", "50000"))
    seed = int(os.environ.get("BENCH_SEED", "20260302"))
    scratch = Path(tempfile.mkdtemp(prefix="casebook-profile-"))
    database = None
    try:
        database = ingest.bench_database()
        ingest.database_reset(database)
        body = scratch / "query-logs.ndjson.gz"
        generated = generator.write_ndjson_gz(body, count, seed)
        reference, _ = ingest.prepare(ingest.server_env(database, scratch))

        from accounts.models import User
        from evidence.services.querylogs import query_log_ingest
        from incidents.models import Incident

        incident = Incident.objects.get(reference=reference)
        detector = User.objects.get(username="bench-detector")
        with body.open("rb") as stream:
            started = time.perf_counter()
            batch, _ = _profiled(
                lambda: query_log_ingest(
                    incident=incident,
                    by=detector,
                    stream=stream,
                    content_type="application/x-ndjson",
                    content_encoding="gzip",
                )
            )
            seconds = time.perf_counter() - started
        print(
            f"{batch.rows:,} rows in {seconds:.1f} s under the profiler "
            f"({generated.rows / seconds:,.0f} rows/s)"
        )
    except ingest.BenchError as error:
        print(f"bench: {error}", file=sys.stderr)
        return 2
    finally:
        from django.apps import apps

        if apps.ready:
            from django.db import connections

            connections.close_all()
        if database is not None and os.environ.get("BENCH_KEEP") != "1":
            ingest.database_drop(database)
        shutil.rmtree(scratch, ignore_errors=True)
    return 0


if __name__ == "__main__":
    sys.exit(main())
