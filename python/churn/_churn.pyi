"""Type stubs for churn's compiled core, churn._churn. Each area adds its own section."""
from typing import Callable, Dict, List, Optional, Sequence, Union

# --- simulate (python/src/bind_simulate.cpp) --------------------------------------------------------

def simulate_config_names() -> List[str]:
    """Names of eventsim's 26 configs, in the order of config_mix (Accordion first)."""

def default_config_mix() -> List[float]:
    """The calibrated config weights used when config_mix is None."""

def _simulate_file(
    path: str,
    users: int = 225,
    days: int = 60,
    seed: int = 0,
    start: str = "2018-10-01",
    threads: int = 0,
    config_mix: Optional[Sequence[float]] = None,
    cancel_multiplier: float = 1.0,
    new_users_per_day: float = -1.0,
    gzip_level: int = 6,
    progress: Optional[Callable[[int, float], None]] = None,
) -> Dict[str, int]:
    """Writes a simulated event log (gzip if path ends in .gz); returns the summary as a dict.
    progress(events, fraction) is called between simulated hours."""

def _simulate_counts(
    users: int = 225,
    days: int = 60,
    seed: int = 0,
    start: str = "2018-10-01",
    threads: int = 0,
    config_mix: Optional[Sequence[float]] = None,
    cancel_multiplier: float = 1.0,
    new_users_per_day: float = -1.0,
) -> Dict[str, Union[int, Dict[str, int]]]:
    """Simulates without writing and returns the summary plus page counts and paid NextSong count."""
