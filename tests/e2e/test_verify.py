"""verifyConfig.mode: COUNT (the default) and CHECKSUM compare the copy with its source; a
mismatch fails the run with a clear summary, and a COUNT mismatch rolls the copy back."""

from __future__ import annotations

import httpx
import pymysql

from conftest import MY_HOST, MY_PORT, MY_USER, RunningServer, mysql_link, on_each_executor, pg_connect, pg_link
from job_support import Copy, written

server = on_each_executor()

SOURCE = """CREATE TABLE "{schema}".src (id int PRIMARY KEY, v text, amount numeric(12,2), at timestamptz, raw bytea);
INSERT INTO "{schema}".src SELECT g, CASE WHEN g % 5 = 0 THEN NULL ELSE 'v' || g END, g / 3.0,
    timestamptz '2024-01-01 00:00:00+00' + g * interval '1 second', CASE WHEN g % 2 = 0 THEN '\\x00ff' END::bytea
    FROM generate_series(1, 300) g"""
DESTINATION = 'CREATE TABLE "{schema}".dst (LIKE "{schema}".src INCLUDING ALL)'


def _source(schema: str) -> None:
    with pg_connect() as conn:
        for statement in SOURCE.format(schema=schema).split(";\n"):
            conn.execute(statement)


def test_checksum_passes_on_an_exact_copy_to_mariadb(
    api: httpx.Client, server: RunningServer, pg_schema: str, mysql_database: str
) -> None:
    _source(pg_schema)
    job = Copy(api, server, pg_link(), mysql_database, target_link=mysql_link(mysql_database))
    job.create({"fromJobConfig.schemaName": pg_schema}, driver={"verifyConfig.mode": "CHECKSUM"})
    done = job.run()
    assert written(done) == 300
    verification = done["verification"]
    assert verification["passed"] is True, verification
    assert verification["mode"] == "CHECKSUM"
    assert verification["destination_rows"] == 300
    assert verification["source_checksum"] == verification["destination_checksum"]


def test_a_negative_zero_arrives_in_mariadb_as_zero_and_its_checksum_passes(
    api: httpx.Client, server: RunningServer, pg_schema: str, mysql_database: str
) -> None:
    """-0 equals 0: MariaDB, which has no -0, gets 0, and the run succeeds with its checksum."""
    with pg_connect() as conn:
        conn.execute(f'CREATE TABLE "{pg_schema}".src (id int PRIMARY KEY, x double precision, r real)')
        conn.execute(f"INSERT INTO \"{pg_schema}\".src VALUES (1, '-0', '-0'), (2, 0.5, '-0'), (3, '-0', NULL)")
    job = Copy(api, server, pg_link(), mysql_database, target_link=mysql_link(mysql_database))
    job.create({"fromJobConfig.schemaName": pg_schema}, driver={"verifyConfig.mode": "CHECKSUM"})
    done = job.run()
    assert written(done) == 3
    assert done["verification"]["passed"] is True, done["verification"]
    conn = pymysql.connect(host=MY_HOST, port=MY_PORT, user=MY_USER, database=mysql_database)
    with conn.cursor() as cursor:
        cursor.execute("SELECT id, CONCAT(x), CONCAT(r) FROM dst ORDER BY id")
        assert cursor.fetchall() == ((1, "0", "0"), (2, "0.5", "0"), (3, "0", None))
    conn.close()


def test_count_is_the_default_and_a_short_destination_rolls_back(
    api: httpx.Client, server: RunningServer, pg_schema: str
) -> None:
    _source(pg_schema)
    with pg_connect() as conn:
        conn.execute(DESTINATION.format(schema=pg_schema))
        conn.execute(f"""INSERT INTO "{pg_schema}".dst (id, v) VALUES (-1, 'kept')""")
        # A trigger that silently drops every tenth row: the database took fewer rows than were sent.
        conn.execute(f"""CREATE FUNCTION "{pg_schema}".drop_some() RETURNS trigger LANGUAGE plpgsql AS
                         $$ BEGIN IF NEW.id % 10 = 0 THEN RETURN NULL; END IF; RETURN NEW; END $$""")
        conn.execute(f"""CREATE TRIGGER drop_some BEFORE INSERT ON "{pg_schema}".dst
                         FOR EACH ROW EXECUTE FUNCTION "{pg_schema}".drop_some()""")
    job = Copy(api, server, pg_link(), pg_schema)
    job.create({"fromJobConfig.schemaName": pg_schema}, {"toJobConfig.beforeImportType": "shouldClearTable"})
    failed = job.run()
    assert failed["status"] == "FAILED", failed
    assert "Verification (COUNT) failed" in failed["error-summary"]
    assert "holds 270 rows" in failed["error-summary"]
    assert failed["verification"]["passed"] is False
    assert job.target() == [(-1, "kept")]  # cleared and loaded in one transaction, rolled back


def test_checksum_finds_a_changed_value(api: httpx.Client, server: RunningServer, pg_schema: str) -> None:
    _source(pg_schema)
    with pg_connect() as conn:
        conn.execute(DESTINATION.format(schema=pg_schema))
        conn.execute(f"""CREATE FUNCTION "{pg_schema}".change_one() RETURNS trigger LANGUAGE plpgsql AS
                         $$ BEGIN IF NEW.id = 7 THEN NEW.amount = NEW.amount + 0.01; END IF; RETURN NEW; END $$""")
        conn.execute(f"""CREATE TRIGGER change_one BEFORE INSERT ON "{pg_schema}".dst
                         FOR EACH ROW EXECUTE FUNCTION "{pg_schema}".change_one()""")
    job = Copy(api, server, pg_link(), pg_schema)
    job.create({"fromJobConfig.schemaName": pg_schema}, {"toJobConfig.beforeImportType": "shouldClearTable"},
               driver={"verifyConfig.mode": "CHECKSUM"})
    failed = job.run()
    assert failed["status"] == "FAILED", failed
    assert "checksum mismatch" in failed["error-summary"]
    assert failed["verification"]["source_checksum"] != failed["verification"]["destination_checksum"]


def test_none_skips_verification_and_bad_modes_are_refused(
    api: httpx.Client, server: RunningServer, pg_schema: str
) -> None:
    _source(pg_schema)
    job = Copy(api, server, pg_link(), pg_schema)
    job.create({"fromJobConfig.schemaName": pg_schema}, driver={"verifyConfig.mode": "NONE"})
    done = job.run()
    assert written(done) == 300
    assert done.get("verification") is None
    response = api.post(f"{server.cdm}/job", json={"jobs": [
        job.entity({"fromJobConfig.schemaName": pg_schema}, {}, {"verifyConfig.mode": "SOMETIMES"}) | {"name": "x1"}]})
    assert response.status_code == 400, response.text
    assert response.json()["errCode"] == "Cdm.0014"
    assert "verifyConfig.mode" in response.json()["externalMessage"]
