"""One small shop schema, built natively in MariaDB, PostgreSQL and SQLite, for the entire-database
schema tests: composite keys, a self-referencing foreign key and a cycle (customer <-> "Order"),
unique, secondary and multi-column indexes, auto-increment/identity/serial columns, defaults,
comments, a view, a trigger, stored code, types only one engine has, and table names that are
reserved words ("select", "Order") or differ only in case ("MixedCase", "mixedcase")."""

from __future__ import annotations

# The tables each source holds and every route copies (SQLite folds case: no "mixedcase" there).
TABLES = ["MixedCase", "Order", "customer", "mixedcase", "select"]
SQLITE_TABLES = ["MixedCase", "Order", "customer", "select"]

MARIADB = [
    """CREATE TABLE customer (
        id INT AUTO_INCREMENT PRIMARY KEY, name VARCHAR(50) NOT NULL, email VARCHAR(100) DEFAULT NULL,
        created DATETIME NOT NULL DEFAULT CURRENT_TIMESTAMP, score DECIMAL(5,2) DEFAULT 1.50,
        active TINYINT(1) NOT NULL DEFAULT 1, first_order INT UNSIGNED,
        touched DATETIME NULL ON UPDATE CURRENT_TIMESTAMP,
        UNIQUE KEY customer_email (email), KEY by_name (name, created)
    ) COMMENT 'who buys'""",
    """CREATE TABLE `Order` (
        id INT UNSIGNED AUTO_INCREMENT PRIMARY KEY, customer_id INT NOT NULL,
        status ENUM('new', 'paid') NOT NULL DEFAULT 'new', placed DATE DEFAULT '2024-01-01',
        note VARCHAR(20) COMMENT 'free text', yr YEAR, code VARCHAR(36) DEFAULT (uuid()),
        KEY by_name (note), FULLTEXT KEY note_words (note),
        CONSTRAINT order_customer FOREIGN KEY (customer_id) REFERENCES customer (id) ON DELETE CASCADE
    )""",
    "ALTER TABLE customer ADD CONSTRAINT customer_first_order FOREIGN KEY (first_order) REFERENCES `Order` (id) "
    "ON DELETE SET NULL",
    """CREATE TABLE `select` (
        order_id INT UNSIGNED NOT NULL, line INT NOT NULL, `from` VARCHAR(10) NOT NULL DEFAULT 'it''s',
        qty INT NOT NULL DEFAULT 1 CHECK (qty > 0), total INT AS (qty * 2) PERSISTENT,
        PRIMARY KEY (order_id, line), KEY select_qty_from (qty, `from`),
        CONSTRAINT select_order FOREIGN KEY (order_id) REFERENCES `Order` (id)
    )""",
    """CREATE TABLE `MixedCase` (
        region CHAR(2) NOT NULL, code INT NOT NULL, parent_region CHAR(2), parent_code INT, label TEXT,
        PRIMARY KEY (region, code), KEY mixed_label (label(20)),
        CONSTRAINT mixed_parent FOREIGN KEY (parent_region, parent_code) REFERENCES `MixedCase` (region, code)
        ON DELETE SET NULL ON UPDATE CASCADE
    )""",
    "CREATE TABLE mixedcase (id INT PRIMARY KEY) PARTITION BY HASH (id) PARTITIONS 2",
    "CREATE TABLE shapes (id INT PRIMARY KEY, g POINT)",
    "CREATE VIEW paid AS SELECT id FROM `Order` WHERE status = 'paid'",
    "CREATE TRIGGER order_note BEFORE INSERT ON `Order` FOR EACH ROW SET NEW.note = COALESCE(NEW.note, 'x')",
    "CREATE PROCEDURE noop() BEGIN END",
    "INSERT INTO customer (id, name, email, created, active) VALUES (1, 'ann', 'ann@x', '2024-02-01 10:00:00', 1), "
    "(2, 'bob', NULL, '2024-02-02 10:00:00', 0)",
    "INSERT INTO `Order` (id, customer_id, status, note, yr) VALUES (5, 1, 'paid', 'first', 2024), "
    "(7, 2, 'new', NULL, NULL)",
    "UPDATE customer SET first_order = 5 WHERE id = 1",
    "INSERT INTO `select` (order_id, line, `from`, qty) VALUES (5, 1, 'a', 2), (7, 1, 'b', 3)",
    "INSERT INTO `MixedCase` VALUES ('EU', 1, NULL, NULL, 'europe'), ('FR', 2, 'EU', 1, 'france')",
    "INSERT INTO mixedcase VALUES (1)",
]

POSTGRESQL = [
    "CREATE TYPE mood AS ENUM ('ok', 'sad')",
    """CREATE TABLE customer (
        id bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY, name varchar(50) NOT NULL,
        email text CONSTRAINT customer_email UNIQUE, created timestamptz NOT NULL DEFAULT now(),
        score numeric(5,2) DEFAULT 1.50, active boolean NOT NULL DEFAULT true, feeling mood DEFAULT 'ok',
        first_order int
    )""",
    "COMMENT ON TABLE customer IS 'who buys'",
    "COMMENT ON COLUMN customer.created IS 'when it began'",
    "CREATE INDEX by_name ON customer (name, created)",
    "CREATE INDEX lower_email ON customer (lower(email))",
    """CREATE TABLE "Order" (
        id serial PRIMARY KEY,
        customer_id bigint NOT NULL CONSTRAINT order_customer REFERENCES customer (id) ON DELETE CASCADE,
        status text NOT NULL DEFAULT 'new' CHECK (status IN ('new', 'paid')), placed date DEFAULT '2024-01-01',
        note varchar(20), code uuid DEFAULT gen_random_uuid()
    )""",
    """COMMENT ON COLUMN "Order".note IS 'free text'""",
    """CREATE INDEX open_orders ON "Order" (placed) WHERE status = 'new'""",
    """ALTER TABLE customer ADD CONSTRAINT customer_first_order FOREIGN KEY (first_order) REFERENCES "Order" (id)
       ON DELETE SET NULL""",
    """CREATE TABLE "select" (
        order_id int NOT NULL CONSTRAINT select_order REFERENCES "Order" (id), line int NOT NULL,
        "from" varchar(10) NOT NULL DEFAULT 'it''s', qty int NOT NULL DEFAULT 1,
        total int GENERATED ALWAYS AS (qty * 2) STORED, PRIMARY KEY (order_id, line)
    )""",
    """CREATE INDEX select_qty_from ON "select" (qty, "from")""",
    """CREATE TABLE "MixedCase" (
        region char(2), code int, parent_region char(2), parent_code int, label text, PRIMARY KEY (region, code),
        CONSTRAINT mixed_parent FOREIGN KEY (parent_region, parent_code) REFERENCES "MixedCase" (region, code)
        ON DELETE SET NULL ON UPDATE CASCADE
    )""",
    """CREATE INDEX mixed_label ON "MixedCase" (label)""",
    "CREATE SEQUENCE ticket",
    "CREATE TABLE mixedcase (id int PRIMARY KEY, ticket bigint DEFAULT nextval('ticket')) PARTITION BY RANGE (id)",
    "CREATE TABLE mixedcase_all PARTITION OF mixedcase DEFAULT",
    """CREATE VIEW paid AS SELECT id FROM "Order" WHERE status = 'paid'""",
    "CREATE FUNCTION touch() RETURNS trigger LANGUAGE plpgsql AS $$BEGIN RETURN NEW; END$$",
    """CREATE TRIGGER order_touch BEFORE UPDATE ON "Order" FOR EACH ROW EXECUTE FUNCTION touch()""",
    "INSERT INTO customer (name, email, created, active) VALUES ('ann', 'ann@x', '2024-02-01 10:00:00+00', true), "
    "('bob', NULL, '2024-02-02 10:00:00+00', false)",
    """INSERT INTO "Order" (id, customer_id, status, note) VALUES (5, 1, 'paid', 'first'), (7, 2, 'new', NULL)""",
    "UPDATE customer SET first_order = 5 WHERE id = 1",
    """INSERT INTO "select" (order_id, line, "from", qty) VALUES (5, 1, 'a', 2), (7, 1, 'b', 3)""",
    """INSERT INTO "MixedCase" VALUES ('EU', 1, NULL, NULL, 'europe'), ('FR', 2, 'EU', 1, 'france')""",
    "INSERT INTO mixedcase VALUES (1)",
]

SQLITE = [
    """CREATE TABLE customer (
        id INTEGER PRIMARY KEY, name VARCHAR(50) NOT NULL, email VARCHAR(100) UNIQUE,
        created TIMESTAMP NOT NULL DEFAULT CURRENT_TIMESTAMP, score DECIMAL(5,2) DEFAULT 1.50,
        active BOOLEAN NOT NULL DEFAULT 1, first_order INTEGER REFERENCES "Order" (id) ON DELETE SET NULL
    )""",
    "CREATE INDEX by_name ON customer (name, created)",
    """CREATE TABLE "Order" (
        id INTEGER PRIMARY KEY AUTOINCREMENT, customer_id INTEGER NOT NULL REFERENCES customer (id) ON DELETE CASCADE,
        status VARCHAR(10) NOT NULL DEFAULT 'new', placed DATE DEFAULT '2024-01-01', note VARCHAR(20)
    )""",
    """CREATE INDEX open_orders ON "Order" (placed) WHERE status = 'new'""",
    """CREATE TABLE "select" (
        order_id INTEGER NOT NULL REFERENCES "Order" (id), line INT NOT NULL,
        "from" VARCHAR(10) NOT NULL DEFAULT 'it''s', qty INT NOT NULL DEFAULT 1 CHECK (qty > 0),
        total INT GENERATED ALWAYS AS (qty * 2) STORED, PRIMARY KEY (order_id, line)
    )""",
    """CREATE INDEX select_qty_from ON "select" (qty, "from")""",
    """CREATE TABLE "MixedCase" (
        region CHAR(2) NOT NULL, code INT NOT NULL, parent_region CHAR(2), parent_code INT, label TEXT,
        PRIMARY KEY (region, code),
        FOREIGN KEY (parent_region, parent_code) REFERENCES "MixedCase" (region, code)
        ON DELETE SET NULL ON UPDATE CASCADE
    )""",
    """CREATE INDEX mixed_label ON "MixedCase" (label)""",
    """CREATE VIEW paid AS SELECT id FROM "Order" WHERE status = 'paid'""",
    """CREATE TRIGGER order_touch AFTER UPDATE ON "Order" BEGIN SELECT 1; END""",
    "INSERT INTO customer (id, name, email, created, active) VALUES (1, 'ann', 'ann@x', '2024-02-01 10:00:00', 1), "
    "(2, 'bob', NULL, '2024-02-02 10:00:00', 0)",
    """INSERT INTO "Order" (id, customer_id, status, note) VALUES (5, 1, 'paid', 'first'), (7, 2, 'new', NULL)""",
    "UPDATE customer SET first_order = 5 WHERE id = 1",
    """INSERT INTO "select" (order_id, line, "from", qty) VALUES (5, 1, 'a', 2), (7, 1, 'b', 3)""",
    """INSERT INTO "MixedCase" VALUES ('EU', 1, NULL, NULL, 'europe'), ('FR', 2, 'EU', 1, 'france')""",
]
