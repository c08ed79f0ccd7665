"""Rendering the ticket row as its TMF621 wire form."""

from fiberassure.tmf import trouble_ticket as tmf
from fiberassure.tmf.trouble_ticket import REFERRED_TYPE_BY_ROLE, RelatedEntityRole
from fiberassure.wholesale.tickets.models import TroubleTicket

BASE_PATH = "/tmf-api/troubleTicket/v4"


def ticket_href(base_url: str, ticket_id: str) -> str:
    return f"{base_url.rstrip('/')}{BASE_PATH}/troubleTicket/{ticket_id}"


def to_tmf(ticket: TroubleTicket, base_url: str) -> tmf.TroubleTicket:
    related = [
        tmf.RelatedEntity(
            id=ticket.service_id,
            role=RelatedEntityRole.AFFECTED_SERVICE,
            referred_type=REFERRED_TYPE_BY_ROLE[RelatedEntityRole.AFFECTED_SERVICE],
        ),
        tmf.RelatedEntity(
            id=ticket.ont_serial_number,
            role=RelatedEntityRole.ONT,
            referred_type=REFERRED_TYPE_BY_ROLE[RelatedEntityRole.ONT],
            name=ticket.ont_model,
        ),
    ]
    if ticket.service_test_id:
        related.append(
            tmf.RelatedEntity(
                id=ticket.service_test_id,
                role=RelatedEntityRole.SERVICE_TEST,
                referred_type=REFERRED_TYPE_BY_ROLE[RelatedEntityRole.SERVICE_TEST],
                href=f"{base_url.rstrip('/')}/tmf-api/serviceTestManagement/v4/serviceTest/"
                f"{ticket.service_test_id}",
            )
        )
    visit_window = None
    if ticket.visit_window_start and ticket.visit_window_end:
        visit_window = tmf.TimePeriodOut(
            start_date_time=ticket.visit_window_start, end_date_time=ticket.visit_window_end
        )
    return tmf.TroubleTicket(
        id=ticket.id,
        href=ticket_href(base_url, ticket.id),
        name=ticket.name,
        description=ticket.description,
        severity=tmf.Severity(ticket.severity),
        ticket_type=tmf.TicketType(ticket.ticket_type),
        status=tmf.TicketStatus(ticket.status),
        status_change_reason=ticket.status_change_reason,
        status_change_date=ticket.status_change_date,
        creation_date=ticket.creation_date,
        last_update=ticket.last_update,
        expected_resolution_date=ticket.expected_resolution_date,
        resolution_date=ticket.resolution_date,
        external_id=ticket.external_id,
        sla_class=tmf.SlaClass(ticket.sla_class),
        subscriber_contact=(
            tmf.SubscriberContactOut.model_validate(ticket.subscriber_contact)
            if ticket.subscriber_contact
            else None
        ),
        visit_window=visit_window,
        related_entity=related,
        note=[
            tmf.Note(id=str(note.id), author=note.author, date=note.date, text=note.text)
            for note in ticket.notes
        ],
        attachment=[tmf.Attachment.model_validate(a) for a in ticket.attachments],
        status_change=[
            tmf.StatusChange(
                status=tmf.TicketStatus(change.status),
                change_date=change.change_date,
                change_reason=change.reason,
            )
            for change in ticket.status_changes
        ],
        type=ticket.type,
        schema_location=f"{base_url.rstrip('/')}/openapi.json",
    )
