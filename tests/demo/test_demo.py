"""`fiberassure demo` end to end: two real processes, every path of the seed."""

import subprocess
import sys
from pathlib import Path

from fiberassure.demo.seed import SEED_DIAGRAM
from fiberassure.demo.sequence import arrows_of, compare


def test_the_demo_plays_the_seed_and_draws_it_arrow_for_arrow(tmp_path: Path) -> None:
    output = tmp_path / "demo-sequence.md"

    result = subprocess.run(
        [sys.executable, "-m", "fiberassure", "demo", "--output", str(output)],
        capture_output=True,
        text=True,
        timeout=120,
        cwd=tmp_path,
    )

    assert result.returncode == 0, result.stdout + result.stderr
    assert "The diagram matches the seed's arrow for arrow." in result.stdout
    # Every notification of the seed crossed the wire, was verified and answered 200.
    for notification in (
        "ServiceTestAttributeValueChangeEvent (results: completed)",
        "TroubleTicketInformationRequiredEvent (Pending)",
        "TroubleTicketAttributeValueChangeEvent (new serial",
        "TroubleTicketResolvedEvent (Resolved)",
        "TroubleTicketResolvedEvent (Resolved again)",
        "TroubleTicketResolvedEvent (Closed)",
        "TroubleTicketStatusChangeEvent (Cancelled = rejected",
    ):
        assert f"NX → OK  POST {notification}" in result.stdout, notification
    document = output.read_text()
    mermaid = document.split("```mermaid\n", 1)[1].split("```", 1)[0]
    assert compare(arrows_of(mermaid), arrows_of(SEED_DIAGRAM)).same
    assert "## Every HTTP message" in document
