"""The external-task worker: topics ``issue-token`` and ``revoke-tokens``."""
