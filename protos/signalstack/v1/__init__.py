"""``signalstack.v1``: the SignalService contract (signals.proto), the paper run's BarFeed push service
(feeds.proto), and their generated messages and stubs."""
