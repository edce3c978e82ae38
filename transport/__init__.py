"""What a client and a server share, below both: `client.SignalClient`, the `wire` conversions, the `channel`
options both ends agree on, credentials (`security`: `ClientSecurity`, `TlsFiles`) and a server's `guard`
(TLS, bearer tokens), which `signalstack serve` and a paper run's BarFeed endpoints share.

The server, the Backtrader plugin and paper runs import this package; plugin and paper import nothing
from `signalstack.server`. Importing this package loads nothing; import the module you need.
"""
