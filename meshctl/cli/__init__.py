"""The ``meshctl`` command: typer apps, one module per command group."""
