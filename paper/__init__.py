"""Paper trading: live bars, signals, a simulated broker and a journal that survives a crash.

`feeds` (replay:FILE.csv as a live Backtrader feed; malformed bars rejected) -> `strategy`
(`SignalStrategy` journaling each step before taking it; the kill switch of `kill_switch`) ->
`runner` (a run or a resume: one Cerebro and account per feed, the broker as `run_backtest` sets it
up) with `journal` (append-only SQLite, WAL, synchronous=FULL) and `broker_state` (where a resumed
run starts, from the journal alone) -> `status` (what a journal says, readable while a run writes).
"""
