"""Talk to a predictor over KServe's V1/V2 REST protocols.

Flow: `predictor_for(endpoint)` -> `Predictor` (REST; grpc-v2: harness.grpc_client.GrpcPredictor);
`.post(body)` -> `Response` (status, parsed JSON, latency). Judging what it said is harness.checks'
job (with harness.outputs' tolerant comparison).
"""
from __future__ import annotations

import json
import time

import httpx

from harness.endpoint import Endpoint, Response
from harness.errors import PredictorError
from harness.grpc_client import GrpcPredictor

class Predictor:
    """An HTTP client for one Endpoint (Host header included when routing through an ingress)."""

    def __init__(self, endpoint: Endpoint, *, timeout_s: float = 60.0) -> None:
        self.endpoint = endpoint
        self.client = httpx.Client(base_url=endpoint.base_url, headers=endpoint.headers, timeout=timeout_s)

    def post(self, body: bytes | str | dict, path: str | None = None) -> Response:
        if isinstance(body, dict):
            body = json.dumps(body)
        url_path = path or self.endpoint.predict_path
        start = time.perf_counter()
        try:
            r = self.client.post(url_path, content=body)
        except httpx.TransportError as exc:
            raise PredictorError(f"request failed: {type(exc).__name__}: {exc}",
                                 where=f"{self.endpoint.base_url}{url_path}",
                                 hint="the predictor is not reachable; see the diagnostics") from exc
        elapsed = (time.perf_counter() - start) * 1000
        try:
            parsed = r.json()
        except ValueError:
            parsed = r.text
        return Response(status=r.status_code, body=parsed, text=r.text, elapsed_ms=elapsed)

    def close(self) -> None:
        self.client.close()

    def __enter__(self) -> "Predictor":
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()


def predictor_for(endpoint: Endpoint, *, timeout_s: float = 60.0):
    """The client for the endpoint's protocol: `Predictor` (V1/V2 REST) or, for grpc-v2,
    `harness.grpc_client.GrpcPredictor`; both `post(body, path) -> Response`."""
    if endpoint.protocol == "grpc-v2":
        return GrpcPredictor(endpoint, timeout_s=timeout_s)
    return Predictor(endpoint, timeout_s=timeout_s)
