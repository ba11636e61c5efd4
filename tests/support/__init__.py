"""Helpers the test modules share: builders, launchers, the fault proxy, observers.

Fixtures live in the ``conftest.py`` files; the local stack (Postgres, the engine, the
engine REST helper, the link server process) lives in ``devstack``, which ``make up`` and
``bench/`` use too. Test modules import from here, never from each other or ``conftest``.
"""
