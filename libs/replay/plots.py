"""PNG plots of a replay's time series (matplotlib, Agg backend: no display needed)."""

from __future__ import annotations

from pathlib import Path

import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt  # noqa: E402
import numpy as np  # noqa: E402

from .sim import ReplayResult  # noqa: E402

DAY = 86400.0


def _days(result: ReplayResult) -> np.ndarray:
    return result.series["t"] / DAY


def plot_allocation(result: ReplayResult, path: Path) -> Path:
    """Plot allocated GPUs (stacked per team, largest teams named) against healthy capacity."""
    s, days = result.series, _days(result)
    fig, ax = plt.subplots(figsize=(10, 4))
    if days.size:
        order = np.argsort(-result.gpu_time)
        top = order[:8]
        stacks = [s["team_alloc"][:, i] for i in top] + [s["team_alloc"][:, order[8:]].sum(axis=1)]
        labels = [result.teams[i] for i in top] + ["others"]
        ax.stackplot(days, *stacks, labels=labels, step="post", alpha=0.85)
        ax.plot(days, s["capacity"], color="black", lw=1, label="healthy GPUs", drawstyle="steps-post")
    ax.set(xlabel="simulated days", ylabel="GPUs", title=f"{result.config.name}: GPU allocation per team")
    ax.legend(loc="upper right", fontsize=7, ncol=3)
    return _save(fig, path)


def plot_fragmentation(result: ReplayResult, path: Path) -> Path:
    """Plot the allocation ratio and the share of GPUs stranded free on partly used nodes."""
    s, days = result.series, _days(result)
    fig, ax = plt.subplots(figsize=(10, 3.5))
    if days.size:
        ratio = np.divide(s["allocated"], s["capacity"], out=np.zeros_like(s["allocated"]), where=s["capacity"] > 0)
        ax.plot(days, ratio, lw=0.8, label="GPU allocation ratio")
        ax.plot(days, s["stranded"], lw=0.8, label="stranded: free GPUs on partly used nodes / healthy GPUs")
    ax.set(xlabel="simulated days", ylim=(0, 1.02), title=f"{result.config.name}: allocation and fragmentation")
    ax.legend(loc="lower right", fontsize=8)
    return _save(fig, path)


def plot_fairness(result: ReplayResult, path: Path) -> Path:
    """Plot, per team, the time-average GPUs received against the demand-aware fair share."""
    s = result.series
    fig, ax = plt.subplots(figsize=(10, 4))
    if s["t"].size:
        x = np.arange(len(result.teams))
        weights = s["dt"] if s["dt"].sum() > 0 else None  # time-weighted, as in summary.json
        ax.bar(x - 0.2, np.average(s["team_fair"], axis=0, weights=weights), 0.4, label="fair share (demand-aware)")
        ax.bar(x + 0.2, np.average(s["team_alloc"], axis=0, weights=weights), 0.4, label="received")
        ax.set_xticks(x, result.teams, rotation=45, fontsize=7)
    ax.set(ylabel="mean GPUs", title=f"{result.config.name}: share received vs fair share")
    ax.legend(fontsize=8)
    return _save(fig, path)


def _save(fig, path: Path) -> Path:
    fig.tight_layout()
    fig.savefig(path, dpi=90)
    plt.close(fig)
    return path


def plot_result(result: ReplayResult, out_dir: Path, prefix: str = "") -> dict[str, Path]:
    """Write the three PNGs into ``out_dir`` and return them by name."""
    return {"allocation.png": plot_allocation(result, out_dir / f"{prefix}allocation.png"),
            "fragmentation.png": plot_fragmentation(result, out_dir / f"{prefix}fragmentation.png"),
            "fairness.png": plot_fairness(result, out_dir / f"{prefix}fairness.png")}
