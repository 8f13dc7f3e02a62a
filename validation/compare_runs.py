"""Compare the products of two runs: the same science, file by file.

A refactoring (or a new library version) must leave the products unchanged. This script
walks ``results/`` of a reference run and compares every product with the other run's:
CSV, JSON and parquet files byte for byte, FITS files HDU by HDU (images: data equal;
tables: the same columns with the same dtype and bytes; headers: equal cards except the creation
date), PNG figures are only required to exist. It prints one line per difference and exits
with status 1 when there is any.

Usage: python validation/compare_runs.py REFERENCE_RESULTS OTHER_RESULTS
       [--added-columns NAME ...] [--changed-cards KEY ...]

A change that adds columns (``--added-columns``) or adds, drops or rewrites header cards
(``--changed-cards``) on purpose is checked the same way on everything else: the other
run's tables may carry the named extra columns (CSV compared line by line without them, FITS
column by column), and the named cards are left out of the header comparison (FITS headers
and the metadata lines of ECSV files).

e.g. run the demo in a checkout of the old commit and in the new one, then
``python validation/compare_runs.py /tmp/old/results results``.
"""

import argparse
import csv
import sys
from pathlib import Path

import numpy as np
from astropy.io import fits

BYTE_EXACT = {".csv", ".json", ".parquet", ".npz", ".tsv"}
IGNORED_CARDS = {"DATE", "CHECKSUM", "DATASUM"}
COLUMN_CARDS = ("TTYPE", "TFORM", "TUNIT", "TCOMM", "TDISP", "TNULL")


def ecsv_meta_without(path: Path, cards) -> list[str]:
    """The ``#`` comment block of an ECSV file without the metadata lines of ``cards``
    (``# - {KEY: value}``)."""
    return [ln for ln in path.read_text().splitlines() if ln.startswith("#")
            and not any(ln.startswith(f"# - {{{key}: ") for key in cards)]


def csv_without(path: Path, columns) -> list[str]:
    """Lines of a CSV file without its ``#`` comment block and without ``columns``
    (values are compared as written)."""
    lines = [ln for ln in path.read_text().splitlines() if not ln.startswith("#")]
    rows = list(csv.reader(lines))
    if not rows:
        return []
    keep = [i for i, name in enumerate(rows[0]) if name not in columns]
    return [",".join(row[i] for i in keep) for row in rows]


def fits_differences(a: Path, b: Path, added=(), changed=()) -> list[str]:
    """Differences between two FITS files, HDU by HDU (empty if they hold the same), apart
    from the columns ``added`` in ``b`` and the cards ``changed``."""
    out = []
    with fits.open(a) as ha, fits.open(b) as hb:
        if len(ha) != len(hb):
            return [f"{len(ha)} HDUs against {len(hb)}"]
        for k, (x, y) in enumerate(zip(ha, hb, strict=True)):
            y_names = y.columns.names if isinstance(y, fits.BinTableHDU) else []
            added_keys = {f"{k}{i}" for i, n in enumerate(y_names, 1) if n in added
                          for k in ("TTYPE", "TFORM", "TUNIT", "TCOMM", "TDISP", "TNULL")}
            ignored = IGNORED_CARDS | set(changed)
            cards_x = {c.keyword: c.value for c in x.header.cards if c.keyword not in ignored}
            cards_y = {c.keyword: c.value for c in y.header.cards if c.keyword not in ignored}
            if added:  # column cards are numbered: compare them by column name instead
                cards_x = {k: v for k, v in cards_x.items() if not k.startswith(COLUMN_CARDS)}
                cards_y = {k: v for k, v in cards_y.items() if not k.startswith(COLUMN_CARDS)
                           and k not in added_keys and k != "TFIELDS" and k != "NAXIS1"}
                cards_x.pop("TFIELDS", None)
                cards_x.pop("NAXIS1", None)
            if cards_x != cards_y:
                keys = sorted(k2 for k2 in cards_x.keys() | cards_y.keys()
                              if cards_x.get(k2) != cards_y.get(k2))
                out.append(f"HDU {k}: header cards differ: {', '.join(keys[:8])}")
            if x.data is None or y.data is None:
                if (x.data is None) != (y.data is None):
                    out.append(f"HDU {k}: data in one file only")
                continue
            if isinstance(x, fits.BinTableHDU):
                if x.columns.names != [n for n in y.columns.names if n not in added]:
                    out.append(f"HDU {k}: columns {x.columns.names} against {y.columns.names}")
                    continue
                for name in x.columns.names:  # same dtype and bytes (NaN equals NaN)
                    cx, cy = np.asarray(x.data[name]), np.asarray(y.data[name])
                    if cx.dtype != cy.dtype or cx.tobytes() != cy.tobytes():
                        out.append(f"HDU {k}: column {name} differs")
            elif not np.array_equal(x.data, y.data, equal_nan=True):
                out.append(f"HDU {k}: image data differ")
    return out


def compare(reference: Path, other: Path, added=(), changed=()) -> list[str]:
    """One line per product that is missing from ``other`` or differs from ``reference``
    (apart from the ``added`` columns and ``changed`` header cards)."""
    out = []
    for path in sorted(p for p in reference.rglob("*") if p.is_file()):
        rel = path.relative_to(reference)
        twin = other / rel
        if not twin.exists():
            out.append(f"{rel}: missing")
        elif path.suffix in BYTE_EXACT and path.read_bytes() != twin.read_bytes():
            if not ((added or changed) and path.suffix == ".csv"
                    and csv_without(path, ()) == csv_without(twin, added)
                    and (added or ecsv_meta_without(path, changed)
                         == ecsv_meta_without(twin, changed))):
                out.append(f"{rel}: bytes differ")
        elif path.suffix == ".fits":
            out.extend(f"{rel}: {d}" for d in fits_differences(path, twin, added, changed))
    extra = sorted(p.relative_to(other) for p in other.rglob("*")
                   if p.is_file() and not (reference / p.relative_to(other)).exists())
    out.extend(f"{rel}: not in the reference run" for rel in extra)
    return out


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("reference", type=Path)
    parser.add_argument("other", type=Path)
    parser.add_argument("--added-columns", nargs="*", default=(),
                        help="columns the other run's tables may add")
    parser.add_argument("--changed-cards", nargs="*", default=(),
                        help="header cards the other run may add, drop or rewrite")
    args = parser.parse_args(argv)
    differences = compare(args.reference, args.other, set(args.added_columns),
                          set(args.changed_cards))
    for line in differences:
        print(line)
    n = sum(1 for p in args.reference.rglob("*") if p.is_file())
    print(f"{n} products compared, {len(differences)} differences")
    return 1 if differences else 0


if __name__ == "__main__":
    sys.exit(main())
