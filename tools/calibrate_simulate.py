#!/usr/bin/env python3
"""Calibrate the simulator's config mix against the real mini data set, or print the comparison.

    python tools/calibrate_simulate.py report [--seeds 5]      # real vs simulated table (docs/data.md)
    python tools/calibrate_simulate.py fit [--users 3000]      # refit the 26 weights (needs scipy)

`fit` runs each of eventsim's 26 configs alone, then chooses weights so that the mixture's churn rate,
events per user, paid share of songs and page rates per 1,000 NextSong match the real figures
(real-statistics.json), with a penalty that keeps every config in the mix. Mixture statistics are
ratios of sums of the single-config tallies, so the fit needs no further simulation. Paste the printed
weights into default_config_mix() in include/churn/simulate.hpp.

Run with the build tree on the path, e.g. PYTHONPATH=build/python:python .venv/bin/python tools/...
"""
import argparse
import json
import math
import os
import sys

import churn
from churn.simulation import CONFIG_NAMES

HERE = os.path.dirname(os.path.abspath(__file__))
REAL_STATS = os.path.join(HERE, "..", "..", "shared", "data", "sparkify", "real-statistics.json")
MAIN_PAGES = ["Thumbs Up", "Add to Playlist", "Add Friend", "Roll Advert", "Logout", "Thumbs Down",
              "Downgrade", "Upgrade", "Cancel"]
OTHER_PAGES = ["Home", "Help", "Settings", "About", "Error", "Submit Upgrade", "Submit Downgrade",
               "Save Settings", "Login", "Register", "Submit Registration"]


def real_mini(path):
    return json.load(open(path))["mini"]


def figures(stats):
    pages = stats["pages"]
    songs = pages.get("NextSong", 0)
    out = {
        "events": stats["events"], "users": stats["users"], "churned": stats["churned"],
        "churn rate": stats["churned"] / stats["users"],
        "empty userId share": stats["anonymous_events"] / stats["events"],
        "paid share of NextSong": stats["paid_songs"] / songs,
        "events per user": stats["events"] / stats["users"],
    }
    for p in MAIN_PAGES + OTHER_PAGES:
        out[p] = 1000 * pages.get(p, 0) / songs
    return out


def report(args):
    real = real_mini(args.real)
    rp = real["pages"]
    rs = rp["NextSong"]
    rf = {"events": real["events"], "users": real["distinct_users"], "churned": real["churned_users"],
          "churn rate": real["churned_users"] / real["distinct_users"],
          "empty userId share": real["rows_with_empty_userId"] / real["events"],
          "paid share of NextSong": 0.80, "events per user": real["events"] / real["distinct_users"]}
    for p in MAIN_PAGES + OTHER_PAGES:
        rf[p] = 1000 * rp[p] / rs
    runs = [figures(churn.simulation_statistics(users=225, days=60, seed=s, behaviour="eventsim")) for s in range(args.seeds)]
    print(f"| figure | real mini | simulated, seed 0 | simulated, mean of seeds 0-{args.seeds - 1} | ratio (mean / real) |")
    print("| --- | ---: | ---: | ---: | ---: |")
    for key in rf:
        mean = sum(r[key] for r in runs) / len(runs)
        fmt = (lambda v: f"{v:,.0f}") if key in ("events", "users", "churned", "events per user") else \
              (lambda v: f"{100 * v:.1f} %") if key in ("churn rate", "empty userId share", "paid share of NextSong") else \
              (lambda v: f"{v:.2f}")
        name = key if key in rf and key not in rp else f"{key} per 1,000 NextSong"
        print(f"| {name} | {fmt(rf[key])} | {fmt(runs[0][key])} | {fmt(mean)} | {mean / rf[key]:.2f} |")


def fit(args):
    import numpy as np
    from scipy.optimize import minimize

    real = real_mini(args.real)
    rp = real["pages"]
    rs = rp["NextSong"]
    rows = []
    for i, name in enumerate(CONFIG_NAMES):
        mix = [0.0] * len(CONFIG_NAMES)
        mix[i] = 1.0
        rows.append(churn.simulation_statistics(users=args.users, days=60, seed=100 + i, config_mix=mix,
                                                behaviour="eventsim"))
        print(f"ran {name}", file=sys.stderr)

    def col(key):
        return np.array([float(r["pages"].get(key, 0)) if key in rp else float(r[key]) for r in rows])

    users, songs = col("users"), col("NextSong")

    def loss(w):
        w = np.abs(w)
        total = 0.0
        for k, weight in [(p, 3.0) for p in MAIN_PAGES] + [(p, 1.0) for p in OTHER_PAGES[:9]]:
            total += weight * math.log((w @ col(k)) / (w @ songs) * rs / rp[k]) ** 2
        total += 10 * math.log((w @ col("churned")) / (w @ users) / (real["churned_users"] / real["distinct_users"])) ** 2
        total += 3 * math.log((w @ col("events")) / (w @ users) / (real["events"] / real["distinct_users"])) ** 2
        total += 3 * math.log((w @ col("paid_songs")) / (w @ songs) / 0.80) ** 2
        share = w / w.sum() * len(w)
        return total + 0.3 * float(np.mean(np.log(share + 1e-3) ** 2))  # keep every config in the mix

    best = minimize(loss, np.ones(len(rows)), method="Powell", options={"maxiter": 20000, "xtol": 1e-4})
    w = np.abs(best.x)
    w = w / w.sum() * len(w)
    print("loss", best.fun, "(uniform:", loss(np.ones(len(rows))), ")")
    print(", ".join(f"{x:.2f}" for x in w))


def main():
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("command", choices=("report", "fit"))
    ap.add_argument("--real", default=REAL_STATS, help="real-statistics.json")
    ap.add_argument("--seeds", type=int, default=5)
    ap.add_argument("--users", type=int, default=3000)
    args = ap.parse_args()
    (report if args.command == "report" else fit)(args)


if __name__ == "__main__":
    main()
