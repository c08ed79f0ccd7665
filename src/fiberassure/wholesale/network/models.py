from datetime import datetime

from sqlalchemy import String
from sqlalchemy.orm import Mapped, mapped_column

from fiberassure.wholesale.db import Base, UTCDateTime


class SimulatedCondition(Base):
    """A fault the simulated network shows, set through the ops API (DESIGN §5).

    `target` is what is faulty: `line:<service id>` (the ONT and its drop fibre),
    `pon:<olt>:<port>` (the whole PON) or `olt:<olt>` (the OLT's management link).
    """

    __tablename__ = "simulated_condition"

    target: Mapped[str] = mapped_column(String(200), primary_key=True)
    condition: Mapped[str] = mapped_column(String(32))
    since: Mapped[datetime] = mapped_column(UTCDateTime)
    note: Mapped[str | None] = mapped_column(String(300))
