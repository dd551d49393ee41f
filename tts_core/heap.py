"""Keep the garbage collector's full passes short while calls are speaking.

Why: loading a model leaves hundreds of thousands of long-lived Python objects
(modules, parameters, tokenizer tables, the framework's own). CPython's full
collection walks every one of them; measured here with the tiny Qwen model and
the test suite loaded, one pass took 260 ms, and it runs on whichever thread
triggers it, so the event loop froze and every call's audio pacing with it.
`gc.freeze()` after a load moves everything alive into a permanent generation
that collections skip; they then see only what was allocated since. Before an
unload the objects are thawed, so the model's reference cycles can be freed.
"""

from __future__ import annotations

import gc


def settle() -> None:
    """After a load: collect once, then exempt every survivor from later passes."""
    gc.collect()
    gc.freeze()


def thaw() -> None:
    """Before an unload: let the collector see (and free) the frozen objects again."""
    gc.unfreeze()
