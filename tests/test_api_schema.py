"""Property-based requests generated from the OpenAPI schema (schemathesis): no 5xx, and every
answer matches the documented schema."""

from __future__ import annotations

import pytest
import schemathesis
from hypothesis import HealthCheck, settings
from schemathesis.checks import not_a_server_error, response_schema_conformance

from planner.api import Settings, create_app


@pytest.fixture(scope="module")
def api_schema(tmp_path_factory):
    app = create_app(Settings(data_dir=tmp_path_factory.mktemp("schema"), api_key=None))
    return schemathesis.openapi.from_asgi("/openapi.json", app)


schema = schemathesis.pytest.from_fixture("api_schema")

pytestmark = pytest.mark.slow  # every operation of the API, with generated requests


@schema.parametrize()
@settings(max_examples=3, deadline=None,
          suppress_health_check=list(HealthCheck))
def test_no_server_errors(case):
    case.call_and_validate(checks=[not_a_server_error, response_schema_conformance])
