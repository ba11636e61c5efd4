"""Users, tenants and authorizations on an engine with authorization on, via its REST API.

Resource types and permission names are Camunda 7.24's (``org.camunda.bpm.engine.
authorization.Resources`` and the ``*Permissions`` enums): 6 process definition, 8 process
instance, 11 tenant, 20 historic process instance. Operaton 1.0.3 has the same ids and names
(``org.operaton.bpm.engine.authorization``): the permission tests pass on both.
"""

from __future__ import annotations

import uuid
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

import httpx

from devstack.rest import EngineRest

ADMIN = ("demo", "demo")  # the test engine's camunda-admin (application.yaml)
PROCESS_DEFINITION = 6
PROCESS_INSTANCE = 8
AUTH_TYPE_GRANT = 1


@dataclass(frozen=True)
class EngineUser:
    id: str
    password: str

    @property
    def env(self) -> dict[str, str]:
        """What a daemon subprocess needs to call the engine as this user."""
        return {
            "ACTION_LINKS_CAMUNDA_USER": self.id,
            "ACTION_LINKS_CAMUNDA_PASSWORD": self.password,
        }


class Authz:
    """Admin calls (as demo) that arrange who may do what."""

    def __init__(self, admin: EngineRest) -> None:
        self.admin = admin
        self.http = admin.http
        self.created: list[EngineUser] = []
        self._grants: dict[tuple[str, int, str], tuple[str, set[str]]] = {}

    def _ok(self, response: httpx.Response) -> httpx.Response:
        if response.status_code >= 400:
            raise AssertionError(
                f"{response.request.method} {response.request.url} -> "
                f"{response.status_code} {response.text}"
            )
        return response

    def create_user(self, prefix: str) -> EngineUser:
        # Camunda's default id pattern allows letters and digits only.
        user = EngineUser(f"{prefix}{uuid.uuid4().hex[:8]}", f"pw-{uuid.uuid4().hex[:12]}")
        profile = {"id": user.id, "firstName": prefix, "lastName": "Test", "email": "t@x.test"}
        body = {"profile": profile, "credentials": {"password": user.password}}
        self._ok(self.http.post("/user/create", json=body))
        self.created.append(user)
        return user

    def delete_created_users(self) -> None:
        # Camunda deletes a user's own authorizations and memberships with it.
        for user in self.created:
            self._ok(self.http.delete(f"/user/{user.id}"))
        self.created.clear()
        self._grants.clear()

    def grant(
        self,
        user: EngineUser,
        resource_type: int,
        permissions: Sequence[str],
        resource_id: str = "*",
    ) -> None:
        """Add ``permissions`` on ``resource_id`` of a resource type to the user's grant.

        Camunda keeps one authorization per user, resource type and id, so a second grant
        updates the first.
        """
        key = (user.id, resource_type, resource_id)
        held = self._grants.get(key)
        if held is None:
            body = self._body(user, resource_type, resource_id, permissions)
            response = self._ok(self.http.post("/authorization/create", json=body))
            self._grants[key] = (str(response.json()["id"]), set(permissions))
            return
        held[1].update(permissions)
        self._put(key)

    def withdraw(
        self,
        user: EngineUser,
        resource_type: int,
        permissions: Sequence[str],
        resource_id: str = "*",
    ) -> None:
        """Take ``permissions`` out of the user's grant (deleting it once it holds none)."""
        key = (user.id, resource_type, resource_id)
        authorization_id, held = self._grants[key]
        held.difference_update(permissions)
        if held:
            self._put(key)
        else:
            self._ok(self.http.delete(f"/authorization/{authorization_id}"))
            del self._grants[key]

    def _put(self, key: tuple[str, int, str]) -> None:
        authorization_id, held = self._grants[key]
        user_id, resource_type, resource_id = key
        body = self._body(EngineUser(user_id, ""), resource_type, resource_id, sorted(held))
        self._ok(self.http.put(f"/authorization/{authorization_id}", json=body))

    @staticmethod
    def _body(
        user: EngineUser, resource_type: int, resource_id: str, permissions: Sequence[str]
    ) -> dict[str, object]:
        return {
            "type": AUTH_TYPE_GRANT,
            "permissions": list(permissions),
            "userId": user.id,
            "resourceType": resource_type,
            "resourceId": resource_id,
        }

    def create_tenant(self, prefix: str) -> str:
        tenant_id = f"{prefix}{uuid.uuid4().hex[:8]}"
        self._ok(self.http.post("/tenant/create", json={"id": tenant_id, "name": prefix}))
        return tenant_id

    def add_to_tenant(self, tenant_id: str, user: EngineUser) -> None:
        self._ok(self.http.put(f"/tenant/{tenant_id}/user-members/{user.id}"))

    def deploy_for_tenant(self, tenant_id: str, name: str, xml: str) -> None:
        self._ok(
            self.http.post(
                "/deployment/create",
                data={"deployment-name": name, "tenant-id": tenant_id},
                files={f"{name}.bpmn": (f"{name}.bpmn", xml.encode(), "application/xml")},
            )
        )

    def start_for_tenant(self, tenant_id: str, key: str) -> str:
        url = f"/process-definition/key/{key}/tenant-id/{tenant_id}/start"
        return str(self._ok(self.http.post(url, json={})).json()["id"])

    def deploy_file(self, path: Path) -> None:
        self.admin.deploy(path, name=path.name)
