"""Turns the forest's per-prediction contributions into sentences a retention team can act on."""
from __future__ import annotations

from dataclasses import dataclass
from typing import List, Optional, Sequence, Tuple

import numpy as np

from .model import Field, format_number

# (name prefixes, the level of the value at which the advice applies, the advice). The first match
# wins; the names are those of churn's feature catalogue (docs/features.md); other models simply get
# no suggestion. Advice is given only for a feature that raises the risk at that level.
_ACTIONS: Sequence[Tuple[Tuple[str, ...], str, str]] = (
    (("thumbs_down",), "high", "They dislike much of what they hear: review their recommendations or offer a curated playlist."),
    (("errors",), "high", "They run into errors: check their account and devices for technical problems."),
    (("help",), "high", "They keep visiting Help: a proactive support contact may resolve what troubles them."),
    (("roll_adverts",), "high", "They see many adverts: an ad-free trial of the paid plan could win them over."),
    (("downgrade",), "high", "They have looked at downgrading: a discount on their current plan may keep them."),
    (("days_since_last_event", "mean_session_gap"), "high", "They have been away for a while: a re-engagement message with new music may bring them back."),
    (("settings", "save_settings"), "high", "They have been changing their settings a lot: check whether something bothers them."),
    (("events_last", "songs_last", "trend_"), "low", "Their recent activity has dropped: reach out with fresh, personalised content."),
    (("tenure_days", "observed_days"), "low", "Newer customers leave more often: a friendly onboarding check-in helps."),
    (("thumbs_up", "add_to_playlist", "add_friend"), "low", "Little engagement with likes, playlists or friends: suggest playlists and friends to follow."),
    (("songs", "events", "sessions", "active_days", "listening_hours", "distinct_artists", "mean_session", "max_session"),
     "low", "They use the service little: highlight features and content that match their taste."),
)


def action_for(name: str, level: str) -> Optional[str]:
    """Advice for a feature that raises the risk at this level ('high' or 'low'), if there is any."""
    for prefixes, when, text in _ACTIONS:
        if any(name.startswith(p) for p in prefixes):
            return text if when == level else None
    return None


@dataclass
class Reason:
    field: Field
    value: float
    contribution: float  # change of P(churn), in probability units

    @property
    def direction(self) -> str:
        return "up" if self.contribution > 0 else "down"

    @property
    def points(self) -> str:
        """The contribution in percentage points, signed."""
        return f"{self.contribution * 100:+.1f}"

    @property
    def level(self) -> str:
        """'high', 'low' or 'typical' against the training quartiles (empty when unknown)."""
        f = self.field
        if f.categorical or f.q25 is None or f.q75 is None:
            return ""
        if self.value > f.q75:
            return "high"
        if self.value < f.q25:
            return "low"
        return "typical"

    @property
    def sentence(self) -> str:
        f = self.field
        # Descriptions such as "Thumbs Down / songs" are formulas; the field's name reads better then.
        what = f.description if f.description and " / " not in f.description else f.label
        value = f.format(self.value)
        unit = f" {f.unit}" if f.unit and not f.categorical and f.unit not in ("code", "0/1") else ""
        text = f"{what[:1].upper() + what[1:]}: {value}{unit}"
        if self.level and f.median is not None:
            text += f" ({self.level}; the median customer has {format_number(f.median, f.integer)})"
        verb = "raises" if self.contribution > 0 else "lowers"
        return f"{text} — {verb} the churn risk by {abs(self.contribution) * 100:.1f} points."

    @property
    def action(self) -> Optional[str]:
        return action_for(self.field.name, self.level) if self.contribution > 0 else None

    def to_json(self) -> dict:
        return {"feature": self.field.name, "value": self.field.format(self.value) if self.field.categorical else self.value,
                "contribution": self.contribution, "explanation": self.sentence, "suggestion": self.action}


def reasons(fields: Sequence[Field], row: Sequence[float], contributions: Optional[np.ndarray],
            top: int) -> Tuple[List[Reason], List[Reason]]:
    """The features that pushed this prediction up most, and those that pulled it down most."""
    if contributions is None:
        return [], []
    c = np.asarray(contributions, dtype=np.float64)
    order = np.argsort(-np.abs(c), kind="stable")
    up = [Reason(fields[i], float(row[i]), float(c[i])) for i in order if c[i] > 1e-9][:top]
    down = [Reason(fields[i], float(row[i]), float(c[i])) for i in order if c[i] < -1e-9][:top]
    return up, down
