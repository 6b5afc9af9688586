//! Numbered migrations, applied when a store opens. `schema_migrations` records each one that
//! ran. Several nodes may open the same database at once: [`migrate`] takes a PostgreSQL
//! advisory lock inside its transaction, so one node applies what is pending while the
//! others wait and then find nothing left to do. A migration that has shipped is never
//! edited: changes go into a new one.
//!
//! The schema is the SQLite store's (see `sqlite/schema.rs` for why each index exists) in
//! PostgreSQL's types, with three differences:
//!
//! - text that is ordered or compared (ids, names, regions, aliases, tags, stages) is
//!   `COLLATE "C"`, byte order like SQLite's, so pages and walks come in the same order on
//!   both stores whatever the database's locale;
//! - insertion order, which SQLite reads from `rowid`, is an identity column `seq`;
//! - the per-scope secret count is split over 16 rows per scope (`shard`, from the secret's
//!   id), so that concurrent creates on several nodes do not all queue for one row lock.
//!
//! Constraints that the store tells apart when they fail are named.

use coffer_core::{Error, Result};
use deadpool_postgres::Object;

use super::rows::{begin, col, finish, pg_error};

/// The advisory lock key of migrations ("coffer" and 1), held by the migrating transaction.
const MIGRATION_LOCK: i64 = 0x636f_6666_6572_0001;

pub const MIGRATIONS: &[&str] = &[
    // 1: everything the SQLite store has after its migration 10.
    r#"
    CREATE TABLE accounts (
        id         BIGINT PRIMARY KEY,
        name       TEXT NOT NULL,
        operator   BOOLEAN NOT NULL DEFAULT false,
        created_at BIGINT NOT NULL
    );
    CREATE TABLE access_keys (
        id            TEXT COLLATE "C" PRIMARY KEY,
        account       BIGINT NOT NULL CONSTRAINT access_keys_account_fk REFERENCES accounts(id),
        sealed_secret BYTEA NOT NULL,
        enabled       BOOLEAN NOT NULL,
        admin         BOOLEAN NOT NULL,
        created_at    BIGINT NOT NULL
    );
    CREATE INDEX access_keys_by_account ON access_keys(account, created_at, id);
    CREATE TABLE policies (
        account    BIGINT NOT NULL CONSTRAINT policies_account_fk REFERENCES accounts(id),
        name       TEXT COLLATE "C" NOT NULL,
        document   TEXT NOT NULL,
        created_at BIGINT NOT NULL,
        updated_at BIGINT NOT NULL,
        PRIMARY KEY (account, name)
    );
    CREATE TABLE policy_attachments (
        access_key_id TEXT COLLATE "C" NOT NULL
            CONSTRAINT policy_attachments_key_fk REFERENCES access_keys(id) ON DELETE CASCADE,
        account       BIGINT NOT NULL,
        policy_name   TEXT COLLATE "C" NOT NULL,
        PRIMARY KEY (access_key_id, policy_name),
        CONSTRAINT policy_attachments_policy_fk
            FOREIGN KEY (account, policy_name) REFERENCES policies(account, name)
    );
    CREATE INDEX policy_attachments_by_policy ON policy_attachments(account, policy_name);
    CREATE TABLE projects (
        id      TEXT COLLATE "C" PRIMARY KEY,
        account BIGINT NOT NULL CONSTRAINT projects_account_fk REFERENCES accounts(id),
        region  TEXT COLLATE "C" NOT NULL,
        CONSTRAINT projects_one_per_scope UNIQUE (account, region)
    );

    CREATE TABLE keys (
        id                TEXT COLLATE "C" PRIMARY KEY,
        seq               BIGINT GENERATED ALWAYS AS IDENTITY,
        account           BIGINT NOT NULL,
        region            TEXT COLLATE "C" NOT NULL,
        description       TEXT NOT NULL,
        state             TEXT NOT NULL,
        state_at          BIGINT,
        is_default        BOOLEAN NOT NULL,
        created_at        BIGINT NOT NULL,
        primary_version   TEXT NOT NULL,
        rotation_enabled  BOOLEAN NOT NULL,
        rotation_interval BIGINT NOT NULL,
        next_rotation     BIGINT
    );
    CREATE UNIQUE INDEX keys_one_default ON keys(account, region) WHERE is_default;
    CREATE INDEX keys_by_scope ON keys(account, region, created_at, seq);
    CREATE INDEX keys_due_rotation ON keys(next_rotation) WHERE rotation_enabled;
    CREATE INDEX keys_pending_deletion ON keys(state_at) WHERE state = 'pending_deletion';
    CREATE TABLE key_versions (
        key_id           TEXT COLLATE "C" NOT NULL REFERENCES keys(id) ON DELETE CASCADE,
        id               TEXT COLLATE "C" NOT NULL,
        seq              BIGINT GENERATED ALWAYS AS IDENTITY,
        created_at       BIGINT NOT NULL,
        wrapped_material BYTEA NOT NULL,
        PRIMARY KEY (key_id, id)
    );
    CREATE TABLE key_aliases (
        account BIGINT NOT NULL,
        region  TEXT COLLATE "C" NOT NULL,
        alias   TEXT COLLATE "C" NOT NULL,
        key_id  TEXT COLLATE "C" NOT NULL REFERENCES keys(id) ON DELETE CASCADE,
        seq     BIGINT GENERATED ALWAYS AS IDENTITY,
        PRIMARY KEY (account, region, alias)
    );
    CREATE INDEX key_aliases_by_key ON key_aliases(key_id, seq);

    -- Names are unique among every secret of a scope: a secret pending deletion is still a
    -- row and keeps its name until the purge deletes the row.
    CREATE TABLE secrets (
        id              UUID PRIMARY KEY,
        account         BIGINT NOT NULL,
        region          TEXT COLLATE "C" NOT NULL,
        name            TEXT COLLATE "C" NOT NULL,
        kind            TEXT NOT NULL,
        kind_name       TEXT NOT NULL,
        description     TEXT NOT NULL,
        key_id          TEXT COLLATE "C" NOT NULL,
        state           TEXT NOT NULL,
        purge_at        BIGINT,
        rotation        TEXT NOT NULL,
        extended_config TEXT,
        policy          TEXT,
        created_at      BIGINT NOT NULL,
        updated_at      BIGINT NOT NULL,
        revision        BIGINT NOT NULL,
        next_rotation   BIGINT,
        db_instance     TEXT COLLATE "C"
    );
    CREATE UNIQUE INDEX secrets_by_name ON secrets(account, region, name);
    CREATE INDEX secrets_by_creation ON secrets(account, region, created_at, id);
    CREATE INDEX secrets_by_purge ON secrets(purge_at) WHERE purge_at IS NOT NULL;
    CREATE INDEX secrets_by_key ON secrets(key_id);
    CREATE INDEX secrets_due_rotation ON secrets(next_rotation) WHERE next_rotation IS NOT NULL;
    CREATE INDEX secrets_by_db_instance ON secrets(account, region, db_instance)
        WHERE db_instance IS NOT NULL;
    CREATE TABLE secret_counts (
        account BIGINT NOT NULL,
        region  TEXT COLLATE "C" NOT NULL,
        shard   SMALLINT NOT NULL,
        n       BIGINT NOT NULL,
        PRIMARY KEY (account, region, shard)
    );
    CREATE TABLE secret_tags (
        secret_id UUID NOT NULL REFERENCES secrets(id) ON DELETE CASCADE,
        position  INTEGER NOT NULL,
        key       TEXT COLLATE "C" NOT NULL,
        value     TEXT COLLATE "C" NOT NULL,
        PRIMARY KEY (secret_id, position)
    );
    CREATE INDEX secret_tags_by_key ON secret_tags(key, value, secret_id);
    CREATE INDEX secret_tags_by_value ON secret_tags(value, secret_id);
    CREATE TABLE versions (
        secret_id        UUID NOT NULL REFERENCES secrets(id) ON DELETE CASCADE,
        version_id       TEXT COLLATE "C" NOT NULL,
        seq              BIGINT NOT NULL,
        created_at       BIGINT NOT NULL,
        kind             TEXT NOT NULL,
        key_id           TEXT NOT NULL,
        key_version      TEXT NOT NULL,
        wrapped_data_key BYTEA NOT NULL,
        ciphertext       BYTEA NOT NULL,
        expires_at       BIGINT,
        CONSTRAINT versions_pkey PRIMARY KEY (secret_id, version_id)
    );
    CREATE INDEX versions_by_seq ON versions(secret_id, seq)
        INCLUDE (version_id, created_at, kind, expires_at);
    -- A label marks at most one version of a secret: the primary key says so.
    CREATE TABLE stages (
        secret_id  UUID NOT NULL,
        stage      TEXT COLLATE "C" NOT NULL,
        version_id TEXT COLLATE "C" NOT NULL,
        CONSTRAINT stages_pkey PRIMARY KEY (secret_id, stage),
        FOREIGN KEY (secret_id, version_id) REFERENCES versions(secret_id, version_id)
            ON DELETE CASCADE
    );

    -- The foreign key from subscriptions makes "a subscription names an existing rule of its
    -- scope" and "a rule in use cannot be deleted" hold in one statement, whatever races.
    CREATE TABLE event_rules (
        seq         BIGINT GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
        id          UUID NOT NULL UNIQUE,
        account     BIGINT NOT NULL,
        region      TEXT COLLATE "C" NOT NULL,
        name        TEXT COLLATE "C" NOT NULL,
        events      TEXT NOT NULL,
        enabled     BOOLEAN NOT NULL,
        target_kind TEXT NOT NULL,
        target_id   TEXT NOT NULL,
        target_name TEXT NOT NULL,
        created_at  BIGINT NOT NULL,
        updated_at  BIGINT NOT NULL,
        CONSTRAINT event_rules_by_name UNIQUE (account, region, name)
    );
    CREATE TABLE secret_subscriptions (
        secret_id UUID NOT NULL REFERENCES secrets(id) ON DELETE CASCADE,
        position  INTEGER NOT NULL,
        account   BIGINT NOT NULL,
        region    TEXT COLLATE "C" NOT NULL,
        rule_name TEXT COLLATE "C" NOT NULL,
        PRIMARY KEY (secret_id, position),
        CONSTRAINT secret_subscriptions_rule_fk FOREIGN KEY (account, region, rule_name)
            REFERENCES event_rules(account, region, name)
    );
    CREATE INDEX secret_subscriptions_by_rule
        ON secret_subscriptions(account, region, rule_name, secret_id);

    CREATE TABLE db_instances (
        account          BIGINT NOT NULL,
        region           TEXT COLLATE "C" NOT NULL,
        id               TEXT COLLATE "C" NOT NULL,
        engine           TEXT NOT NULL,
        host             TEXT NOT NULL,
        port             INTEGER NOT NULL,
        admin_user       TEXT NOT NULL,
        key_id           TEXT COLLATE "C" NOT NULL,
        key_version      TEXT NOT NULL,
        wrapped_data_key BYTEA NOT NULL,
        ciphertext       BYTEA NOT NULL,
        created_at       BIGINT NOT NULL,
        PRIMARY KEY (account, region, id)
    );
    CREATE INDEX db_instances_by_key ON db_instances(key_id);
    CREATE TABLE rotation_tasks (
        id           BIGINT PRIMARY KEY,
        seq          BIGINT GENERATED ALWAYS AS IDENTITY,
        account      BIGINT NOT NULL,
        region       TEXT COLLATE "C" NOT NULL,
        secret_id    UUID NOT NULL REFERENCES secrets(id) ON DELETE CASCADE,
        kind         TEXT NOT NULL,
        version_id   TEXT NOT NULL,
        step         TEXT NOT NULL,
        status       TEXT NOT NULL,
        attempts     BIGINT NOT NULL,
        applied      BOOLEAN NOT NULL,
        last_error   TEXT,
        next_attempt BIGINT NOT NULL,
        created_at   BIGINT NOT NULL,
        updated_at   BIGINT NOT NULL
    );
    CREATE INDEX rotation_tasks_by_secret ON rotation_tasks(secret_id, created_at, seq);
    CREATE INDEX rotation_tasks_by_scope ON rotation_tasks(account, region, created_at, seq);
    CREATE INDEX rotation_tasks_due ON rotation_tasks(next_attempt) WHERE status = 'running';
    "#,
    // 2: how coffer reaches a database instance and what it may give accounts there (the
    //    SQLite store's migration 11). Rows registered before keep the connection they had
    //    (no TLS) and get the default privilege allow-list.
    r#"
    ALTER TABLE db_instances ADD COLUMN tls TEXT NOT NULL DEFAULT 'disable';
    ALTER TABLE db_instances ADD COLUMN ca_pem TEXT;
    ALTER TABLE db_instances ADD COLUMN allow_cleartext_password BOOLEAN NOT NULL DEFAULT false;
    ALTER TABLE db_instances ADD COLUMN allowed_privileges TEXT NOT NULL
        DEFAULT '["SELECT","INSERT","UPDATE","DELETE","CREATE","DROP","ALTER","INDEX","REFERENCES","CREATE VIEW","SHOW VIEW","CREATE TEMPORARY TABLES","LOCK TABLES","EXECUTE","TRIGGER","CREATE ROUTINE","ALTER ROUTINE","EVENT","TRUNCATE","CONNECT","TEMPORARY"]';
    "#,
    // 3: what several nodes share besides the data. `leases`: one row per background job (or
    //    rotation task) naming the node that runs it and until when, by the database's clock.
    //    `replay_records`: the signed requests seen within their replay window, by access key
    //    and a fingerprint of the nonce (or TC3 signature), so that every node refuses a
    //    replay; `first_use` holds what a TC3 signature was first used for. `audit_chains`:
    //    every node's audit log (its first line's MAC names it) with the last line the node
    //    reported, so that `coffer audit verify` knows which logs make up the cluster's and
    //    how far each must reach.
    r#"
    CREATE TABLE leases (
        name        TEXT COLLATE "C" PRIMARY KEY,
        holder      TEXT NOT NULL,
        valid_until TIMESTAMPTZ NOT NULL
    );
    CREATE TABLE replay_records (
        access_key  TEXT COLLATE "C" NOT NULL,
        fingerprint BYTEA NOT NULL,
        first_use   BYTEA NOT NULL,
        expires_at  BIGINT NOT NULL,
        PRIMARY KEY (access_key, fingerprint)
    );
    CREATE INDEX replay_records_by_expiry ON replay_records(expires_at);
    CREATE TABLE audit_chains (
        chain      TEXT COLLATE "C" PRIMARY KEY,
        node       TEXT NOT NULL,
        location   TEXT NOT NULL,
        last_seq   BIGINT NOT NULL,
        last_mac   TEXT NOT NULL,
        updated_at TIMESTAMPTZ NOT NULL
    );
    "#,
    // 4: each account's 12-digit number, shown by APIs that number accounts (AWS ARNs).
    // Existing accounts get the last 12 digits of their random id.
    r#"
    ALTER TABLE accounts ADD COLUMN account_number TEXT;
    UPDATE accounts SET account_number = lpad((id % 1000000000000)::text, 12, '0');
    "#,
    // 5: replication: a primary's replicas, or the primary a replica follows (core JSON).
    r#"
    CREATE TABLE secret_replication (
        secret_id UUID PRIMARY KEY REFERENCES secrets(id) ON DELETE CASCADE,
        info      TEXT NOT NULL
    );
    "#,
    // 6: the day (midnight UTC, epoch ms) a value of each secret was last read.
    r#"
    CREATE TABLE secret_access (
        secret_id UUID PRIMARY KEY REFERENCES secrets(id) ON DELETE CASCADE,
        day       BIGINT NOT NULL
    );
    "#,
    // 7: a key's revision, which every change of the key (state, aliases, versions, wrapped
    //    material) moves forward, so that a node may keep keys it read and trust one after
    //    a probe of this column alone. Drawn from one sequence, so that no two states of a
    //    key (even a key deleted and restored under its id) share a revision.
    r#"
    CREATE SEQUENCE key_revisions;
    ALTER TABLE keys ADD COLUMN revision BIGINT NOT NULL DEFAULT nextval('key_revisions');
    "#,
];

/// Applies the migrations the database has not seen yet, all in one transaction that holds
/// the migration lock: a node that opens the store while another migrates waits for it and
/// then applies nothing. Refuses a database migrated by a newer coffer.
pub(crate) async fn migrate(conn: &mut Object) -> Result<()> {
    let tx = begin(conn).await?;
    let result = async {
        // Migrations may rewrite large tables: no statement timeout for them. The lock wait
        // is bounded, so a node stuck behind a broken migrator fails instead of hanging.
        tx.batch_execute("SET LOCAL statement_timeout = 0; SET LOCAL lock_timeout = '120s'")
            .await
            .map_err(|e| pg_error("migration settings", e))?;
        tx.execute("SELECT pg_advisory_xact_lock($1)", &[&MIGRATION_LOCK])
            .await
            .map_err(|e| pg_error("take the migration lock", e))?;
        tx.batch_execute(
            "CREATE TABLE IF NOT EXISTS schema_migrations (
                 version    BIGINT PRIMARY KEY,
                 applied_at TIMESTAMPTZ NOT NULL DEFAULT now()
             )",
        )
        .await
        .map_err(|e| pg_error("create schema_migrations", e))?;
        let row = tx
            .query_one("SELECT COALESCE(MAX(version), 0) FROM schema_migrations", &[])
            .await
            .map_err(|e| pg_error("read schema version", e))?;
        let current: i64 = col(&row, 0)?;
        let known = MIGRATIONS.len() as i64;
        if current > known || current < 0 {
            return Err(Error::internal(format!(
                "postgres: the database has schema version {current}; this coffer knows versions up to {known}"
            )));
        }
        for (i, sql) in MIGRATIONS.iter().enumerate().skip(current as usize) {
            let number = i as i64 + 1;
            tx.batch_execute(sql)
                .await
                .map_err(|e| pg_error(&format!("migration {number}"), e))?;
            tx.execute(
                "INSERT INTO schema_migrations (version) VALUES ($1)",
                &[&number],
            )
            .await
            .map_err(|e| pg_error("record migration", e))?;
            tracing::info!(migration = number, "applied postgres schema migration");
        }
        Ok(())
    }
    .await;
    finish(tx, result).await
}

/// The schema version of the database: how many migrations it has had (0 for a database
/// coffer never opened).
pub(crate) async fn applied_version<C: deadpool_postgres::GenericClient>(c: &C) -> Result<i64> {
    let row = c
        .query_one("SELECT to_regclass('schema_migrations') IS NOT NULL", &[])
        .await
        .map_err(|e| pg_error("read schema version", e))?;
    let known: bool = col(&row, 0)?;
    if !known {
        return Ok(0);
    }
    let row = c
        .query_one(
            "SELECT COALESCE(MAX(version), 0) FROM schema_migrations",
            &[],
        )
        .await
        .map_err(|e| pg_error("read schema version", e))?;
    col(&row, 0)
}
