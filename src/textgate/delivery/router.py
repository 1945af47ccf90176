"""Picks a provider for a destination: the route with the longest matching prefix (or the
destination's country) wins; within a route, the first provider that is up."""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass

from textgate.delivery.base import Provider


@dataclass(frozen=True)
class Route:
    providers: tuple[str, ...]
    prefix: str | None = None
    country: str | None = None

    @property
    def weight(self) -> int:
        # A country route ranks like a prefix as long as its calling code plus one digit.
        if self.prefix is not None:
            return len(self.prefix)
        return 4

    @classmethod
    def from_mapping(cls, data: Mapping[str, object]) -> Route:
        providers = data.get("providers")
        if not isinstance(providers, list) or not providers:
            raise ValueError('a [[routes]] entry needs `providers = ["name", ...]`')
        prefix, country = data.get("prefix"), data.get("country")
        if (prefix is None) == (country is None):
            raise ValueError("a [[routes]] entry needs exactly one of `prefix` or `country`")
        if prefix is not None and (not isinstance(prefix, str) or not prefix.startswith("+")):
            raise ValueError("a route's `prefix` must be a string starting with +")
        return cls(
            providers=tuple(str(p) for p in providers),
            prefix=prefix if isinstance(prefix, str) else None,
            country=str(country).upper() if country is not None else None,
        )


class NoRoute(Exception):
    pass


class Router:
    def __init__(self, providers: Mapping[str, Provider], routes: Sequence[Route]) -> None:
        for route in routes:
            for name in route.providers:
                if name not in providers:
                    raise ValueError(f"route names provider {name!r}, which is not configured")
        self.providers = dict(providers)
        self._routes = sorted(routes, key=lambda r: r.weight, reverse=True)
        #: How many leading characters of a number decide its route.
        self._widest = max((len(r.prefix) for r in routes if r.prefix), default=1)

    @property
    def routes(self) -> tuple[Route, ...]:
        """The routes, the ones that win first."""
        return tuple(self._routes)

    def candidates(self, to: str, region: str) -> list[Provider]:
        for route in self._routes:
            if (route.prefix is not None and to.startswith(route.prefix)) or (
                route.country is not None and route.country == region
            ):
                return [self.providers[name] for name in route.providers]
        raise NoRoute(f"no route for {region} numbers")

    def pick(self, to: str, region: str) -> Provider:
        """The first provider of the matching route that is up (else the first)."""
        candidates = self.candidates(to, region)
        for provider in candidates:
            if provider.health().up:
                return provider
        return candidates[0]

    def picker(self) -> Callable[[str, str], Provider]:
        """`pick`, remembering its answers: for one batch of messages, where the routes
        and the providers' health do not change."""
        memo: dict[tuple[str, str], Provider] = {}
        width = self._widest

        def pick(to: str, region: str) -> Provider:
            key = (to[:width], region)
            provider = memo.get(key)
            if provider is None:
                provider = memo[key] = self.pick(to, region)
            return provider

        return pick
