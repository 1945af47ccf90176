from __future__ import annotations

import pytest

from textgate.delivery.base import Health, Outgoing, ReceiptSink, Submitted
from textgate.delivery.router import NoRoute, Route, Router


class Stub:
    def __init__(self, name: str, up: bool = True) -> None:
        self.name = name
        self.up = up

    async def start(self, sink: ReceiptSink) -> None:
        return None

    async def submit(self, message: Outgoing) -> Submitted:
        return Submitted(provider_message_id="x")

    async def stop(self) -> None:
        return None

    def health(self) -> Health:
        return Health(name=self.name, up=self.up)


def make(routes: list[Route], **providers: Stub) -> Router:
    return Router(providers, routes)


def test_longest_prefix_wins() -> None:
    a, b = Stub("a"), Stub("b")
    router = make(
        [Route(providers=("a",), prefix="+"), Route(providers=("b",), prefix="+3816")], a=a, b=b
    )
    assert router.pick("+381690156360", "RS") is b
    assert router.pick("+14155550100", "US") is a


def test_country_route_beats_the_catch_all() -> None:
    a, b = Stub("a"), Stub("b")
    router = make(
        [Route(providers=("a",), prefix="+"), Route(providers=("b",), country="RS")], a=a, b=b
    )
    assert router.pick("+381690156360", "RS") is b
    assert router.pick("+14155550100", "US") is a


def test_first_provider_that_is_up_takes_it() -> None:
    a, b = Stub("a", up=False), Stub("b")
    router = make([Route(providers=("a", "b"), prefix="+")], a=a, b=b)
    assert router.pick("+14155550100", "US") is b
    b.up = False
    assert router.pick("+14155550100", "US") is a  # none up: the first waits for it


def test_picker_remembers_within_a_batch() -> None:
    a = Stub("a")
    router = make([Route(providers=("a",), prefix="+1")], a=a)
    pick = router.picker()
    assert pick("+14155550100", "US") is a
    a.up = False
    assert pick("+14155550199", "US") is a
    with pytest.raises(NoRoute):
        pick("+381690156360", "RS")


@pytest.mark.parametrize(
    ("data", "words"),
    [
        ({"prefix": "+"}, "providers"),
        ({"providers": ["a"]}, "exactly one"),
        ({"providers": ["a"], "prefix": "+", "country": "RS"}, "exactly one"),
        ({"providers": ["a"], "prefix": "38"}, "starting with +"),
    ],
)
def test_bad_routes_are_refused(data: dict[str, object], words: str) -> None:
    with pytest.raises(ValueError, match=words):
        Route.from_mapping(data)


def test_route_naming_an_unknown_provider_is_refused() -> None:
    with pytest.raises(ValueError, match="not configured"):
        make([Route(providers=("ghost",), prefix="+")], a=Stub("a"))
