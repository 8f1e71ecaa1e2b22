"""``docker compose down`` leaves no container and no network of the project behind."""

from __future__ import annotations

import pytest

from testsupport.docker import ComposeStack

pytestmark = [pytest.mark.containers, pytest.mark.slow]


@pytest.mark.parametrize("stack_name", ["core_stack", "optional_stack"])
def test_down_leaves_no_container_and_no_network(
    stack_name: str, request: pytest.FixtureRequest
) -> None:
    stack: ComposeStack = request.getfixturevalue(stack_name)
    assert stack.resources("container") and stack.resources("network")
    stack.down()
    assert stack.resources("container") == []
    assert stack.resources("network") == []
    assert stack.resources("volume") == []
