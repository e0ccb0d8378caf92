"""iceberg-connector: Apache Iceberg tables of a SQL catalog (SQLite, PostgreSQL) or a REST catalog,
with their data in a local warehouse or on S3-compatible object storage (the obs link inputs).

``config`` parses the link and job inputs, ``tables`` holds what reading and writing share,
``source`` reads a table or a snapshot, ``sink`` writes one commit per run, ``connector`` ties them.
"""
