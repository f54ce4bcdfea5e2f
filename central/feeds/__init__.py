"""Feeds for downstream platforms: credit, mu-efficiency, truck monitoring, tax (docs/feeds.md).

Pure computations (:mod:`~central.feeds.credit`, :mod:`~central.feeds.efficiency`,
:mod:`~central.feeds.trucks`, :mod:`~central.feeds.tax`, :mod:`~central.feeds.periods`) take
values and ``now_ms`` and return values; :mod:`~central.feeds.service` reads the store, calls
them and appends what is new to the feed journal.
"""
