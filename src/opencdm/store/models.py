"""The metadata schema. Alembic migrations in ``migrations/versions`` create exactly these tables."""

from __future__ import annotations

from typing import Any

from sqlalchemy import JSON, BigInteger, Boolean, Float, ForeignKey, Integer, String, Text, UniqueConstraint, false
from sqlalchemy.orm import DeclarativeBase, Mapped, mapped_column

from opencdm.store.statuses import ClusterStatus


class Base(DeclarativeBase):
    pass


class Project(Base):
    __tablename__ = "projects"
    id: Mapped[str] = mapped_column(String(32), primary_key=True)  # 32 hex digits, as IAM project ids
    name: Mapped[str] = mapped_column(String(64), unique=True)
    domain: Mapped[str] = mapped_column(String(64), default="Default")
    created_ms: Mapped[int] = mapped_column(BigInteger)


class User(Base):
    __tablename__ = "users"
    __table_args__ = (UniqueConstraint("domain", "name"),)
    id: Mapped[str] = mapped_column(String(32), primary_key=True)
    name: Mapped[str] = mapped_column(String(64))
    domain: Mapped[str] = mapped_column(String(64), default="Default")
    password_hash: Mapped[str] = mapped_column(String(256))
    created_ms: Mapped[int] = mapped_column(BigInteger)


class ProjectMember(Base):
    """A user may act in a project (get a token scoped to it, own AK/SK pairs for it)."""

    __tablename__ = "project_members"
    user_id: Mapped[str] = mapped_column(ForeignKey("users.id", ondelete="CASCADE"), primary_key=True)
    project_id: Mapped[str] = mapped_column(ForeignKey("projects.id", ondelete="CASCADE"), primary_key=True)


class AccessKey(Base):
    """An AK/SK pair; the SK is kept encrypted because verifying a signature needs it in clear."""

    __tablename__ = "access_keys"
    access_key: Mapped[str] = mapped_column(String(64), primary_key=True)
    secret_key_encrypted: Mapped[str] = mapped_column(Text)
    user_id: Mapped[str] = mapped_column(ForeignKey("users.id", ondelete="CASCADE"))
    project_id: Mapped[str] = mapped_column(ForeignKey("projects.id", ondelete="CASCADE"))
    created_ms: Mapped[int] = mapped_column(BigInteger)


class Token(Base):
    """An issued X-Auth-Token; only its SHA-256 is stored."""

    __tablename__ = "tokens"
    token_sha256: Mapped[str] = mapped_column(String(64), primary_key=True)
    user_id: Mapped[str] = mapped_column(ForeignKey("users.id", ondelete="CASCADE"))
    project_id: Mapped[str] = mapped_column(ForeignKey("projects.id", ondelete="CASCADE"))
    expires_ms: Mapped[int] = mapped_column(BigInteger, index=True)


class Cluster(Base):
    """A logical execution pool. Links and jobs live in a cluster, as in CDM."""

    __tablename__ = "clusters"
    id: Mapped[str] = mapped_column(String(36), primary_key=True)
    project_id: Mapped[str] = mapped_column(ForeignKey("projects.id", ondelete="CASCADE"), index=True)
    name: Mapped[str] = mapped_column(String(64))
    status: Mapped[str] = mapped_column(String(8), default=ClusterStatus.NORMAL.value)  # a ClusterStatus code
    executor: Mapped[str] = mapped_column(String(32), default="local")
    created_ms: Mapped[int] = mapped_column(BigInteger)
    updated_ms: Mapped[int] = mapped_column(BigInteger)
    properties: Mapped[dict[str, Any]] = mapped_column(JSON, default=dict)


class Link(Base):
    __tablename__ = "links"
    __table_args__ = (UniqueConstraint("cluster_id", "name"),)
    id: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=True)
    cluster_id: Mapped[str] = mapped_column(ForeignKey("clusters.id", ondelete="CASCADE"), index=True)
    name: Mapped[str] = mapped_column(String(240))
    connector_name: Mapped[str] = mapped_column(String(64))
    enabled: Mapped[bool] = mapped_column(Boolean, default=True)
    # The link's inputs as sent ({"linkConfig.host": "..."}), without the sensitive ones ...
    inputs: Mapped[dict[str, Any]] = mapped_column(JSON)
    # ... which are kept here, as one Fernet token over a JSON object of name -> value.
    secrets_encrypted: Mapped[str | None] = mapped_column(Text, nullable=True)
    creation_user: Mapped[str] = mapped_column(String(64))
    creation_ms: Mapped[int] = mapped_column(BigInteger)
    update_user: Mapped[str] = mapped_column(String(64))
    update_ms: Mapped[int] = mapped_column(BigInteger)


class Job(Base):
    __tablename__ = "jobs"
    __table_args__ = (UniqueConstraint("cluster_id", "name"),)
    id: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=True)
    cluster_id: Mapped[str] = mapped_column(ForeignKey("clusters.id", ondelete="CASCADE"), index=True)
    name: Mapped[str] = mapped_column(String(240))
    job_type: Mapped[str] = mapped_column(String(32), default="NORMAL_JOB")
    from_connector_name: Mapped[str] = mapped_column(String(64))
    from_link_name: Mapped[str] = mapped_column(String(240))
    to_connector_name: Mapped[str] = mapped_column(String(64))
    to_link_name: Mapped[str] = mapped_column(String(240))
    # CDM-shaped config values, stored as sent: {"configs": [{"name", "inputs": [...]}], ...}
    from_config: Mapped[dict[str, Any]] = mapped_column(JSON)
    to_config: Mapped[dict[str, Any]] = mapped_column(JSON)
    driver_config: Mapped[dict[str, Any]] = mapped_column(JSON)
    group_name: Mapped[str] = mapped_column(String(240), default="DEFAULT")
    enabled: Mapped[bool] = mapped_column(Boolean, default=True)
    creation_user: Mapped[str] = mapped_column(String(64))
    creation_ms: Mapped[int] = mapped_column(BigInteger)
    update_user: Mapped[str] = mapped_column(String(64))
    update_ms: Mapped[int] = mapped_column(BigInteger)
    # The schedule's next run (None: not scheduled, or the schedule is over). Advanced in the
    # transaction that creates the run's submission, so a restart neither repeats nor loses it.
    next_run_ms: Mapped[int | None] = mapped_column(BigInteger, nullable=True, index=True)
    # Runs of the schedule left out because the job was still running when they were due.
    skipped_runs: Mapped[int] = mapped_column(Integer, default=0, server_default="0")
    # Incremental jobs: the greatest fromJobConfig.checkColumn value committed so far (text), where
    # the next run starts; None before the first run and after fromJobConfig.lastValue changes.
    incremental_cursor: Mapped[str | None] = mapped_column(Text, nullable=True)
    # A sub-job of an entire-database job (BATCH_JOB): its parent, and the source table it copies.
    # Made by the parent's runs, named "<parent>_<table>" as in CDM, and deleted with the parent.
    parent_job_id: Mapped[int | None] = mapped_column(
        ForeignKey("jobs.id", ondelete="CASCADE", name="fk_jobs_parent_job_id"), nullable=True, index=True
    )
    source_table: Mapped[str | None] = mapped_column(Text, nullable=True)
    # The parent made the sub-job's table, whose indexes, foreign keys and identity counter wait for
    # the run that ends with every table of the parent copied.
    keys_pending: Mapped[bool] = mapped_column(Boolean, default=False, server_default=false())


class Submission(Base):
    """One run of a job. Every state change is written here; workers update it while running."""

    __tablename__ = "submissions"
    __table_args__ = (UniqueConstraint("job_id", "scheduled_ms", name="uq_submissions_job_id_scheduled_ms"),)
    id: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=True)
    job_id: Mapped[int] = mapped_column(ForeignKey("jobs.id", ondelete="CASCADE"), index=True)
    cluster_id: Mapped[str] = mapped_column(String(36), index=True)
    job_name: Mapped[str] = mapped_column(String(240))
    status: Mapped[str] = mapped_column(String(32), index=True)
    progress: Mapped[float] = mapped_column(Float, default=0.0)
    creation_user: Mapped[str] = mapped_column(String(64))
    creation_ms: Mapped[int] = mapped_column(BigInteger)
    execute_ms: Mapped[int | None] = mapped_column(BigInteger, nullable=True)
    last_update_user: Mapped[str] = mapped_column(String(64))
    last_update_ms: Mapped[int] = mapped_column(BigInteger)
    rows_read: Mapped[int] = mapped_column(BigInteger, default=0)
    rows_written: Mapped[int] = mapped_column(BigInteger, default=0)
    rows_skipped: Mapped[int] = mapped_column(BigInteger, default=0)
    bytes_read: Mapped[int] = mapped_column(BigInteger, default=0)
    bytes_written: Mapped[int] = mapped_column(BigInteger, default=0)
    update_rows: Mapped[int] = mapped_column(BigInteger, default=0)
    delete_rows: Mapped[int] = mapped_column(BigInteger, default=0)
    rows_estimate: Mapped[int | None] = mapped_column(BigInteger, nullable=True)
    error_summary: Mapped[str | None] = mapped_column(Text, nullable=True)
    error_details: Mapped[str | None] = mapped_column(Text, nullable=True)
    # Who runs it: the server instance that claimed it (None while no server has), and its worker's pid.
    owner: Mapped[str | None] = mapped_column(String(64), nullable=True)
    worker_pid: Mapped[int | None] = mapped_column(Integer, nullable=True)
    # The owner's lease: it renews it while the run is active; another server takes over a run
    # whose lease expired (engine.supervisor).
    lease_expires_ms: Mapped[int | None] = mapped_column(BigInteger, nullable=True, index=True)
    # Raised at each claim and takeover; the worker's writes carry the value it was started with,
    # so a former owner that wakes up after a takeover changes nothing.
    fence: Mapped[int] = mapped_column(Integer, default=0, server_default="0")
    # The due time of a scheduled run: unique per job, so each one starts once across servers.
    scheduled_ms: Mapped[int | None] = mapped_column(BigInteger, nullable=True)
    stop_requested: Mapped[bool] = mapped_column(Boolean, default=False)
    is_execute_auto: Mapped[bool] = mapped_column(Boolean, default=False)
    is_incrementing: Mapped[bool] = mapped_column(Boolean, default=False)
    is_delete_job: Mapped[bool] = mapped_column(Boolean, default=False)
    variables: Mapped[dict[str, Any]] = mapped_column(JSON, default=dict)
    # 1 for a run started by a user or the schedule, 2-4 for the retries of a failed one.
    attempt: Mapped[int] = mapped_column(Integer, default=1, server_default="1")
    # When the server acted on the run's end (retry, delete the job, or nothing); None until then.
    settled_ms: Mapped[int | None] = mapped_column(BigInteger, nullable=True, index=True)
    # When this failed run is retried; None when no retry waits.
    retry_due_ms: Mapped[int | None] = mapped_column(BigInteger, nullable=True, index=True)
    # verifyConfig.mode: what the run compared and found (engine.verify.Verification).
    verification: Mapped[dict[str, Any] | None] = mapped_column(JSON, nullable=True)
    # Resumable runs (throttlingConfig.resumable): partitions a failed run had committed, not copied again.
    partitions_skipped: Mapped[int] = mapped_column(Integer, default=0, server_default="0")
    # What the destination has committed of the run's writes so far (rows_written and the others
    # count what was written, committed or not, while the run is active): what a run that dies
    # keeps, and what /metrics counts of a running one.
    committed_rows: Mapped[int] = mapped_column(BigInteger, default=0, server_default="0")
    committed_bytes: Mapped[int] = mapped_column(BigInteger, default=0, server_default="0")
    committed_updates: Mapped[int] = mapped_column(BigInteger, default=0, server_default="0")
    # The stage table the run created in its destination ({"schema", "table"}), recorded before it
    # was created: a run killed outright leaves it, and the job's next run drops it.
    stage_table: Mapped[dict[str, str] | None] = mapped_column(JSON(none_as_null=True), nullable=True)
    # The run of an entire-database job that started this run of one of its sub-jobs.
    parent_submission_id: Mapped[int | None] = mapped_column(Integer, nullable=True, index=True)


class ResumablePartition(Base):
    """The partition plan of a resumable job's unfinished run: each partition, and its rows once its
    own transaction committed. A run that succeeds deletes its job's plan; a run that finds one left
    by a failed run copies only the partitions not yet committed."""

    __tablename__ = "resumable_partitions"
    job_id: Mapped[int] = mapped_column(ForeignKey("jobs.id", ondelete="CASCADE"), primary_key=True)
    position: Mapped[int] = mapped_column(Integer, primary_key=True)
    spec: Mapped[dict[str, Any]] = mapped_column(JSON)
    committed_rows: Mapped[int | None] = mapped_column(BigInteger, nullable=True)
    # The plan's id, under which the destination records its committed partitions (Sink.commit_partition).
    plan_id: Mapped[str | None] = mapped_column(String(32), nullable=True)


class UsedSignature(Base):
    """The signature of a state-changing signed request already accepted: a replay is refused.

    Kept until the request's X-Sdk-Date leaves the clock window, after which the date check alone
    refuses it; in the store, so that every server sharing it refuses it.
    """

    __tablename__ = "used_signatures"
    signature: Mapped[str] = mapped_column(String(64), primary_key=True)
    expires_ms: Mapped[int] = mapped_column(BigInteger, index=True)


class RunLogLine(Base):
    """One line of a run's own log (GET …/submissions/{id}/log): what its server and its worker
    said about it, kept with the submission and deleted with it."""

    __tablename__ = "run_log_lines"
    id: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=True)
    submission_id: Mapped[int] = mapped_column(ForeignKey("submissions.id", ondelete="CASCADE"), index=True)
    time_ms: Mapped[int] = mapped_column(BigInteger)
    level: Mapped[str] = mapped_column(String(8))
    message: Mapped[str] = mapped_column(Text)
