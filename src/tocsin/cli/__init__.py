"""The `tocsin` command line (Typer + Rich): one module per group of commands.

Exit codes scripts can trust: 0 success; 1 a runtime failure (database unreachable, ...);
2 bad usage, configuration or query; 3 partial success (some input lines were skipped, the
rest was imported: see `tocsin errors`); for `query check --text`, 1 means "does not match".
"""

import importlib

from tocsin.cli.common import EXIT_FAILURE, EXIT_OK, EXIT_PARTIAL, EXIT_USAGE, app, parse_since

# Each module registers its commands on import; this order is the order of `tocsin --help`.
for _module in ("run", "read", "sources", "files", "analyze", "eval", "alerts", "users"):
    importlib.import_module(f"tocsin.cli.{_module}")

__all__ = ["EXIT_FAILURE", "EXIT_OK", "EXIT_PARTIAL", "EXIT_USAGE", "app", "main", "parse_since"]


def main() -> None:
    """Entry point of the `tocsin` command."""
    app()
