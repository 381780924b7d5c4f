"""Adjusted p-values over a family of rows: Holm (family-wise error) and Benjamini-Hochberg (false discoveries).

About 22 rows each tested at 5% would, were every claim false, show a row supported by chance in most
reports (1 − 0.95^22 = 68%). A family is the rows a reader takes together (the report states which); a row's
verdict holds at 5% over the family when its adjusted p-value is below 0.05.
- Holm (1979): the k-th smallest of m p-values is multiplied by m − k + 1, the running maximum taken so the
  order is kept; the chance of any false "supported" in the family stays at most 5%, whatever the dependence
  between rows; it rejects every row Bonferroni (m · p) rejects, and sometimes more.
- Benjamini & Hochberg (1995): the k-th smallest is multiplied by m / k, the running minimum taken from the
  largest down; the expected share of false ones among the rows declared stays at most 5% (for independent or
  positively dependent tests, as rows that share runs are).
Both take the family's p-values (every one finite: a row without one is not in the family) and return the
adjusted values in the order given, capped at 1.
"""

from collections.abc import Sequence

import numpy as np


def holm(p_values: Sequence[float]) -> list[float]:
    """Holm's step-down adjusted p-values, in the input order."""
    p = _family(p_values)
    order = np.argsort(p, kind="stable")
    m = len(p)
    stepped = np.maximum.accumulate((m - np.arange(m)) * p[order])
    return _in_input_order(np.minimum(stepped, 1.0), order)


def benjamini_hochberg(p_values: Sequence[float]) -> list[float]:
    """Benjamini-Hochberg adjusted p-values (q-values), in the input order."""
    p = _family(p_values)
    order = np.argsort(p, kind="stable")
    m = len(p)
    scaled = p[order] * m / np.arange(1, m + 1)
    stepped = np.minimum.accumulate(scaled[::-1])[::-1]
    return _in_input_order(np.minimum(stepped, 1.0), order)


def _family(p_values: Sequence[float]) -> np.ndarray:
    p = np.asarray(p_values, dtype=float)
    if not np.all((p >= 0) & (p <= 1)):  # also catches NaN
        raise ValueError(f"p-values must lie in [0, 1] (a row without one is not in the family): {list(p_values)}")
    return p


def _in_input_order(sorted_values: np.ndarray, order: np.ndarray) -> list[float]:
    adjusted = np.empty_like(sorted_values)
    adjusted[order] = sorted_values
    return [float(value) for value in adjusted]
