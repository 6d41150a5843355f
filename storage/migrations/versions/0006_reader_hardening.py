"""Job leader rows (``job_leaders``) and a hardened ``monitor_reader`` (issue 13).

Revision ID: 0006
Revises: 0005
Create Date: 2026-12-05

**Leader election.** Surge detection and the outbox delivery ran under ``pg_try_advisory_xact_lock``, which
any reader can take too (``select pg_advisory_lock(...)``) and so stall alerting for good. Now the leader
holds ``SELECT ... FOR UPDATE SKIP LOCKED`` on its row of ``job_leaders``: a row lock needs UPDATE privilege,
which ``monitor_reader`` lacks, and read-only transactions refuse it.

**The reader role**. Roles are server-wide and several monitor databases may share
``monitor_reader``, so what touches the role is idempotent, skipped when already in place, and tolerant of a
concurrent migration in another database; downgrade leaves the role as it is. Each step degrades to a
WARNING when the migrating user lacks the right to do it (a non-superuser owner: docker-compose's init
script, ``deploy/postgres-init/``, does the superuser parts at first start):

- ``default_transaction_read_only = on``, ``statement_timeout = 5min`` and
  ``idle_in_transaction_session_timeout = 1min`` for sessions that log in as it (an operator may give it a
  password; see the README); attributes NOSUPERUSER NOCREATEDB NOCREATEROLE NOREPLICATION NOBYPASSRLS;
  no direct membership in the roles that read or write server files, run programs, signal backends or
  write all data;
- no EXECUTE for PUBLIC on the large-object functions that create, write, delete, import or export
  (``lo_create`` works even in a read-only transaction); needs a superuser. The monitor uses none of them.
  This is per database, so downgrade grants back what PostgreSQL grants by default;
- the migrating user becomes a member of ``monitor_reader`` (unless a superuser), so that ``monitor sql``
  can ``SET LOCAL ROLE monitor_reader``.
"""

from __future__ import annotations

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0006"
down_revision: str | None = "0005"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

JOBS = ("surge_detection", "alert_delivery")

# Created, written or removed by these; reading needs a grant on the object, which nobody has.
_LO_WRITERS_PUBLIC_BY_DEFAULT = (
    "lo_create(oid)", "lo_creat(integer)", "lo_from_bytea(oid, bytea)", "lowrite(integer, bytea)",
    "lo_put(oid, bigint, bytea)", "lo_truncate(integer, integer)", "lo_truncate64(integer, bigint)",
    "lo_unlink(oid)",
)
_LO_SUPERUSER_BY_DEFAULT = ("lo_import(text)", "lo_import(text, oid)", "lo_export(oid, text)")

_SETTINGS = "ARRAY['default_transaction_read_only=on', 'statement_timeout=5min', " \
            "'idle_in_transaction_session_timeout=1min']"

_HARDEN_READER = f"""
DO $$
DECLARE
    is_super boolean := (SELECT rolsuper FROM pg_catalog.pg_roles WHERE rolname = current_user);
    dangerous text;
BEGIN
    IF NOT EXISTS (SELECT FROM pg_catalog.pg_roles WHERE rolname = 'monitor_reader') THEN
        RAISE WARNING 'monitor_reader does not exist (migration 0003 creates it): nothing to harden';
        RETURN;
    END IF;

    -- Settings for direct logins (SET ROLE does not apply them; monitor sql sets its own).
    IF NOT EXISTS (
        SELECT FROM pg_catalog.pg_db_role_setting s JOIN pg_catalog.pg_roles r ON r.oid = s.setrole
        WHERE r.rolname = 'monitor_reader' AND s.setdatabase = 0 AND s.setconfig @> {_SETTINGS}
    ) THEN
        BEGIN
            ALTER ROLE monitor_reader SET default_transaction_read_only = on;
            ALTER ROLE monitor_reader SET statement_timeout = '5min';
            ALTER ROLE monitor_reader SET idle_in_transaction_session_timeout = '1min';
        EXCEPTION
            WHEN insufficient_privilege THEN
                RAISE WARNING 'monitor_reader settings not changed (needs superuser or CREATEROLE): %', SQLERRM;
            WHEN OTHERS THEN  -- "tuple concurrently updated": another database migrated the shared role
                IF NOT EXISTS (
                    SELECT FROM pg_catalog.pg_db_role_setting s JOIN pg_catalog.pg_roles r ON r.oid = s.setrole
                    WHERE r.rolname = 'monitor_reader' AND s.setdatabase = 0 AND s.setconfig @> {_SETTINGS}
                ) THEN
                    RAISE;
                END IF;
        END;
    END IF;

    IF EXISTS (SELECT FROM pg_catalog.pg_roles WHERE rolname = 'monitor_reader'
               AND (rolsuper OR rolcreatedb OR rolcreaterole OR rolreplication OR rolbypassrls)) THEN
        BEGIN
            ALTER ROLE monitor_reader NOSUPERUSER NOCREATEDB NOCREATEROLE NOREPLICATION NOBYPASSRLS;
        EXCEPTION WHEN insufficient_privilege THEN
            RAISE WARNING 'monitor_reader keeps powerful attributes (needs superuser to remove): %', SQLERRM;
        END;
    END IF;

    FOREACH dangerous IN ARRAY ARRAY['pg_read_server_files', 'pg_write_server_files',
                                     'pg_execute_server_program', 'pg_signal_backend', 'pg_write_all_data']
    LOOP
        IF EXISTS (SELECT FROM pg_catalog.pg_auth_members m
                   JOIN pg_catalog.pg_roles g ON g.oid = m.roleid JOIN pg_catalog.pg_roles u ON u.oid = m.member
                   WHERE g.rolname = dangerous AND u.rolname = 'monitor_reader') THEN
            BEGIN
                EXECUTE format('REVOKE %I FROM monitor_reader', dangerous);
            EXCEPTION WHEN insufficient_privilege THEN
                RAISE WARNING 'monitor_reader stays a member of % (needs superuser): %', dangerous, SQLERRM;
            END;
        END IF;
        IF EXISTS (SELECT FROM pg_catalog.pg_roles WHERE rolname = dangerous)
           AND pg_catalog.pg_has_role('monitor_reader', dangerous, 'MEMBER') THEN
            RAISE WARNING 'monitor_reader is still a member of % through another role: revoke that', dangerous;
        END IF;
    END LOOP;

    IF is_super THEN
        REVOKE EXECUTE ON FUNCTION {", ".join(_LO_WRITERS_PUBLIC_BY_DEFAULT + _LO_SUPERUSER_BY_DEFAULT)}
            FROM PUBLIC;
    ELSE
        IF EXISTS (SELECT FROM pg_catalog.pg_proc p
                   WHERE p.oid = ANY (ARRAY[{", ".join(f"'{f}'::regprocedure" for f in _LO_WRITERS_PUBLIC_BY_DEFAULT)}])
                   AND (p.proacl IS NULL OR EXISTS (SELECT FROM pg_catalog.aclexplode(p.proacl) a
                                                    WHERE a.grantee = 0 AND a.privilege_type = 'EXECUTE'))) THEN
            RAISE WARNING 'large-object writers keep EXECUTE for PUBLIC: revoking needs a superuser '
                          '(deploy/postgres-init/10-monitor-roles.sh does it)';
        END IF;
        IF NOT pg_catalog.pg_has_role(current_user, 'monitor_reader', 'MEMBER') THEN
            BEGIN
                EXECUTE format('GRANT monitor_reader TO %I', current_user);
            EXCEPTION WHEN insufficient_privilege OR invalid_grant_operation THEN
                RAISE WARNING '% cannot SET ROLE monitor_reader, so monitor sql will refuse to run: %',
                    current_user, SQLERRM;
            END;
        END IF;
    END IF;
END
$$
"""

_GRANT_BACK_LO = f"""
DO $$
BEGIN
    IF (SELECT rolsuper FROM pg_catalog.pg_roles WHERE rolname = current_user) THEN
        GRANT EXECUTE ON FUNCTION {", ".join(_LO_WRITERS_PUBLIC_BY_DEFAULT)} TO PUBLIC;
    END IF;
END
$$
"""


def upgrade() -> None:
    op.create_table(
        "job_leaders",
        sa.Column("job", sa.Text(), nullable=False),
        sa.PrimaryKeyConstraint("job", name="pk_job_leaders"),
    )
    op.bulk_insert(sa.table("job_leaders", sa.column("job", sa.Text())), [{"job": job} for job in JOBS])
    op.execute(_HARDEN_READER)


def downgrade() -> None:
    op.execute(_GRANT_BACK_LO)
    op.drop_table("job_leaders")
