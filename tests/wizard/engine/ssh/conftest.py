"""SSH tests without the lab: the private HOME every SSH test gets (tests/lab/ssh/conftest.py's),
so the real ~/.ssh never takes part."""

from tests.lab.ssh.conftest import _private_home  # noqa: F401
