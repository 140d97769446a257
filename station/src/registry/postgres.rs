//! The central registry on PostgreSQL, shared by every station of a
//! network of Registration Points.
//!
//! Concurrency, in READ COMMITTED transactions: a workflow run holds its
//! application's row (`SELECT ... FOR UPDATE`) while it records the run, so
//! two stations starting one application take turns and the second finds
//! the first one's activation; the partial unique indexes (one live
//! application per NIF, one running activation per application and per
//! card) turn whatever still races into a refused transaction; every audit
//! entry is appended under a transaction-scoped advisory lock, so the whole
//! network keeps one chain. A transaction that the server aborts for a
//! deadlock or a serialization failure runs again (three times at most).
//!
//! A connection that drops is made again at the next use; while the server
//! cannot be reached, every operation fails with
//! [`RegistryError::Unreachable`] and changes nothing.

use std::error::Error as StdError;
use std::time::Duration;

use bytes::BytesMut;
use postgres::error::SqlState;
use postgres::types::{IsNull, ToSql, Type};
use postgres::{Client, NoTls};

use super::sql::{Backend, Row, Sql, Value};
use super::store::SqlRegistry;
use super::{RegistryError, Result};

mod migrations;

use migrations::MIGRATIONS;

/// The central registry: a PostgreSQL database.
pub type PostgresRegistry = SqlRegistry<Postgres>;

/// The audit chain's advisory lock (any constant the registry alone uses).
const AUDIT_CHAIN_LOCK: i64 = 0x4649_524D_4141_5544; // "FIRMAAUD"

/// A PostgreSQL connection, as the registry's [`Backend`].
pub struct Postgres {
    config: postgres::Config,
    client: Option<Client>,
}

impl std::fmt::Debug for Postgres {
    /// Where, never with the password.
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(&self.location())
    }
}

impl SqlRegistry<Postgres> {
    /// Connects to the registry at `url` (`postgres://USER@HOST:PORT/DB` or
    /// `host=... user=... dbname=...`) and checks that its schema is the one
    /// this station knows. The password, if any, comes with the URL or from
    /// `password_file`.
    pub fn connect(url: &str, password_file: Option<&std::path::Path>) -> Result<Self> {
        let registry = Self::connect_unchecked(url, password_file)?;
        let found = registry.backend().schema_version()?;
        let known = MIGRATIONS.len() as i64;
        if found != known {
            return Err(RegistryError::SchemaNotCurrent {
                location: registry.backend().location(),
                found,
                known,
            });
        }
        Ok(registry)
    }

    /// Connects without looking at the schema (for `registry migrate`).
    pub fn connect_unchecked(url: &str, password_file: Option<&std::path::Path>) -> Result<Self> {
        let mut config: postgres::Config = url
            .parse()
            .map_err(|e: postgres::Error| RegistryError::BadLocation(e.to_string()))?;
        if let Some(file) = password_file {
            let password = zeroize::Zeroizing::new(std::fs::read_to_string(file).map_err(|e| {
                RegistryError::BadLocation(format!(
                    "the password file {} cannot be read: {e}",
                    file.display()
                ))
            })?);
            config.password(password.trim_end_matches(['\r', '\n']));
        }
        config
            .connect_timeout(Duration::from_secs(5))
            .keepalives_idle(Duration::from_secs(30))
            .application_name("firma-station");
        let mut db = Postgres {
            config,
            client: None,
        };
        db.client()?;
        Ok(SqlRegistry::new(db))
    }

    /// Runs the migrations this database has not run yet; returns how many
    /// ran. Needs a role that may create tables and roles (the DBA's).
    pub fn migrate(&mut self) -> Result<usize> {
        let db = &mut *self.backend();
        let location = db.location();
        let client = db.client()?;
        let mut tx = client.transaction().map_err(classify)?;
        tx.batch_execute(
            "CREATE TABLE IF NOT EXISTS firma_schema (version BIGINT NOT NULL);
             LOCK TABLE firma_schema IN EXCLUSIVE MODE;",
        )
        .map_err(classify)?;
        let found: i64 = match tx
            .query_opt("SELECT version FROM firma_schema", &[])
            .map_err(classify)?
        {
            Some(r) => r.get(0),
            None => {
                tx.execute("INSERT INTO firma_schema VALUES (0)", &[])
                    .map_err(classify)?;
                0
            }
        };
        let known = MIGRATIONS.len() as i64;
        if found > known {
            return Err(RegistryError::TooNew {
                path: location,
                found,
                known,
            });
        }
        for sql in &MIGRATIONS[found as usize..] {
            tx.batch_execute(sql).map_err(classify)?;
        }
        tx.execute("UPDATE firma_schema SET version = $1", &[&known])
            .map_err(classify)?;
        tx.commit().map_err(classify)?;
        Ok((known - found) as usize)
    }
}

impl Postgres {
    /// The server and database, for messages (never the password).
    fn location(&self) -> String {
        let hosts: Vec<String> = self
            .config
            .get_hosts()
            .iter()
            .map(|h| match h {
                postgres::config::Host::Tcp(name) => name.clone(),
                postgres::config::Host::Unix(path) => path.display().to_string(),
            })
            .collect();
        format!(
            "database {} on {}",
            self.config.get_dbname().unwrap_or("(default)"),
            if hosts.is_empty() {
                "localhost".into()
            } else {
                hosts.join(",")
            }
        )
    }

    /// The connection, made again if it dropped.
    fn client(&mut self) -> Result<&mut Client> {
        if self.client.as_ref().is_none_or(Client::is_closed) {
            self.client = None;
            let client = self
                .config
                .connect(NoTls)
                .map_err(|e| unreachable(self, e))?;
            self.client = Some(client);
        }
        Ok(self.client.as_mut().expect("connected above"))
    }

    fn schema_version(&mut self) -> Result<i64> {
        let client = self.client()?;
        match client.query_opt("SELECT version FROM firma_schema", &[]) {
            Ok(row) => Ok(row.map_or(0, |r| r.get(0))),
            Err(e) if e.code() == Some(&SqlState::UNDEFINED_TABLE) => Ok(0),
            Err(e) => Err(classify(e)),
        }
    }
}

fn is_connection_error(e: &postgres::Error) -> bool {
    e.is_closed() || e.source().is_some_and(|s| s.is::<std::io::Error>())
}

fn unreachable(db: &Postgres, e: postgres::Error) -> RegistryError {
    RegistryError::Unreachable {
        location: db.location(),
        reason: e.to_string(),
    }
}

/// Maps a server's refusal to the registry's errors.
fn classify(e: postgres::Error) -> RegistryError {
    match e.code() {
        Some(code) if *code == SqlState::UNIQUE_VIOLATION => {
            let what = e
                .as_db_error()
                .and_then(|d| d.constraint())
                .unwrap_or("a unique index")
                .to_string();
            RegistryError::Conflict(what)
        }
        Some(code)
            if *code == SqlState::T_R_DEADLOCK_DETECTED
                || *code == SqlState::T_R_SERIALIZATION_FAILURE =>
        {
            RegistryError::Contended(e.to_string())
        }
        Some(code) if *code == SqlState::INSUFFICIENT_PRIVILEGE => RegistryError::Refused(
            e.as_db_error()
                .map_or(e.to_string(), |d| d.message().into()),
        ),
        // Connection exceptions (08) and a server shutting down or starting
        // up (57P0x): the server is away, not refusing.
        Some(code) if code.code().starts_with("08") || code.code().starts_with("57P") => {
            RegistryError::Unreachable {
                location: "the central registry".into(),
                reason: e.to_string(),
            }
        }
        _ if is_connection_error(&e) => RegistryError::Unreachable {
            location: "the central registry".into(),
            reason: e.to_string(),
        },
        _ => RegistryError::Postgres(e.as_db_error().map_or(e.to_string(), |d| d.to_string())),
    }
}

/// `?1`, `?2`, ... (the registry's statements) as PostgreSQL's `$1`, `$2`.
fn dollar_params(sql: &str) -> String {
    let mut out = String::with_capacity(sql.len());
    let mut chars = sql.chars().peekable();
    while let Some(c) = chars.next() {
        if c == '?' && chars.peek().is_some_and(char::is_ascii_digit) {
            out.push('$');
        } else {
            out.push(c);
        }
    }
    out
}

impl ToSql for Value {
    fn to_sql(
        &self,
        ty: &Type,
        out: &mut BytesMut,
    ) -> std::result::Result<IsNull, Box<dyn StdError + Sync + Send>> {
        match self {
            Value::Null => Ok(IsNull::Yes),
            Value::Int(v) if *ty == Type::INT4 => i32::try_from(*v)?.to_sql(ty, out),
            Value::Int(v) => v.to_sql(ty, out),
            Value::Text(v) => v.to_sql(ty, out),
            Value::Blob(v) => v.to_sql(ty, out),
        }
    }

    fn accepts(_: &Type) -> bool {
        true
    }

    postgres::types::to_sql_checked!();
}

fn row(r: &postgres::Row) -> Result<Row> {
    let mut values = Vec::with_capacity(r.len());
    for (i, column) in r.columns().iter().enumerate() {
        let ty = column.type_();
        let bad = |e: postgres::Error| RegistryError::Corrupt(format!("column {i}: {e}"));
        let value = if *ty == Type::INT8 {
            r.try_get::<_, Option<i64>>(i).map_err(bad)?.map(Value::Int)
        } else if *ty == Type::INT4 {
            r.try_get::<_, Option<i32>>(i)
                .map_err(bad)?
                .map(|v| Value::Int(v.into()))
        } else if *ty == Type::BYTEA {
            r.try_get::<_, Option<Vec<u8>>>(i)
                .map_err(bad)?
                .map(Value::Blob)
        } else {
            r.try_get::<_, Option<String>>(i)
                .map_err(bad)?
                .map(Value::Text)
        };
        values.push(value.unwrap_or(Value::Null));
    }
    Ok(Row(values))
}

fn params(values: &[Value]) -> Vec<&(dyn ToSql + Sync)> {
    values.iter().map(|v| v as &(dyn ToSql + Sync)).collect()
}

/// Statements in one PostgreSQL transaction.
struct InTransaction<'t, 'c>(&'t mut postgres::Transaction<'c>);

impl Sql for InTransaction<'_, '_> {
    fn execute(&mut self, sql: &str, values: &[Value]) -> Result<u64> {
        self.0
            .execute(&dollar_params(sql), &params(values))
            .map_err(classify)
    }

    fn query(&mut self, sql: &str, values: &[Value]) -> Result<Vec<Row>> {
        self.0
            .query(&dollar_params(sql), &params(values))
            .map_err(classify)?
            .iter()
            .map(row)
            .collect()
    }

    fn lock_audit_chain(&mut self) -> Result<()> {
        self.0
            .execute("SELECT pg_advisory_xact_lock($1)", &[&AUDIT_CHAIN_LOCK])
            .map_err(classify)?;
        Ok(())
    }

    fn hold_row(&mut self, table: &str, id: i64) -> Result<()> {
        self.0
            .execute(
                &format!("SELECT 1 FROM {table} WHERE id = $1 FOR UPDATE"),
                &[&id],
            )
            .map_err(classify)?;
        Ok(())
    }
}

/// How often a transaction the server aborted (deadlock, serialization)
/// runs again.
const RETRIES: usize = 3;

impl Postgres {
    fn write_once<R>(&mut self, f: &mut dyn FnMut(&mut dyn Sql) -> Result<R>) -> Result<R> {
        let client = self.client()?;
        let mut tx = client.transaction().map_err(classify)?;
        let out = f(&mut InTransaction(&mut tx))?;
        tx.commit().map_err(classify)?;
        Ok(out)
    }
}

impl Backend for Postgres {
    fn write<R>(&mut self, f: &mut dyn FnMut(&mut dyn Sql) -> Result<R>) -> Result<R> {
        let mut attempt = 1;
        loop {
            let result = self.write_once(f);
            if self.client.as_ref().is_some_and(Client::is_closed) {
                self.client = None; // the next use connects again
            }
            match result {
                Err(RegistryError::Contended(_)) if attempt < RETRIES => attempt += 1,
                Err(RegistryError::Unreachable { reason, .. }) => {
                    return Err(RegistryError::Unreachable {
                        location: self.location(),
                        reason,
                    })
                }
                other => return other,
            }
        }
    }

    fn read<R>(&mut self, f: &mut dyn FnMut(&mut dyn Sql) -> Result<R>) -> Result<R> {
        // A read is a transaction too: one consistent view, and the same code.
        self.write(f)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn numbered_parameters_become_dollars() {
        assert_eq!(
            dollar_params("UPDATE t SET a = ?2 WHERE id = ?1 AND b = '?'"),
            "UPDATE t SET a = $2 WHERE id = $1 AND b = '?'"
        );
        assert_eq!(dollar_params("?10, ?1"), "$10, $1");
    }
}
