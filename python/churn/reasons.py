"""Reasons a retention team can act on: exact SHAP values summed over feature groups, in words.

A forest's SHAP values (``RandomForestClassifier.shap_values``) say how much each feature moved one
customer's probability away from the average prediction (``expected_value_``); they add up exactly.
Fifty-five features are too many to read, and correlated ones (songs, events, sessions...) split one
effect between them, so reasons are given per **group** (:data:`GROUPS`, docs/features.md): a group's
push is the sum of its members' SHAP values, which keeps the sum exact.

A reason names the group, the customer's values that drive it with how they compare with the training
population (a percentile, in words), and the push in percentage points. A value between the training
population's 25th and 75th percentiles is *typical* and never named as a cause; a group whose push
comes only from typical values is not offered as a reason. Features that read 0 because the scored log
never records their page at all (:data:`FEATURE_PAGES`) are left out of reasons and reported once as
"not in this log" by :func:`churn.score`.

The model must carry the training distribution in its metadata (``features[j].percentiles``, written by
``churn train`` through :func:`training_profile`); :func:`explanation_summary` adds the global view
(mean |SHAP| per group and per feature, a beeswarm sample) that the web app's model page and
``churn report`` draw.
"""
from __future__ import annotations

import math
import warnings
from dataclasses import dataclass, field
from typing import Any, Dict, List, Mapping, Optional, Sequence, Tuple

import numpy as np

# This module passes plain arrays already in the model's column order to a model fitted on named
# columns; the estimator's "X does not have valid feature names" warning says nothing to its users here.
warnings.filterwarnings("ignore", message="X does not have valid feature names", category=UserWarning,
                        module=__name__.replace(".", r"\."))

#: Percentiles stored per feature in the metadata (``features[j].percentiles``): 0, 5, ..., 100.
PERCENTILES: Tuple[int, ...] = tuple(range(0, 101, 5))

#: The feature groups, in display order: (key, label, members). docs/features.md documents them.
GROUPS: Tuple[Tuple[str, str, Tuple[str, ...]], ...] = (
    ("recent_activity", "recent activity",
     ("days_since_last_event", "events_last_7d", "events_last_14d", "songs_last_7d", "songs_last_14d",
      "trend_7d", "trend_14d")),
    ("overall_activity", "overall activity",
     ("events", "songs", "sessions", "active_days", "events_per_session", "songs_per_session",
      "songs_per_active_day", "listening_hours", "distinct_artists", "distinct_artists_per_song",
      "mean_session_minutes", "max_session_minutes", "mean_session_gap_hours")),
    ("satisfaction", "satisfaction",
     ("thumbs_up", "thumbs_down", "add_to_playlist", "add_friend", "thumbs_up_per_song", "thumbs_down_per_song",
      "add_to_playlist_per_song", "add_friend_per_song", "thumbs_up_per_session", "thumbs_down_per_session",
      "add_to_playlist_per_session", "add_friend_per_session", "errors", "help", "errors_per_session",
      "help_per_session")),
    ("adverts", "adverts", ("roll_adverts", "roll_adverts_per_song")),
    ("plan_and_account", "plan and account",
     ("level_paid", "paid_share", "upgrades", "downgrades", "downgrade_visits", "upgrade_visits",
      "downgrade_visits_per_session", "upgrade_visits_per_session", "settings", "save_settings",
      "settings_per_session")),
    ("tenure", "tenure", ("tenure_days", "observed_days")),
    ("device_and_place", "device and place", ("platform", "browser", "state", "gender")),
)
#: Features of no listed group (a model trained on other columns) fall into this one.
OTHER_GROUP = ("other", "other features")

#: The page whose events a feature counts: a log without any such event makes the feature 0 for everyone.
FEATURE_PAGES: Dict[str, str] = {}
for _page, _stems in (("Thumbs Up", ("thumbs_up",)), ("Thumbs Down", ("thumbs_down",)),
                      ("Add to Playlist", ("add_to_playlist",)), ("Add Friend", ("add_friend",)),
                      ("Error", ("errors",)), ("Help", ("help",)), ("Settings", ("settings",)),
                      ("Save Settings", ("save_settings",)), ("Roll Advert", ("roll_adverts",)),
                      ("Downgrade", ("downgrade_visits",)), ("Upgrade", ("upgrade_visits",)),
                      ("Submit Upgrade", ("upgrades",)), ("Submit Downgrade", ("downgrades",))):
    for _stem in _stems:
        for _suffix in ("", "_per_song", "_per_session"):
            FEATURE_PAGES[_stem + _suffix] = _page
del _page, _stems, _stem, _suffix

#: The count feature of each page (a page is in a log when some user's count is above 0).
PAGE_COUNTS: Dict[str, str] = {page: name for name, page in FEATURE_PAGES.items()
                               if not name.endswith(("_per_song", "_per_session"))}

#: Short names in words for churn's features (docs/features.md); other columns use their description.
LABELS: Dict[str, str] = {
    "events": "events", "songs": "songs played", "sessions": "sessions", "active_days": "active days",
    "events_per_session": "events per session", "songs_per_session": "songs per session",
    "songs_per_active_day": "songs per active day", "listening_hours": "listening hours",
    "distinct_artists": "distinct artists", "distinct_artists_per_song": "distinct artists per song",
    "errors": "errors", "help": "Help visits", "settings": "Settings visits", "save_settings": "settings saved",
    "roll_adverts": "adverts", "downgrade_visits": "Downgrade page visits", "upgrade_visits": "Upgrade page visits",
    "level_paid": "on the paid plan (1 yes, 0 no)", "upgrades": "upgrades", "downgrades": "downgrades",
    "paid_share": "share of events on the paid plan", "tenure_days": "days since registration",
    "observed_days": "days since the first visit", "days_since_last_event": "days since the last visit",
    "events_last_7d": "events in the last 7 days", "events_last_14d": "events in the last 14 days",
    "songs_last_7d": "songs in the last 7 days", "songs_last_14d": "songs in the last 14 days",
    "trend_7d": "7-day activity trend (1 = steady)",
    "trend_14d": "14-day activity trend (1 = steady)",
    "mean_session_minutes": "mean session length in minutes", "max_session_minutes": "longest session in minutes",
    "mean_session_gap_hours": "mean hours between sessions", "gender": "gender", "platform": "platform",
    "browser": "browser", "state": "state",
}
for _stem, _words in (("thumbs_up", "thumbs up"), ("thumbs_down", "thumbs down"),
                      ("add_to_playlist", "songs added to playlists"), ("add_friend", "friends added")):
    LABELS[_stem] = _words
    LABELS[_stem + "_per_song"] = _words + " per song"
    LABELS[_stem + "_per_session"] = _words + " per session"
for _stem in ("roll_adverts", "errors", "help", "settings", "downgrade_visits", "upgrade_visits"):
    LABELS.setdefault(_stem + "_per_session", LABELS[_stem] + " per session")
LABELS["roll_adverts_per_song"] = "adverts per song"
del _stem, _words

#: A categorical value held by at least this share of the training customers is typical.
TYPICAL_CATEGORY_SHARE = 0.25
#: A group whose push is smaller than this (probability units) is not offered as a reason.
MIN_PUSH = 0.005


def group_of(name: str) -> Tuple[str, str]:
    """(key, label) of the group a feature belongs to."""
    for key, label, members in GROUPS:
        if name in members:
            return key, label
    return OTHER_GROUP


def groups_for(names: Sequence[str]) -> List[Tuple[str, str, List[int]]]:
    """The groups as (key, label, member column indices) for a model's columns; empty groups dropped."""
    out: Dict[str, Tuple[str, str, List[int]]] = {}
    order = [key for key, _, _ in GROUPS] + [OTHER_GROUP[0]]
    for j, name in enumerate(names):
        key, label = group_of(name)
        out.setdefault(key, (key, label, []))[2].append(j)
    return [out[k] for k in order if k in out]


def pages_in(X: np.ndarray, names: Sequence[str]) -> List[str]:
    """The pages some row of X has events of (by the pages' count features), sorted."""
    index = {n: j for j, n in enumerate(names)}
    return sorted(page for page, count in PAGE_COUNTS.items()
                  if count in index and X.shape[0] and np.nanmax(X[:, index[count]]) > 0)


def training_profile(column: np.ndarray, categorical: bool, n_categories: int = 0) -> Dict[str, Any]:
    """What explanations need of one training column: its percentiles (:data:`PERCENTILES`), or for a
    categorical column the share of customers in each category."""
    values = np.asarray(column, dtype=np.float64)
    values = values[np.isfinite(values)]
    if values.size == 0:
        return {"percentiles": None}
    if categorical:
        codes = values.astype(np.int64)
        counts = np.bincount(codes[codes >= 0], minlength=max(n_categories, 1))
        return {"category_shares": (counts / values.size).round(6).tolist()}
    return {"percentiles": [float(v) for v in np.percentile(values, PERCENTILES)]}


@dataclass
class FeatureInfo:
    """One model column as explanations see it (from the model's metadata)."""

    name: str
    description: str = ""
    unit: str = ""
    categorical: bool = False
    categories: List[str] = field(default_factory=list)
    integer: bool = False
    percentiles: Optional[np.ndarray] = None
    category_shares: Optional[List[float]] = None
    min: Optional[float] = None
    max: Optional[float] = None

    @property
    def label(self) -> str:
        if self.name in LABELS:
            return LABELS[self.name]
        # Descriptions such as "Thumbs Down / songs" are formulas: the name reads better then.
        return self.description if self.description and " / " not in self.description else self.name.replace("_", " ")

    def format(self, value: float) -> str:
        if self.categorical:
            code = int(value) if math.isfinite(value) else -1
            return self.categories[code] if 0 <= code < len(self.categories) else str(value)
        return format_number(value, self.integer)

    def percentile(self, value: float) -> Optional[float]:
        """Share of training customers below `value`, in percent (ties counted half): None without data."""
        p = self.percentiles
        if self.categorical or p is None or not math.isfinite(value):
            return None
        lo = float(np.interp(value, p, PERCENTILES, left=0.0, right=100.0))
        # np.interp takes the first of equal x; the last one bounds a tie from above.
        hi = float(np.interp(-value, -p[::-1], PERCENTILES[::-1], left=100.0, right=0.0))
        return (lo + hi) / 2

    def standing(self, value: float) -> Tuple[str, Optional[str]]:
        """('high' | 'low' | 'typical' | 'unknown', words): how `value` compares with training customers."""
        if self.categorical:
            shares = self.category_shares
            code = int(value) if math.isfinite(value) else -1
            if not shares or not 0 <= code < len(shares):
                return "unknown", None
            share = shares[code]
            words = f"{share:.0%} of customers" if share >= 0.01 else "under 1% of customers"
            return ("typical" if share >= TYPICAL_CATEGORY_SHARE else "rare"), words
        p = self.percentiles
        if p is None:
            return "unknown", None
        q25, q75 = p[PERCENTILES.index(25)], p[PERCENTILES.index(75)]
        if q25 <= value <= q75:
            return "typical", "typical"
        pct = self.percentile(value)
        if value > q75:
            if pct is None or pct >= 99.5:
                return "high", "higher than 99% of customers" if value <= p[-1] else "above every training customer"
            return "high", f"higher than {max(pct, 75):.0f}% of customers"
        if pct is None or pct <= 0.5:
            return "low", "lower than 99% of customers" if value >= p[0] else "below every training customer"
        return "low", f"lower than {max(100 - pct, 75):.0f}% of customers"


def format_number(value: float, integer: bool = False) -> str:
    if value is None or not math.isfinite(value):
        return "—"
    if integer or float(value).is_integer():
        return f"{int(round(value)):,}"
    magnitude = abs(value)
    if magnitude >= 100:
        return f"{value:,.1f}"
    if magnitude >= 1:
        return f"{value:.2f}"
    return f"{value:.3g}"


def feature_infos(names: Sequence[str], metadata: Optional[Mapping[str, Any]]) -> List[FeatureInfo]:
    """FeatureInfo for each model column, from the metadata's ``features`` entries (matched by name)."""
    entries = (metadata or {}).get("features") or []
    by_name = {e.get("name"): e for e in entries if isinstance(e, Mapping)}
    out = []
    for name in names:
        e = by_name.get(name, {})
        cats = [str(c) for c in (e.get("categories") or [])]
        pct = e.get("percentiles")
        pct_arr = None
        if isinstance(pct, list) and len(pct) == len(PERCENTILES):
            try:
                pct_arr = np.asarray(pct, dtype=np.float64)
            except (TypeError, ValueError):
                pct_arr = None
            if pct_arr is not None and (not np.all(np.isfinite(pct_arr)) or np.any(np.diff(pct_arr) < 0)):
                pct_arr = None
        shares = e.get("category_shares")
        out.append(FeatureInfo(
            name=str(name), description=str(e.get("description") or ""), unit=str(e.get("unit") or ""),
            categorical=e.get("kind") == "categorical" and bool(cats), categories=cats,
            integer=bool(e.get("integer", False)), percentiles=pct_arr,
            category_shares=[float(s) for s in shares] if isinstance(shares, list) else None,
            min=finite_number(e.get("min")), max=finite_number(e.get("max"))))
    return out


def finite_number(v: Any) -> Optional[float]:
    """A JSON value as a finite float, or None (bools, strings, NaN and infinities are not numbers)."""
    if isinstance(v, bool) or not isinstance(v, (int, float)):
        return None
    return float(v) if math.isfinite(v) else None


@dataclass
class Driver:
    """One of a reason's values: the feature, the customer's value, how it compares, its own push."""

    feature: str
    label: str
    value: float
    text: str  # the value as a person reads it (a category label for categorical features)
    standing: str  # 'high', 'low' or 'rare'
    comparison: str  # e.g. "higher than 90% of customers"
    percentile: Optional[float]
    shap: float

    @property
    def words(self) -> str:
        return f"{self.label} {self.text} ({self.comparison})"

    def to_json(self) -> Dict[str, Any]:
        return {"feature": self.feature, "value": self.text if self.standing == "rare" else self.value,
                "comparison": self.comparison, "percentile": self.percentile, "shap": self.shap}


@dataclass
class Reason:
    """A group that moved this customer's probability, with the values that drive it."""

    group: str
    label: str
    push: float  # change of P(churn) from the group's features, probability units (signed)
    drivers: List[Driver]

    @property
    def direction(self) -> str:
        return "up" if self.push > 0 else "down"

    @property
    def points(self) -> str:
        """The push in percentage points, signed: '+12.3'."""
        return f"{self.push * 100:+.1f}"

    @property
    def values_text(self) -> str:
        return "; ".join(d.words for d in self.drivers)

    @property
    def sentence(self) -> str:
        verb = "raises" if self.push > 0 else "lowers"
        return (f"{self.label[:1].upper() + self.label[1:]}: {self.values_text} — {verb} the churn risk by "
                f"{abs(self.push) * 100:.1f} points.")

    @property
    def short(self) -> str:
        """The CSV form: 'recent activity +12.3 pp (songs in the last 7 days 0, lower than 90% of customers)'."""
        inner = "; ".join(f"{d.label} {d.text}, {d.comparison}" for d in self.drivers)
        return f"{self.label} {self.points} pp ({inner})"

    def to_json(self) -> Dict[str, Any]:
        return {"group": self.group, "label": self.label, "direction": self.direction, "push": self.push,
                "points": round(self.push * 100, 2), "drivers": [d.to_json() for d in self.drivers],
                "explanation": self.sentence}


@dataclass
class Explanation:
    """One customer's reasons: up to `top` each way, and what is left out and why."""

    expected_value: float
    up: List[Reason]
    down: List[Reason]
    typical_push: float  # the part of the prediction from groups driven by typical values only
    absent_push: float  # the part from features whose page is not in the scored log

    @property
    def reasons(self) -> List[Reason]:
        """All reasons, largest push first."""
        return sorted(self.up + self.down, key=lambda r: -abs(r.push))

    def to_json(self) -> Dict[str, Any]:
        return {"expected_value": self.expected_value, "reasons_up": [r.to_json() for r in self.up],
                "reasons_down": [r.to_json() for r in self.down], "typical_push": self.typical_push,
                "absent_push": self.absent_push}


class Explainer:
    """Reasons for a model's predictions: SHAP values per group, with the customers' values in words.

    ``model`` is a fitted churn.RandomForestClassifier (with ``shap_values`` and ``expected_value_``);
    ``metadata`` its metadata (default: ``model.metadata``), whose ``features`` entries give names,
    descriptions and training percentiles. Raises churn.ModelCapabilityError (from the model) when the
    model file predates node covers (format version 1): refit it."""

    def __init__(self, model: Any, metadata: Optional[Mapping[str, Any]] = None,
                 names: Optional[Sequence[str]] = None):
        self.model = model
        meta = metadata if metadata is not None else (getattr(model, "metadata", None) or {})
        if names is None:
            names = [e.get("name") for e in (meta.get("features") or []) if isinstance(e, Mapping)]
            model_names = list(getattr(model, "feature_names", None) or [])
            if model_names and not all(n == f"x{i}" for i, n in enumerate(model_names)):
                names = model_names
        self.names = [str(n) for n in names]
        self.features = feature_infos(self.names, meta)
        self.groups = groups_for(self.names)
        self.expected_value = float(model.expected_value_)

    def shap_values(self, X: np.ndarray) -> np.ndarray:
        return np.asarray(self.model.shap_values(np.ascontiguousarray(X, dtype=np.float64)), dtype=np.float64)

    def group_values(self, phi: np.ndarray) -> np.ndarray:
        """SHAP values summed per group: rows x groups (additive: each row sums as `phi` does)."""
        phi = np.atleast_2d(phi)
        return np.stack([phi[:, idx].sum(axis=1) for _, _, idx in self.groups], axis=1)

    def explain(self, X: np.ndarray, top: int = 3, absent: Sequence[str] = (),
                phi: Optional[np.ndarray] = None,
                assumed: Optional[Sequence[Sequence[str]]] = None) -> List[Explanation]:
        """An Explanation per row of X (rows x the model's columns). `absent` names features whose page
        the scored log does not record (never reasons); `phi` passes SHAP values already computed.
        `assumed[i]` names row i's features whose values nobody gave (a form's or an API request's
        defaults): they still count in their group's push, but an assumed value is never named as a
        cause, since it says nothing about this customer."""
        X = np.atleast_2d(np.asarray(X, dtype=np.float64))
        if phi is None:
            phi = self.shap_values(X)
        if assumed is not None and len(assumed) != X.shape[0]:
            raise ValueError(f"assumed: {len(assumed)} lists for {X.shape[0]} rows")
        absent_idx = {j for j, n in enumerate(self.names) if n in set(absent)}
        out = []
        for i in range(X.shape[0]):
            assumed_idx = set() if assumed is None else {j for j, n in enumerate(self.names) if n in set(assumed[i])}
            reasons: List[Reason] = []
            typical = 0.0
            absent_push = float(sum(phi[i, j] for j in absent_idx))
            for key, label, idx in self.groups:
                members = [j for j in idx if j not in absent_idx]
                push = float(sum(phi[i, j] for j in members))
                if not members:
                    continue
                drivers = []
                for j in members:
                    if phi[i, j] * push <= 0 or abs(phi[i, j]) < 1e-4 or j in assumed_idx:
                        continue  # pushes the other way, or not at all, or nobody gave the value
                    f = self.features[j]
                    standing, words = f.standing(float(X[i, j]))
                    if standing in ("typical", "unknown"):
                        continue  # a typical value is never the cause
                    drivers.append(Driver(f.name, f.label, float(X[i, j]), f.format(float(X[i, j])), standing,
                                          words or "", f.percentile(float(X[i, j])), float(phi[i, j])))
                if abs(push) < MIN_PUSH or not drivers:
                    typical += push
                    continue
                drivers.sort(key=lambda d: -abs(d.shap))
                reasons.append(Reason(key, label, push, drivers[:3]))
            reasons.sort(key=lambda r: -abs(r.push))
            up = [r for r in reasons if r.push > 0][:top]
            down = [r for r in reasons if r.push < 0][:top]
            out.append(Explanation(self.expected_value, up, down, typical, absent_push))
        return out


def explanation_summary(model: Any, X: np.ndarray, names: Sequence[str],
                        metadata_features: Sequence[Mapping[str, Any]], *, max_rows: int = 400,
                        beeswarm_features: int = 6, seed: int = 0) -> Dict[str, Any]:
    """The global explanation stored in the metadata (``explanations``): mean |SHAP| per feature and
    per group over (a sample of at most `max_rows` of) X, and a beeswarm sample of the leading
    features: each point a customer, x its SHAP value, colour its value's training percentile."""
    X = np.ascontiguousarray(X, dtype=np.float64)
    rng = np.random.default_rng(seed)
    rows = np.sort(rng.choice(X.shape[0], size=min(max_rows, X.shape[0]), replace=False))
    Xs = X[rows]
    phi = np.asarray(model.shap_values(Xs), dtype=np.float64)
    groups = groups_for(names)
    gvals = np.stack([phi[:, idx].sum(axis=1) for _, _, idx in groups], axis=1)
    mean_abs = np.abs(phi).mean(axis=0)
    infos = feature_infos(names, {"features": list(metadata_features)})
    lead = np.argsort(-mean_abs, kind="stable")[:beeswarm_features]
    swarm = []
    for j in lead:
        f = infos[j]
        pct = [f.percentile(float(v)) for v in Xs[:, j]]
        swarm.append({"feature": names[j], "label": f.label, "categorical": f.categorical,
                      "shap": [round(float(v), 6) for v in phi[:, j]],
                      "value": [round(float(v), 6) for v in Xs[:, j]],
                      "percentile": [None if p is None else round(p, 1) for p in pct]})
    return {
        "method": "path-dependent TreeSHAP of P(churn), exact (churn.shap_values)",
        "expected_value": float(model.expected_value_),
        "rows": int(len(rows)),
        "groups": [{"key": key, "label": label, "features": [names[j] for j in idx],
                    "mean_abs_shap": float(np.abs(gvals[:, g]).mean())}
                   for g, (key, label, idx) in enumerate(groups)],
        "mean_abs_shap": {names[j]: float(mean_abs[j]) for j in range(len(names))},
        "beeswarm": swarm,
    }


__all__ = ["GROUPS", "LABELS", "FEATURE_PAGES", "PAGE_COUNTS", "PERCENTILES", "Driver", "Explainer", "Explanation",
           "FeatureInfo", "Reason", "explanation_summary", "feature_infos", "group_of", "groups_for", "pages_in",
           "training_profile"]
