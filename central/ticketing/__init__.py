"""Ticketing: issuing e-tickets within quota, their lifecycle, and the site bundles that carry
them to the gates (WIRE.md "E-ticket", "Site bundle").

- :mod:`central.ticketing.rules` — pure: what a request must satisfy, quota periods and limits,
  the reconciliation tolerance, ticket numbers;
- :mod:`central.ticketing.lifecycle` — pure: the state table (state and event → state, flags,
  alarms);
- :mod:`central.ticketing.service` — issue, revoke, sweep: rules + store + central's key;
- :mod:`central.ticketing.bundles` — build a site's signed bundle and publish it retained.
"""
