"""`python -m bench.qwen_server serve ...`: the gateway, for the Qwen benchmark.

On a GPU host `voxgate[qwen]` installs torchaudio and sox and this is exactly
`python -m gateway`. On a CPU development machine neither can be installed
beside the CPU build of torch, and the 12 Hz model never calls them, so the test
suite's stand-ins are installed first (only when the real modules are missing).
The product itself never runs on stand-ins: this launcher is benchmark tooling.
"""

from __future__ import annotations

import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from tests.support import torchaudio_shim

if __name__ == "__main__":
    torchaudio_shim.install()
    from gateway.cli import main

    raise SystemExit(main(sys.argv[1:]))
