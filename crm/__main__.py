"""`python -m crm` runs the CLI."""

from crm.cli import cli

cli()
