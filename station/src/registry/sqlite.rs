//! The embedded registry: one SQLite file in WAL mode, migrated on open.
//! Every write is an IMMEDIATE transaction, so writers (several CLI
//! processes on one station) take turns: holding a row or the audit chain's
//! head needs nothing more.

use std::path::Path;
use std::time::Duration;

use rusqlite::types::{ToSqlOutput, ValueRef};
use rusqlite::{Connection, TransactionBehavior};

use super::sql::{Backend, Row, Sql, Value};
use super::store::SqlRegistry;
use super::{RegistryError, Result};

mod migrations;

use migrations::MIGRATIONS;

/// The embedded registry: one SQLite file in WAL mode.
pub type SqliteRegistry = SqlRegistry<Sqlite>;

/// A SQLite connection, as the registry's [`Backend`].
pub struct Sqlite {
    conn: Connection,
}

impl SqlRegistry<Sqlite> {
    /// Opens (creating and migrating) the registry file.
    pub fn open(path: &Path) -> Result<Self> {
        let conn = Connection::open(path)?;
        conn.busy_timeout(Duration::from_secs(30))?;
        conn.pragma_update(None, "journal_mode", "WAL")?;
        conn.pragma_update(None, "synchronous", "FULL")?;
        conn.pragma_update(None, "foreign_keys", "ON")?;
        let mut db = Sqlite { conn };
        db.migrate(path)?;
        Ok(SqlRegistry::new(db))
    }

    /// Direct access for tests that play an attacker editing the file.
    pub fn connection(&self) -> std::cell::RefMut<'_, Connection> {
        std::cell::RefMut::map(self.backend(), |db| &mut db.conn)
    }
}

impl Sqlite {
    fn migrate(&mut self, path: &Path) -> Result<()> {
        let tx = self
            .conn
            .transaction_with_behavior(TransactionBehavior::Immediate)?;
        let version: i64 = tx.query_row("PRAGMA user_version", [], |r| r.get(0))?;
        let known = MIGRATIONS.len() as i64;
        if version > known {
            return Err(RegistryError::TooNew {
                path: path.display().to_string(),
                found: version,
                known,
            });
        }
        for sql in &MIGRATIONS[version as usize..] {
            tx.execute_batch(sql)?;
        }
        tx.pragma_update(None, "user_version", known)?;
        tx.commit()?;
        Ok(())
    }
}

impl rusqlite::ToSql for Value {
    fn to_sql(&self) -> rusqlite::Result<ToSqlOutput<'_>> {
        Ok(match self {
            Value::Null => ToSqlOutput::Owned(rusqlite::types::Value::Null),
            Value::Int(v) => ToSqlOutput::Borrowed(ValueRef::Integer(*v)),
            Value::Text(v) => ToSqlOutput::Borrowed(ValueRef::Text(v.as_bytes())),
            Value::Blob(v) => ToSqlOutput::Borrowed(ValueRef::Blob(v)),
        })
    }
}

fn row(r: &rusqlite::Row<'_>) -> rusqlite::Result<Row> {
    let n = r.as_ref().column_count();
    let mut values = Vec::with_capacity(n);
    for i in 0..n {
        values.push(match r.get_ref(i)? {
            ValueRef::Null => Value::Null,
            ValueRef::Integer(v) => Value::Int(v),
            ValueRef::Real(v) => Value::Int(v as i64),
            ValueRef::Text(t) => Value::Text(String::from_utf8_lossy(t).into_owned()),
            ValueRef::Blob(b) => Value::Blob(b.to_vec()),
        });
    }
    Ok(Row(values))
}

/// SQLite statements on a connection or in a transaction.
struct On<'c>(&'c Connection);

impl Sql for On<'_> {
    fn execute(&mut self, sql: &str, params: &[Value]) -> Result<u64> {
        Ok(self
            .0
            .execute(sql, rusqlite::params_from_iter(params.iter()))? as u64)
    }

    fn query(&mut self, sql: &str, params: &[Value]) -> Result<Vec<Row>> {
        let mut st = self.0.prepare(sql)?;
        let rows = st.query_map(rusqlite::params_from_iter(params.iter()), row)?;
        Ok(rows.collect::<rusqlite::Result<_>>()?)
    }

    fn lock_audit_chain(&mut self) -> Result<()> {
        Ok(()) // the IMMEDIATE transaction holds the whole database
    }

    fn hold_row(&mut self, _table: &str, _id: i64) -> Result<()> {
        Ok(()) // as above
    }
}

impl Backend for Sqlite {
    fn write<R>(&mut self, f: &mut dyn FnMut(&mut dyn Sql) -> Result<R>) -> Result<R> {
        let tx = self
            .conn
            .transaction_with_behavior(TransactionBehavior::Immediate)?;
        let out = f(&mut On(&tx))?;
        tx.commit()?;
        Ok(out)
    }

    fn read<R>(&mut self, f: &mut dyn FnMut(&mut dyn Sql) -> Result<R>) -> Result<R> {
        f(&mut On(&self.conn))
    }
}
