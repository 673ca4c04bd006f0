import json
import os
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]
TEST_DATA = ROOT / "tests" / "data"
# The real Sparkify sample lives beside the repository (../shared/data); CHURN_SHARED_DATA overrides.
SHARED_DATA = Path(os.environ.get("CHURN_SHARED_DATA", ROOT.parent / "shared" / "data"))
SPARKIFY_SAMPLE = SHARED_DATA / "sparkify" / "udacity-dend-log_data" / "2018" / "11"


@pytest.fixture
def test_data() -> Path:
    return TEST_DATA


@pytest.fixture
def sparkify_sample() -> Path:
    if not SPARKIFY_SAMPLE.is_dir():
        pytest.skip(f"real Sparkify sample not found at {SPARKIFY_SAMPLE} (set CHURN_SHARED_DATA)")
    return SPARKIFY_SAMPLE


def _write_hand_log(path, users, churners, days=40, start=1538352000000):
    """A small log written by hand: every user active daily; `churners` of them cancel on day 35."""
    day = 86_400_000
    with open(path, "w") as f:
        for u in range(1, users + 1):
            for d in range(days if u > churners else 35):
                ts = start + d * day + 3_600_000 + u * 1000
                f.write(json.dumps({"ts": ts, "userId": str(u), "sessionId": u * 1000 + d, "page": "NextSong",
                                    "auth": "Logged In", "level": "free", "itemInSession": 0, "artist": "A",
                                    "song": "S", "length": 200.0, "registration": start}) + "\n")
            if u <= churners:
                ts = start + 35 * day + 7_200_000
                for page, auth in (("Cancel", "Logged In"), ("Cancellation Confirmation", "Cancelled")):
                    f.write(json.dumps({"ts": ts, "userId": str(u), "sessionId": u * 1000 + 35, "page": page,
                                        "auth": auth, "level": "free", "itemInSession": 1}) + "\n")
    return path


@pytest.fixture
def hand_log():
    """write(path, users, churners, days=40): a small log written by hand, every user active daily,
    `churners` of them cancelling on day 35 (independent of the simulator)."""
    return _write_hand_log
