//! Numbered migrations. Each runs once, in order, inside the transaction that records it;
//! `PRAGMA user_version` holds the number of the last one applied. A migration that has
//! shipped is never edited: changes go into a new one. [`migrate`] applies the ones a
//! database has not seen yet when the store opens it.

use coffer_core::{Error, Result};
use rusqlite::Connection;

use super::rows::internal;

pub const MIGRATIONS: &[&str] = &[
    // 1: everything the foundation needs.
    r#"
    CREATE TABLE accounts (
        id          INTEGER PRIMARY KEY,
        name        TEXT NOT NULL,
        created_at  INTEGER NOT NULL
    );
    CREATE TABLE access_keys (
        id            TEXT PRIMARY KEY,
        account       INTEGER NOT NULL REFERENCES accounts(id),
        sealed_secret BLOB NOT NULL,
        enabled       INTEGER NOT NULL,
        admin         INTEGER NOT NULL,
        created_at    INTEGER NOT NULL
    );
    CREATE TABLE keys (
        id              TEXT PRIMARY KEY,
        account         INTEGER NOT NULL,
        region          TEXT NOT NULL,
        description     TEXT NOT NULL,
        state           TEXT NOT NULL,
        state_at        INTEGER,
        is_default      INTEGER NOT NULL,
        created_at      INTEGER NOT NULL,
        primary_version TEXT NOT NULL
    );
    CREATE UNIQUE INDEX keys_one_default ON keys(account, region) WHERE is_default = 1;
    CREATE TABLE key_versions (
        key_id           TEXT NOT NULL REFERENCES keys(id) ON DELETE CASCADE,
        id               TEXT NOT NULL,
        created_at       INTEGER NOT NULL,
        wrapped_material BLOB NOT NULL,
        PRIMARY KEY (key_id, id)
    );
    CREATE TABLE key_aliases (
        account  INTEGER NOT NULL,
        region   TEXT NOT NULL,
        alias    TEXT NOT NULL,
        key_id   TEXT NOT NULL REFERENCES keys(id) ON DELETE CASCADE,
        PRIMARY KEY (account, region, alias)
    );
    CREATE TABLE secrets (
        id              TEXT PRIMARY KEY,
        account         INTEGER NOT NULL,
        region          TEXT NOT NULL,
        name            TEXT NOT NULL,
        kind            TEXT NOT NULL,
        kind_name       TEXT NOT NULL,
        description     TEXT NOT NULL,
        key_id          TEXT NOT NULL,
        state           TEXT NOT NULL,
        purge_at        INTEGER,
        rotation        TEXT NOT NULL,
        extended_config TEXT,
        policy          TEXT,
        created_at      INTEGER NOT NULL,
        updated_at      INTEGER NOT NULL,
        revision        INTEGER NOT NULL
    );
    CREATE UNIQUE INDEX secrets_by_name ON secrets(account, region, name);
    CREATE INDEX secrets_by_creation ON secrets(account, region, created_at, id);
    CREATE INDEX secrets_by_purge ON secrets(purge_at) WHERE purge_at IS NOT NULL;
    -- Kept by every create and delete so that an unfiltered count costs one row, not a scan.
    CREATE TABLE secret_counts (
        account INTEGER NOT NULL,
        region  TEXT NOT NULL,
        n       INTEGER NOT NULL,
        PRIMARY KEY (account, region)
    );
    CREATE TABLE secret_tags (
        secret_id TEXT NOT NULL REFERENCES secrets(id) ON DELETE CASCADE,
        position  INTEGER NOT NULL,
        key       TEXT NOT NULL,
        value     TEXT NOT NULL,
        PRIMARY KEY (secret_id, position)
    );
    CREATE INDEX secret_tags_by_key ON secret_tags(key, value);
    CREATE INDEX secret_tags_by_value ON secret_tags(value);
    CREATE TABLE versions (
        secret_id        TEXT NOT NULL REFERENCES secrets(id) ON DELETE CASCADE,
        version_id       TEXT NOT NULL,
        seq              INTEGER NOT NULL,
        created_at       INTEGER NOT NULL,
        kind             TEXT NOT NULL,
        key_id           TEXT NOT NULL,
        key_version      TEXT NOT NULL,
        wrapped_data_key BLOB NOT NULL,
        ciphertext       BLOB NOT NULL,
        PRIMARY KEY (secret_id, version_id)
    );
    -- A label marks at most one version of a secret: the primary key says so.
    CREATE TABLE stages (
        secret_id  TEXT NOT NULL,
        stage      TEXT NOT NULL,
        version_id TEXT NOT NULL,
        PRIMARY KEY (secret_id, stage),
        FOREIGN KEY (secret_id, version_id) REFERENCES versions(secret_id, version_id) ON DELETE CASCADE
    );
    "#,
    // 2: key loads find their aliases by key id (they scanned the table); the tag indexes
    //    carry the secret id, so a list driven by a rare tag reads no table rows to find its
    //    secrets.
    r#"
    CREATE INDEX key_aliases_by_key ON key_aliases(key_id);
    DROP INDEX secret_tags_by_key;
    DROP INDEX secret_tags_by_value;
    CREATE INDEX secret_tags_by_key ON secret_tags(key, value, secret_id);
    CREATE INDEX secret_tags_by_value ON secret_tags(value, secret_id);
    "#,
    // 3: projects (Huawei): one id per account and region.
    r#"
    CREATE TABLE projects (
        id      TEXT PRIMARY KEY,
        account INTEGER NOT NULL REFERENCES accounts(id),
        region  TEXT NOT NULL,
        UNIQUE (account, region)
    );
    "#,
    // 4: a version may carry an expiry time (Huawei expire_time).
    r#"
    ALTER TABLE versions ADD COLUMN expires_at INTEGER;
    "#,
    // 5: event rules (Huawei secret events) and the secrets that subscribe to them. The
    //    foreign key makes "a subscription names an existing rule" and "a rule in use cannot
    //    be deleted" hold in one statement, whatever races.
    r#"
    CREATE TABLE event_rules (
        seq         INTEGER PRIMARY KEY,
        id          TEXT NOT NULL UNIQUE,
        account     INTEGER NOT NULL,
        region      TEXT NOT NULL,
        name        TEXT NOT NULL,
        events      TEXT NOT NULL,
        enabled     INTEGER NOT NULL,
        target_kind TEXT NOT NULL,
        target_id   TEXT NOT NULL,
        target_name TEXT NOT NULL,
        created_at  INTEGER NOT NULL,
        updated_at  INTEGER NOT NULL,
        UNIQUE (account, region, name)
    );
    CREATE TABLE secret_subscriptions (
        secret_id TEXT NOT NULL REFERENCES secrets(id) ON DELETE CASCADE,
        position  INTEGER NOT NULL,
        account   INTEGER NOT NULL,
        region    TEXT NOT NULL,
        rule_name TEXT NOT NULL,
        PRIMARY KEY (secret_id, position),
        FOREIGN KEY (account, region, rule_name) REFERENCES event_rules(account, region, name)
    );
    CREATE INDEX secret_subscriptions_by_rule
        ON secret_subscriptions(account, region, rule_name, secret_id);
    "#,
    // 6: access control. The first account is the operator; policies belong to an account
    //    and are attached to its access keys by name.
    r#"
    ALTER TABLE accounts ADD COLUMN operator INTEGER NOT NULL DEFAULT 0;
    UPDATE accounts SET operator = 1
        WHERE id = (SELECT id FROM accounts ORDER BY created_at, rowid LIMIT 1);
    CREATE INDEX access_keys_by_account ON access_keys(account, created_at);
    CREATE TABLE policies (
        account    INTEGER NOT NULL REFERENCES accounts(id),
        name       TEXT NOT NULL,
        document   TEXT NOT NULL,
        created_at INTEGER NOT NULL,
        updated_at INTEGER NOT NULL,
        PRIMARY KEY (account, name)
    );
    CREATE TABLE policy_attachments (
        access_key_id TEXT NOT NULL REFERENCES access_keys(id) ON DELETE CASCADE,
        account       INTEGER NOT NULL,
        policy_name   TEXT NOT NULL,
        PRIMARY KEY (access_key_id, policy_name),
        FOREIGN KEY (account, policy_name) REFERENCES policies(account, name)
    );
    CREATE INDEX policy_attachments_by_policy ON policy_attachments(account, policy_name);
    "#,
    // 7: finding whether a key still protects a secret reads an index, not the table.
    r#"
    CREATE INDEX secrets_by_key ON secrets(key_id);
    "#,
    // 8: automatic rotation of key material. The interval is kept while rotation is off;
    //    the sweep finds due keys through a partial index.
    r#"
    ALTER TABLE keys ADD COLUMN rotation_enabled INTEGER NOT NULL DEFAULT 0;
    ALTER TABLE keys ADD COLUMN rotation_interval INTEGER NOT NULL DEFAULT 31536000;
    ALTER TABLE keys ADD COLUMN next_rotation INTEGER;
    CREATE INDEX keys_due_rotation ON keys(next_rotation) WHERE rotation_enabled = 1;
    "#,
    // 9: a secret's version list (read by every write to it) comes from one index range in
    //    order, not from a table row per version (blobs and all) and a sort.
    r#"
    CREATE INDEX versions_by_seq ON versions(secret_id, seq, version_id, created_at, kind, expires_at);
    "#,
    // 10: managed database secrets. Registered instances keep their admin password sealed
    //     like a value; rotation tasks record each step of the state machine; secrets keep
    //     when their next automatic rotation is due and which instance they live on, each
    //     indexed for the scheduler and the instance-in-use check.
    r#"
    CREATE TABLE db_instances (
        account          INTEGER NOT NULL,
        region           TEXT NOT NULL,
        id               TEXT NOT NULL,
        engine           TEXT NOT NULL,
        host             TEXT NOT NULL,
        port             INTEGER NOT NULL,
        admin_user       TEXT NOT NULL,
        key_id           TEXT NOT NULL,
        key_version      TEXT NOT NULL,
        wrapped_data_key BLOB NOT NULL,
        ciphertext       BLOB NOT NULL,
        created_at       INTEGER NOT NULL,
        PRIMARY KEY (account, region, id)
    );
    CREATE INDEX db_instances_by_key ON db_instances(key_id);
    ALTER TABLE secrets ADD COLUMN next_rotation INTEGER;
    ALTER TABLE secrets ADD COLUMN db_instance TEXT;
    CREATE INDEX secrets_due_rotation ON secrets(next_rotation) WHERE next_rotation IS NOT NULL;
    CREATE INDEX secrets_by_db_instance ON secrets(account, region, db_instance)
        WHERE db_instance IS NOT NULL;
    CREATE TABLE rotation_tasks (
        id           INTEGER PRIMARY KEY,
        account      INTEGER NOT NULL,
        region       TEXT NOT NULL,
        secret_id    TEXT NOT NULL REFERENCES secrets(id) ON DELETE CASCADE,
        kind         TEXT NOT NULL,
        version_id   TEXT NOT NULL,
        step         TEXT NOT NULL,
        status       TEXT NOT NULL,
        attempts     INTEGER NOT NULL,
        applied      INTEGER NOT NULL,
        last_error   TEXT,
        next_attempt INTEGER NOT NULL,
        created_at   INTEGER NOT NULL,
        updated_at   INTEGER NOT NULL
    );
    CREATE INDEX rotation_tasks_by_secret ON rotation_tasks(secret_id, created_at);
    CREATE INDEX rotation_tasks_by_scope ON rotation_tasks(account, region, created_at);
    CREATE INDEX rotation_tasks_due ON rotation_tasks(next_attempt) WHERE status = 'running';
    "#,
    // 11: how coffer reaches a database instance and what it may give accounts there. Rows
    //     registered before keep the connection they had (no TLS) and get the default
    //     privilege allow-list (coffer_core::database::DEFAULT_ALLOWED_PRIVILEGES).
    r#"
    ALTER TABLE db_instances ADD COLUMN tls TEXT NOT NULL DEFAULT 'disable';
    ALTER TABLE db_instances ADD COLUMN ca_pem TEXT;
    ALTER TABLE db_instances ADD COLUMN allow_cleartext_password INTEGER NOT NULL DEFAULT 0;
    ALTER TABLE db_instances ADD COLUMN allowed_privileges TEXT NOT NULL
        DEFAULT '["SELECT","INSERT","UPDATE","DELETE","CREATE","DROP","ALTER","INDEX","REFERENCES","CREATE VIEW","SHOW VIEW","CREATE TEMPORARY TABLES","LOCK TABLES","EXECUTE","TRIGGER","CREATE ROUTINE","ALTER ROUTINE","EVENT","TRUNCATE","CONNECT","TEMPORARY"]';
    "#,
    // 12: each account's 12-digit number, shown by APIs that number accounts (AWS ARNs).
    // Existing accounts get the last 12 digits of their random id.
    r#"
    ALTER TABLE accounts ADD COLUMN account_number TEXT;
    UPDATE accounts SET account_number = printf('%012d', id % 1000000000000);
    "#,
    // 13: replication: a primary's replicas, or the primary a replica follows (core JSON).
    r#"
    CREATE TABLE secret_replication (
        secret_id TEXT PRIMARY KEY REFERENCES secrets(id) ON DELETE CASCADE,
        info      TEXT NOT NULL
    );
    "#,
    // 14: the day (midnight UTC, epoch ms) a value of each secret was last read.
    r#"
    CREATE TABLE secret_access (
        secret_id TEXT PRIMARY KEY REFERENCES secrets(id) ON DELETE CASCADE,
        day       INTEGER NOT NULL
    );
    "#,
];

/// Applies the migrations the database has not seen yet, each in its own transaction with
/// the `user_version` that records it.
pub(crate) fn migrate(conn: &mut Connection) -> Result<()> {
    let current: i64 = conn
        .query_row("PRAGMA user_version", [], |r| r.get(0))
        .map_err(|e| internal("read schema version", e))?;
    let known = MIGRATIONS.len() as i64;
    if current > known || current < 0 {
        return Err(Error::internal(format!(
            "sqlite: the database has schema version {current}; this coffer knows versions up to {known}"
        )));
    }
    for (i, sql) in MIGRATIONS.iter().enumerate().skip(current as usize) {
        let number = i + 1;
        let tx = conn
            .transaction()
            .map_err(|e| internal("begin migration", e))?;
        tx.execute_batch(sql)
            .map_err(|e| internal(&format!("migration {number}"), e))?;
        tx.execute_batch(&format!("PRAGMA user_version = {number}"))
            .map_err(|e| internal("record migration", e))?;
        tx.commit()
            .map_err(|e| internal(&format!("commit migration {number}"), e))?;
        tracing::info!(migration = number, "applied sqlite schema migration");
    }
    Ok(())
}

/// Helpers for the tests of the SQLite modules: a migrated database in memory, and the plan
/// SQLite picks for a query.
#[cfg(test)]
pub(crate) mod testing {
    use rusqlite::types::Value;
    use rusqlite::{params_from_iter, Connection};

    use super::migrate;

    pub(crate) fn migrated() -> Connection {
        let mut c = Connection::open_in_memory().expect("memory db");
        migrate(&mut c).expect("migrate");
        c
    }

    pub(crate) fn plan(c: &Connection, sql: &str, args: &[Value]) -> String {
        let mut st = c
            .prepare(&format!("EXPLAIN QUERY PLAN {sql}"))
            .expect("prepare");
        let rows = st
            .query_map(params_from_iter(args.iter()), |r| r.get::<_, String>(3))
            .expect("plan");
        rows.map(|r| r.expect("row")).collect::<Vec<_>>().join("\n")
    }
}

#[cfg(test)]
mod tests {
    use rusqlite::types::Value;

    use super::testing::{migrated, plan};
    use super::*;
    use crate::sqlite::rows::load_key;

    #[test]
    fn migrations_are_numbered_and_refuse_a_newer_database() {
        let mut c = migrated();
        let v: i64 = c
            .query_row("PRAGMA user_version", [], |r| r.get(0))
            .expect("version");
        assert_eq!(v, MIGRATIONS.len() as i64);
        migrate(&mut c).expect("a second run applies nothing");
        c.execute_batch(&format!("PRAGMA user_version = {}", MIGRATIONS.len() + 1))
            .expect("bump");
        assert!(matches!(migrate(&mut c), Err(Error::Internal(_))));
    }

    #[test]
    fn a_version_1_database_upgrades_in_place() {
        let mut c = Connection::open_in_memory().expect("memory db");
        c.execute_batch(MIGRATIONS[0]).expect("migration 1");
        c.execute_batch(
            "PRAGMA user_version = 1;
             INSERT INTO keys (id, account, region, description, state, is_default, created_at,
                               primary_version)
                 VALUES ('k1', 1, 'r', '', 'enabled', 1, 1, 'kv1');
             INSERT INTO key_aliases (account, region, alias, key_id) VALUES (1, 'r', 'alias/a', 'k1');
             INSERT INTO secret_counts (account, region, n) VALUES (1, 'r', 0);",
        )
        .expect("version 1 data");
        migrate(&mut c).expect("upgrade");
        let v: i64 = c
            .query_row("PRAGMA user_version", [], |r| r.get(0))
            .expect("version");
        assert_eq!(v, MIGRATIONS.len() as i64);
        let key = load_key(&c, "k1").expect("load").expect("exists");
        assert_eq!(key.aliases, vec!["alias/a".to_string()]);
        let p = plan(
            &c,
            "SELECT alias FROM key_aliases WHERE key_id = ?1 ORDER BY rowid",
            &[Value::Text("k1".into())],
        );
        assert!(p.contains("key_aliases_by_key"), "{p}");
    }
}
