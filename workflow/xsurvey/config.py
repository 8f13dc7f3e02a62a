"""Consistency checks of the configuration and the observation table.

The JSON schemas in ``config/schemas`` check types and keys; these functions
check what a schema cannot: bands known to the instrument, observations
listed once, stacks whose epochs exist, input files present. Each failure
raises :class:`ConfigError` naming the key, row or file.
"""

from __future__ import annotations

import re
from pathlib import Path

import numpy as np
import pandas as pd
import yaml
from astropy.coordinates import SkyCoord

from xsurvey.io import InputError, image_footprint

#: Columns of the observation table that hold path templates with ``{band}``.
BAND_TEMPLATES = ("exposure", "background")


#: Optional columns of the observation table: each observation's own spectral response.
RESPONSE_COLUMNS = ("rmf", "arf")

#: Pointing columns needed by the demo generator.
POINTING_COLUMNS = ("ra_pnt", "dec_pnt", "roll_deg", "exposure_ks")


#: Configuration files of a run without ``--configfile``: the defaults, then the demo's keys.
DEFAULT_CONFIG_FILES = ("config/template.yaml", "config/config.yaml")


class ConfigError(ValueError):
    """Inconsistent configuration or observation table."""


def merge_config(base: dict, update: dict) -> dict:
    """``base`` updated by ``update``, nested mappings merged (as Snakemake merges config files)."""
    out = dict(base)
    for key, value in update.items():
        if isinstance(value, dict) and isinstance(out.get(key), dict):
            out[key] = merge_config(out[key], value)
        else:
            out[key] = value
    return out


def load_config(*paths) -> dict:
    """The configuration of YAML files merged in order (:func:`merge_config`)."""

    cfg = {}
    for path in paths:
        cfg = merge_config(cfg, yaml.safe_load(Path(path).read_text()) or {})
    return cfg


def default_config(root) -> dict:
    """The configuration of a run without ``--configfile`` in the repository ``root``."""
    return load_config(*(Path(root) / f for f in DEFAULT_CONFIG_FILES))


#: Names of observations, epochs and stacks: they become file and directory names.
SAFE_NAME = re.compile(r"^[A-Za-z0-9][A-Za-z0-9_.+-]*$")


def read_observation_table(path) -> pd.DataFrame:
    """Read the tab-separated observation table, identifiers kept as strings.

    Lines starting with ``#`` are comments (a ``#`` elsewhere, e.g. in a path, is text);
    the index of the table is the line number in the file.

    Raises
    ------
    ConfigError
        If the file is missing, not tab-separated, or a row has more fields than the
        header; the message names the file and the line.
    """
    path = Path(path)
    if not path.exists():
        raise ConfigError(f"observation table not found: {path} (config key 'observations')")
    lines = [(k, text) for k, text in enumerate(path.read_text().splitlines(), start=1)
             if text.strip() and not text.lstrip().startswith("#")]
    if not lines:
        raise ConfigError(f"observation table {path}: empty (expected a tab-separated header "
                          "line and one row per observation)")
    header_line, header = lines[0]
    if "\t" not in header:
        sep = "','" if "," in header else "spaces" if " " in header.strip() else "nothing"
        raise ConfigError(f"observation table {path}, line {header_line}: the header is not "
                          f"tab-separated (columns separated by {sep}); expected tabs between "
                          "obs_id, epoch, module, events, exposure, background")
    columns = header.split("\t")
    rows = []
    for k, text in lines[1:]:
        fields = text.split("\t")
        if len(fields) > len(columns):
            raise ConfigError(f"observation table {path}, line {k}: {len(fields)} fields for "
                              f"{len(columns)} columns ({', '.join(columns)})")
        rows.append(fields + [""] * (len(columns) - len(fields)))
    df = pd.DataFrame(rows, columns=columns, index=pd.Index([k for k, _ in lines[1:]],
                                                            name="line"))
    df = df.replace({"": np.nan})
    for col in POINTING_COLUMNS:
        if col in df.columns:
            numbers = pd.to_numeric(df[col], errors="coerce")
            bad = df[col].notna() & numbers.isna()
            if bad.any():
                line = bad.idxmax()
                raise ConfigError(f"observation table {path}, line {line}: {col} = "
                                  f"{df[col][line]!r} is not a number")
            df[col] = numbers
    return df


def check_bands(bands, instrument) -> list[str]:
    """Every configured band must be an instrument band."""
    known = list(instrument.bands)
    for b in bands:
        if b not in known:
            raise ConfigError(
                f"config key 'bands': unknown band {b!r} for instrument {instrument.name} "
                f"(known: {', '.join(known)})"
            )
    return list(bands)


def check_observation_table(df: pd.DataFrame, instrument, path, demo: bool) -> pd.DataFrame:
    """Check rows of the observation table beyond the schema.

    Parameters
    ----------
    df : pandas.DataFrame
        From :func:`read_observation_table` (index = file line number).
    instrument : xsurvey.instrument.Instrument
    path : path-like
        Table path, for messages.
    demo : bool
        In demo mode the input files are made by the demo rules, so their
        existence is not checked but the pointing columns are required.

    Returns
    -------
    pandas.DataFrame
        The same table.
    """
    if df.empty:
        raise ConfigError(f"observation table {path}: no observations")
    if "background" not in df.columns:
        df["background"] = ""
    df["background"] = df["background"].fillna("")
    for col in ("obs_id", "epoch", "module", "events", "exposure"):
        if col not in df.columns:
            raise ConfigError(f"observation table {path}: missing column '{col}'")
        blank = df[col].isna() | (df[col].astype(str).str.strip() == "")
        if blank.any():
            line = blank.idxmax()
            raise ConfigError(f"observation table {path}, line {line}: empty '{col}'")
    for col in ("obs_id", "epoch"):
        unsafe = ~df[col].astype(str).str.fullmatch(SAFE_NAME)
        if unsafe.any():
            line = unsafe.idxmax()
            raise ConfigError(
                f"observation table {path}, line {line}: {col} {df[col][line]!r} is not a safe "
                "name (letters, digits and _ . + - only, not starting with . or -; it becomes "
                "a directory name)")
    dup = df.duplicated(["obs_id", "module"], keep=False)
    if dup.any():
        first = df[dup].iloc[0]
        lines = df.index[dup & (df.obs_id == first.obs_id) & (df.module == first.module)]
        raise ConfigError(
            f"observation table {path}: observation {first.obs_id} module {first.module} is "
            f"listed twice (lines {', '.join(map(str, lines))})"
        )
    same = df.duplicated("events", keep=False)
    if same.any():
        lines = df.index[same & (df.events == df.events[same].iloc[0])]
        raise ConfigError(f"observation table {path}: the event file "
                          f"{df.events[same].iloc[0]} is listed on lines "
                          f"{', '.join(map(str, lines))}: one observation listed twice?")
    bad = ~df.module.isin(instrument.modules)
    if bad.any():
        line = bad.idxmax()
        raise ConfigError(
            f"observation table {path}, line {line}: unknown module {df.module[line]!r} "
            f"(instrument {instrument.name} has {', '.join(instrument.modules)})"
        )
    for col in RESPONSE_COLUMNS:
        if col in df.columns and df[col].notna().any() and df[col].isna().any():
            line = df[col].isna().idxmax()
            raise ConfigError(f"observation table {path}, line {line}: empty '{col}' while "
                              f"other rows give one (the spectra need it on every row, or "
                              f"on none for the instrument's own response)")
    if "arf" in df.columns and df["arf"].notna().any() and (
            "rmf" not in df.columns or df["rmf"].isna().all()):
        raise ConfigError(f"observation table {path}: column 'arf' needs column 'rmf' (the "
                          f"ARFs' energy grid is the RMFs')")
    if demo:
        for col in POINTING_COLUMNS:
            if col not in df.columns or df[col].isna().any():
                raise ConfigError(
                    f"observation table {path}: demo mode needs column '{col}' on every row"
                )
    return df


def check_input_files(df: pd.DataFrame, bands, path) -> None:
    """Every events, exposure and background file named by the table exists."""
    for line, row in df.iterrows():
        files = [("events", row.events)]
        for col in BAND_TEMPLATES:
            if row[col]:  # an empty background is estimated from the data
                files += [(f"{col} ({b})", row[col].format(band=b)) for b in bands]
        files += [(col, row[col]) for col in RESPONSE_COLUMNS
                  if col in row.index and isinstance(row[col], str)]
        for what, f in files:
            if not Path(f).exists():
                raise ConfigError(
                    f"observation table {path}, line {line} (obs {row.obs_id} {row.module}): "
                    f"{what} file not found: {f}"
                )


def _grid_circle(grid: dict):
    """Centre (SkyCoord) and half-diagonal (deg) of the mosaic grid."""

    ra, dec = grid["center_deg"]
    width, height = grid["size_arcmin"]
    return SkyCoord(ra, dec, unit="deg"), 0.5 * float(np.hypot(width, height)) / 60.0


def check_grid_overlap(df: pd.DataFrame, grid: dict, bands, path, fov_arcmin: float,
                       demo: bool) -> None:
    """Every observation must overlap the mosaic grid (config ``mosaic``).

    The footprint of an observation is the circle around its pointing with
    the field of view's half-diagonal (demo: from the table's ``ra_pnt,
    dec_pnt``) or the circle containing its first band's exposure map
    (user data: from the FITS header only); the grid's is the circle of
    its half-diagonal. The test is conservative (circles contain the
    rectangles), so it never rejects an observation that overlaps.
    """


    centre, grid_radius = _grid_circle(grid)
    for line, row in df.iterrows():
        where = f"observation table {path}, line {line} (obs {row.obs_id} {row.module})"
        if demo:
            ra, dec = float(row.ra_pnt), float(row.dec_pnt)
            radius = float(fov_arcmin) / np.sqrt(2.0) / 60.0
        else:
            try:
                ra, dec, radius = image_footprint(row.exposure.format(band=bands[0]),
                                                  f"exposure map ({bands[0]})")
            except InputError as exc:
                raise ConfigError(f"{where}: {exc}") from exc
        sep = float(SkyCoord(ra, dec, unit="deg").separation(centre).deg)
        if sep > radius + grid_radius:
            raise ConfigError(
                f"{where}: does not overlap the mosaic grid: its centre (RA, Dec = {ra:.4f}, "
                f"{dec:.4f} deg) is {sep:.3f} deg from the grid centre, more than the "
                f"{radius + grid_radius:.3f} deg the footprints allow (config keys "
                f"'mosaic.center_deg' = {list(grid['center_deg'])}, 'mosaic.size_arcmin' = "
                f"{list(grid['size_arcmin'])}); fix the pointing or the grid, or put far-apart "
                "fields in separate configurations"
            )


def check_stacks(stacks: dict, df: pd.DataFrame, path) -> dict:
    """Each stack's epochs must have observations in the table; stack names are safe."""
    epochs = set(df.epoch)
    if not stacks:
        raise ConfigError(f"config key 'stacks': no stacks; name at least one, e.g. "
                          f"'stacks: {{all: [{', '.join(sorted(epochs))}]}}'")
    for name, members in stacks.items():
        if not SAFE_NAME.fullmatch(str(name)):
            raise ConfigError(f"config key 'stacks.{name}': {name!r} is not a safe name (letters, "
                              "digits and _ . + - only, not starting with . or -)")
        for e in members:
            if e not in epochs:
                raise ConfigError(
                    f"config key 'stacks.{name}': epoch {e!r} has no observations in {path} "
                    f"(epochs there: {', '.join(sorted(epochs))})"
                )
    return stacks


def demo_paths(outdir: str, obs_id: str, module: str) -> dict:
    """File names the demo rules write for one observation and module."""
    base = f"{outdir}/obs/{obs_id}/{module}"
    return {
        "events": f"{base}_events.fits",
        "exposure": f"{base}_expmap_{{band}}.fits",
        "background": f"{base}_bkg_{{band}}.fits",
    }


def check_demo_paths(df: pd.DataFrame, outdir: str, path) -> None:
    """In demo mode every row must name the files the demo rules make."""
    for line, row in df.iterrows():
        for col, expected in demo_paths(outdir, row.obs_id, row.module).items():
            if row[col] != expected:
                raise ConfigError(
                    f"observation table {path}, line {line}: demo mode expects {col} = "
                    f"'{expected}', found '{row[col]}'"
                )


def check_ancillary_catalogs(specs) -> None:
    """Every configured ancillary catalogue (``counterparts.catalogs``) exists."""
    for i, spec in enumerate(specs):
        if not Path(spec["path"]).exists():
            raise ConfigError(
                f"config key 'counterparts.catalogs[{i}]' ({spec.get('name', '?')}): "
                f"catalogue file not found: {spec['path']}"
            )


def check_band_keys(cfg: dict, bands) -> None:
    """Bands named in stage settings must be among the processed ``bands``."""
    keys = [("counterparts", "hard_band"), ("spectral", "soft_band"), ("spectral", "hard_band"),
            ("spectra", "band")]
    for section, key in keys:
        value = cfg.get(section, {}).get(key)
        if value is not None and value not in bands:
            raise ConfigError(f"config key '{section}.{key}': band {value!r} is not processed "
                              f"(config 'bands': {', '.join(bands)})")
