"""What code a rule runs (the package modules its script imports, and their digest), and
the provenance every product of a job records.

Snakemake re-runs a job when its script changes, but not when a package module that the
script imports changes, so results could silently come from old code. Each rule passes the
digest of its script and of every ``xsurvey`` module the script imports (followed through
the package) as a ``params`` value; editing that code changes the digest, and Snakemake
re-runs the job and what depends on it. The import graph is read from the source with
:mod:`ast` (nothing is imported), so the digest can be computed when the DAG is built.
Written by hand: Snakemake tracks only the script file, and no library maps a script to
the package files it uses.
"""

from __future__ import annotations

import ast
import hashlib
import json
import logging
import os
import sys
from datetime import UTC, datetime
from functools import cache
from pathlib import Path

from xsurvey import __version__
from xsurvey.instrument import load_instrument
from xsurvey.io import PRODUCT_CARDS, setup_logging

#: The package's folder.
PACKAGE_DIR = Path(__file__).resolve().parent


def module_file(dotted: str) -> Path | None:
    """File of an ``xsurvey`` (sub)module, or None when ``dotted`` is not one."""
    parts = dotted.split(".")
    if parts[0] != "xsurvey":
        return None
    base = PACKAGE_DIR.joinpath(*parts[1:])
    for candidate in (base.with_suffix(".py"), base / "__init__.py"):
        if candidate.is_file():
            return candidate
    return None


def _package_of(path: Path) -> str | None:
    """Dotted package a relative import in ``path`` starts from (None outside xsurvey)."""
    path = path.resolve()
    if not path.is_relative_to(PACKAGE_DIR):
        return None
    return ".".join(["xsurvey", *path.parent.relative_to(PACKAGE_DIR).parts])


@cache
def file_imports(path: Path) -> tuple[frozenset, frozenset]:
    """Imports of one Python file.

    Returns
    -------
    external : frozenset of str
        Top-level names of the modules outside the package (standard library included).
    internal : frozenset of str
        Dotted ``xsurvey`` modules, with ``from xsurvey.x import y`` giving both
        ``xsurvey.x`` and ``xsurvey.x.y`` (``y`` may be a submodule).
    """
    tree = ast.parse(Path(path).read_text(), filename=str(path))
    package = _package_of(Path(path))
    external, internal = set(), set()

    def add(dotted: str) -> None:
        top = dotted.split(".")[0]
        if top == "xsurvey":
            internal.add(dotted)
        else:
            external.add(top)

    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            for alias in node.names:
                add(alias.name)
        elif isinstance(node, ast.ImportFrom):
            if node.level:  # relative import inside the package
                if package is None:
                    raise ValueError(f"{path}: relative import outside the xsurvey package")
                base = package.split(".")[: package.count(".") + 2 - node.level]
                module = ".".join(filter(None, [*base, node.module]))
            else:
                module = node.module
            add(module)
            if module.split(".")[0] == "xsurvey":
                internal.update(f"{module}.{alias.name}" for alias in node.names)
    return frozenset(external), frozenset(internal)


@cache
def script_closure(script: Path) -> tuple[frozenset, tuple]:
    """The package files a script runs, and the outside modules all of them import.

    Importing ``a.b.c`` runs the packages ``a`` and ``a.b`` too, so their ``__init__``
    files (and what they import) belong to the closure.

    Returns
    -------
    external : frozenset of str
        Top-level names imported by the script or any package file it runs (standard
        library included).
    files : tuple of pathlib.Path
        The package files, sorted.
    """
    external, internal = file_imports(Path(script))
    external = set(external)
    seen: set[Path] = set()
    todo = set(internal)
    while todo:
        dotted = todo.pop()
        for i in range(1, dotted.count(".") + 2):
            f = module_file(".".join(dotted.split(".")[:i]))
            if f is None or f in seen:
                continue
            seen.add(f)
            ext, sub = file_imports(f)
            external |= ext
            todo |= sub
    return frozenset(external), tuple(sorted(seen))


def third_party(names) -> set:
    """The names that are neither the standard library nor the package."""
    return {n for n in names if n not in sys.stdlib_module_names and n != "xsurvey"}


def code_digest(script) -> str:
    """SHA-256 (first 16 hex digits) of a script and of every package file it runs.

    Files enter by their path relative to the package and their bytes, so the digest is
    the same in every checkout of the same code.
    """
    script = Path(script)
    h = hashlib.sha256()
    h.update(script.name.encode() + b"\0" + script.read_bytes())
    for f in script_closure(script)[1]:
        h.update(str(f.relative_to(PACKAGE_DIR)).encode() + b"\0" + f.read_bytes())
    return h.hexdigest()[:16]


def job_cards(params, instrument=None, now: datetime | None = None) -> dict:
    """Provenance cards of a job's FITS products.

    Parameters
    ----------
    params : mapping
        The rule's ``params`` (``code``: the digest of the code it runs, the rest: the
        configuration it reads).
    instrument : xsurvey.instrument.Instrument, optional
        Gives TELESCOP (its name) and INSTRUME (its modules, e.g. ``FPMA+FPMB``).
    now : datetime.datetime, optional
        File creation time (UTC). Default: ``SOURCE_DATE_EPOCH`` (seconds since 1970, the
        reproducible-builds convention) when set, else the current time.

    Returns
    -------
    dict
        ``{key: (value, comment)}``: TELESCOP, INSTRUME, CREATOR (with the package
        version), DATE, CODEHASH, CONFHASH (SHA-256 of the configuration the job read,
        first 16 hex digits).
    """
    params = dict(params)
    if now is None:
        epoch = os.environ.get("SOURCE_DATE_EPOCH")
        now = (datetime.fromtimestamp(int(epoch), UTC) if epoch
               else datetime.now(UTC))
    config = {k: v for k, v in params.items() if k != "code"}
    conf_hash = hashlib.sha256(json.dumps(config, sort_keys=True, default=repr).encode())
    cards = {}
    if instrument is not None:
        cards["TELESCOP"] = (instrument.name, "telescope")
        cards["INSTRUME"] = ("+".join(instrument.modules), "instrument modules combined")
    cards.update({
        "CREATOR": (f"xsurvey {__version__}", "software that wrote this file"),
        "DATE": (now.strftime("%Y-%m-%dT%H:%M:%S"), "file creation date (UTC)"),
        "CODEHASH": (str(params.get("code", "")), "digest of the code the job ran"),
        "CONFHASH": (conf_hash.hexdigest()[:16], "digest of the configuration it read"),
    })
    return cards


def start_job(smk) -> logging.Logger:
    """Start a rule's script: log to its log file, set the provenance cards of its FITS
    products (:func:`job_cards`, :data:`xsurvey.io.PRODUCT_CARDS`) and log which
    ``xsurvey`` files run it.

    Parameters
    ----------
    smk : snakemake.script.Snakemake
        The ``snakemake`` object of the script.
    """
    log = setup_logging(smk.log[0] if smk.log else None)
    path = smk.input.get("instrument")
    PRODUCT_CARDS.clear()
    PRODUCT_CARDS.update(job_cards(smk.params.items(),
                                   load_instrument(path) if path else None))
    log.info("xsurvey %s from %s", __version__, PACKAGE_DIR)
    return log


def jobs_import_from(package_root, conda: bool = False, environ=None) -> None:
    """Make the jobs import ``xsurvey`` from ``package_root`` (the running workflow's).

    ``package_root`` goes first on ``PYTHONPATH``, which Python searches before
    site-packages: neither an installed xsurvey (another checkout's ``pip install -e .``, an
    old release) nor the user's ``PYTHONPATH`` can shadow the workflow's package. Under
    ``--sdm conda`` Snakemake drops ``PYTHONPATH`` inside the environments (the scripts then
    find the package through their folder's ``xsurvey`` link); ``conda`` also sets
    ``PYTHONNOUSERSITE`` so that the user's ``~/.local`` packages stay out of them.

    Parameters
    ----------
    package_root : path-like
        The directory holding the ``xsurvey`` package.
    conda : bool
        The jobs run in conda environments.
    environ : mutable mapping, optional
        The environment the jobs inherit (default ``os.environ``).
    """
    environ = os.environ if environ is None else environ
    rest = [p for p in environ.get("PYTHONPATH", "").split(os.pathsep) if p]
    environ["PYTHONPATH"] = os.pathsep.join([str(package_root), *rest])
    if conda:
        environ["PYTHONNOUSERSITE"] = "1"
