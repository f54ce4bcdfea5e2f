"""The site file: one TOML file that says who this edge is, where its broker and keys are, and
what each lane's scale, IO module and cameras are (``docs/examples/site.toml``)."""

from edge.config.load import load_site_config
from edge.config.model import (
    BrokerSection,
    Cameras,
    HttpSection,
    IoChannels,
    IoSettings,
    LaneSettings,
    ModbusScale,
    SerialScale,
    SiteConfig,
    SiteSection,
    Thresholds,
    UplinkSection,
)

__all__ = [
    "BrokerSection",
    "Cameras",
    "HttpSection",
    "IoChannels",
    "IoSettings",
    "LaneSettings",
    "ModbusScale",
    "SerialScale",
    "SiteConfig",
    "SiteSection",
    "Thresholds",
    "UplinkSection",
    "load_site_config",
]
