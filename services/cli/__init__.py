"""The `shipline` command line: `main` dispatches; operator commands go through the API."""

from services.cli.main import main

__all__ = ["main"]
