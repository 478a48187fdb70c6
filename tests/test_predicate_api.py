"""POST /v1/predicate/evaluate-policy against the real Predicate stand-in (its own process, real
HTTP), with real Redis and a real SQLite warehouse: answers passed on unchanged, what is
forwarded, strict bodies, every upstream failure as 400 in the envelope, 503 unconfigured, and
the API key in no response and no log line."""

from __future__ import annotations

import hashlib
import logging
import threading
import uuid
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any

import httpx
import pytest
from fastapi.testclient import TestClient

from intmax_api.app import create_app
from intmax_core.config import load_settings
from intmax_core.devnet_manifest import DEVNET_PREDICATE_API_KEY, PREDICATE_TASK_PATH
from intmax_devnet.anvil import free_port
from intmax_devnet.predicate import DEVNET_EXPIRY_BLOCK, PredicateStandIn, PredicateState, start_standin

PATH = "/v1/predicate/evaluate-policy"
PREFIX = "Predicate API error: Predicate API error"
FROM = "0x" + "AbCdEf0123" * 4
TO = "0x" + "00FF" * 10
BODY = {"from": FROM, "to": TO, "data": "0xa9059cbb", "msg_value": "0"}


class Recorder:
    """Every response text and header the app sent, to check that the key is in none of them."""

    def __init__(self) -> None:
        self.seen: list[str] = []

    def __call__(self, response: httpx.Response) -> None:
        response.read()
        self.seen.append(response.text)
        self.seen.extend(f"{k}: {v}" for k, v in response.headers.items())


@pytest.fixture(scope="module")
def standin(tmp_path_factory: pytest.TempPathFactory) -> Iterator[PredicateStandIn]:
    process = start_standin(DEVNET_PREDICATE_API_KEY, log_path=tmp_path_factory.mktemp("predicate") / "standin.log")
    yield process
    process.stop()


def _admin(standin: PredicateStandIn, method: str, path: str, body: dict[str, Any] | None = None) -> Any:
    response = httpx.request(method, f"{standin.url}{path}", json=body, timeout=10)
    assert response.status_code == 200, response.text
    return response.json()


def _received(standin: PredicateStandIn) -> list[dict[str, Any]]:
    return _admin(standin, "GET", "/__requests")["requests"]


@pytest.fixture
def make_client(
    tmp_path: Path, redis_url: str, standin: PredicateStandIn, caplog: pytest.LogCaptureFixture
) -> Iterator[Any]:
    """make_client(**settings) -> a TestClient of the app (lifespan running) pointed at the stand-in;
    afterwards, no response and no log line may hold the configured key."""
    _admin(standin, "POST", "/__reset", {})
    recorder = Recorder()
    keys: list[str] = []
    clients: list[TestClient] = []

    def make(**settings: Any) -> TestClient:
        settings.setdefault("database_url", f"sqlite:///{tmp_path / f'w{len(clients)}.db'}")
        settings.setdefault("predicate_api_url", f"{standin.url}{PREDICATE_TASK_PATH}")
        settings.setdefault("predicate_api_key", DEVNET_PREDICATE_API_KEY)
        if settings["predicate_api_key"]:
            keys.append(settings["predicate_api_key"])
        client = TestClient(create_app(load_settings(redis_url=redis_url, **settings)), raise_server_exceptions=False)
        client.__enter__()  # runs the lifespan, which creates the shared Predicate client
        client.event_hooks["response"].append(recorder)
        clients.append(client)
        return client

    with caplog.at_level(logging.DEBUG):
        yield make
    for client in clients:
        client.__exit__(None, None, None)
    assert recorder.seen, "the test made no request"
    for key in keys:
        assert not [text for text in recorder.seen if key in text]
        assert key not in caplog.text


@pytest.fixture
def client(make_client: Any) -> TestClient:
    return make_client()


def _bad_request(response: httpx.Response) -> str:
    assert response.status_code == 400, response.text
    body = response.json()
    assert body["code"] == "BAD_REQUEST" and set(body) == {"code", "message"}
    return body["message"]


# --- answers ------------------------------------------------------------------------------------
def test_a_compliant_answer_is_returned_unchanged_and_the_body_forwarded(
    client: TestClient, standin: PredicateStandIn
) -> None:
    response = client.post(PATH, json={**BODY, "chain_id": 534352})
    assert response.status_code == 200, response.text
    assert response.headers["content-type"] == "application/json"
    answer = response.json()
    assert set(answer) == {"is_compliant", "task_id", "expiry_block", "signers", "signature"}
    assert answer["is_compliant"] is True and answer["expiry_block"] == DEVNET_EXPIRY_BLOCK
    uuid.UUID(answer["task_id"])
    # The stand-in authorised the request (a missing or wrong key is a 401) and received exactly
    # the given fields, addresses lowercased.
    forwarded = {**BODY, "from": FROM.lower(), "to": TO.lower(), "chain_id": 534352}
    assert _received(standin) == [forwarded]
    # Its signature covers the task id and the body: any change on the way would not match.
    signer = PredicateState(hashlib.sha256(DEVNET_PREDICATE_API_KEY.encode()).hexdigest())
    assert answer["signers"] == [signer.signer.signer().address]
    assert answer["signature"] == [signer.sign(answer["task_id"], forwarded)]


def test_a_non_compliant_answer_is_returned_and_chain_id_only_when_given(
    client: TestClient, standin: PredicateStandIn
) -> None:
    _admin(standin, "POST", "/__answer", {"mode": "non_compliant", "count": 1})
    response = client.post(PATH, json=BODY)
    assert response.status_code == 200 and response.json()["is_compliant"] is False
    (forwarded,) = _received(standin)
    assert forwarded == {**BODY, "from": FROM.lower(), "to": TO.lower()} and "chain_id" not in forwarded
    # Never cached: the same body asks again and gets the stand-in's new answer.
    again = client.post(PATH, json=BODY)
    assert again.json()["is_compliant"] is True and "x-cache" not in again.headers
    assert len(_received(standin)) == 2


# --- strict bodies ----------------------------------------------------------------------------
@pytest.mark.parametrize(
    ("body", "path"),
    [
        ({**BODY, "extra": 1}, "extra"),
        ({**BODY, "from_": FROM}, "from_"),
        ({**BODY, "msg_value": 0}, "msg_value"),
        ({**BODY, "data": 1}, "data"),
        ({**BODY, "from": 1}, "from"),
        ({**BODY, "chain_id": "1"}, "chain_id"),
        ({**BODY, "chain_id": 1.5}, "chain_id"),
        ({**BODY, "chain_id": True}, "chain_id"),
        ({**BODY, "chain_id": None}, "chain_id"),
        ({**BODY, "chain_id": 0}, "chain_id"),
        ({**BODY, "chain_id": 2**53}, "chain_id"),
        ({**BODY, "to": "0x1234"}, "to"),
        ({**BODY, "to": "0x" + "g" * 40}, "to"),
        ({**BODY, "from": FROM[2:] + "00"}, "from"),
        ({**BODY, "data": "0x" + "0" * 100_000}, "data"),
        ({**BODY, "msg_value": "1" * 101}, "msg_value"),
        ({k: v for k, v in BODY.items() if k != "data"}, "data"),
        ({k: v for k, v in BODY.items() if k != "from"}, "from"),
    ],
)
def test_invalid_bodies_are_400_and_never_forwarded(
    client: TestClient, standin: PredicateStandIn, body: dict[str, Any], path: str
) -> None:
    response = client.post(PATH, json=body)
    assert response.status_code == 400, response.text
    failure = response.json()
    assert failure["code"] == "VALIDATION_ERROR" and failure["message"] == "Validation Error"
    assert path in [error["path"] for error in failure["errors"]]
    assert _received(standin) == []


@pytest.mark.parametrize("raw", [b'{"from": "0x', b"not json", b"", b"[]", b'"text"'])
def test_malformed_or_non_object_json_is_400(client: TestClient, standin: PredicateStandIn, raw: bytes) -> None:
    response = client.post(PATH, content=raw, headers={"content-type": "application/json"})
    assert response.status_code == 400, response.text
    assert response.json()["code"] == "VALIDATION_ERROR"
    assert _received(standin) == []


# --- upstream failures ------------------------------------------------------------------------
def test_an_upstream_error_status_passes_its_text_on(client: TestClient, standin: PredicateStandIn) -> None:
    _admin(standin, "POST", "/__answer", {"mode": "error", "status": 500, "body": "policy engine down"})
    assert _bad_request(client.post(PATH, json=BODY)) == f"{PREFIX} (500): policy engine down"
    _admin(standin, "POST", "/__answer", {"mode": "error", "status": 503, "body": "x" * 2_000})
    assert _bad_request(client.post(PATH, json=BODY)) == f"{PREFIX} (503): {'x' * 500}..."


def test_an_upstream_400_for_a_body_it_rejects_is_passed_on(client: TestClient) -> None:
    # The API keeps data a plain string; the Predicate API (here its stand-in) decides what it takes.
    message = _bad_request(client.post(PATH, json={**BODY, "data": "not hex"}))
    assert message == f'{PREFIX} (400): {{"error": "data must be 0x-prefixed hex bytes"}}'


def test_a_wrong_key_is_the_upstream_401_without_the_key(make_client: Any, standin: PredicateStandIn) -> None:
    wrong_key = "wrong-key-" + "s3cr3t" * 4
    client = make_client(predicate_api_key=wrong_key)
    assert _bad_request(client.post(PATH, json=BODY)) == f'{PREFIX} (401): {{"error": "unauthorized"}}'
    assert _received(standin) == []  # the stand-in keeps only authorised requests
    # make_client's teardown also checks that neither key appears in a response or log line.


def test_an_upstream_timeout_is_400(make_client: Any, standin: PredicateStandIn) -> None:
    client = make_client(predicate_timeout_seconds=0.5)
    _admin(standin, "POST", "/__answer", {"mode": "delay", "delay_seconds": 3, "count": 1})
    message = _bad_request(client.post(PATH, json=BODY))
    assert message == f"{PREFIX} (timeout): no answer within 0.5 s"


def test_an_unreachable_upstream_is_400(make_client: Any, tmp_path: Path) -> None:
    closed = make_client(predicate_api_url=f"http://127.0.0.1:{free_port()}{PREDICATE_TASK_PATH}")
    assert _bad_request(closed.post(PATH, json=BODY)) == f"{PREFIX} (unreachable): could not connect"
    # A stand-in that stops between two requests (the shared client had a pooled connection to it).
    process = start_standin(DEVNET_PREDICATE_API_KEY, log_path=tmp_path / "stopped.log")
    client = make_client(predicate_api_url=f"{process.url}{PREDICATE_TASK_PATH}")
    try:
        assert client.post(PATH, json=BODY).status_code == 200
    finally:
        process.stop()
    message = _bad_request(client.post(PATH, json=BODY))
    assert message in (f"{PREFIX} (unreachable): could not connect", f"{PREFIX} (network): the connection failed")


@pytest.fixture
def raw_upstream() -> Iterator[tuple[str, list[bytes]]]:
    """A plain HTTP server answering 200 with whatever bytes the test appends (the stand-in
    answers JSON or an error status; a 2xx that is not JSON needs this one)."""
    answers: list[bytes] = []

    class Handler(BaseHTTPRequestHandler):
        def do_POST(self) -> None:
            self.rfile.read(int(self.headers.get("content-length", 0)))
            raw = answers.pop(0)
            self.send_response(200)
            self.send_header("Content-Type", "application/json")
            self.send_header("Content-Length", str(len(raw)))
            self.end_headers()
            self.wfile.write(raw)

        def log_message(self, format: str, *args: object) -> None:
            pass

    server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    yield f"http://127.0.0.1:{server.server_address[1]}/v1/task", answers
    server.shutdown()
    server.server_close()


def test_a_2xx_answer_is_passed_on_byte_for_byte_unless_it_is_not_json(
    make_client: Any, raw_upstream: tuple[str, list[bytes]]
) -> None:
    url, answers = raw_upstream
    client = make_client(predicate_api_url=url)
    exact = b'{"is_compliant": true, "expiry_block": 123456789012345678901234567890, "new_field": [1.50]}'
    answers.extend([exact, b"<html>oops</html>", b'{"is_compliant": NaN}'])
    passed = client.post(PATH, json=BODY)
    assert passed.status_code == 200 and passed.content == exact
    assert _bad_request(client.post(PATH, json=BODY)) == f"{PREFIX} (200): response is not JSON"
    assert _bad_request(client.post(PATH, json=BODY)) == f"{PREFIX} (200): response is not JSON"


# --- configuration ------------------------------------------------------------------------------
@pytest.mark.parametrize(
    ("settings", "missing"),
    [
        ({"predicate_api_url": None}, "INTMAX_PREDICATE_API_URL"),
        ({"predicate_api_key": None}, "INTMAX_PREDICATE_API_KEY"),
        (
            {"predicate_api_url": None, "predicate_api_key": None},
            "INTMAX_PREDICATE_API_URL and INTMAX_PREDICATE_API_KEY",
        ),
    ],
)
def test_unconfigured_is_503_naming_the_variables(
    make_client: Any, standin: PredicateStandIn, settings: dict[str, Any], missing: str
) -> None:
    response = make_client(**settings).post(PATH, json=BODY)
    assert response.status_code == 503
    assert response.json() == {
        "code": "SERVICE_UNAVAILABLE",
        "message": f"Predicate API is not configured: set {missing}",
    }
    assert _received(standin) == []


def test_cors_preflight_allows_post(make_client: Any) -> None:
    client = make_client(allowed_origins="https://app.example")
    response = client.options(
        PATH,
        headers={
            "Origin": "https://app.example",
            "Access-Control-Request-Method": "POST",
            "Access-Control-Request-Headers": "Content-Type",
        },
    )
    assert response.status_code == 200
    assert "POST" in response.headers["access-control-allow-methods"]
    assert response.headers["access-control-allow-origin"] == "https://app.example"
