"""Fixtures shared by the engine's tests."""
import pytest
import torch


@pytest.fixture(scope="module")
def one_thread():
    """Small batched problems: one intra-op thread is far faster (and immune to a busy, shared
    CPU). A module asks for it with ``pytestmark = pytest.mark.usefixtures("one_thread")``."""
    n = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(n)
