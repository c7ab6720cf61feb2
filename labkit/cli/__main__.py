"""``python -m labkit.cli``: the console script, for a checkout without the ``labkit`` entry point."""

from labkit.cli.app import main

main()
