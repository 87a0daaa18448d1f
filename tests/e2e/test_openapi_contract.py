"""The OpenAPI contract, tried property-based (schemathesis): for every operation, generated
requests — valid and not — never get a 5xx, every error is in the error format, and every
response matches its documented schema. Bounded: a few dozen examples per operation."""
import pytest
import schemathesis
from hypothesis import HealthCheck, given, settings
from schemathesis.checks import content_type_conformance, not_a_server_error, response_schema_conformance

from app import create_app
from tests.conftest import SERVER_URL, Api

SECRET = "test-secret-key-0123456789abcdef0123"


@pytest.fixture
def contract_app(redis_server):
    # The limiter stays on (scaled), as in a load test: a 429 is an answer the contract has too.
    return create_app({"HEALTHCODE_REDIS_URL": SERVER_URL, "HEALTHCODE_SECRET_KEY": SECRET,
                       "HEALTHCODE_RATE_LIMIT_SCALE": 1000, "TESTING": True})


@pytest.fixture
def contract(contract_app):
    return schemathesis.openapi.from_wsgi("/openapi.json", contract_app)


@pytest.fixture
def tokens(contract_app) -> dict[str, dict]:
    """A bearer for each audience: a citizen with a face-checked person, a checkpoint, an authority."""
    api = Api(contract_app, contract_app.test_client())
    citizen = api.login("contract-citizen")
    person = api.apply(citizen)
    return {"person_id": person["id"], "citizen": citizen, "checkpoint": api.staff("checkpoint"),
            "authority": api.staff("authority"), "logout": api}


def audience(path: str) -> str:
    if path.startswith("/api/v1/authority"):
        return "authority"
    if path.startswith("/api/v1/scans"):
        return "checkpoint"
    return "citizen"


def error_format(ctx, response, case):
    """Every 4xx/5xx under /api and /.well-known is {"error": {"code", "message", "fields"?}}."""
    if response.status_code < 400:
        return None
    body = response.json()
    error = body.get("error") if isinstance(body, dict) else None
    assert isinstance(error, dict) and set(error) <= {"code", "message", "fields"}, body
    assert isinstance(error.get("code"), str) and isinstance(error.get("message"), str), body
    if response.status_code == 429:
        assert response.headers.get("Retry-After"), response.headers
    return None


def test_the_contract_holds_for_generated_requests(contract, tokens):
    # The strategies one operation at a time (schemathesis' own pytest fixture loader does not
    # run under pytest 9): each operation gets its own bounded Hypothesis run.
    operations = [result.ok() for result in contract.get_all_operations()]
    assert len(operations) >= 10
    statuses: dict[int, int] = {}
    for operation in operations:
        @given(case=operation.as_strategy())
        @settings(max_examples=30, deadline=None, suppress_health_check=list(HealthCheck), database=None)
        def holds(case):
            # A good token for the audience, over the generated one: the cases reach the services.
            if case.path == "/api/v1/sessions/current":  # logging out ends the token: a fresh one each time
                token = tokens["logout"].login("contract-leaver")
            else:
                token = tokens[audience(case.path)]
            case.headers = {**(case.headers or {}), **token}
            if "person_id" in (case.path_parameters or {}) and sum(statuses.values()) % 2:
                case.path_parameters["person_id"] = tokens["person_id"]  # half the time, a real person
            response = case.call_and_validate(checks=[
                not_a_server_error, response_schema_conformance, content_type_conformance, error_format])
            statuses[response.status_code] = statuses.get(response.status_code, 0) + 1

        holds()
    # The run reached the services, not only the validation in front of them.
    assert sum(statuses.values()) >= 10 * len(operations) and statuses.get(200, 0) + statuses.get(201, 0) > 0, statuses
