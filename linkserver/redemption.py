"""Use a link: verify, record the answer under row locks, then deliver it (pages and API)."""

from __future__ import annotations

import dataclasses
import datetime as dt
import logging
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

from sqlalchemy.exc import SQLAlchemyError
from sqlalchemy.ext.asyncio import AsyncEngine

from linkserver import metrics
from linkserver.delivery import Deliverer
from linkserver.retry import Delivered, Step, Undeliverable
from tokenstore import inputs, store, tokens
from tokenstore.decisions import Accept, RejectInput
from tokenstore.errors import InvalidToken, StoreUnavailable
from tokenstore.model import ClientInfo, LinkView
from tokenstore.tokens import Keyring
from tokenstore.types import LinkState, RedemptionState, utcnow

log = logging.getLogger(__name__)


@dataclass(frozen=True)
class Used:
    """The outcome of a use: the link as it now stands, and input errors if any."""

    view: LinkView | None
    accepted: bool = False
    input_errors: Mapping[str, str] | None = None


@dataclass
class Redeemer:
    engine: AsyncEngine
    keyring: Keyring
    deliverer: Deliverer
    delivery_lease: dt.timedelta

    def _hash(self, token: str) -> Any:
        return tokens.verify(self.keyring, token)

    async def find(self, token: str) -> LinkView | None:
        """Read only: GET and HEAD never change anything (mail scanners fetch every link)."""
        try:
            token_hash = self._hash(token)
        except InvalidToken:
            return None
        try:
            async with self.engine.connect() as conn:
                return await store.find_link(conn, token_hash)
        except (SQLAlchemyError, OSError) as exc:
            raise StoreUnavailable(type(exc).__name__) from exc

    async def use(
        self,
        token: str,
        answer: Mapping[str, Any] | None,
        client: ClientInfo,
        from_form: bool = False,
    ) -> Used:
        try:
            token_hash = self._hash(token)
        except InvalidToken:
            metrics.REDEMPTIONS.labels("invalid_token").inc()
            return Used(None)
        try:
            async with self.engine.connect() as conn:
                link = await store.link_to_answer(conn, token_hash)
        except (SQLAlchemyError, OSError) as exc:
            raise StoreUnavailable(type(exc).__name__) from exc
        if link is None:
            metrics.REDEMPTIONS.labels("invalid_token").inc()
            return Used(None)
        # Checked here, holding no connection and no lock: a slow check must never keep a
        # group locked. The schema of a link never changes, so the check holds under the lock.
        checked = inputs.check(link.input_schema, answer, from_form=from_form)
        now = utcnow()
        try:
            async with self.engine.begin() as conn:
                result = await store.redeem(
                    conn, token_hash, checked, now, client, delivery_lease=self.delivery_lease
                )
        except (SQLAlchemyError, OSError) as exc:
            raise StoreUnavailable(type(exc).__name__) from exc
        if result is None:
            metrics.REDEMPTIONS.labels("invalid_token").inc()
            return Used(None)
        decision = result.decision
        if isinstance(decision, RejectInput):
            metrics.REDEMPTIONS.labels("invalid_input").inc()
            return Used(result.view, input_errors=decision.errors)
        if not isinstance(decision, Accept) or result.delivery is None:
            metrics.REDEMPTIONS.labels(getattr(decision, "reason", "refused")).inc()
            return Used(result.view)
        metrics.REDEMPTIONS.labels("accepted").inc()
        log.info(
            "answer recorded",
            extra={
                "action": "answered",
                "redemption_id": str(result.delivery.redemption_id),
                "process_instance_id": result.delivery.process_instance_id,
                "link_action": result.view.link.action,
            },
        )
        step = await self._deliver(result.delivery.redemption_id)
        return Used(after_delivery(result.view, step), accepted=True)

    async def _deliver(self, redemption_id: Any) -> Step | None:
        # The answer is committed; a failure here leaves it pending for the retry loop.
        try:
            return await self.deliverer.deliver_now(redemption_id)
        except (SQLAlchemyError, OSError) as exc:
            log.warning(
                "first delivery attempt failed, the retry loop takes over: %s",
                type(exc).__name__,
                extra={"action": "delivery_deferred", "redemption_id": str(redemption_id)},
            )
            return None
        except Exception:
            # The answer is recorded: the person hears "received", not an error page.
            log.exception(
                "first delivery attempt failed, the retry loop takes over",
                extra={"action": "delivery_deferred", "redemption_id": str(redemption_id)},
            )
            return None


def after_delivery(view: LinkView, step: Step | None) -> LinkView:
    """The link as the first delivery attempt left it, without reading it back."""
    if view.answer is None or not isinstance(step, Delivered | Undeliverable):
        return view
    delivered = isinstance(step, Delivered)
    answer = dataclasses.replace(
        view.answer,
        state=RedemptionState.DELIVERED if delivered else RedemptionState.UNDELIVERABLE,
        refused=isinstance(step, Undeliverable) and step.refused,
    )
    link = view.link
    if link.state is LinkState.PENDING:
        state = LinkState.REDEEMED if delivered else LinkState.UNDELIVERABLE
        link = dataclasses.replace(link, state=state)
    return LinkView(link, view.group, answer)
