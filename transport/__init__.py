"""What a client and the server share to talk over gRPC, below both: the client (`client.SignalClient`), the
wire conversions (`wire`), the channel options both ends agree on (`channel`), credentials (`security`:
`ClientSecurity`, a server's `TlsFiles`) and the server's guard (`guard`: TLS credentials, bearer tokens),
which `signalstack serve` and a paper run's BarFeed endpoints share.

The server, the Backtrader plugin and paper runs import this package; plugin and paper import nothing
from `signalstack.server`. Importing this package loads nothing; import the module you need.
"""
