"""Own-session return matrices: each listing's returns bottom-aligned, NaN padding above."""

from __future__ import annotations

import numpy as np

from tvs_pipeline.errors import DataError

__all__ = ["as_series", "bottom_align", "last_rows"]


def bottom_align(values: np.ndarray) -> np.ndarray:
    """Move each column's observations to the bottom, in order, NaN above them.

    A wide return matrix is NaN where a listing did not trade (an equity's weekend, a
    listing's days before it was listed, a missing session). Every selection metric reads a
    listing on its own sessions, so the NaNs are dropped and the remaining values keep their
    order; the most recent observation of every column lands on the last row.

    Parameters
    ----------
    values : ndarray
        Shape ``(T, K)``, float; rows are dates in ascending order, columns listings.

    Returns
    -------
    ndarray
        Shape ``(T, K)``: column ``k`` holds its ``n_k`` finite values on rows ``T - n_k`` to
        ``T - 1`` and NaN above.

    Raises
    ------
    DataError
        ``values`` is not two-dimensional.
    """
    values = np.asarray(values, dtype="float64")
    if values.ndim != 2:
        raise DataError(f"bottom_align: expected a 2-D array, got {values.ndim} dimension(s)")
    finite = np.isfinite(values)
    # A stable sort of the validity mask puts the invalid rows first, the valid ones after, each
    # group in its original order.
    order = np.argsort(finite, axis=0, kind="stable")
    aligned = np.take_along_axis(values, order, axis=0)
    aligned[~np.take_along_axis(finite, order, axis=0)] = np.nan
    return aligned


def last_rows(aligned: np.ndarray, window: int | None) -> np.ndarray:
    """The last ``window`` own observations of every column (all of them when ``None``)."""
    if window is None or window >= len(aligned):
        return aligned
    return aligned[len(aligned) - window :]


def as_series(x: object) -> np.ndarray:
    """A 1-D float array of the finite values of ``x``, in order (NaN and inf dropped)."""
    values = np.asarray(x, dtype="float64")
    if values.ndim != 1:
        raise DataError(f"returns: expected a 1-D array, got {values.ndim} dimension(s)")
    return values[np.isfinite(values)]
