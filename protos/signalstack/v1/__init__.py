"""``signalstack.v1``: the SignalService contract and its generated messages and stubs."""
