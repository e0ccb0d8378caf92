"""Reading and writing CSV, JSON (lines) and Parquet files as Arrow record batches, in bounded memory.

Readers stream: CSV and JSON block by block, Parquet by row group. GZIP and ZIP are undone and GBK
transcoded on the way in, as streams. Writers stream into one output file each.

- ``base.py``: what a format implements, ``FormatReader`` and ``FileWriter``;
- ``choice.py``: the format a job names, as its reader, writer and file name extension;
- ``csv.py``, ``json.py``, ``parquet.py``: one module per format, its reader and writer;
- what CSV and JSON share: ``streams.py`` (stored files opened as UTF-8 text streams, bytes counted,
  failures naming the file), ``text.py`` (text read into the job's schema, records that cannot be
  read placed in the file and failing the read or handed over as dirty data) and ``text_types.py``
  (the type of a column of text, folded from every value, and the conversion of text into it).

The job's options of each format (separators, quoting, header, encoding, compression, columnList)
are parsed in ../config.py; BINARY_FILE, files copied as they are, in ../binary.py.
"""
