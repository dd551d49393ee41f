"""One PNG per scenario, drawn off-screen (matplotlib's Agg backend)."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt
import numpy as np
from matplotlib.ticker import MaxNLocator


def _save(fig: Any, path: Path) -> None:
    fig.tight_layout()
    fig.savefig(path, dpi=110)
    plt.close(fig)


def _cdf(ax: Any, values: list[float], label: str) -> None:
    if not values:
        return
    data = np.sort(np.asarray(values))
    ax.step(data, np.arange(1, data.size + 1) / data.size, where="post", label=label)


def plot_ttfa(data: dict[str, Any], path: Path) -> None:
    fig, axes = plt.subplots(1, 2, figsize=(10, 4))
    for engine, result in data["engines"].items():
        samples = result.get("samples", {})
        _cdf(axes[0], samples.get("turn_ttfa_ms", []), engine)
        _cdf(axes[1], samples.get("sentence_ttfa_ms", []), engine)
    for ax, title in zip(
        axes,
        ("first text -> first audio (per answer)", "last character -> first audio (per sentence)"),
        strict=True,
    ):
        ax.set_title(title, fontsize=10)
        ax.set_xlabel("ms")
        ax.set_ylabel("fraction")
        ax.grid(alpha=0.3)
        ax.legend()
    _save(fig, path)


def plot_overhead(data: dict[str, Any], path: Path) -> None:
    fig, axes = plt.subplots(1, 2, figsize=(10, 4))
    formats = data.get("formats", {})
    names = list(formats)
    values = [formats[n].get("cpu_ms_per_audio_s") or 0 for n in names]
    axes[0].bar(names, values, color="tab:blue")
    axes[0].set_title("gateway CPU per second of audio (paced)", fontsize=10)
    axes[0].set_ylabel("CPU ms / audio s")
    levels = data.get("ramp", [])
    ks = [lv["sessions"] for lv in levels]
    axes[1].plot(ks, [lv["jitter_ms"]["p99"] or 0 for lv in levels], "o-", label="jitter p99 (ms)")
    axes[1].plot(ks, [lv["underruns"] for lv in levels], "s--", label="underruns")
    axes[1].plot(ks, [lv["server_cpu_util"] * 100 for lv in levels], "^:", label="server CPU %")
    axes[1].axhline(data.get("jitter_limit_ms", 5), color="red", lw=0.8, label="jitter limit")
    axes[1].set_xscale("log")
    axes[1].set_xlabel("concurrent paced sessions")
    axes[1].set_title(f"most sessions within limits: {data.get('max_sessions_ok')}", fontsize=10)
    axes[1].grid(alpha=0.3)
    axes[1].legend(fontsize=8)
    _save(fig, path)


def plot_fairness(data: dict[str, Any], path: Path) -> None:
    fig, axes = plt.subplots(1, 2, figsize=(10, 4))
    for name, result in data["schedulers"].items():
        trials = result.get("trials", [])
        ks = [t["sessions"] for t in trials]
        axes[0].plot(ks, [t["underruns"] for t in trials], "o-", label=name)
        axes[1].plot(ks, [t["first_audio_ms"]["p95"] or 0 for t in trials], "o-", label=name)
    limit = data.get("theoretical_limit")
    for ax in axes:
        if limit:
            ax.axvline(limit, color="red", lw=0.8, label="1/RTF")
        ax.set_xlabel("concurrent sessions (K)")
        ax.xaxis.set_major_locator(MaxNLocator(integer=True))
        ax.grid(alpha=0.3)
        ax.legend()
    axes[0].set_title(f"underruns (sim engine, RTF {data.get('rtf')})", fontsize=10)
    axes[1].set_title("first audio p95 per session (ms)", fontsize=10)
    _save(fig, path)


def plot_loop(data: dict[str, Any], path: Path) -> None:
    fig, ax = plt.subplots(figsize=(7, 4))
    for name, result in data["conditions"].items():
        _cdf(ax, result.get("samples_ms", []), name)
    ax.set_xscale("log")
    ax.set_xlabel("/healthz latency (ms)")
    ax.set_ylabel("fraction")
    ax.set_title("event loop responsiveness while the engine is busy", fontsize=10)
    ax.grid(alpha=0.3)
    ax.legend(fontsize=8)
    _save(fig, path)


def plot_peer(data: dict[str, Any], path: Path) -> None:
    fig, axes = plt.subplots(1, 2, figsize=(10, 4))
    servers = data.get("servers", {})
    kinds = ("one_sentence", "multi_sentence")
    width = 0.38
    x = np.arange(len(kinds))
    for i, (name, result) in enumerate(servers.items()):
        p50 = [result.get(k, {}).get("ttfa_ms", {}).get("p50") or 0 for k in kinds]
        axes[0].bar(x + (i - 0.5) * width, p50, width, label=name)
    axes[0].set_xticks(x, [k.replace("_", " ") for k in kinds])
    axes[0].set_ylabel("time to first audio p50 (ms)")
    axes[0].legend()
    names = list(servers)
    axes[1].bar(names, [servers[n].get("cpu_ms_per_audio_s") or 0 for n in names])
    axes[1].set_ylabel("server CPU ms per audio s")
    for ax in axes:
        ax.grid(alpha=0.3, axis="y")
    _save(fig, path)


def plot_tenants(data: dict[str, Any], path: Path) -> None:
    """Each trial's first audio over the solo median, per engine and quantum, with the 2x line."""
    fig, ax = plt.subplots(figsize=(8, 4))
    runs = {n: r for n, r in data.get("engines", {}).items() if "samples" in r}
    labels = ("alone", "with 30 noisy sessions")
    for i, result in enumerate(runs.values()):
        solo = result["solo_ms"]["p50"] or 1.0
        for j, kind in enumerate(("solo_ms", "ratios")):
            values = result["samples"][kind]
            ratios = [v / solo for v in values] if kind == "solo_ms" else values
            xs = np.full(len(ratios), i + (j - 0.5) * 0.35)
            color = ("tab:blue", "tab:orange")[j]
            ax.scatter(xs, ratios, s=18, color=color, label=labels[j] if i == 0 else None)
    ax.axhline(data.get("limit_ratio", 2.0), color="red", lw=0.8, label="limit (2x solo)")
    ax.set_xticks(range(len(runs)), list(runs), fontsize=8)
    ax.set_yscale("log")
    ax.set_ylabel("quiet caller's first audio / solo")
    ax.set_title("one quiet tenant's caller vs a noisy tenant's 30 sessions", fontsize=10)
    ax.grid(alpha=0.3, axis="y")
    ax.legend(fontsize=8)
    _save(fig, path)
