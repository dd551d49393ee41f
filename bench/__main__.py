"""`python -m bench <scenario|all|report> [--quick]`: run, write JSON + PNG, print a table."""

from __future__ import annotations

import argparse
import importlib
import sys
import time
import traceback
from pathlib import Path

from . import SCENARIOS
from .common import RESULTS, Options
from .report import table


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="python -m bench", description=__doc__)
    parser.add_argument("scenario", choices=(*SCENARIOS, "all", "report"))
    parser.add_argument("--quick", action="store_true", help="fewer samples (CI, small hosts)")
    parser.add_argument("--out", default=str(RESULTS), help="results folder [bench/results]")
    parser.add_argument(
        "--engine",
        default="piper,sim",
        help="ttfa, loop, tenants: comma-separated engines [piper,sim]",
    )
    parser.add_argument("--model", default=None, help="qwen: model id or local folder")
    parser.add_argument("--device", default=None, help="qwen: cpu or cuda [auto]")
    parser.add_argument(
        "--shape", default=None, choices=("tiny", "0.6b"),
        help="qwen: random-weight model shape [0.6b on CUDA, tiny on a CPU]",
    )  # fmt: skip
    parser.add_argument("--voice", default=None, help="piper: .onnx voice (default: bundled)")
    parser.add_argument("--rtf", type=float, default=0.25, help="fairness, tenants: sim RTF [0.25]")
    parser.add_argument("--tokens-per-s", type=float, default=30.0, help="LLM token rate [30]")
    parser.add_argument(
        "--max-sessions", type=int, default=400, help="overhead: ramp ceiling [400]"
    )
    parser.add_argument(
        "--peer-venv",
        default="/tmp/voxgate-bench-peer-venv",
        help="peer: virtual environment for piper-tts-server (created if missing)",
    )
    return parser


def main(argv: list[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    opts = Options(
        quick=args.quick,
        out=Path(args.out),
        engines=tuple(e.strip() for e in args.engine.split(",") if e.strip()),
        model=args.model,
        voice=args.voice,
        sim_rtf=args.rtf,
        tokens_per_s=args.tokens_per_s,
        max_sessions=args.max_sessions,
        peer_venv=Path(args.peer_venv),
        device=args.device,
        qwen_shape=args.shape,
    )
    if args.scenario == "report":
        print(table(opts.out))
        return 0
    names = SCENARIOS if args.scenario == "all" else (args.scenario,)
    failed = []
    t0 = time.monotonic()
    for name in names:
        t = time.monotonic()
        print(f"bench {name} ...", file=sys.stderr, flush=True)
        try:
            importlib.import_module(f"bench.{name}").run(opts)
        except Exception:
            failed.append(name)
            traceback.print_exc()
        print(f"bench {name}: {time.monotonic() - t:.0f} s", file=sys.stderr, flush=True)
    summary = table(opts.out)
    opts.out.mkdir(parents=True, exist_ok=True)
    (opts.out / "summary.md").write_text(summary, encoding="utf-8")
    print(summary)
    print(
        f"{len(names) - len(failed)}/{len(names)} scenarios in {time.monotonic() - t0:.0f} s; "
        f"results in {opts.out}" + (f"; failed: {', '.join(failed)}" if failed else ""),
        file=sys.stderr,
    )
    return 1 if failed else 0


if __name__ == "__main__":
    raise SystemExit(main())
