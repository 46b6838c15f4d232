"""``python -m infra.simulate``: see infra/simulate/cli.py."""

from __future__ import annotations

from infra.simulate.cli import main

if __name__ == "__main__":
    raise SystemExit(main())
