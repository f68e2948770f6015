"""The private aioquic state the link relies on is all there (else: which is missing)."""

from __future__ import annotations

import aioquic

from stratolink.link import quic_internals


def test_aioquic_internals_used_by_the_link_exist() -> None:
    missing = quic_internals.missing_internals()
    assert not missing, (
        f"aioquic {aioquic.__version__} lacks internals stratolink.link.quic_internals uses "
        f"(checked against {quic_internals.CHECKED_AIOQUIC}): {', '.join(missing)}; adapt that "
        "module or pin aioquic back")


def test_installed_aioquic_is_the_checked_minor_version() -> None:
    installed = aioquic.__version__.split(".")[:2]
    assert installed == quic_internals.CHECKED_AIOQUIC.split(".")[:2], (
        f"aioquic {aioquic.__version__} is installed; stratolink.link.quic_internals was "
        f"checked against {quic_internals.CHECKED_AIOQUIC}")
