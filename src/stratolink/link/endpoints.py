"""Names of link nodes: the ground is `ground`, a balloon `balloon/<id>`.

Every bundle names its source and destination this way and each link peer is pinned under
its node name, so the names are built and read here only.
"""

from __future__ import annotations

GROUND_NODE = "ground"
BALLOON_PREFIX = "balloon/"


def balloon_node(balloon_id: str) -> str:
    """The link node name of balloon `balloon_id` ('SL-1' -> 'balloon/SL-1')."""
    return f"{BALLOON_PREFIX}{balloon_id}"


def balloon_of(node_id: str | None) -> str | None:
    """The balloon id of a balloon node ('balloon/SL-1' -> 'SL-1'); None for any other node."""
    if node_id is None or not node_id.startswith(BALLOON_PREFIX):
        return None
    return node_id[len(BALLOON_PREFIX):]
