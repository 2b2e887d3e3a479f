"""Discrete-event replay of workload traces on the pure quota and placement cores.

``replay(config)`` reads the trace, builds the fleet and the quota configuration, and runs the
``Simulator``: the very same ``libs.quota.QuotaEngine`` and ``libs.placement.place`` the
services call, on simulated time.
"""

from .config import ReplayConfig, load_replay_config
from .runner import prepare, replay
from .sim import ReplayResult, Simulator

__all__ = ["ReplayConfig", "ReplayResult", "Simulator", "load_replay_config", "prepare", "replay"]
