import pytest

from fiberassure.wholesale.settings import Settings


@pytest.fixture
def app_settings(settings: Settings) -> Settings:
    # No simulated latency and a short adapter timeout: tests run the runner directly.
    return settings.with_overrides(
        token_ttl="P30D",
        simulator_latency_min=0,
        simulator_latency_max=0,
        adapter_timeout=0.5,
        test_lease=5,
        callback_allow_private=True,
        retry_schedule="1",
        retry_jitter=0,
        delivery_timeout=0.5,
    )
