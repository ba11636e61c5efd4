"""Token minting, the link tables and the store operations shared by worker and link server."""
