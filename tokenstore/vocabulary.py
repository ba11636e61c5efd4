"""The names the product itself gives Camunda variables, for both daemons to share."""

from __future__ import annotations

# Every variable the link server adds (actionLinkRedemptionId, actionLinkAnswer_<id>) starts
# so; a model that bound or asked for one could forge or mask the product's own markers.
RESERVED_PREFIX = "actionLink"
# The id of the answer last correlated into an instance.
REDEMPTION_ID_VARIABLE = f"{RESERVED_PREFIX}RedemptionId"
# One variable per answer, named after it: a later answer to the same instance overwrites
# actionLinkRedemptionId, but never this, so the history can always tell whether it arrived.
ANSWER_MARKER_PREFIX = f"{RESERVED_PREFIX}Answer_"
# Who the links were sent to (issue-token's recipient input), sent with every answer.
RECIPIENT_VARIABLE = f"{RESERVED_PREFIX}Recipient"
