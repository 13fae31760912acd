"""The CLI sets the process environment for its run (`prepare_environment`); in-process invocations must not
leave it to the tests after them."""

from __future__ import annotations

import os

import pytest


@pytest.fixture(autouse=True)
def restore_environment():
    saved = dict(os.environ)
    yield
    os.environ.clear()
    os.environ.update(saved)
