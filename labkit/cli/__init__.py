"""The ``labkit`` console script: a typer app that runs with the ``[lab]`` extra alone (no pandas, duckdb
or pulumi until a command that needs one runs).

- :mod:`labkit.cli.app`: the app, every command registered in ``labkit --help`` order, and ``main``
- :mod:`labkit.cli.options`: the consoles, ``--target`` and the config it selects
- one module per command group: ``local``, ``traffic``, ``lab`` (``lab``, ``notebooks run``), ``verify``
  (``verify``, ``manifest``), ``alarms`` (``alarms``, ``retry-failed``), ``ops`` (``deploy``, ``destroy``,
  ``status``, ``scan``), ``query`` (``query``, ``search``) and ``gaps``
"""

from labkit.cli.app import app, main

__all__ = ["app", "main"]
