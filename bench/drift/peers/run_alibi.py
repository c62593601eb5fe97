"""alibi-detect's ``TabularDrift`` with its defaults (KS per numeric feature, chi-squared
per categorical feature, Bonferroni across features at p_val = 0.05). It takes one numeric
array, so categories are coded as integers first (untimed preparation); a column is
flagged when its p-value is below the corrected threshold the detector returns."""

from __future__ import annotations

from typing import Any

import alibi_detect
import numpy as np
import pandas as pd
from _common import run
from alibi_detect.cd import TabularDrift


def prepare(
    ref: pd.DataFrame, cur: pd.DataFrame, num: list[str], cat: list[str]
) -> tuple[Any, Any]:
    cols = num + cat
    a = np.empty((len(ref), len(cols)), dtype=np.float64)
    b = np.empty((len(cur), len(cols)), dtype=np.float64)
    for i, c in enumerate(cols):
        if c in cat:
            levels = pd.Index(pd.unique(pd.concat([ref[c], cur[c]], ignore_index=True)))
            a[:, i] = levels.get_indexer(ref[c])
            b[:, i] = levels.get_indexer(cur[c])
        else:
            a[:, i] = ref[c].to_numpy(dtype=np.float64)
            b[:, i] = cur[c].to_numpy(dtype=np.float64)
    return (a, cols, len(num)), b


def detect(ref: Any, cur: Any, num: list[str], cat: list[str]) -> list[str]:
    x_ref, cols, n_num = ref
    categories = dict.fromkeys(range(n_num, len(cols)))
    detector = TabularDrift(x_ref, p_val=0.05, categories_per_feature=categories)
    data = detector.predict(cur, drift_type="feature")["data"]
    p = np.asarray(data["p_val"])
    return [c for c, pv in zip(cols, p, strict=True) if pv < data["threshold"]]


if __name__ == "__main__":
    run(alibi_detect.__version__, detect, prepare)
