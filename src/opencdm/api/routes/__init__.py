"""Routers, one per resource of the CDM v1.1 API."""
