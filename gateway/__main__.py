"""Allow `python -m gateway`."""

from .cli import main

raise SystemExit(main())
