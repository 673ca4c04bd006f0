"""The ``churn`` command line. Each subcommand is a function ``_cmd_<name>(args)`` registered in
``_build_parser``; heavy imports happen inside the commands so ``churn --help`` stays fast."""
from __future__ import annotations

import argparse
import os
import sys

from . import __version__

TYPE_CHECKING = False  # typing.TYPE_CHECKING without importing typing at run time (see churn/__init__.py)
if TYPE_CHECKING:
    from typing import List, Optional


def _cmd_scan(args: argparse.Namespace) -> int:
    from .events import scan

    print(scan(args.events, strict=not args.lenient, threads=args.threads))
    return 0


def _cmd_simulate(args: argparse.Namespace) -> int:
    from .simulation import _cli_simulate

    return _cli_simulate(args)


def _cmd_features(args: argparse.Namespace) -> int:
    from .features import _cli_features

    return _cli_features(args)


def _cutoff_list(text: str) -> List[str]:
    return [c.strip() for c in text.split(",") if c.strip()]


def _snapshot_args(p: argparse.ArgumentParser) -> None:
    p.add_argument("--every-days", type=int, default=None, metavar="N",
                   help="snapshots: one row per user every N days (from the first cutoff with --min-history-days "
                        "of history to the last whose label window lies in the log)")
    p.add_argument("--cutoffs", type=_cutoff_list, default=None, metavar="DATE,DATE,...",
                   help="snapshots at these UTC dates (YYYY-MM-DD, comma-separated)")
    p.add_argument("--min-history-days", type=float, default=14.0,
                   help="history before the first scheduled cutoff (default: 14)")


def _label_args(p: argparse.ArgumentParser) -> None:
    p.add_argument("--label", choices=("window", "history"), default="window",
                   help="window: predict cancellation in (cutoff, cutoff+horizon] (default); history: leaks")
    p.add_argument("--cutoff", default=None, help="YYYY-MM-DD (default: last event minus the horizon)")
    p.add_argument("--horizon-days", type=float, default=30.0, help="label window length (default 30)")
    p.add_argument("--session-gap-minutes", type=float, default=30.0)
    p.add_argument("--lenient", action="store_true", help="skip and count bad lines instead of stopping")
    _snapshot_args(p)


def _model_args(p: argparse.ArgumentParser) -> None:
    p.add_argument("--trees", type=int, default=None, help="forest size (default 300)")
    p.add_argument("--max-features", default=None, help='"sqrt" (default), "log2", an int or a float')
    p.add_argument("--min-samples-leaf", type=int, default=None)
    p.add_argument("--class-weight", default=None, choices=("balanced", "balanced_subsample"))
    p.add_argument("--no-forest-search", action="store_true",
                   help="do not choose min_samples_leaf by cross-validation (1, 3, 10, 30 or 100, the best "
                        "out-of-fold ROC AUC; the default); a given --min-samples-leaf is never searched")
    p.add_argument("--folds", type=int, default=5)
    p.add_argument("--seed", type=int, default=0)
    p.add_argument("--threads", type=int, default=0, help="threads (default: all cores)")
    # Deprecated name of --threads (-1: all cores), kept for one release.
    p.add_argument("--jobs", type=int, default=None, help=argparse.SUPPRESS)
    p.add_argument("--sklearn", action="store_true", help="add scikit-learn's forest as a reference model")


def _forest_params(args: argparse.Namespace) -> dict:
    params = {}
    if args.trees is not None:
        params["n_estimators"] = args.trees
    if args.max_features is not None:
        mf = args.max_features
        params["max_features"] = int(mf) if mf.isdigit() else (float(mf) if mf.replace(".", "", 1).isdigit() else mf)
    if args.min_samples_leaf is not None:
        params["min_samples_leaf"] = args.min_samples_leaf
    if args.class_weight is not None:
        params["class_weight"] = args.class_weight
    return params


def _search_kwargs(args: argparse.Namespace) -> dict:
    return {"forest_search": None} if args.no_forest_search else {}


def _label_kwargs(args: argparse.Namespace) -> dict:
    return dict(label=args.label, cutoff=args.cutoff, horizon_days=args.horizon_days,
                session_gap_minutes=args.session_gap_minutes, strict=not args.lenient, cutoffs=args.cutoffs,
                every_days=args.every_days, min_history_days=args.min_history_days)


def _threads_of(args: argparse.Namespace) -> int:
    if args.jobs is None:
        return args.threads
    print("churn: --jobs is deprecated and will be removed in the next release; use --threads (0: all cores)",
          file=sys.stderr)
    return args.jobs if args.jobs > 0 else 0


def _cmd_train(args: argparse.Namespace) -> int:
    from .training import train

    result = train(args.events, args.model, test_size=args.test_size, n_splits=args.folds, seed=args.seed,
                   forest_params=_forest_params(args), threads=_threads_of(args), sklearn_reference=args.sklearn,
                   threshold=args.threshold, **_label_kwargs(args), **_search_kwargs(args))
    print(result.summary())
    return 0


def _cmd_evaluate(args: argparse.Namespace) -> int:
    from .training import evaluate, format_evaluation

    report = evaluate(args.events, n_splits=args.folds, seed=args.seed, forest_params=_forest_params(args),
                      threads=_threads_of(args), sklearn_reference=args.sklearn, **_label_kwargs(args),
                      **_search_kwargs(args))
    print(format_evaluation(report))
    return 0


def _cmd_report(args: argparse.Namespace) -> int:
    from .report import write_report

    out = args.out or os.path.splitext(args.model)[0] + "-report.html"
    print(write_report(args.model, out))
    return 0


def _count(text: str) -> int:
    """A whole number of 0 or more (argparse type)."""
    try:
        value = int(text)
    except ValueError:
        value = -1
    if value < 0:
        raise argparse.ArgumentTypeError(f"expected a whole number of 0 or more, got {text!r}")
    return value


def _cmd_predict(args: argparse.Namespace) -> int:
    from .scoring import _cli_predict

    return _cli_predict(args)


def _build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="churn", description="Churn prediction from Sparkify-style event logs.")
    parser.add_argument("--version", action="version", version=f"churn {__version__}")
    commands = parser.add_subparsers(dest="command", metavar="COMMAND")
    commands.required = True

    p = commands.add_parser("scan", help="summarise event logs (events, users, pages, dates, bad lines)")
    p.add_argument("events", nargs="+", help="JSON-lines event log(s) or folders, plain or .gz (- reads standard "
                                             "input); several give a line per file and the total")
    p.add_argument("--lenient", action="store_true", help="skip and count bad lines instead of stopping")
    p.add_argument("--threads", type=int, default=0, help="threads (default: all cores)")
    p.set_defaults(run=_cmd_scan)

    p = commands.add_parser("simulate", help="write a simulated Sparkify event log (eventsim's model, see docs/data.md)")
    p.add_argument("--behaviour", choices=("engagement", "eventsim"), default="engagement",
                   help="engagement: a hidden satisfaction drives visits and cancellations (default); "
                        "eventsim: the Sparkify generator's own behaviour")
    p.add_argument("--users", type=int, default=225, help="users at the start (default: 225, the mini set)")
    p.add_argument("--days", type=int, default=60, help="days simulated (default: 60)")
    p.add_argument("--seed", type=int, default=0, help="random seed (default: 0)")
    p.add_argument("--start", default="2018-10-01", help="first day, YYYY-MM-DD UTC (default: 2018-10-01)")
    p.add_argument("--out", required=True, help="file to write: JSON lines, gzip-compressed if it ends in .gz")
    p.add_argument("--threads", type=int, default=0, help="threads (default: all cores); output is the same")
    p.add_argument("--gzip-level", type=int, default=6, help="1 (fast) .. 9 (small), for .gz (default: 6)")
    p.add_argument("--progress", action="store_true", help="show the progress bar even for short runs")
    p.add_argument("--quiet", action="store_true", help="no progress bar, no summary")
    p.set_defaults(run=_cmd_simulate)

    p = commands.add_parser("features", help="per-user features and churn labels as CSV (see docs/features.md)")
    p.add_argument("events", nargs="+", help="JSON-lines event log(s) or directories, plain or .gz; - reads standard input")
    p.add_argument("--out", default="features.csv", help="CSV to write (default: features.csv)")
    p.add_argument("--label", choices=("window", "history"), default="window",
                   help="window: features before --cutoff, label = cancels within the horizon (default); "
                        "history: all events before a cancellation (leaks)")
    p.add_argument("--cutoff", help="UTC date YYYY-MM-DD (default: last midnight <= log end - horizon)")
    p.add_argument("--horizon-days", type=float, default=30.0, help="label window length (default: 30)")
    p.add_argument("--session-gap-minutes", type=float, default=30.0,
                   help="silence that ends a session (default: 30; 0 trusts the session ids)")
    p.add_argument("--threads", type=int, default=0, help="threads (default: all cores)")
    p.add_argument("--lenient", action="store_true", help="skip and count bad lines instead of stopping")
    p.add_argument("--decode", action="store_true", help="write category names instead of codes")
    _snapshot_args(p)
    p.add_argument("--progress", action="store_true", help="show the progress bar even when not on a terminal")
    p.add_argument("--quiet", action="store_true", help="no progress bar, no summary")
    p.set_defaults(run=_cmd_features)

    p = commands.add_parser("train", help="features, 5-fold CV beside baselines, final forest, test set, save")
    p.add_argument("events", nargs="+", help="event log(s) or folders, plain or .gz")
    p.add_argument("--model", required=True, help="where to save the model (JSON)")
    p.add_argument("--test-size", type=float, default=0.2, help="withheld share of users (default 0.2)")
    p.add_argument("--threshold", type=float, default=None,
                   help="decision threshold: churn when P(churn) > it (default: the one maximising F1 on the "
                        "training part's out-of-fold probabilities; 0.5 is scikit-learn's predict)")
    _label_args(p)
    _model_args(p)
    p.set_defaults(run=_cmd_train)

    p = commands.add_parser("evaluate", help="cross-validated comparison of the forest and the baselines")
    p.add_argument("events", nargs="+", help="event log(s) or folders, plain or .gz")
    _label_args(p)
    _model_args(p)
    p.set_defaults(run=_cmd_evaluate)

    p = commands.add_parser("report", help="a self-contained HTML or Markdown report of a saved model")
    p.add_argument("model", help="a model saved by churn train")
    p.add_argument("--out", default=None, help="output file, .html or .md (default: MODEL-report.html)")
    p.set_defaults(run=_cmd_report)

    p = commands.add_parser("predict", help="score every user of event logs with a saved model, with reasons (CSV)")
    p.add_argument("model", help="a model saved by churn train")
    p.add_argument("events", nargs="+", help="JSON-lines event log(s) or folders, plain or .gz")
    p.add_argument("--out", default="scores.csv", help="CSV to write (default: scores.csv)")
    p.add_argument("--explain", type=_count, default=3, help="reasons per user (default: 3; 0 for none, faster)")
    p.add_argument("--cutoff", default=None,
                   help="score as of this UTC date, YYYY-MM-DD: features from the events before it "
                        "(default: the midnight after the last event)")
    p.add_argument("--values", action="store_true", help="add every feature value to the CSV")
    p.add_argument("--threads", type=int, default=0, help="threads (default: all cores)")
    p.add_argument("--lenient", action="store_true", help="skip and count bad lines instead of stopping")
    p.add_argument("--progress", action="store_true", help="show the progress bar even when not on a terminal")
    p.add_argument("--quiet", action="store_true", help="no progress bar, no summary")
    p.set_defaults(run=_cmd_predict)

    return parser


def main(argv: Optional[List[str]] = None) -> int:
    from ._churn import ChurnError

    args = _build_parser().parse_args(argv)
    try:
        return int(args.run(args) or 0)
    except ChurnError as e:
        print(f"churn {args.command}: error: {e}", file=sys.stderr)
        return 2
    except OSError as e:  # a file the command writes or reads itself (not through churn's reader)
        print(f"churn {args.command}: error: {e}", file=sys.stderr)
        return 2
    except KeyboardInterrupt:
        return 130


if __name__ == "__main__":
    sys.exit(main())
