"""Intrinsic obscured and Compton-thick fractions by inverting the survey's response
(method.md §16).

The survey turns a population whose column densities fall in the classes of
:data:`xsurvey.obscuration.NH_CLASSES` with fractions ``f`` into a catalogue whose sources
are fitted in measured outcomes (not fitted, or one of the classes): a source of class k is
detected with probability ``D_k`` and then measured in outcome j with probability ``M_kj``;
a fraction ``pi`` of the catalogue is spurious, measured in outcome j with probability
``S_j``. The catalogue's outcome counts are multinomial with probabilities

    q_j = (1 - pi) sum_k D_k f_k M_kj / sum_k D_k f_k + pi S_j.

The posterior of ``f`` is evaluated on a grid of the obscured fraction ``f_obs = f_1 + f_2``
and the Compton-thick share of the obscured ``r = f_2 / f_obs`` (uniform priors on both),
averaged over draws of ``D``, ``M`` and ``S`` from their own posteriors given the finite
simulations (Beta and Dirichlet, Jeffreys priors), so that the simulations' noise widens
the intervals. Written by hand: a three-class multinomial inversion on a grid needs no
sampler.
"""

from __future__ import annotations

import numpy as np
import pandas as pd
from scipy.special import logsumexp

from xsurvey.obscuration.selection import LEVEL_68, NH_CLASSES, binomial_interval, nh_class

#: Measured outcomes of a catalogue source: not fitted, or its fitted N_H class.
OUTCOMES = ("not_fitted", *NH_CLASSES)

#: Components of a catalogue: the true N_H classes and spurious sources.
COMPONENTS = (*NH_CLASSES, "spurious")

#: Probability inside the wider intervals of the fractions.
LEVEL_90 = 0.90

#: Redshift and log10 L_2-10 (erg s^-1) that split the response table into subsets.
RESPONSE_SPLITS = {"redshift": 1.0, "log_lum_2_10": 44.0}

#: Keys of :meth:`FractionPosterior.summary`.
SUMMARY_COLUMNS = ("intrinsic", "intrinsic_lo", "intrinsic_hi", "intrinsic_lo90",
                   "intrinsic_hi90")


def measured_outcome(stage, log_nh, log_thresholds) -> np.ndarray:
    """Index in :data:`OUTCOMES` of fitted sources (``stage`` of the staged fit, best-fit
    log10 N_H): 0 when ``stage == "not_fitted"``, else 1 + the N_H class."""
    stage = np.asarray(stage, dtype=object)
    cls = nh_class(np.nan_to_num(np.asarray(log_nh, float), nan=0.0), log_thresholds)
    return np.where(stage == "not_fitted", 0, 1 + cls)


def response_counts(component, outcome) -> np.ndarray:
    """Counts of simulated sources per component (:data:`COMPONENTS`) and measured outcome
    (:data:`OUTCOMES`): a ``(4, 4)`` integer matrix."""
    counts = np.zeros((len(COMPONENTS), len(OUTCOMES)), np.int64)
    np.add.at(counts, (np.asarray(component, int), np.asarray(outcome, int)), 1)
    return counts


def response_table(component, outcome, subsets: dict) -> pd.DataFrame:
    """:func:`response_counts` and P(measured | true) of each subset of simulated sources.

    Parameters
    ----------
    component, outcome : array_like of int
        Per simulated source: index in :data:`COMPONENTS` and in :data:`OUTCOMES`.
    subsets : dict
        ``{name: boolean mask}``.

    Returns
    -------
    pandas.DataFrame
        ``subset, true_class, measured, n, probability`` (NaN for a class without sources).
    """
    component, outcome = np.asarray(component, int), np.asarray(outcome, int)
    frames = []
    for name, sel in subsets.items():
        counts = response_counts(component[sel], outcome[sel])
        totals = counts.sum(axis=1, keepdims=True)
        frames.append(pd.DataFrame({
            "subset": name, "true_class": np.repeat(COMPONENTS, len(OUTCOMES)),
            "measured": np.tile(OUTCOMES, len(COMPONENTS)), "n": counts.ravel(),
            "probability": (counts / np.where(totals > 0, totals, np.nan)).ravel()}))
    return pd.concat(frames, ignore_index=True)


def population_fraction(log_nh_edges, log_nh_fractions, log_threshold: float) -> float:
    """Fraction of a population with log10 N_H uniform within bins (the replicas' model,
    :class:`xsurvey.population.SpectralDistribution`) above ``log_threshold``."""
    edges = np.asarray(log_nh_edges, float)
    frac = np.asarray(log_nh_fractions, float)
    above = np.clip((edges[1:] - log_threshold) / (edges[1:] - edges[:-1]), 0.0, 1.0)
    return float(np.sum(frac * above) / np.sum(frac))


def _weighted_quantiles(values, weights, q) -> np.ndarray:
    """Quantiles ``q`` of ``values`` with posterior ``weights`` (midpoint CDF)."""
    order = np.argsort(values, kind="stable")
    v, w = values[order], weights[order]
    cdf = (np.cumsum(w) - 0.5 * w) / w.sum()
    return np.interp(q, cdf, v)


class FractionPosterior:
    """Posterior of the intrinsic class fractions given a catalogue's measured outcomes.

    Parameters
    ----------
    observed : array_like
        Catalogue sources per outcome (:data:`OUTCOMES`).
    detected, simulated : array_like
        Per N_H class: simulated sources that the survey detects and all simulated sources
        (the detection probability ``D_k``).
    response : array_like
        :func:`response_counts` of the fitted simulated spectra (rows: components).
    spurious_fraction : float
        Expected fraction of spurious catalogue sources (NSPUR / N).
    rng : numpy.random.Generator
        Draws of ``D``, ``M`` and ``S``.
    draws : int
        Number of those draws.
    grid_size : int
        Grid points per axis of ``(f_obs, r)``.
    """

    def __init__(self, observed, detected, simulated, response, spurious_fraction: float,
                 rng, draws: int = 200, grid_size: int = 120):
        observed = np.asarray(observed, float)
        detected = np.asarray(detected, float)
        simulated = np.asarray(simulated, float)
        response = np.asarray(response, float)
        if observed.shape != (len(OUTCOMES),) or response.shape != (len(COMPONENTS),
                                                                     len(OUTCOMES)):
            raise ValueError(f"observed {observed.shape} / response {response.shape}: "
                             f"expected {len(OUTCOMES)} outcomes and {len(COMPONENTS)} "
                             f"components")
        nk = len(NH_CLASSES)
        mid = (np.arange(grid_size) + 0.5) / grid_size
        f_obs, r = (a.ravel() for a in np.meshgrid(mid, mid, indexing="ij"))
        f = np.column_stack([1.0 - f_obs, f_obs * (1.0 - r), f_obs * r])      # (grid, nk)
        d = rng.beta(detected + 0.5, simulated - detected + 0.5, size=(draws, nk))
        m = np.stack([rng.dirichlet(row + 0.5, size=draws) for row in response], axis=1)
        log_like = np.empty((draws, f.shape[0]))
        for i in range(draws):
            w = f * d[i]
            w /= w.sum(axis=1, keepdims=True)
            q = (1.0 - spurious_fraction) * (w @ m[i, :nk]) + spurious_fraction * m[i, nk]
            log_like[i] = np.log(np.maximum(q, 1e-300)) @ observed
        log_post = logsumexp(log_like, axis=0)
        self.weights = np.exp(log_post - log_post.max())
        self.weights /= self.weights.sum()
        self.f_obs, self.f_ct = f_obs, f_obs * r
        self.n_sources = int(observed.sum())

    def summary(self, quantity: str) -> dict:
        """Median, 68% and 90% equal-tailed intervals of ``"obscured"`` (N_H above the
        first threshold) or ``"compton_thick"`` (above the second)."""
        values = {"obscured": self.f_obs, "compton_thick": self.f_ct}[quantity]
        t68, t90 = 0.5 * (1.0 - LEVEL_68), 0.5 * (1.0 - LEVEL_90)
        q = _weighted_quantiles(values, self.weights, [0.5, t68, 1.0 - t68, t90, 1.0 - t90])
        return dict(zip(SUMMARY_COLUMNS, q.tolist(), strict=True))


def naive_fraction(outcome, quantity: str) -> dict:
    """Fraction of the fitted catalogue sources measured above a threshold, with its 68%
    Jeffreys interval: ``"obscured"`` (outcome obscured or Compton thick) or
    ``"compton_thick"``."""
    outcome = np.asarray(outcome, int)
    first = OUTCOMES.index("obscured" if quantity == "obscured" else "compton_thick")
    n, k = int(np.sum(outcome > 0)), int(np.sum(outcome >= first))
    lo, hi = binomial_interval(k, n)
    return {"n_fitted": n, "n_naive": k, "naive": k / n if n else np.nan,
            "naive_lo": float(lo), "naive_hi": float(hi)}


def class_given_outcome(response, detected, simulated, fractions, spurious_fraction: float,
                        outcome: str) -> pd.Series:
    """P(component | measured ``outcome``) of a survey whose population has class
    ``fractions``: e.g. for ``"compton_thick"``, where sources fitted as Compton thick
    really come from (the false Compton-thick rate is 1 minus its ``compton_thick`` entry).
    """
    response = np.asarray(response, float)
    rate = response / np.maximum(response.sum(axis=1, keepdims=True), 1.0)
    d = np.asarray(detected, float) / np.maximum(np.asarray(simulated, float), 1.0)
    w = d * np.asarray(fractions, float)
    weight = np.r_[(1.0 - spurious_fraction) * w / w.sum(), spurious_fraction]
    j = OUTCOMES.index(outcome)
    p = weight * rate[:, j]
    return pd.Series(p / p.sum() if p.sum() > 0 else np.full(p.size, np.nan),
                     index=list(COMPONENTS))
