"""The access-line inventory: which ONT, OLT and PON port serve a retail operator's line."""

import csv
import io
from datetime import datetime

from pydantic import ValidationError
from sqlalchemy.ext.asyncio import AsyncSession

from fiberassure.tmf.errors import Conflict, InvalidRequest, NotFound
from fiberassure.wholesale.inventory.models import Service
from fiberassure.wholesale.inventory.repository import ServiceRepository
from fiberassure.wholesale.inventory.schemas import ONT_SERIAL_PATTERN, ServiceRecord
from fiberassure.wholesale.operators.repository import OperatorRepository

CSV_COLUMNS = {
    "serviceId": "service_id",
    "operatorId": "operator_id",
    "ontSerialNumber": "ont_serial_number",
    "ontModel": "ont_model",
    "oltName": "olt_name",
    "ponPort": "pon_port",
    "address": "address",
    "city": "city",
    "postalCode": "postal_code",
    "slaClass": "sla_class",
}


async def add_service(session: AsyncSession, record: ServiceRecord, now: datetime) -> Service:
    services = ServiceRepository(session)
    if await OperatorRepository(session).get(record.operator_id) is None:
        raise NotFound(f"no operator {record.operator_id}")
    if await services.get(record.service_id) is not None:
        raise Conflict(f"service {record.service_id} already exists")
    holder = await services.get_by_serial(record.ont_serial_number)
    if holder is not None:
        raise Conflict(f"ONT {record.ont_serial_number} already serves {holder.id}")
    fields = record.model_dump(exclude={"service_id"})
    service = Service(id=record.service_id, **fields, created_at=now, updated_at=now)
    services.add(service)
    await session.flush()
    return service


async def import_services_csv(session: AsyncSession, text: str, now: datetime) -> int:
    """Add every row of a CSV (header row with the CSV_COLUMNS names); all rows or none.

    Raises InvalidRequest listing every bad row by line number.
    """
    reader = csv.DictReader(io.StringIO(text))
    unknown = set(reader.fieldnames or ()) - set(CSV_COLUMNS)
    missing = {"serviceId", "operatorId", "ontSerialNumber", "oltName", "ponPort"} - set(
        reader.fieldnames or ()
    )
    if unknown or missing:
        raise InvalidRequest(
            f"CSV header: unknown columns {sorted(unknown)}, missing columns {sorted(missing)}; "
            f"expected {', '.join(CSV_COLUMNS)}"
        )
    problems: list[str] = []
    added = 0
    for row in reader:
        # The reader's count, not ours: it skips blank lines and quoted fields can span lines.
        line_number = reader.line_num
        if None in row:  # DictReader files surplus fields under the key None
            problems.append(f"line {line_number}: more fields than the header has columns")
            continue
        try:
            record = ServiceRecord(**{CSV_COLUMNS[k]: v for k, v in row.items() if k})
            async with session.begin_nested():
                await add_service(session, record, now)
            added += 1
        except ValidationError as error:
            fields = "; ".join(
                f"{'.'.join(map(str, e['loc']))}: {e['msg']}" for e in error.errors()
            )
            problems.append(f"line {line_number}: {fields}")
        except (Conflict, NotFound) as error:
            problems.append(f"line {line_number}: {error.message}")
    if problems:
        raise InvalidRequest(
            f"{len(problems)} bad row(s), nothing imported:\n" + "\n".join(problems[:50])
        )
    return added


async def replace_ont(
    session: AsyncSession, service: Service, serial_number: str, model: str | None, now: datetime
) -> None:
    """Record a new ONT on the line (the technician swapped the device)."""
    serial_number = serial_number.upper()
    if not ONT_SERIAL_PATTERN.match(serial_number):
        raise InvalidRequest("newSerialNumber is 4 letters and 8 hex digits, e.g. ALCLB2C3D4E5")
    holder = await ServiceRepository(session).get_by_serial(serial_number)
    if holder is not None and holder.id != service.id:
        raise Conflict(f"ONT {serial_number} already serves {holder.id}")
    if serial_number == service.ont_serial_number:
        raise Conflict(f"ONT {serial_number} is already installed on {service.id}")
    service.ont_serial_number = serial_number
    service.ont_model = model or service.ont_model
    service.updated_at = now
