"""The Dagster code location: `definitions.py` (`defs`), the assets and sensors under `defs/`, resources."""

import warnings

import dagster as dg

# Dagster flags features that may still change with a warning at every definition using them, so
# at every load of this package by a code server, a run worker or the daemon: today BetaWarning for
# `backfill_policy` on the indexing assets and for `owners`, which Dagster's own @sensor passes on.
# We use them on purpose and pin Dagster (pyproject.toml), so Beta, Preview and Supersession
# notices are ignored here, once, before any definition is built. Every other warning still shows.
for _notice in (dg.BetaWarning, dg.PreviewWarning, dg.SupersessionWarning):
    warnings.filterwarnings("ignore", category=_notice)
