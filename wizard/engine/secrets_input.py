"""Where the SSH key passphrase and the sudo password come from: an environment variable or a
prompt, never a profile or a file. Both stay in memory for the run only.

The passphrase is asked once, and only when a key kubeha would offer (the profile's
``ssh.key_file`` or an ``IdentityFile`` from ~/.ssh/config) is encrypted and ssh-agent does not
already hold it. It is checked against the key before any node is touched.
"""

from __future__ import annotations

import getpass
import os
import sys
from pathlib import Path

import paramiko

from wizard.engine.connector import identity_files
from wizard.engine.model import Secrets
from wizard.errors import KubehaError
from wizard.profile import Profile

PASSPHRASE_ENV = "KUBEHA_SSH_PASSPHRASE"
SUDO_PASSWORD_ENV = "KUBEHA_SUDO_PASSWORD"


KEY_CLASSES = (paramiko.Ed25519Key, paramiko.ECDSAKey, paramiko.RSAKey)


def _load(path: str, passphrase: str | None) -> paramiko.PKey | None:
    """The key, or None when no key type reads it (left to ssh to judge). Raises
    PasswordRequiredException when it is encrypted and no passphrase was given."""
    encrypted = False
    for key_class in KEY_CLASSES:
        try:
            return key_class.from_private_key_file(path, password=passphrase)
        except paramiko.PasswordRequiredException:
            encrypted = True
        except OSError as exc:
            raise KubehaError(f"{path}: cannot read the private key: {exc.strerror}") from None
        except (paramiko.SSHException, ValueError, TypeError):
            continue
    if encrypted:
        raise paramiko.PasswordRequiredException("private key file is encrypted")
    return None


def key_needs_passphrase(key_file: str) -> bool:
    try:
        _load(os.path.expanduser(key_file), None)
    except paramiko.PasswordRequiredException:
        return True
    return False


def passphrase_opens(key_file: str, passphrase: str) -> bool:
    try:
        return _load(os.path.expanduser(key_file), passphrase) is not None
    except (paramiko.PasswordRequiredException, paramiko.SSHException, ValueError):
        return False


def agent_blobs() -> set[str]:
    """The public keys ssh-agent holds (base64), empty without an agent."""
    if not os.environ.get("SSH_AUTH_SOCK"):
        return set()
    try:
        agent = paramiko.Agent()
        try:
            return {key.get_base64() for key in agent.get_keys()}
        finally:
            agent.close()
    except (paramiko.SSHException, OSError):
        return set()


def in_agent(key_file: str, blobs: set[str]) -> bool:
    try:
        words = Path(key_file + ".pub").read_text(encoding="utf-8").split()
    except OSError:
        return False
    return len(words) >= 2 and words[1] in blobs


def _prompt(text: str, env: str) -> str:
    if not sys.stdin.isatty():
        raise KubehaError(f"{text} needed: set {env} or run interactively")
    return getpass.getpass(f"{text}: ")


def collect_passphrase(profile: Profile) -> str | None:
    files = identity_files(profile)
    encrypted = [f for f in files if key_needs_passphrase(f)]
    passphrase = os.environ.get(PASSPHRASE_ENV) or None
    if passphrase is not None:
        if encrypted and not any(passphrase_opens(f, passphrase) for f in encrypted):
            raise KubehaError(
                f"{PASSPHRASE_ENV} does not decrypt {', '.join(encrypted)}: check the passphrase"
            )
        return passphrase
    blobs = agent_blobs()
    locked = [f for f in encrypted if not in_agent(f, blobs)]
    if not locked:
        return None
    if not sys.stdin.isatty() and (blobs or len(encrypted) < len(files)):
        # headless with an agent or a key that needs no passphrase (OpenSSH's default
        # ~/.ssh/id_* are all on the list): let them try (a refusal names the node)
        return None
    passphrase = _prompt(f"passphrase for {locked[0]}", PASSPHRASE_ENV)
    if not passphrase_opens(locked[0], passphrase):
        raise KubehaError(f"the passphrase does not decrypt {locked[0]}")
    return passphrase


def collect(profile: Profile, ask_sudo_password: bool) -> Secrets:
    """The run's secrets. Both variables are then removed from this process's environment, so
    no program kubeha starts (a local build, ssh-keygen...) inherits them."""
    try:
        passphrase = collect_passphrase(profile)
        sudo_password = os.environ.get(SUDO_PASSWORD_ENV) or None
        if sudo_password is None and ask_sudo_password:
            sudo_password = _prompt("sudo password", SUDO_PASSWORD_ENV) or None
    finally:
        for name in (PASSPHRASE_ENV, SUDO_PASSWORD_ENV):
            os.environ.pop(name, None)
    return Secrets(passphrase=passphrase, sudo_password=sudo_password)
