"""The kinds of feed a paper run trades on, and `make_feed`, which builds a spec's feed.

Adding a kind touches its own module and `FEED_KINDS` (and `feeds.parse_feed`'s forms), nothing else.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from .broker_state import SymbolState
from .feeds import FeedSpec, LiveFeed, ReplayFeed
from .journal import Journal
from .push import PushFeed
from .tail import TailFeed

FEED_KINDS: dict[str, type[LiveFeed]] = {"replay": ReplayFeed, "tail": TailFeed, "grpc": PushFeed}
"""Each `FeedSpec.kind` and its Backtrader feed."""


def make_feed(
    spec: FeedSpec,
    journal: Journal,
    state: SymbolState | None,
    stopping: Callable[[], dict[str, Any] | None] | None = None,
    kind: Callable[[type[LiveFeed]], type[LiveFeed]] | None = None,
) -> LiveFeed:
    """The live feed of `spec`, journaling into `journal`; `state` is where a resumed run left the symbol
    (None for a new run): its journaled bars come first and arrivals journaled then are not taken again.
    `stopping` gives the run's stop request, so that a feed waiting for bars ends when the run stops. `kind`
    makes the class to build from the spec's kind (a portfolio run's feeds join its rounds, `paper.rounds`)."""
    made = FEED_KINDS[spec.kind] if kind is None else kind(FEED_KINDS[spec.kind])
    return made(
        spec=spec,
        journal=journal,
        journaled=tuple(state.bars) if state else (),
        through=state.through if state else None,
        after_row=state.after_row if state else 0,
        stopping=stopping,
        name=spec.symbol,
    )
