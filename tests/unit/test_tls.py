"""One verified TLS context per CA bundle (aftersales.runtime.tls): shared where safe, new where a caller may loosen
it."""

from __future__ import annotations

import os
import ssl
from collections.abc import Iterator
from pathlib import Path

import certifi
import pytest

from aftersales.runtime import tls


@pytest.fixture
def shared() -> Iterator[None]:
    original = ssl.create_default_context
    tls.share_verified_contexts()
    try:
        yield
    finally:
        ssl.create_default_context = original


@pytest.mark.usefixtures("shared")
def test_clients_of_one_ca_bundle_share_one_verified_context() -> None:
    first = ssl.create_default_context(cafile=certifi.where())
    again = ssl.create_default_context(cafile=certifi.where())
    assert first is again
    assert first.verify_mode == ssl.CERT_REQUIRED and first.check_hostname


@pytest.mark.usefixtures("shared")
def test_a_context_without_a_ca_file_or_for_servers_is_new_each_time() -> None:
    # Prefect's insecure mode loosens a context made without a CA file: sharing it would loosen everyone's.
    loose = ssl.create_default_context()
    loose.check_hostname = False
    loose.verify_mode = ssl.CERT_NONE
    assert ssl.create_default_context() is not loose
    assert ssl.create_default_context().verify_mode == ssl.CERT_REQUIRED
    server = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH, cafile=certifi.where())
    assert server is not ssl.create_default_context(ssl.Purpose.CLIENT_AUTH, cafile=certifi.where())


@pytest.mark.usefixtures("shared")
def test_a_ca_file_replaced_on_disk_gets_a_new_context(tmp_path: Path) -> None:
    bundle = tmp_path / "ca.pem"
    bundle.write_bytes(Path(certifi.where()).read_bytes())
    before = ssl.create_default_context(cafile=bundle)
    stat = bundle.stat()
    os.utime(bundle, ns=(stat.st_atime_ns, stat.st_mtime_ns + 1_000_000_000))
    assert ssl.create_default_context(cafile=bundle) is not before


@pytest.mark.usefixtures("shared")
def test_a_missing_ca_file_fails_as_ssl_says(tmp_path: Path) -> None:
    with pytest.raises(FileNotFoundError):
        ssl.create_default_context(cafile=tmp_path / "nowhere.pem")
