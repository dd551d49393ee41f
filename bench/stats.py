"""Small summaries of latency samples, the same way in every scenario."""

from __future__ import annotations

from collections.abc import Iterable

import numpy as np


def percentile(values: Iterable[float], q: float) -> float | None:
    data = np.asarray(list(values), dtype=float)
    if data.size == 0:
        return None
    return float(np.percentile(data, q))


def summary(
    values: Iterable[float], scale: float = 1.0, digits: int = 1
) -> dict[str, float | int | None]:
    """n, p50, p95, p99, mean and max, multiplied by `scale` (1000 turns seconds into ms)."""
    data = np.asarray(list(values), dtype=float) * scale
    if data.size == 0:
        return {"n": 0, "p50": None, "p95": None, "p99": None, "mean": None, "max": None}
    return {
        "n": int(data.size),
        "p50": round(float(np.percentile(data, 50)), digits),
        "p95": round(float(np.percentile(data, 95)), digits),
        "p99": round(float(np.percentile(data, 99)), digits),
        "mean": round(float(data.mean()), digits),
        "max": round(float(data.max()), digits),
    }
