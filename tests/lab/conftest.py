"""The lab tests use the session-wide ``lab`` fixture."""

from tests.lab_fixture import lab  # noqa: F401
