"""FastAPI dependencies, as ``Annotated`` aliases the routers declare parameters with.

Design note: routers never reach for globals. The runtime built at start-up hangs off
``app.state`` and every handler receives what it needs through these aliases, so a
handler's signature says what it uses, including the scope it requires:
``principal: ScanKey`` both authenticates the caller and checks the ``scan`` scope.
Authentication also charges the per-key rate limit, so every authenticated route is
limited and unauthenticated ones (health, metrics) are not.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Annotated

from fastapi import Depends, Request, Security
from fastapi.concurrency import run_in_threadpool
from fastapi.security import HTTPAuthorizationCredentials, HTTPBearer

from mediaguard.service.auth import Principal, Scope, authenticate, require
from mediaguard.service.runtime import ServiceRuntime
from mediaguard.service.settings import ServiceSettings
from mediaguard.store import audit

_bearer = HTTPBearer(
    auto_error=False,
    scheme_name="ApiKey",
    description="An API key from `mediaguard keys create`, sent as `Bearer mg_...`.",
)


def get_runtime(request: Request) -> ServiceRuntime:
    """The runtime the lifespan put on the app."""
    runtime: ServiceRuntime = request.app.state.runtime
    return runtime


RuntimeDep = Annotated[ServiceRuntime, Depends(get_runtime)]


def get_settings(runtime: RuntimeDep) -> ServiceSettings:
    """The settings the runtime was built from."""
    return runtime.settings


SettingsDep = Annotated[ServiceSettings, Depends(get_settings)]
Credentials = Annotated[HTTPAuthorizationCredentials | None, Security(_bearer)]


async def get_principal(runtime: RuntimeDep, credentials: Credentials) -> Principal:
    """The authenticated caller, charged one request against its rate limit.

    Raises:
        ApiError: 401 without a valid key; 429 over the key's rate limit.
    """
    token = credentials.credentials if credentials is not None else None
    principal = await run_in_threadpool(authenticate, runtime.store.keys, token)
    runtime.limiter.check(principal.key)
    # Audit records written while serving this request name the key that made it.
    audit.attribute_to(f"key:{principal.key.key_id}")
    return principal


PrincipalDep = Annotated[Principal, Depends(get_principal)]


def scoped(scope: Scope) -> Callable[[Principal], Principal]:
    """A dependency that requires ``scope`` of the authenticated caller."""

    def dependency(principal: PrincipalDep) -> Principal:
        return require(principal, scope)

    dependency.__name__ = f"require_{scope.value}"
    return dependency


ScanKey = Annotated[Principal, Depends(scoped(Scope.SCAN))]
ListsKey = Annotated[Principal, Depends(scoped(Scope.LISTS))]
AdminKey = Annotated[Principal, Depends(scoped(Scope.ADMIN))]
ReviewKey = Annotated[Principal, Depends(scoped(Scope.REVIEW))]
