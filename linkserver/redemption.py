"""Use a link: verify, record the answer under row locks, then deliver it (pages and API)."""

from __future__ import annotations

import dataclasses
import logging
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

from linkserver import metrics
from linkserver.delivery import Deliverer
from linkserver.forms import FormAnswer
from linkserver.retry import Delivered, Step, Undeliverable
from tokenstore import answering, answerschema, tokens
from tokenstore.db import Database
from tokenstore.decisions import Accept, Recheck, RejectInput
from tokenstore.errors import InvalidToken, StoreUnavailable
from tokenstore.model import ClientInfo, Delivery, LinkView
from tokenstore.states import Event, moves, next_state
from tokenstore.tokens import Keyring
from tokenstore.types import TokenHash, utcnow

log = logging.getLogger(__name__)


@dataclass(frozen=True)
class Used:
    """The outcome of a use: the link as it now stands, and input errors if any."""

    view: LinkView | None
    accepted: bool = False
    input_errors: Mapping[str, str] | None = None


@dataclass
class Redeemer:
    db: Database
    keyring: Keyring
    deliverer: Deliverer

    def _hash(self, token: str) -> Any:
        return tokens.verify(self.keyring, token)

    async def find(self, token: str) -> LinkView | None:
        """Read only: GET and HEAD never change anything (mail scanners fetch every link)."""
        try:
            token_hash = self._hash(token)
        except InvalidToken:
            return None
        return await self.db.read(lambda conn: answering.find_link(conn, token_hash))

    async def use(
        self,
        token: str,
        answer: Mapping[str, Any] | FormAnswer | None,
        client: ClientInfo,
    ) -> Used:
        try:
            token_hash = self._hash(token)
        except InvalidToken:
            metrics.REDEMPTIONS.labels("invalid_token").inc()
            return Used(None)
        result = await self._redeem(token_hash, answer, client)
        if result is None:
            metrics.REDEMPTIONS.labels("invalid_token").inc()
            return Used(None)
        decision = result.decision
        if isinstance(decision, RejectInput):
            metrics.REDEMPTIONS.labels("invalid_input").inc()
            return Used(result.view, input_errors=decision.errors)
        if isinstance(decision, Recheck):
            raise RuntimeError("a link's schema changed")  # never: a schema is fixed at issue
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
        step = await self._deliver(result.delivery)
        return Used(after_delivery(result.view, step), accepted=True)

    async def _redeem(
        self,
        token_hash: TokenHash,
        answer: Mapping[str, Any] | FormAnswer | None,
        client: ClientInfo,
    ) -> answering.RedeemResult | None:
        """Read the link, unlocked; check the answer against its schema, holding no
        connection and no lock (a slow check must never keep a group locked); then decide and
        record in one statement that locks the group itself (``answering.redeem_as_read``).

        The usual click costs two statements and no BEGIN or COMMIT. A refused click, or one
        whose link changed since it was read, is decided again in a transaction under the
        group lock (``answering.redeem``), which records what holds then and shows the answer
        given meanwhile.
        """
        read = await self.db.read(lambda conn: answering.read_to_use(conn, token_hash))
        if read is None:
            return None
        link, group = read
        raw = answer.typed(link.input_schema) if isinstance(answer, FormAnswer) else answer
        checked = answerschema.check(link.input_schema, raw)
        # The first delivery attempt is claimed in the statement that records the answer: if
        # this server dies before making it, the retry loop takes the answer over when the
        # attempt lease ends (DeliveryPolicy.attempt_lease), as for a crash during it.
        claim = self.deliverer.attempt_lease
        async with self.db.single_statement() as statement:
            result = await answering.redeem_as_read(
                statement, link, group, checked, utcnow(), client, claim=claim
            )
        if result is not None:
            return result
        async with self.db.transaction() as conn:
            return await answering.redeem(conn, token_hash, checked, utcnow(), client, claim=claim)

    async def _deliver(self, delivery: Delivery) -> Step | None:
        # The answer is committed; a failure here leaves it pending for the retry loop.
        redemption_id = delivery.redemption_id
        try:
            return await self.deliverer.deliver_claimed(delivery)
        except StoreUnavailable as exc:
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
    event = Event.DELIVERED if isinstance(step, Delivered) else Event.UNDELIVERABLE
    answer = dataclasses.replace(
        view.answer,
        state=next_state(view.answer.state, event),
        refused=isinstance(step, Undeliverable) and step.refused,
    )
    link = view.link
    if moves(link.state, event):
        link = dataclasses.replace(link, state=next_state(link.state, event))
    return LinkView(link, view.group, answer)
