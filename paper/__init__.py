"""Paper trading: live bars, signals, a simulated broker and a journal that survives a crash.

`feeds` (the specs, the bar gate, `LiveFeed`; `replay:` files) with `tail` (a growing file) and `push`
(bars pushed over gRPC; `push_client` is the sender's side), made by `feed_kinds` -> `strategy`
(`SignalStrategy` journaling each step before taking it; signals in process or from `signals`, one
StreamSignals stream per symbol; `risk` limits across the run's accounts; the kill switch of
`kill_switch`) -> `runner` (a run or a resume: one Cerebro and account per feed, the broker as
`run_backtest` sets it up; `config` types its settings: `PaperConfig`, paper.yaml, risk limits) with
`journal` (append-only SQLite of the typed `events`, WAL, synchronous=FULL, group-committed before every
order) and `broker_state` (where a resumed run starts, from the journal alone) -> `status` (a journal's
`RunStatus` and frames, readable while a run writes) and `report` (the backtest's report folder from a
journal, and the run against a backtest of its bars).
"""
