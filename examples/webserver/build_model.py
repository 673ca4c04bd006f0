#!/usr/bin/env python3
"""Builds the model the web demo serves:  python build_model.py EVENTS MODEL

EVENTS is an event log (JSON lines, plain or .gz; several files or a folder work too); MODEL is where
the model goes. It reads and aggregates the events, cross-validates the random forest beside the
baselines (5 stratified folds on the training part), fits the final forest, evaluates it once on a
withheld test set and saves it with the metadata the app shows (see docs/model-metadata.md).
It is `churn train EVENTS --model MODEL` with the seed's interface; the options are the same.
"""
import argparse
import sys

from churn.cli import _label_args, _model_args, main


def parse(argv):
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("events", nargs="+", help="event log(s) or folders, plain or .gz")
    parser.add_argument("model", help="where to save the model (JSON)")
    parser.add_argument("--test-size", type=float, default=0.2, help="withheld share of users (default 0.2)")
    _label_args(parser)
    _model_args(parser)
    return parser.parse_args(argv)


if __name__ == "__main__":
    args = parse(sys.argv[1:])
    forwarded = ["train", *args.events, "--model", args.model]
    # Hand every option to `churn train` unchanged: one implementation of the pipeline.
    for action_name, value in vars(args).items():
        if action_name in ("events", "model") or value is None or value is False:
            continue
        flag = "--" + action_name.replace("_", "-")
        forwarded += [flag] if value is True else [flag, str(value)]
    sys.exit(main(forwarded))
