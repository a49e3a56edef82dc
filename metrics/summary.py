"""Summary evaluators over a whole run: means with 95% bootstrap confidence intervals."""

from __future__ import annotations

import numpy as np
from scipy import stats


def mean_ci(values, *, confidence: float = 0.95, seed: int = 0, resamples: int = 2000) -> dict:
    """`{mean, ci_low, ci_high}` by the percentile bootstrap; a constant or single value has a zero-width interval."""
    x = np.asarray(list(values), dtype=float)
    if x.size == 0:
        return {"mean": float("nan"), "ci_low": float("nan"), "ci_high": float("nan")}
    mean = float(x.mean())
    if x.size == 1 or np.all(x == x[0]):
        return {"mean": mean, "ci_low": mean, "ci_high": mean}
    res = stats.bootstrap((x,), np.mean, confidence_level=confidence, n_resamples=resamples,
                          method="percentile", random_state=np.random.default_rng(seed))
    return {"mean": mean, "ci_low": float(res.confidence_interval.low), "ci_high": float(res.confidence_interval.high)}


def paired_difference_ci(a, b, **kwargs) -> dict:
    """Mean of `b - a` over the same examples, with its bootstrap interval: the fair way to compare two programs.

    `better` and `worse` count the examples where `b` scored higher or lower: an instruction change usually moves
    a handful of examples, and "+0.03" reads differently as 12 better and 9 worse than as 3 better and none worse."""
    diff = np.asarray(list(b), dtype=float) - np.asarray(list(a), dtype=float)
    return {**mean_ci(diff, **kwargs), "better": int((diff > 1e-9).sum()), "worse": int((diff < -1e-9).sum())}


def format_ci(m: dict) -> str:
    """A mean with its interval as text: `0.529 [0.435, 0.620]`."""
    return f"{m['mean']:.3f} [{m['ci_low']:.3f}, {m['ci_high']:.3f}]"


def format_difference(d: dict) -> str:
    """A paired difference as text: `+0.031 [-0.039, +0.101] (12 better, 9 worse)`."""
    moved = f" ({d['better']} better, {d['worse']} worse)" if "better" in d else ""
    return f"{d['mean']:+.3f} [{d['ci_low']:+.3f}, {d['ci_high']:+.3f}]{moved}"


def summarize(per_example: dict[str, list[float]], **kwargs) -> dict[str, dict]:
    """Metric name -> `{mean, ci_low, ci_high}` for each per-example score list."""
    return {name: mean_ci(values, **kwargs) for name, values in per_example.items()}
