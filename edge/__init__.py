"""The agent at a site's gate house: drivers, gate core, journal and uplink."""
