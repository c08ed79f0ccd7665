"""`fiberassure demo`."""

from pathlib import Path
from typing import Annotated

import typer

from fiberassure.demo.play import StepFailed, run_demo


def demo(
    output: Annotated[
        Path, typer.Option(help="Where to write the Mermaid sequence diagram.")
    ] = Path("demo-sequence.md"),
    keep: Annotated[
        bool, typer.Option(help="Keep the throwaway databases and the processes' log.")
    ] = False,
) -> None:
    """Play every path of the seed between a real wholesale server and a real retail
    listener, print the HTTP messages, and draw the sequence that happened."""
    typer.echo("fiberassure demo: starting a wholesale server and a retail listener …")
    try:
        outcome = run_demo(output, keep=keep)
    except StepFailed as failure:
        typer.echo(f"FAILED: {failure}", err=True)
        raise typer.Exit(1) from None
    typer.echo(f"\n{outcome.steps_passed} steps of the seed passed; diagram written to {output}")
    if not outcome.comparison_same:
        for difference in outcome.differences:
            typer.echo(f"  {difference}", err=True)
        typer.echo("FAILED: the diagram does not match the seed's", err=True)
        raise typer.Exit(1)
    typer.echo("The diagram matches the seed's arrow for arrow.")
