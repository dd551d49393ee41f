"""The table of figures from the latest results, as Markdown (for the README and the console)."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from . import SCENARIOS
from .common import load_result
from .machine import describe


def _ms(summary: dict[str, Any] | None, key: str) -> str:
    value = (summary or {}).get(key)
    return "–" if value is None else f"{value:g}"


def _rows(name: str, r: dict[str, Any]) -> list[tuple[str, str, str]]:
    rows: list[tuple[str, str, str]] = []
    if name == "ttfa":
        for engine, e in r.get("engines", {}).items():
            if "error" in e:
                rows.append(("ttfa", engine, f"failed: {e['error']}"))
                continue
            t, s = e["turn_ttfa_ms"], e["sentence_ttfa_ms"]
            rows.append(
                (
                    "ttfa",
                    f"{e.get('label', engine)}, {r.get('tokens_per_s'):g} tokens/s",
                    f"first text → first audio p50 {_ms(t, 'p50')} / p95 {_ms(t, 'p95')} ms "
                    f"(n={t['n']}); sentence end → its audio p50 {_ms(s, 'p50')} / "
                    f"p95 {_ms(s, 'p95')} ms (n={s['n']}); engine RTF p50 {_ms(e['rtf'], 'p50')}",
                )
            )
    elif name == "overhead":
        costs = ", ".join(
            f"{fmt} {f['cpu_ms_per_audio_s']:g}" for fmt, f in r.get("formats", {}).items()
        )
        rows.append(("overhead", "CPU ms per audio second (paced)", costs))
        ramp = r.get("ramp", [])
        detail = "; ".join(
            f"{lv['sessions']}: jitter p99 {_ms(lv['jitter_ms'], 'p99')} ms, "
            f"{lv['underruns']} underruns, server CPU {lv['server_cpu_util'] * 100:.0f}%, "
            f"client loop lag p99 {_ms(lv.get('client_loop_lag_ms'), 'p99')} ms, "
            f"server /healthz p99 {_ms(lv.get('server_healthz_ms'), 'p99')} ms"
            for lv in ramp
        )
        rows.append(
            (
                "overhead",
                f"most paced sessions, jitter p99 < {r.get('jitter_limit_ms'):g} ms, no underrun",
                f"**{r.get('max_sessions_ok')}** (ramp ceiling {r.get('ramp_ceiling')}; {detail})",
            )
        )
    elif name == "fairness":
        sched = r.get("schedulers", {})
        best = ", ".join(
            f"{n.upper()} **{s['largest_k_without_underrun']}**" for n, s in sched.items()
        )
        rows.append(
            (
                "fairness",
                f"largest K without underrun (sim RTF {r.get('rtf')})",
                f"{best}; theoretical 1/RTF = {r.get('theoretical_limit'):g}",
            )
        )
        for n, s in sched.items():
            per_k = "; ".join(
                f"K={t['sessions']}: {t['underruns']} underruns, first audio p50 "
                f"{_ms(t['first_audio_ms'], 'p50')} / max {_ms(t['first_audio_ms'], 'max')} ms"
                for t in s["trials"]
            )
            rows.append(("fairness", n.upper(), per_k))
    elif name == "loop":
        for cond, c in r.get("conditions", {}).items():
            if "error" in c:
                rows.append(("loop", cond, f"failed: {c['error']}"))
                continue
            rows.append(
                (
                    "loop",
                    cond,
                    f"/healthz p50 {_ms(c['latency_ms'], 'p50')} / "
                    f"p99 {_ms(c['latency_ms'], 'p99')} ms"
                    f" (engine busy {c['engine_busy_share'] * 100:.0f}%, "
                    f"queue depth {c['queue_depth_mean']:g})",
                )
            )
    elif name == "peer":
        if "error" in r:
            rows.append(("peer", "piper-tts-server", f"not measured: {r['error']}"))
            return rows
        servers = r.get("servers", {})
        for kind in ("one_sentence", "multi_sentence"):
            cells = ", ".join(
                f"{n} {_ms(s[kind]['ttfa_ms'], 'p50')} ms" for n, s in servers.items()
            )
            rows.append(("peer", f"time to first audio p50, {kind.replace('_', ' ')}", cells))
        cpu = ", ".join(f"{n} {s['cpu_ms_per_audio_s']:g}" for n, s in servers.items())
        rows.append(("peer", "server CPU ms per audio second", cpu))
        ratios = r.get("ratios_peer_over_voxgate", {})
        rows.append(
            (
                "peer",
                "ratios piper-tts-server / voxgate (>1: voxgate better)",
                ", ".join(f"{k} **{v}**" for k, v in ratios.items()),
            )
        )
    elif name == "tenants":
        for run, t in r.get("engines", {}).items():
            if "error" in t:
                rows.append(("tenants", run, f"failed: {t['error']}"))
                continue
            rows.append(
                (
                    "tenants",
                    f"{run}: quiet caller's first audio with {r.get('noisy_sessions')} noisy "
                    "sessions / alone",
                    f"**{t['ratio_p50']:g}x** p50, {t['ratio_max']:g}x max "
                    f"({t['loaded_within_limit']} within {r.get('limit_ratio'):g}x); alone p50 "
                    f"{_ms(t['solo_ms'], 'p50')} ms, loaded p50 {_ms(t['loaded_ms'], 'p50')} / "
                    f"max {_ms(t['loaded_ms'], 'max')} ms; {t['pieces_while_loaded']:g} pieces",
                )
            )
    elif name == "remote":
        fa = r.get("first_audio_ms", {})
        local, remote = _ms(fa.get("in_process"), "p50"), _ms(fa.get("remote"), "p50")
        adds = f"**{r.get('remote_adds_p50_ms'):+g} ms**; n={r.get('rounds')}"
        measure = "first audio, Piper in-process vs behind the remote engine"
        rows.append(("remote", measure, f"p50 {local} vs {remote} ms ({adds})"))
    elif name == "replicas":
        adds = r.get("bridge_adds_p50_ms", {})
        labels = {"attach_ms": "attach (socket → ready)",
                  "first_audio_ms": "first audio (text → caller)",
                  "connect_to_audio_ms": "socket opened → caller hears"}  # fmt: skip
        for measure, label in labels.items():
            f = r.get(measure, {})
            own, far = f.get("owner"), f.get("bridged")
            rows.append((
                "replicas", f"{label}, on the owner vs bridged from another replica",
                f"p50 {_ms(own, 'p50')} vs {_ms(far, 'p50')} ms, p95 {_ms(own, 'p95')} vs "
                f"{_ms(far, 'p95')} ms (**{adds.get(measure, 0):+g} ms** p50; n={r.get('rounds')})",
            ))  # fmt: skip
    elif name == "dialects":
        for door, d in r.get("doors", {}).items():
            f = d["first_byte_ms"]
            rows.append(("dialects", f"{door}, {r.get('engine')}",
                         f"first byte p50 {_ms(f, 'p50')} / p95 {_ms(f, 'p95')} ms (n={f['n']}); "
                         f"{d['vs_speak_p50_ms']:+g} ms vs /v1/speak"))  # fmt: skip
    elif name == "intelligibility":
        rows.extend(_intelligibility_rows(r))
    return rows


def _intelligibility_rows(r: dict[str, Any]) -> list[tuple[str, str, str]]:
    def cell(w: dict[str, Any]) -> str:
        return (
            f"phone {w['as_written_phone']:.0%} → **{w['normalized_phone']:.0%}**; "
            f"wideband {w['as_written_wideband']:.0%} → {w['normalized_wideband']:.0%}"
        )

    rows = [
        (
            "intelligibility",
            f"word error rate as written → normalized, all ({r.get('reference_words')} words)",
            cell(r["overall"]),
        )
    ]
    for category, w in r.get("wer", {}).items():
        rows.append(("intelligibility", f"{category} ({w['reference_words']} words)", cell(w)))
    return rows


def table(out: Path) -> str:
    results = {name: load_result(out, name) for name in SCENARIOS}
    found = {k: v for k, v in results.items() if v}
    if not found:
        return "(no results yet: run `python -m bench all --quick`)"
    first = next(iter(found.values()))
    dates = sorted(r["machine"]["date"] for r in found.values())
    lines = [
        f"Measured {dates[0]} … {dates[-1]} ({'--quick' if first.get('quick') else 'full'}) on "
        f"{describe(first['machine'])}; load average at start "
        f"{first['machine'].get('load_average')}.",
        "",
        "| scenario | measure | result |",
        "|---|---|---|",
    ]
    for name, r in found.items():
        for scenario, measure, value in _rows(name, r):
            lines.append(f"| {scenario} | {measure} | {value} |")
        lines.append(f"| {name} | wall time | {r.get('wall_s')} s |")
    return "\n".join(lines) + "\n"
