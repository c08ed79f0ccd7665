"""The `fiberassure` command."""

import typer

from fiberassure.demo.cli import demo
from fiberassure.retail.cli import app as retail_app
from fiberassure.wholesale.cli import app as wholesale_app

# Local variables in tracebacks could show secrets: keep tracebacks plain.
app = typer.Typer(
    help="fiberassure: service assurance for wholesale fibre networks.",
    no_args_is_help=True,
    pretty_exceptions_show_locals=False,
)
app.add_typer(wholesale_app, name="wholesale")
app.add_typer(retail_app, name="retail")
app.command()(demo)


def main() -> None:
    app()
