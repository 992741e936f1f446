"""Benchmarks. `make bench` runs `bench.ingest`: query-log ingestion over HTTP against a
bare psycopg COPY of the same rows."""
