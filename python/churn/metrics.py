"""Binary classification metrics under scikit-learn's names, computed by churn's C++ core.

Labels are 0/1 (1 = churn); scores and probabilities are those of class 1. The values equal
scikit-learn's (1.9) to 1e-12, ties and zero divisions included, with two deliberate differences:
``roc_auc_score`` with a single class in ``y_true`` and ``average_precision_score`` without positives
raise :class:`churn.DataError` where scikit-learn warns and returns nan or 0. Hard predictions from a
threshold ``t`` are ``proba > t``, the rule of every churn model's ``predict`` (at 0.5 scikit-learn's
``predict``: argmax, a tie going to the first class). ``best_f1_threshold`` returns a threshold strictly
between two adjacent scores and the F1 that rule gives. The curves (``roc_curve``,
``precision_recall_curve``, ``confusion_matrix_at_thresholds``) keep scikit-learn's ``score >= t``.
"""
from ._churn import (
    accuracy_score,
    average_precision_score,
    balanced_accuracy_score,
    best_f1_threshold,
    binary_metric_names,
    brier_score_loss,
    confusion_matrix,
    confusion_matrix_at_thresholds,
    evaluate_binary,
    f1_score,
    log_loss,
    precision_recall_curve,
    precision_score,
    recall_score,
    roc_auc_score,
    roc_curve,
)

__all__ = [
    "accuracy_score",
    "average_precision_score",
    "balanced_accuracy_score",
    "best_f1_threshold",
    "binary_metric_names",
    "brier_score_loss",
    "confusion_matrix",
    "confusion_matrix_at_thresholds",
    "evaluate_binary",
    "f1_score",
    "log_loss",
    "precision_recall_curve",
    "precision_score",
    "recall_score",
    "roc_auc_score",
    "roc_curve",
]
