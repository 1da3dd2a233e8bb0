"""Property-based tests of every operation in the OpenAPI document: never a 5xx.

schemathesis generates requests from ``/openapi.json`` (at most 25 per operation) and
sends them to the app in-process over ASGI, with an admin key so they reach the
handlers. Whatever it sends, the service must answer below 500.

The operations are driven with Hypothesis directly (``operation.as_strategy()``)
rather than through schemathesis' pytest plugin, whose lazy-fixture mode does not run
under pytest 9 (it writes ``Function._nodeid``, which pytest 9 no longer has).
"""

from __future__ import annotations

from typing import Any

import pytest
import schemathesis
from hypothesis import HealthCheck, given, settings
from schemathesis.checks import not_a_server_error

from mediaguard.service.app import create_app
from mediaguard.service.auth import create_key
from mediaguard.service.runtime import ServiceRuntime

pytestmark = pytest.mark.slow

MAX_EXAMPLES = 25


@pytest.fixture
def settings_overrides() -> dict[str, Any]:
    # No background threads: schemathesis keeps an app's lifespan alive until the
    # process exits, and the runtime is closed after the test.
    return {"workers": 0, "webhook_dispatchers": 0}


def test_no_operation_answers_5xx(runtime: ServiceRuntime) -> None:
    token = create_key(runtime.store.keys, ["admin"], name="schemathesis")[1]
    headers = {"Authorization": f"Bearer {token}"}
    app = create_app(runtime.settings, runtime=runtime)
    schema = schemathesis.openapi.from_asgi("/openapi.json", app)
    operations = [result.ok() for result in schema.get_all_operations()]
    assert len(operations) >= 15

    for operation in operations:

        @given(case=operation.as_strategy())
        @settings(
            max_examples=MAX_EXAMPLES,
            deadline=None,
            database=None,
            suppress_health_check=list(HealthCheck),
        )
        def run(case: Any) -> None:
            response = case.call(headers=headers)
            case.validate_response(response, checks=[not_a_server_error])

        try:
            run()
        except Exception as err:
            err.add_note(f"operation: {operation.label}")
            raise
