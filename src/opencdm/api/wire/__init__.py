"""CDM v1.1 wire shapes, byte-exact field names as aliases (docs/cdm-api.md Appendix B), one module
per resource: ``common`` (the base model, config values, ``{}``), ``links``, ``jobs``,
``submissions``, ``clusters``, ``iam``, ``connectors`` (ours, for the console) and ``errors``;
``examples`` and ``exact`` serve the OpenAPI document only.

Request models validate what clients send; response models are dumped with ``by_alias=True`` and
``exclude_none=True``. Internal names stay Pythonic.

The OpenAPI document shows some rules the service checks itself (names, connector names, job types)
as schema constraints (``common.documented``): they are not enforced here, so that a client breaking
them still gets the service's own error code and message (e.g. Cdm.0317 for a bad link name).
"""
