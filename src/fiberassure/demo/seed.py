"""The seed's sequence diagram (../shared/seed/SEQUENCE.md, as translated), kept here so the
demo can check its own diagram against it on any machine."""

SEED_DIAGRAM = """\
sequenceDiagram
    participant OK as OK (retail operator)
    participant NX as NEXERA (wholesale)
    OK->>NX: POST /serviceTest
    NX-->>OK: 201 Created
    NX->>OK: POST ServiceTestAttributeValueChangeNotification (results)
    OK-->>NX: 200 OK
    opt details / history / limits
        OK->>NX: GET /serviceTest/{id} · GET /serviceTest · GET /serviceTest/limits
        NX-->>OK: 200 OK
    end
    OK->>NX: POST /troubleTicket
    NX-->>OK: 201 Created (acknowledged)
    opt list
        OK->>NX: GET /troubleTicket?criteria
        NX-->>OK: 200 OK
    end
    alt fault on wholesale infrastructure
        opt OK cancels
            OK->>NX: PATCH /troubleTicket/{id} status=cancelled
            NX-->>OK: 200 OK (Cancelled)
        end
        opt customer unreachable
            NX->>OK: POST troubleTicketInformationRequiredEvent (Pending)
            OK-->>NX: 200 OK
            OK->>NX: PATCH /troubleTicket/{id} (e.g. new visit date)
            NX-->>OK: 200 OK
        end
        opt ONT replaced
            NX->>OK: POST troubleTicketAttributeValueChangeEvent (new serial)
            OK-->>NX: 200 OK
        end
        NX->>OK: POST troubleTicketResolvedEvent (Resolved)
        OK-->>NX: 200 OK
        opt fault persists
            OK->>NX: PATCH /troubleTicket/{id} (reopen)
            NX-->>OK: 200 OK
            NX->>OK: POST troubleTicketResolvedEvent (Resolved again)
            OK-->>NX: 200 OK
        end
        Note over NX: 24 h after Resolved, not reopened
        NX->>OK: POST troubleTicketResolvedEvent (Closed)
        OK-->>NX: 200 OK
    else no fault on wholesale infrastructure
        NX->>OK: POST troubleTicketStatusChangeEvent (Cancelled = rejected)
        OK-->>NX: 200 OK
    end
"""
