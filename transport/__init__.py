"""What a client and the server share to talk over gRPC: a client's credentials (`security`).

The server, the Backtrader plugin and paper runs import this package; plugin and paper import nothing
from `signalstack.server`. Importing this package loads nothing; import the module you need.
"""
