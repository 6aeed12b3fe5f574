"""Fixtures: the contract, a fake API that enforces it, a fake clock, clients and providers."""

from __future__ import annotations

from collections.abc import Iterator

import pytest

from floyo_scale.infra.supabase.client import ManagementClient

from .contract_server import CONTRACT_PATH, TOKEN, Contract, ContractServer, FakeClock


@pytest.fixture(scope="session")
def contract() -> Contract:
    # kept in the repository as test data (tests/contracts/README.md says where it is from):
    # a missing copy is a broken checkout, never a reason to skip
    assert CONTRACT_PATH.exists(), f"the Supabase contract is missing: {CONTRACT_PATH}"
    return Contract(CONTRACT_PATH)


@pytest.fixture
def server(contract: Contract) -> Iterator[ContractServer]:
    """A fake API with organisations `acme` (pro) and `hobby` (free). Fails the test if any
    request broke the contract, or if the fake answered off-contract."""
    with ContractServer(contract, tokens={TOKEN}) as srv:
        srv.add_organization("acme", "pro")
        srv.add_organization("hobby", "free")
        yield srv
    assert not srv.violations, "contract violations:\n" + "\n".join(srv.violations)


@pytest.fixture
def clock() -> FakeClock:
    return FakeClock()


@pytest.fixture
def make_client(server: ContractServer, clock: FakeClock):
    def make(token: str = TOKEN, base_url: str | None = None, **kw) -> ManagementClient:
        kw.setdefault("timeout", 5.0)
        return ManagementClient(
            token, base_url or server.url, sleep=clock.sleep, monotonic=clock.monotonic, **kw
        )

    return make


@pytest.fixture
def client(make_client) -> ManagementClient:
    return make_client()


@pytest.fixture
def factory(clock: FakeClock):
    """A client_factory for the providers: real HTTP, fake clock."""

    def make(token: str, api_url: str) -> ManagementClient:
        return ManagementClient(
            token, api_url, timeout=5.0, sleep=clock.sleep, monotonic=clock.monotonic
        )

    return make
