"""Choosing the network adapter (FIBERASSURE_NETWORK_ADAPTER)."""

from fiberassure.wholesale.clock import Clock
from fiberassure.wholesale.db import Database
from fiberassure.wholesale.network.adapter import NetworkAdapter
from fiberassure.wholesale.network.simulator import Latency, SimulatedNetwork
from fiberassure.wholesale.settings import NetworkAdapterName, Settings


def adapter_for(settings: Settings, database: Database, clock: Clock) -> NetworkAdapter:
    match settings.network_adapter:
        case NetworkAdapterName.SIMULATOR:
            latency = Latency(settings.simulator_latency_min, settings.simulator_latency_max)
            return SimulatedNetwork(database, clock, latency)
