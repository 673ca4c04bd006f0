"""The report's verdict, gains and calibration sections (issue 19, parts 3 and 4): plain words first,
the numbers after, from the model metadata; absent metadata leaves them out."""
import numpy as np
import pytest

from churn.calibration import fit_calibration, reliability
from churn.report import calibration_view, gains_view, render, shown_threshold, verdict_view
from churn.verdict import gains, verdict


def _models(forest, logistic):
    def m(folds):
        return {"metrics": {"roc_auc": {"mean": float(np.mean(folds)), "std": float(np.std(folds)), "folds": folds}}}
    return {"random_forest": m(forest), "logistic_regression": m(logistic), "majority": m([0.5] * len(forest))}


def _meta(forest, logistic):
    rng = np.random.default_rng(0)
    y = (rng.random(400) < 0.15).astype(int)
    raw = np.clip(0.3 * y + rng.random(400) * 0.7, 0, 1)
    cal = fit_calibration("isotonic", y, raw)
    return {"threshold": 0.5, "verdict": verdict(_models(forest, logistic), validation="stratified_group_kfold"),
            "gains": {"test": gains(y, raw, source="the withheld test set")},
            "calibration": {**cal.to_json(), "test": {"before": reliability(y, raw),
                                                     "after": reliability(y, cal.apply(raw))}}}


def test_a_winning_forest_says_so_in_plain_words_then_numbers():
    meta = _meta([0.80, 0.82, 0.81, 0.79, 0.83], [0.70, 0.71, 0.69, 0.72, 0.70])
    v = verdict_view(meta)
    assert v["good"] and v["headline"].startswith("The forest ranks customers by risk better")
    page = render(meta)
    head, numbers = page.index("verdict-headline"), page.index("0.810 against")
    assert head < numbers  # plain words first
    assert "Forest better?" in page and ">yes<" in page


def test_a_forest_no_better_than_logistic_regression_says_which_to_prefer():
    meta = _meta([0.70, 0.72, 0.71, 0.69, 0.70], [0.71, 0.73, 0.70, 0.70, 0.72])
    v = verdict_view(meta)
    assert not v["good"] and v["prefer"] == "logistic_regression"
    assert "prefer logistic regression" in v["headline"]
    md = render(meta, "md")
    assert "prefer logistic regression" in md and "| logistic regression (a simpler model) |" in md
    # Not even better than guessing: do not use it.
    meta = _meta([0.50, 0.52, 0.49, 0.48, 0.51], [0.50, 0.50, 0.50, 0.50, 0.50])
    assert "has not learned anything" in verdict_view(meta)["headline"]


def test_gains_section_reports_the_top_shares_and_draws_the_curve():
    meta = _meta([0.8] * 5, [0.7] * 5)
    g = gains_view(meta)
    assert [r["share"] for r in g["rows"]] == [0.05, 0.10, 0.20]
    top10 = meta["gains"]["test"]["top"][1]
    assert f"reaches {top10['churner_share']:.0%} of those who will leave" in g["headline"]
    page = render(meta)
    assert "What a retention budget buys" in page and "Gains (the withheld test set)" in page
    assert page.index("gains-headline") < page.index("Customers called")


def test_calibration_section_shows_brier_and_log_loss_before_and_after_and_the_calibrated_threshold():
    meta = _meta([0.8] * 5, [0.7] * 5)
    c = calibration_view(meta)
    before, after = meta["calibration"]["test"]["before"], meta["calibration"]["test"]["after"]
    assert c["scores"]["before"]["brier"] == before["brier"] and c["scores"]["after"]["log_loss"] == after["log_loss"]
    assert "isotonic regression" in c["headline"]
    page = render(meta)
    assert f"{before['brier']:.4f}" in page and f"{after['brier']:.4f}" in page and "Reliability (test set)" in page
    assert shown_threshold(meta) == pytest.approx(float(np.interp(0.5, meta["calibration"]["x"],
                                                                  meta["calibration"]["y"])))
    assert f"above {shown_threshold(meta):.1%}" in page


def test_sections_are_left_out_without_their_metadata():
    page = render({"threshold": 0.4})
    for title in ("Is the forest worth using?", "What a retention budget buys", "Do the probabilities mean"):
        assert title not in page
    assert shown_threshold({"threshold": 0.4}) == 0.4


def test_a_snapshot_model_counts_rows_not_customers():
    meta = {"data": {"source": "log.json", "events": 1000, "users": 40, "rows": 200, "churned": 15,
                     "rows_train": 160, "rows_test": 40},
            "labels": {"mode": "window", "cutoff_ms": 1541030400000, "horizon_days": 14,
                       "snapshot_cutoffs_ms": [1539561600000, 1540166400000, 1540771200000, 1541030400000, 1541635200000]},
            "validation": {"test_description": "out of time: the 40 rows at the last cutoff"}}
    md = render(meta, "md")
    assert "200 rows in the table (one per customer and cutoff) of 40 customers at 5 cutoffs, 15 rows labelled" in md
    assert "160 rows for training" in md and "(out of time: the 40 rows at the last cutoff)" in md
    # The question is asked at every cutoff, not only after the model's last one.
    assert "within 14 days after a cutoff? Asked at 5 cutoffs (2018-10-15 to 2018-11-08)" in md
    assert "after 2018-11-01?" not in md
    weekly = dict(meta, labels=dict(meta["labels"], every_days=7))
    assert "Asked at 5 cutoffs (every 7 days from 2018-10-15 to 2018-11-08)" in render(weekly, "md")
    one = render({"data": {"users": 40, "churned": 15, "rows_train": 32, "rows_test": 8}}, "md")
    assert "40 customers in the table, 15 of them left" in one and "32 customers for training" in one
