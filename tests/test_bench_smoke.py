"""The benchmark harness: its listener model and text pacing, and one real `--quick` run.

The model tests feed hand-made arrival times (no clock involved). The smoke
test runs `python -m bench loop --quick --engine sim` as a user would: it
starts a real gateway subprocess on loopback, saturates its engine and
probes `/healthz`, and the assertions are on the JSON and PNG it leaves.
"""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parent.parent
if str(REPO) not in sys.path:  # `bench` is a folder of the checkout, not an installed package
    sys.path.insert(0, str(REPO))

from bench.client import SentenceRecord, SessionLog  # noqa: E402
from bench.fairness import largest_clean  # noqa: E402
from bench.listener import play  # noqa: E402
from bench.report import table  # noqa: E402
from bench.stats import summary  # noqa: E402
from bench.texts import MONOLOGUE, STEADY, TURNS, tokens  # noqa: E402

FRAME = 0.02


def paced(n: int, lead_s: float, start: float = 10.0) -> list[float]:
    """Arrival times of a perfect pacer: frame i leaves at i*frame - lead, never before start."""
    return [start + max(0.0, i * FRAME - lead_s) for i in range(n)]


def test_perfect_pacing_has_no_underrun_and_no_lateness() -> None:
    out = play(paced(200, 0.2), FRAME, 0.2)
    assert out.frames == 200
    assert out.underruns == 0
    assert max(out.lateness_s) == pytest.approx(0.0, abs=1e-9)


def test_a_stall_longer_than_the_lead_is_one_underrun_of_the_right_length() -> None:
    # 50 frames, then the sender stalls and restarts its schedule at 11.3 s (as the pacer does).
    arrivals = paced(50, 0.2, start=10.0) + paced(50, 0.2, start=11.3)
    out = play(arrivals, FRAME, 0.2)
    assert out.underruns == 1
    # Frame 50 was due to play at 10 + 50 * 20 ms = 11.0 s and arrived at 11.3 s.
    assert out.underrun_s == pytest.approx(0.3, abs=1e-9)
    # The listener re-anchors there: the restarted schedule is on time again.
    assert max(out.lateness_s) == pytest.approx(0.0, abs=1e-9)


def test_a_stall_within_the_lead_is_jitter_not_an_underrun() -> None:
    arrivals = paced(100, 0.2)
    arrivals[60] += 0.015
    out = play(arrivals, FRAME, 0.2)
    assert out.underruns == 0
    assert sorted(out.lateness_s)[-1] == pytest.approx(0.015, abs=1e-9)


def test_a_gap_before_a_sentence_whose_text_came_late_is_excused() -> None:
    arrivals = paced(50, 0.2)
    arrivals[25:] = [t + 2.0 for t in arrivals[25:]]
    log = SessionLog(frame_times=arrivals)
    sentence = SentenceRecord(1, "late text", event_at=arrivals[25], first_frame=25)
    sentence.first_frame_at = arrivals[25]
    # The gateway released it 0.1 s before its first frame: long after the listener ran dry.
    sentence.end = {"ttfa_ms": 100.0}
    log.sentences = [SentenceRecord(0, "first", 10.0, 0, 10.0, {"ttfa_ms": 5.0}), sentence]
    excused = log.playout(FRAME, 0.2)
    assert (excused.underruns, excused.starved) == (0, 1)
    # Released before the listener ran dry: the same gap is the gateway's underrun.
    sentence.end = {"ttfa_ms": 1900.0}
    counted = log.playout(FRAME, 0.2)
    assert (counted.underruns, counted.starved) == (1, 0)


def test_llm_tokens_rebuild_the_exact_text() -> None:
    for text in (*TURNS, *STEADY, MONOLOGUE, "  spaced  out. ", "$42.50, ok?"):
        pieces = tokens(text)
        assert "".join(pieces) == text
        assert all(p for p in pieces)
    assert tokens("Sure. Your balance")[:3] == ["Sure", ".", " Your"]


def test_summary_scales_and_orders_percentiles() -> None:
    s = summary([0.001 * i for i in range(1, 101)], 1000)
    assert s["n"] == 100
    assert s["p50"] == pytest.approx(50.5, abs=0.01)
    assert s["p50"] <= s["p95"] <= s["p99"] <= s["max"] == 100.0
    assert summary([])["p50"] is None


def test_largest_clean_needs_every_smaller_k_clean() -> None:
    trials = [{"sessions": k, "ok": ok} for k, ok in ((2, True), (3, True), (4, False), (5, True))]
    assert largest_clean(trials) == 3
    assert largest_clean([{"sessions": 2, "ok": False}]) == 0


@pytest.mark.slow
def test_loop_quick_run_writes_sane_json_and_a_plot(tmp_path: Path) -> None:
    proc = subprocess.run(
        [
            sys.executable,
            "-m",
            "bench",
            "loop",
            "--quick",
            "--engine",
            "sim",
            "--out",
            str(tmp_path),
        ],
        cwd=REPO,
        capture_output=True,
        text=True,
        timeout=100,
    )
    assert proc.returncode == 0, proc.stderr[-3000:]
    result = json.loads((tmp_path / "loop.json").read_text())
    assert result["scenario"] == "loop" and result["quick"] is True
    machine = result["machine"]
    assert machine["cores"] >= 1 and machine["python"].count(".") == 2
    assert machine["versions"]["voxgate"]

    idle = result["conditions"]["sim rtf 1.0, idle"]
    busy = result["conditions"]["sim rtf 1.0, saturated"]
    for cond in (idle, busy):
        lat = cond["latency_ms"]
        assert lat["n"] >= 20  # 50 ms probe interval over seconds of probing
        assert 0 < lat["p50"] <= lat["p95"] <= lat["p99"] <= lat["max"]
        assert len(cond["samples_ms"]) == lat["n"]
    # The saturated run really kept the engine busy with work queued behind it ...
    assert busy["engine_busy_share"] > 0.5
    assert busy["queue_depth_mean"] >= 1
    assert idle["engine_busy_share"] == 0 and idle["queue_depth_mean"] == 0
    # ... while the health check was still answered every time.
    assert busy["latency_ms"]["n"] >= idle["latency_ms"]["n"]

    assert (tmp_path / "loop.png").read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
    assert "/healthz p50" in table(tmp_path)


def test_tenants_figures_reach_the_table_and_the_plot(tmp_path: Path) -> None:
    """The `tenants` JSON as the scenario writes it becomes a table row and a PNG."""
    from bench.common import Options, write_result
    from bench.plots import plot_tenants
    from bench.texts import NOISY_SENTENCES

    assert all(350 <= len(t) <= 390 for t in NOISY_SENTENCES)  # what the issue measured
    run = {
        "solo_ms": summary([0.1, 0.12], 1000),
        "loaded_ms": summary([0.15, 0.19], 1000),
        "ratio": summary([1.36, 1.73], 1, digits=2),
        "ratio_p50": 1.55,
        "ratio_max": 1.73,
        "loaded_within_limit": "2/2",
        "pieces_while_loaded": 40.0,
        "samples": {"solo_ms": [100.0, 120.0], "loaded_ms": [150.0, 190.0], "ratios": [1.36, 1.73]},
    }
    data = {"noisy_sessions": 30, "limit_ratio": 2.0, "engines": {"sim, quantum default": run}}
    path = write_result(Options(out=tmp_path), "tenants", data, started=0.0)
    plot_tenants(data, path.with_suffix(".png"))
    assert (tmp_path / "tenants.png").read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
    row = next(line for line in table(tmp_path).splitlines() if line.startswith("| tenants"))
    assert "**1.55x** p50, 1.73x max (2/2 within 2x)" in row


def test_replicas_figures_reach_the_table(tmp_path: Path) -> None:
    """The `replicas` JSON as the scenario writes it becomes its rows, with the added ms."""
    from bench import SCENARIOS
    from bench.common import Options, write_result

    assert "replicas" in SCENARIOS
    paths = {"owner": summary([0.0024, 0.0026], 1000), "bridged": summary([0.005, 0.0052], 1000)}
    data = {
        "rounds": 2,
        "attach_ms": paths,
        "first_audio_ms": paths,
        "connect_to_audio_ms": paths,
        "bridge_adds_p50_ms": {"attach_ms": 2.6, "first_audio_ms": 2.6, "connect_to_audio_ms": 5.2},
    }
    write_result(Options(out=tmp_path), "replicas", data, started=0.0)
    rows = [line for line in table(tmp_path).splitlines() if line.startswith("| replicas")]
    assert any("attach (socket → ready)" in r and "**+2.6 ms** p50; n=2" in r for r in rows)
    assert any("socket opened → caller hears" in r and "**+5.2 ms**" in r for r in rows)
