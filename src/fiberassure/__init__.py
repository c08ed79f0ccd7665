"""fiberassure: service assurance between a wholesale fibre network and retail ISPs."""

__version__ = "0.1.0"
