from typing import Annotated

from pydantic import Field

from fiberassure.tmf.schema import TMFInput

NoteText = Annotated[str, Field(min_length=1, max_length=4000)]
Author = Annotated[str, Field(min_length=1, max_length=200)]


class ActionBody(TMFInput):
    """Common to every wholesale action: an optional note for the retail operator."""

    note: NoteText | None = None
    author: Author | None = None


class RequestInformationBody(ActionBody):
    reason: Annotated[str, Field(min_length=1, max_length=200)] = Field(
        description="Why the work cannot go on, e.g. customerUnreachable."
    )
    field_path: Annotated[str, Field(min_length=1, max_length=200)] = Field(
        description="What the retail operator must update: visitWindow, subscriberContact, "
        "description, note or attachment (comma list)."
    )


class ReplaceOntBody(ActionBody):
    new_serial_number: Annotated[str, Field(pattern=r"^[A-Za-z]{4}[0-9A-Fa-f]{8}$")]
    model: Annotated[str, Field(min_length=1, max_length=100)] | None = None


class ResolveBody(ActionBody):
    resolution_code: Annotated[str, Field(min_length=1, max_length=200)] | None = Field(
        default=None, description="Recorded as the statusChangeReason, e.g. fibreSpliced."
    )


class AddNoteBody(TMFInput):
    text: NoteText
    author: Author | None = None
