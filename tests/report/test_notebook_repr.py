"""Jupyter views (``_repr_html_``) of drift reports, profiles, quality and evaluation results.

Each view is parsed with the standard library's HTML parser: it must be self-contained
(no script, no link, no remote asset), escape names taken from the data, and show the key
numbers, which are checked against scipy, scikit-learn and pandas rather than against
vigil's own output.
"""

from __future__ import annotations

import json
import pickle
from html.parser import HTMLParser

import numpy as np
import orjson
import pandas as pd
import pytest
from scipy import stats
from sklearn import metrics as skm

import vigil
from vigil.profile import profile_drift
from vigil.quality import (
    CBPE,
    EvaluationRun,
    QualityResult,
    classification_metrics,
    fairness_metrics,
    ranking_metrics,
    regression_metrics,
)

EVIL = "<script>alert(1)</script>"
VOID = {"br", "hr", "img", "input", "meta", "link", "col", "wbr", "source", "area"}
SVG_LEAVES = {"rect", "line", "circle", "path"}


class _Page(HTMLParser):
    """Tags, attributes, text and table rows of an HTML fragment; checks nesting."""

    def __init__(self) -> None:
        super().__init__(convert_charrefs=True)
        self.tags: list[tuple[str, dict[str, str | None]]] = []
        self.text: list[str] = []
        self.rows: list[list[str]] = []
        self._row: list[str] | None = None
        self._cell: list[str] | None = None
        self._open: list[str] = []
        self._depth_in_title = 0

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        self.tags.append((tag, dict(attrs)))
        if tag not in VOID:
            self._open.append(tag)
        if tag == "title":
            self._depth_in_title += 1
        if tag == "tr":
            self._row = []
        elif tag in ("td", "th"):
            self._cell = []

    def handle_startendtag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        self.tags.append((tag, dict(attrs)))  # <line/>, <circle/>: nothing stays open

    def handle_endtag(self, tag: str) -> None:
        assert self._open and self._open[-1] == tag, f"</{tag}> closes {self._open[-1:]}"
        self._open.pop()
        if tag == "title":
            self._depth_in_title -= 1
        if tag in ("td", "th") and self._cell is not None and self._row is not None:
            self._row.append(" ".join("".join(self._cell).split()))
            self._cell = None
        elif tag == "tr" and self._row is not None:
            self.rows.append(self._row)
            self._row = None

    def handle_data(self, data: str) -> None:
        if self._depth_in_title:  # SVG tooltips are not what the reader sees in a cell
            return
        self.text.append(data)
        if self._cell is not None:
            self._cell.append(data)

    def row(self, first: str) -> list[str]:
        """The first table row whose first cell is ``first``."""
        for r in self.rows:
            if r and r[0] == first:
                return r
        raise AssertionError(f"no row {first!r} in {self.rows}")


def parse(html: str) -> _Page:
    """Parse ``html`` and check it is one closed, offline fragment."""
    assert isinstance(html, str) and html.startswith("<div")
    page = _Page()
    page.feed(html)
    page.close()
    assert page._open == [], f"unclosed tags: {page._open}"
    names = {t for t, _ in page.tags}
    assert not names & {"script", "link", "iframe", "object", "embed", "img", "style"}, names
    for tag, attrs in page.tags:
        assert not {"src", "href", "xlink:href"} & set(attrs), (tag, attrs)
        assert not any(k.startswith("on") for k in attrs), (tag, attrs)  # no handlers
    lowered = html.lower()
    for needle in ("http:", "https:", "//cdn", "url(", "@import", "<script"):
        assert needle not in lowered, needle
    return page


def g4(x: float) -> str:
    return f"{x:.4g}"


@pytest.fixture(scope="module")
def frames() -> tuple[pd.DataFrame, pd.DataFrame]:
    rng = np.random.default_rng(11)
    n = 1_500
    ref = pd.DataFrame(
        {
            "age": rng.normal(40, 8, n),
            "plan": rng.choice(["free", "pro", "team"], n, p=[0.6, 0.3, 0.1]),
            EVIL: rng.choice(["a", "<b>bold</b>"], n),
        }
    )
    cur = ref.copy()
    cur["age"] = rng.normal(44, 8, n)  # a clear shift
    return ref, cur


def test_drift_report_view(frames) -> None:
    ref, cur = frames
    report = vigil.detect_drift(ref, cur)
    html = report._repr_html_()
    page = parse(html)
    assert "&lt;script&gt;alert(1)&lt;/script&gt;" in html
    assert EVIL in "".join(page.text)  # shown to the reader as text, not run
    assert "&lt;b&gt;bold&lt;/b&gt;" in html  # category names in the plot tooltips too
    age = page.row("age")
    ks = stats.ks_2samp(ref["age"], cur["age"])
    assert age[1:3] == ["numeric", "ks"]
    assert age[3] == g4(ks.statistic)
    assert age[4].startswith(g4(ks.pvalue))
    assert age[7] == "drift"
    assert age[8:10] == ["1,500", "1,500"]
    plan = page.row("plan")
    chi = stats.chi2_contingency(
        pd.crosstab(np.r_[np.zeros(len(ref)), np.ones(len(cur))], np.r_[ref["plan"], cur["plan"]])
    )
    assert plan[2] == "chi2"
    assert plan[3] == g4(chi.statistic)
    assert page.row(EVIL)[0] == EVIL
    summary = "".join(page.text)
    assert "1 of 3 tested columns drifted" in summary
    assert "reference 1,500 rows" in summary
    svgs = [a for t, a in page.tags if t == "svg"]
    assert len(svgs) >= 3  # a distribution per column
    assert len(html) < 60_000


def test_profile_view(frames) -> None:
    ref, _ = frames
    data = ref.copy()
    data.loc[data.index[:25], "age"] = np.nan
    profile = vigil.Profile.from_frame(data)
    html = profile._repr_html_()
    page = parse(html)
    assert "&lt;script&gt;alert(1)&lt;/script&gt;" in html
    age = page.row("age")
    ages = data["age"].dropna()
    assert age[1:4] == ["numeric", f"{len(ages):,}", "25"]
    assert age[5] == g4(ages.mean())
    assert age[6] == g4(ages.std())
    assert age[7] == g4(ages.min())
    assert age[9] == g4(ages.max())
    distinct = int(age[4].split()[0].replace(",", ""))
    assert distinct <= len(ages)
    plan = page.row("plan")
    counts = data["plan"].value_counts()
    assert plan[4] == "3"
    assert plan[10] == f"{counts.index[0]} ({counts.iloc[0]:,})"
    assert page.row(EVIL)[0] == EVIL
    assert "1,500 rows" in "".join(page.text)
    assert sum(t == "svg" for t, _ in page.tags) == 3


def test_profile_drift_view(frames) -> None:
    ref, cur = frames
    result = profile_drift(vigil.Profile.from_frame(ref), vigil.Profile.from_frame(cur))
    page = parse(result._repr_html_())
    age = page.row("age")
    exact = stats.ks_2samp(ref["age"], cur["age"]).statistic
    shown = float(age[3])
    bound = result.columns["age"].error_bound
    assert abs(shown - exact) <= bound + 1e-3  # the sketch's D within its stated error
    assert age[7] == "drift"
    assert page.row(EVIL)[0] == EVIL
    assert "sketch mode" in "".join(page.text)


def test_classification_view_matches_sklearn() -> None:
    rng = np.random.default_rng(4)
    y = rng.integers(0, 2, 400)
    p = np.clip(0.35 * y + 0.65 * rng.random(400), 0, 1)
    pred = (p > 0.5).astype(int)
    result = classification_metrics(y, pred, np.c_[1 - p, p], classes=[0, 1])
    assert isinstance(result, QualityResult) and isinstance(result, dict)
    html = result._repr_html_()
    page = parse(html)
    cells = [c for r in page.rows for c in r]
    for name, value in (
        ("accuracy", skm.accuracy_score(y, pred)),
        ("f1", skm.f1_score(y, pred)),
        ("roc_auc", skm.roc_auc_score(y, p)),
        ("log_loss", skm.log_loss(y, np.c_[1 - p, p])),
    ):
        i = cells.index(name)
        assert cells[i + 1] == g4(value), name
    cm = skm.confusion_matrix(y, pred)
    assert page.row("0")[1:] == [f"{cm[0, 0]:,}", f"{cm[0, 1]:,}"]
    assert page.row("1")[1:] == [f"{cm[1, 0]:,}", f"{cm[1, 1]:,}"]
    assert "Classification metrics" in "".join(page.text)
    assert "400 rows" in "".join(page.text)


def test_regression_ranking_and_cbpe_views() -> None:
    rng = np.random.default_rng(5)
    t, p = rng.normal(size=300), rng.normal(size=300)
    page = parse(regression_metrics(t, p)._repr_html_())
    assert page.row("mae")[1] == g4(skm.mean_absolute_error(t, p))
    assert page.row("r2")[1] == g4(skm.r2_score(t, p))
    page = parse(ranking_metrics([[1, 2, 3], [3, 2, 1]], [[1], [2]], k=2)._repr_html_())
    assert page.row("mrr")[1] == "0.75"

    y = rng.integers(0, 2, 800)
    prob = np.clip(0.3 * y + 0.7 * rng.random(800), 0, 1)
    pred = (prob > 0.5).astype(int)
    est = CBPE.fit(y[:600], pred[:600], np.c_[1 - prob, prob][:600]).estimate(
        pred[600:], np.c_[1 - prob, prob][600:]
    )
    page = parse(est._repr_html_())
    acc = page.row("accuracy")
    assert acc[1:4] == [
        g4(est["accuracy"]["value"]),
        g4(est["accuracy"]["lower"]),
        g4(est["accuracy"]["upper"]),
    ]
    assert est["accuracy"]["lower"] <= est["accuracy"]["value"] <= est["accuracy"]["upper"]
    assert "200 rows" in "".join(page.text)


def test_fairness_view_escapes_segments() -> None:
    rng = np.random.default_rng(6)
    seg = rng.choice(["north", EVIL], 500)
    y = rng.integers(0, 2, 500)
    pred = rng.integers(0, 2, 500)
    result = fairness_metrics(pred, seg, y_true=y)
    html = result._repr_html_()
    page = parse(html)
    assert "&lt;script&gt;" in html
    rates = pd.Series(pred).groupby(seg).mean()
    for name in ("north", EVIL):
        row = page.row(name)
        assert row[3] == g4(rates[name]), name


def test_results_stay_plain_dicts() -> None:
    result = regression_metrics([1.0, 2.0, 3.0], [1.0, 2.5, 2.0])
    assert result == dict(result)
    assert json.loads(json.dumps(result)) == result
    assert orjson.loads(orjson.dumps(result)) == result
    again = pickle.loads(pickle.dumps(result))
    assert again == result and again.title == "Regression metrics"
    assert {**result}["n"] == 3


def test_evaluation_run_view(store) -> None:
    from vigil.engine.quality.evaluation import evaluate, register_dataset

    schema = {"task": "binary_classification", "features": [{"name": "x", "kind": "numeric"}]}
    store.upsert_model("churn", "binary_classification", schema)
    model = store.get_model("churn")
    rng = np.random.default_rng(7)
    x = rng.normal(size=120).round(3)
    frame = pd.DataFrame({"x": x, "label": (x + rng.normal(0, 0.6, 120) > 0).astype(int)})
    register_dataset(store, model, f"golden {EVIL}", frame, "label")

    run = evaluate(
        store, model, f"golden {EVIL}", version="7", predict=lambda f: (f["x"] > 0.2).astype(int)
    )
    assert isinstance(run, EvaluationRun)
    html = run._repr_html_()
    page = parse(html)
    text = "".join(page.text)
    assert f"churn version 7 on golden {EVIL}" in text
    assert "120 rows" in text and "succeeded" in text
    assert f"Evaluation run {run['id']}" in text
    cells = [c for r in page.rows for c in r]
    expected = skm.accuracy_score(frame["label"], (frame["x"] > 0.2).astype(int))
    assert cells[cells.index("accuracy") + 1] == g4(expected)
    assert "total_s" in cells

    failed = evaluate(
        store,
        model,
        f"golden {EVIL}",
        version="7",
        predict=lambda f: (_ for _ in ()).throw(ValueError(EVIL)),
    )
    html = failed._repr_html_()
    page = parse(html)
    assert "failed" in "".join(page.text)
    assert f"ValueError: {EVIL}" in "".join(page.text)
    assert json.loads(json.dumps(failed, default=str))["status"] == "failed"


def test_many_categories_and_bins_are_pooled_with_matching_tooltips() -> None:
    from vigil.report.notebook import _distribution_svg

    levels = [f"c{i:02d}" for i in range(40)]
    shares = list(np.full(40, 1 / 40))
    cat = _distribution_svg(
        {"type": "categorical", "levels": levels, "reference": shares, "current": shares}
    )
    edges = list(np.linspace(-5.0, 5.0, 101))  # 100 bins, pooled 4 by 4 into 25 bars
    ref = list(np.random.default_rng(1).dirichlet(np.ones(100)))
    num = _distribution_svg({"type": "numeric", "edges": edges, "reference": ref, "current": ref})
    for svg, bars in ((cat, 30), (num, 25)):
        page = parse(f"<div>{svg}</div>")
        assert sum(t == "rect" for t, _ in page.tags) == 2 * bars
    cat_tips, num_tips = _Tips(), _Tips()
    cat_tips.feed(cat)
    num_tips.feed(num)
    assert cat_tips.tips[:29] == [f"{lv}: {1 / 40:.3g}" for lv in levels[:29]]
    assert cat_tips.tips[29] == f"other (11 categories): {11 / 40:.3g}"
    assert num_tips.tips[0] == f"-5 – -4.6: {sum(ref[:4]):.3g}"
    assert num_tips.tips[24] == f"4.6 – 5: {sum(ref[96:]):.3g}"


class _Tips(HTMLParser):
    """The SVG tooltips (<title> texts) of a fragment."""

    def __init__(self) -> None:
        super().__init__(convert_charrefs=True)
        self.tips: list[str] = []
        self._in = False

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        self._in = tag == "title"
        if self._in:
            self.tips.append("")

    def handle_endtag(self, tag: str) -> None:
        self._in = False

    def handle_data(self, data: str) -> None:
        if self._in:
            self.tips[-1] += data
