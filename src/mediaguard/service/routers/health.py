"""``/healthz``, ``/readyz`` and ``/metrics``: for orchestrators and Prometheus.

Design note: liveness says only that the process answers (restarting it would not fix a
database outage); readiness checks what serving needs: the database answers, its
schema is the one this code expects, and the models are loaded. Neither needs a key.
``/metrics`` needs an admin key only when ``metrics_require_auth`` is set.
"""

from __future__ import annotations

from fastapi import APIRouter, Response
from fastapi.concurrency import run_in_threadpool

from mediaguard.service.auth import Scope, authenticate, require
from mediaguard.service.deps import Credentials, RuntimeDep
from mediaguard.service.errors import ApiError, ErrorResponse
from mediaguard.service.metrics import CONTENT_TYPE
from mediaguard.service.runtime import ServiceRuntime
from mediaguard.service.schemas import Health, Readiness
from mediaguard.store.errors import StoreError

router = APIRouter(tags=["operations"])


@router.get("/healthz", response_model=Health, summary="Liveness: the process answers")
async def healthz() -> Health:
    """Always ok while the process serves requests."""
    return Health()


def _checks(runtime: ServiceRuntime) -> dict[str, str]:
    checks: dict[str, str] = {}
    try:
        current = runtime.store.is_current()
        checks["database"] = "ok"
        checks["schema"] = "ok" if current else "behind: run `mediaguard db upgrade`"
    except StoreError:
        checks["database"] = "unreachable"
        checks["schema"] = "unknown"
    checks["models"] = "ok" if runtime.scanner.detectors is not None else "not loaded"
    return checks


@router.get(
    "/readyz",
    response_model=Readiness,
    summary="Readiness: database reachable, schema current, models loaded",
    responses={503: {"model": ErrorResponse, "description": "not ready"}},
)
async def readyz(runtime: RuntimeDep) -> Readiness:
    """Ready when every check is ok; otherwise 503 naming the failing checks."""
    checks = await run_in_threadpool(_checks, runtime)
    failing = {name: state for name, state in checks.items() if state != "ok"}
    if failing:
        detail = ", ".join(f"{name}: {state}" for name, state in failing.items())
        raise ApiError(503, "not_ready", f"not ready ({detail})")
    return Readiness(checks=checks)


@router.get(
    "/metrics",
    summary="Prometheus metrics",
    response_class=Response,
    responses={200: {"content": {"text/plain": {}}, "description": "exposition format"}},
)
async def metrics(runtime: RuntimeDep, credentials: Credentials) -> Response:
    """Requests by route and status, latency, queue depth, verdicts by decision."""
    if runtime.settings.metrics_require_auth:
        token = credentials.credentials if credentials is not None else None
        principal = await run_in_threadpool(authenticate, runtime.store.keys, token)
        require(principal, Scope.ADMIN)
    body = await run_in_threadpool(runtime.metrics.render)
    return Response(content=body, media_type=CONTENT_TYPE)
