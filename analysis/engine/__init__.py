"""The account-linkage and extraction analysis (issue 6): from a case's query-log rows
to explainable clusters of accounts.

    analysis_run(batch_ids=[...], parameters=analysis_parameters_clean(raw),
                 progress=lambda percent, stage: ...) -> dict

reads only those batches: their facets (per-account summaries stored at ingestion)
and their rows (SQL for the heavy reading, numpy and scipy for the rest; see load.py
for why which part runs where), and returns:

    population  accounts, rows, baselines (median account per signal), the edge
                threshold, the cap on accounts per linking value, what was sampled
    clusters    strongest first, each with members, volume, reasons (sentences),
                signals, shared_attributes, synchrony, first_seen, last_seen
    accounts    every account by volume: cluster, volume, first/last seen, signals
    edges       the listed links inside clusters, each with its reasons

Modules: parameters (defaults, checks), load (SQL), columns (facets as numpy
columns), timing, templates (MinHash),
signals, linkage (weights, edges, components), edges (which edges and why), clusters
(descriptions), run (the whole).
"""

from analysis.engine.parameters import (
    CODE_VERSION,
    DEFAULT_PARAMETERS,
    analysis_parameters_clean,
)
from analysis.engine.run import analysis_run

__all__ = [
    "CODE_VERSION",
    "DEFAULT_PARAMETERS",
    "analysis_parameters_clean",
    "analysis_run",
]
