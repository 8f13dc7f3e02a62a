"""Integrity of the replica chunks (Parquet), checked before the jobs that read them.

Used when the workflow's DAG is built (``workflow/rules/common.smk``): a corrupt chunk
(a crash or a full disk while it was written outside Snakemake's control) stops the run
before any job starts, so no good downstream product is removed, and the message says
how to make the chunk again.
"""

from __future__ import annotations

import pyarrow.parquet as pq

from xsurvey.io import InputError


def check_parquet(path, remake: str = "") -> None:
    """Raise :class:`xsurvey.io.InputError` if an existing Parquet file is unreadable.

    Reads only the footer (the schema and row counts): cheap enough to check every
    replica chunk each time the DAG is built. ``remake`` is appended to the message (how to
    make the file again).
    """

    try:
        pq.read_metadata(path)
    except Exception as exc:  # pyarrow raises ArrowInvalid, OSError...
        raise InputError(f"{path} is corrupt ({exc}){remake}") from None
