"""HTTP: the CDM v1.1 REST API (FastAPI), its wire models, authentication and error mapping."""
