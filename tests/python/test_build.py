"""The compiled core says how it was built; a default (wheel) build uses simdjson's portable kernel."""
import re
import sys
from pathlib import Path

import pytest

import churn

KERNELS = {"fallback", "westmere", "haswell", "icelake", "arm64", "ppc64"}


def test_build_info_names_the_reader_kernel():
    info = churn.build_info()
    assert info["version"] == churn.__version__
    assert info["simd"] in KERNELS
    assert info["simd_runtime"] in KERNELS
    assert re.fullmatch(r"\d+\.\d+\.\d+", info["simdjson"])
    # A kernel that needs AVX2 only comes with AVX2 code generation, and the reverse.
    assert info["avx2"] == (info["simd"] in {"haswell", "icelake"})
    assert isinstance(info["compiler"], str) and info["compiler"]


@pytest.mark.skipif(sys.version_info < (3, 11), reason="tomllib")
def test_wheels_are_portable_unless_asked():
    import tomllib

    root = Path(__file__).resolve().parents[2]
    config = tomllib.loads((root / "pyproject.toml").read_text())
    assert config["tool"]["scikit-build"]["cmake"]["define"]["CHURN_SIMD"] == "OFF"
