"""The daemons on an engine with authorization on, holding exactly the README's permissions.

A second engine (the test engine's ``auth`` profile: Camunda authorization plus HTTP basic
auth on the REST API) is started once for this module; the suite's default engine stays as
it is. Each test makes engine users of its own, so tests cannot lend each other grants.
"""

from __future__ import annotations

import subprocess
import sys
from collections.abc import Iterator, Sequence

import aiohttp
import psycopg
import pytest
from sqlalchemy.ext.asyncio import AsyncEngine

from devstack import ROOT
from devstack.engine import camunda_with_authorization
from devstack.ports import free_port
from devstack.rest import EngineRest
from tests.support.authz import ADMIN, PROCESS_DEFINITION, PROCESS_INSTANCE, Authz, EngineUser
from tests.support.harness import WAIT_FOR_DECISION, Harness, page, wait_until
from tests.support.keys import SIGNING_KEYS
from tests.support.linkserver_process import running_linkserver
from tests.support.worker_process import running_worker
from tokenstore.tokens import Keyring

Grants = Sequence[tuple[int, Sequence[str]]]

# The README's list ("What the engine must provide"), and nothing more.
LINK_SERVER_GRANTS: Grants = (
    (PROCESS_INSTANCE, ("READ", "UPDATE")),
    (PROCESS_DEFINITION, ("READ_HISTORY",)),
)
# Camunda takes the same permissions on the definitions' instances instead (README).
LINK_SERVER_GRANTS_ON_DEFINITIONS: Grants = (
    (PROCESS_DEFINITION, ("READ_INSTANCE", "UPDATE_INSTANCE", "READ_HISTORY")),
)
WORKER_GRANTS: dict[str, Grants] = {
    "on process instances": ((PROCESS_INSTANCE, ("READ", "UPDATE")),),
    "on process definitions": ((PROCESS_DEFINITION, ("READ_INSTANCE", "UPDATE_INSTANCE")),),
}


@pytest.fixture(scope="module")
def auth_camunda_url() -> Iterator[str]:
    with camunda_with_authorization() as url:
        yield url


@pytest.fixture(scope="module")
def admin_rest(auth_camunda_url: str) -> Iterator[EngineRest]:
    rest = EngineRest(auth_camunda_url, auth=ADMIN)
    rest.deploy_example("approval.bpmn")
    rest.deploy_xml("wait-for-decision", WAIT_FOR_DECISION)
    yield rest
    rest.close()


@pytest.fixture
def authz(admin_rest: EngineRest) -> Iterator[Authz]:
    authz = Authz(admin_rest)
    yield authz
    authz.delete_created_users()


def user_with(authz: Authz, prefix: str, grants: Grants) -> EngineUser:
    """A new engine user holding exactly ``grants`` (on all resources of each type)."""
    user = authz.create_user(prefix)
    for resource_type, permissions in grants:
        authz.grant(user, resource_type, permissions)
    return user


def resource_of(grants: Grants, permission: str) -> int:
    return next(resource for resource, held in grants if permission in held)


def redemption_states(database_url: str) -> list[tuple[str, int]]:
    with psycopg.connect(database_url) as conn:
        return [
            (str(state), int(attempts))
            for state, attempts in conn.execute("SELECT state, attempts FROM redemptions")
        ]


def last_errors(database_url: str) -> list[str | None]:
    with psycopg.connect(database_url) as conn:
        return [row[0] for row in conn.execute("SELECT last_error FROM redemptions")]


def retry_now(database_url: str) -> None:
    """Make the pending answer due at once instead of after its grown backoff."""
    with psycopg.connect(database_url) as conn:
        conn.execute("UPDATE redemptions SET next_attempt_at = now() WHERE state = 'pending'")


# --- (a) the whole approval, with exactly the documented permissions -------------------------


@pytest.mark.parametrize("worker_grants", list(WORKER_GRANTS), ids=list(WORKER_GRANTS))
async def test_approval_with_exactly_the_documented_permissions(
    database_url: str, admin_rest: EngineRest, authz: Authz, worker_grants: str
) -> None:
    link_user = user_with(authz, "links", LINK_SERVER_GRANTS)
    worker_user = user_with(authz, "worker", WORKER_GRANTS[worker_grants])
    url = admin_rest.base_url
    with running_linkserver(database_url, url, env=link_user.env) as server:
        with running_worker(database_url, url, server.base_url, **worker_user.env) as worker:
            pid = admin_rest.start("approval")
            approve = admin_rest.wait_for(
                lambda: admin_rest.variables(pid).get("link_approve"), what="the links"
            )["value"]
            async with (
                aiohttp.ClientSession() as http,
                http.post(approve, allow_redirects=False) as response,
            ):
                assert response.status == 303
            admin_rest.wait_for(lambda: not admin_rest.is_running(pid), what="the decision")
            worker_log = worker.log_text()
        server_log = server.log_text()
    assert admin_rest.history_variables(pid)["approved"]["value"] is True
    assert admin_rest.correlation_count(pid) == 1
    assert redemption_states(database_url) == [("delivered", 1)]
    for log in (worker_log, server_log):
        assert "start-up check passed" in log
        assert " ERROR " not in log and "Traceback" not in log, log[-3000:]


# --- (b), (c) an instance the link server cannot see: the answer waits, never dropped --------


async def _click_early_then_deliver_once(
    h: Harness, database_url: str, pid: str, give_back: object
) -> None:
    issued = await h.issue(pid)
    assert (await page(h, "POST", h.url(issued.tokens["approve"])))[0] == 303

    async def retried() -> bool:
        states = redemption_states(database_url)
        assert states[0][0] == "pending", f"given up: {states} {last_errors(database_url)}"
        return states[0][1] >= 3

    await wait_until(retried, timeout_s=60, what="three delivery attempts")
    h.release(pid)  # the instance now waits for the message; still invisible to the server
    assert callable(give_back)
    give_back()
    retry_now(database_url)

    async def delivered() -> bool:
        return not h.rest.is_running(pid)

    await wait_until(delivered, timeout_s=60, what="the answer to arrive")

    # The instance ends inside the correlation; the server records "delivered" when the
    # engine's answer reaches it, a moment later.
    async def settled() -> bool:
        return redemption_states(database_url)[0][0] != "pending"

    await wait_until(settled, timeout_s=30, what="the delivery to be recorded")
    assert redemption_states(database_url)[0][0] == "delivered"
    assert h.rest.correlation_count(pid) == 1


async def test_early_click_without_read_waits_until_it_is_granted_back(
    database_url: str, db: AsyncEngine, admin_rest: EngineRest, authz: Authz, keyring: Keyring
) -> None:
    """Needs the delivery branch: a 404 from the runtime API is not "the instance ended"."""
    link_user = user_with(authz, "links", LINK_SERVER_GRANTS)
    authz.withdraw(link_user, PROCESS_INSTANCE, ["READ"])
    pid = admin_rest.start("wait-for-decision")  # held at its user task: an early click
    with running_linkserver(database_url, admin_rest.base_url, env=link_user.env) as server:
        assert "lacks READ on process instances" in server.log_text()
        async with aiohttp.ClientSession() as http:
            h = Harness(server.base_url, http, db, admin_rest, keyring)
            await _click_early_then_deliver_once(
                h,
                database_url,
                pid,
                lambda: authz.grant(link_user, PROCESS_INSTANCE, ["READ"]),
            )
        assert "Traceback" not in server.log_text()


async def test_early_click_in_a_tenant_the_server_cannot_see_waits_for_membership(
    database_url: str, db: AsyncEngine, admin_rest: EngineRest, authz: Authz, keyring: Keyring
) -> None:
    """Needs the delivery branch, like the test above; here the tenant hides the instance."""
    link_user = user_with(authz, "links", LINK_SERVER_GRANTS)
    tenant = authz.create_tenant("acme")
    authz.deploy_for_tenant(tenant, "wait-for-decision", WAIT_FOR_DECISION)
    pid = authz.start_for_tenant(tenant, "wait-for-decision")
    with running_linkserver(database_url, admin_rest.base_url, env=link_user.env) as server:
        async with aiohttp.ClientSession() as http:
            h = Harness(server.base_url, http, db, admin_rest, keyring)
            await _click_early_then_deliver_once(
                h, database_url, pid, lambda: authz.add_to_tenant(tenant, link_user)
            )
        assert "Traceback" not in server.log_text()


# --- (d) the start-up check -----------------------------------------------------------------


def run_check(
    command: str, database_url: str, camunda_url: str, env: dict[str, str]
) -> subprocess.CompletedProcess[str]:
    full_env = {
        "PATH": "/usr/bin:/bin",
        "ACTION_LINKS_DATABASE_URL": database_url,
        "ACTION_LINKS_SIGNING_KEYS": SIGNING_KEYS,
        "ACTION_LINKS_CAMUNDA_URL": camunda_url,
        **env,
    }
    return subprocess.run(
        [sys.executable, "-m", "actionlinks_cli", command, "--check"],
        cwd=ROOT, env=full_env, capture_output=True, text=True, timeout=60, check=False,
    )  # fmt: skip


@pytest.mark.parametrize(
    ("command", "grants", "missing", "names"),
    [
        ("serve", LINK_SERVER_GRANTS, "READ_HISTORY", "lacks READ_HISTORY on process definitions"),
        ("serve", LINK_SERVER_GRANTS, "READ", "lacks READ on process instances"),
        ("serve", LINK_SERVER_GRANTS, "UPDATE", "lacks UPDATE on process instances"),
        (
            "serve",
            LINK_SERVER_GRANTS_ON_DEFINITIONS,
            "READ_HISTORY",
            "lacks READ_HISTORY on process definitions",
        ),
        (
            "worker",
            WORKER_GRANTS["on process instances"],
            "UPDATE",
            "lacks UPDATE on process instances or UPDATE_INSTANCE on process definitions",
        ),
        (
            "worker",
            WORKER_GRANTS["on process definitions"],
            "READ_INSTANCE",
            "lacks READ on process instances or READ_INSTANCE on process definitions",
        ),
    ],
)
def test_check_names_the_missing_permission(
    database_url: str,
    admin_rest: EngineRest,
    authz: Authz,
    command: str,
    grants: Grants,
    missing: str,
    names: str,
) -> None:
    user = user_with(authz, command, grants)
    passed = run_check(command, database_url, admin_rest.base_url, user.env)
    assert passed.returncode == 0, passed.stderr
    assert "start-up check passed" in passed.stderr

    authz.withdraw(user, resource_of(grants, missing), [missing])
    failed = run_check(command, database_url, admin_rest.base_url, user.env)
    assert failed.returncode == 1, failed.stderr
    assert names in failed.stderr
    assert f"the engine user '{user.id}'" in failed.stderr
    assert failed.stderr.count("action=preflight_permission_missing") == 1


@pytest.mark.parametrize("command", ["serve", "worker"])
def test_check_refuses_wrong_credentials(
    database_url: str, admin_rest: EngineRest, authz: Authz, command: str
) -> None:
    user = authz.create_user(command)
    env = {**user.env, "ACTION_LINKS_CAMUNDA_PASSWORD": "not-" + user.password}
    result = run_check(command, database_url, admin_rest.base_url, env)
    assert result.returncode == 1
    assert f"the engine refused the credentials of the engine user '{user.id}'" in result.stderr


@pytest.mark.parametrize("command", ["serve", "worker"])
def test_check_exit_codes_for_what_is_unreachable(
    database_url: str, camunda_url: str, command: str
) -> None:
    dead = f"http://127.0.0.1:{free_port()}/engine-rest"
    engine_down = run_check(command, database_url, dead, {})
    assert engine_down.returncode == 4, engine_down.stderr
    assert f"the engine at {dead} is unreachable" in engine_down.stderr
    no_database = f"postgresql://nobody:pw-in-url@127.0.0.1:{free_port()}/none"
    database_down = run_check(command, no_database, camunda_url, {})
    assert database_down.returncode == 3, database_down.stderr
    both_down = run_check(command, no_database, dead, {})
    assert both_down.returncode == 4, both_down.stderr  # the highest applicable code
    assert "the database is unreachable (connection failed" in database_down.stderr
    assert "pw-in-url" not in database_down.stderr


def test_daemons_start_while_the_engine_is_unreachable(database_url: str) -> None:
    """An engine may come up after the daemons: the check warns, and they serve anyway."""
    dead = f"http://127.0.0.1:{free_port()}/engine-rest"
    warning = f"WARNING linkserver.preflight the engine at {dead} is unreachable"
    with running_linkserver(database_url, dead) as server:
        assert warning in server.log_text()
    with running_worker(database_url, dead, "http://links.test") as worker:
        assert warning.replace("linkserver", "worker") in worker.log_text()
        assert worker.stop() == 0


@pytest.mark.parametrize("command", ["serve", "worker"])
def test_check_passes_on_an_engine_without_authentication(
    database_url: str, camunda_url: str, command: str
) -> None:
    result = run_check(command, database_url, camunda_url, {})
    assert result.returncode == 0, result.stderr
    assert "does not authenticate callers; permissions not checked" in result.stderr
    assert "start-up check passed" in result.stderr
