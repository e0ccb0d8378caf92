"""OpenCDM: a self-hosted data migration service, wire-compatible with Huawei Cloud CDM v1.1."""

__version__ = "0.1.0"
