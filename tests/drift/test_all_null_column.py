"""A column with no value at all must not crash the domain classifier (scikit-learn's
histogram binning fails on an all-missing feature); it is left out of the fit."""

from __future__ import annotations

import numpy as np
import pandas as pd

import vigil


def test_all_null_column_is_left_out_of_the_classifier() -> None:
    rng = np.random.default_rng(8)
    n = 400
    ref = pd.DataFrame({"x": rng.normal(size=n), "empty": [None] * n})
    cur = pd.DataFrame({"x": rng.normal(1.0, 1.0, n), "empty": [None] * n})
    report = vigil.detect_drift(ref, cur)
    assert report["x"].drifted
    assert report["empty"].statistic is None
    (clf,) = report.multivariate
    assert clf.method == "classifier"
    assert clf.statistic is not None and clf.statistic > 0.6
    assert clf.drifted
    assert ">empty<" in report._repr_html_()  # the notebook view renders it too


def test_only_null_columns_leave_the_classifier_untested() -> None:
    ref = pd.DataFrame({"empty": [None] * 200})
    report = vigil.detect_drift(ref, ref.copy())
    (clf,) = report.multivariate
    assert clf.statistic is None and not clf.drifted
    assert "missing" in clf.reason
