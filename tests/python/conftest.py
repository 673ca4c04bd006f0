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
