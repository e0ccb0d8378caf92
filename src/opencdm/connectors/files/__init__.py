"""File connectors: nas-connector (local directories) and obs-connector / thirdparty-obs-connector
(S3-compatible object storage), over one layer of CSV, JSON and Parquet readers and writers."""
