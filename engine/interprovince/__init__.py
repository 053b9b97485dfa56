"""跨省通办: handling across provinces.

- :mod:`engine.interprovince.items`: the service items' standard elements (事项要素) in the national
  shape, what another province's window reads to accept an item it does not decide.
- :mod:`engine.interprovince.systems`: the adapter interface to another province's system
  (:class:`~engine.interprovince.systems.ProvinceSystem`) and its registry, filled by plugins.
- :mod:`engine.interprovince.exchange`: how a step decided in another province is sent there and
  its decision taken back through the gate, over the outbox.
- :mod:`engine.interprovince.local` and :mod:`engine.interprovince.http`: two implementations, an
  in-process desk and an HTTP client.
"""
