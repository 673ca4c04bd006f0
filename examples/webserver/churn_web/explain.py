"""What the pages show of churn's reasons (churn.reasons: SHAP values per feature group, in words):
advice for the retention team, the JSON form, and the model page's global view (mean |SHAP|)."""
from __future__ import annotations

import math
from typing import Any, Dict, Mapping, Optional, Sequence, Tuple

from churn.reasons import Reason

# (name prefixes, the level of the value at which the advice applies, the advice). The first match
# wins; the names are those of churn's feature catalogue (docs/features.md); other models simply get
# no suggestion. Advice is given only for a feature that raises the risk at that level.
_ACTIONS: Sequence[Tuple[Tuple[str, ...], str, str]] = (
    (("thumbs_down",), "high", "They dislike much of what they hear: review their recommendations or offer a curated playlist."),
    (("errors",), "high", "They run into errors: check their account and devices for technical problems."),
    (("help",), "high", "They keep visiting Help: a proactive support contact may resolve what troubles them."),
    (("roll_adverts",), "high", "They see many adverts: an ad-free trial of the paid plan could win them over."),
    (("downgrade",), "high", "They have looked at downgrading: a discount on their current plan may keep them."),
    (("days_since_last_event", "mean_session_gap"), "high",
     "They have been away for a while: a re-engagement message with new music may bring them back."),
    (("settings", "save_settings"), "high", "They have been changing their settings a lot: check whether something bothers them."),
    (("events_last", "songs_last", "trend_"), "low", "Their recent activity has dropped: reach out with fresh, personalised content."),
    (("tenure_days", "observed_days"), "low", "Newer customers leave more often: a friendly onboarding check-in helps."),
    (("thumbs_up", "add_to_playlist", "add_friend"), "low",
     "Little engagement with likes, playlists or friends: suggest playlists and friends to follow."),
    (("songs", "events", "sessions", "active_days", "listening_hours", "distinct_artists", "mean_session", "max_session"),
     "low", "They use the service little: highlight features and content that match their taste."),
)


def action_for(name: str, level: str) -> Optional[str]:
    """Advice for a feature that raises the risk at this level ('high' or 'low'), if there is any."""
    for prefixes, when, text in _ACTIONS:
        if any(name.startswith(p) for p in prefixes):
            return text if when == level else None
    return None


def suggestion(reason: Reason) -> Optional[str]:
    """Advice for a reason that raises the risk: from its strongest driver with advice, if any."""
    if reason.push <= 0:
        return None
    for d in reason.drivers:
        text = action_for(d.feature, d.standing)
        if text:
            return text
    return None


def reason_json(reason: Reason) -> Dict[str, Any]:
    """A reason as the API returns it: churn's JSON form plus the suggestion."""
    out = reason.to_json()
    out["suggestion"] = suggestion(reason)
    return out


def _finite(v: Any) -> Optional[float]:
    return float(v) if isinstance(v, (int, float)) and not isinstance(v, bool) and math.isfinite(v) else None


def shap_summary(metadata: Mapping[str, Any], top: int = 15) -> Optional[Dict[str, Any]]:
    """The model page's SHAP view from the metadata's ``explanations`` (written by churn train): mean
    |SHAP| per group and for the `top` features, in percentage points, and the beeswarm sample. None
    when the model carries none."""
    ex = metadata.get("explanations")
    if not isinstance(ex, Mapping):
        return None
    groups = [g for g in ex.get("groups") or [] if isinstance(g, Mapping) and _finite(g.get("mean_abs_shap")) is not None]
    per_feature = ex.get("mean_abs_shap") if isinstance(ex.get("mean_abs_shap"), Mapping) else {}
    features = sorted(((str(k), _finite(v)) for k, v in per_feature.items() if _finite(v) is not None),
                      key=lambda kv: -kv[1])
    swarm = []
    for entry in ex.get("beeswarm") or []:
        if not isinstance(entry, Mapping):
            continue
        shap, pct = entry.get("shap") or [], entry.get("percentile") or []
        points = [{"x": round(100 * s, 3), "p": _finite(p) if i < len(pct) else None}
                  for i, (s, p) in enumerate(zip(shap, pct + [None] * (len(shap) - len(pct))))
                  if _finite(s) is not None]
        swarm.append({"feature": str(entry.get("feature", "?")), "points": points,
                      "categorical": bool(entry.get("categorical"))})
    if not groups and not features:
        return None
    groups.sort(key=lambda g: -g["mean_abs_shap"])
    return {
        "rows": ex.get("rows"), "expected_value": _finite(ex.get("expected_value")),
        "groups": {"labels": [str(g.get("label")) for g in groups],
                   "values": [round(100 * g["mean_abs_shap"], 3) for g in groups],
                   "members": [list(g.get("features") or []) for g in groups]},
        "features": {"labels": [k for k, _ in features[:top]], "values": [round(100 * v, 3) for _, v in features[:top]]},
        "all_features": {k: round(100 * v, 3) for k, v in features},
        "beeswarm": swarm,
    }
