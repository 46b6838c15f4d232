"""``python -m infra.cli``: the ``hallwatch`` command."""

from infra.cli import main

main()
