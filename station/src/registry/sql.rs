//! What the registry needs of a SQL database, so that its logic is written
//! once (`store.rs`) for SQLite and PostgreSQL alike: statements with
//! numbered parameters (`?1`, `?2`, ...), values of four kinds, and
//! transactions that stations sharing the database cannot interleave
//! wrongly.

use std::str::FromStr;

use time::OffsetDateTime;

use super::{RegistryError, Result};

/// A value going to or coming from the database.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Value {
    Null,
    Int(i64),
    Text(String),
    Blob(Vec<u8>),
}

impl From<i64> for Value {
    fn from(v: i64) -> Self {
        Value::Int(v)
    }
}

impl From<u32> for Value {
    fn from(v: u32) -> Self {
        Value::Int(i64::from(v))
    }
}

impl From<&str> for Value {
    fn from(v: &str) -> Self {
        Value::Text(v.to_string())
    }
}

impl From<String> for Value {
    fn from(v: String) -> Self {
        Value::Text(v)
    }
}

impl From<&String> for Value {
    fn from(v: &String) -> Self {
        Value::Text(v.clone())
    }
}

impl From<&Vec<u8>> for Value {
    fn from(v: &Vec<u8>) -> Self {
        Value::Blob(v.clone())
    }
}

impl From<OffsetDateTime> for Value {
    /// Times are stored as Unix seconds.
    fn from(t: OffsetDateTime) -> Self {
        Value::Int(t.unix_timestamp())
    }
}

impl<T: Into<Value>> From<Option<T>> for Value {
    fn from(v: Option<T>) -> Self {
        v.map_or(Value::Null, Into::into)
    }
}

/// `[a, b, c]` as `[Value; 3]`.
macro_rules! values {
    ($($v:expr),* $(,)?) => { [$($crate::registry::sql::Value::from($v)),*] };
}
pub(crate) use values;

/// One row of a query's answer.
#[derive(Debug)]
pub struct Row(pub(crate) Vec<Value>);

impl Row {
    fn get(&self, i: usize) -> Result<&Value> {
        self.0
            .get(i)
            .ok_or_else(|| RegistryError::Corrupt(format!("a row without column {i}")))
    }

    fn wrong(&self, i: usize, what: &str) -> RegistryError {
        RegistryError::Corrupt(format!("column {i} is not {what}"))
    }

    pub(crate) fn opt_int(&self, i: usize) -> Result<Option<i64>> {
        match self.get(i)? {
            Value::Int(v) => Ok(Some(*v)),
            Value::Null => Ok(None),
            _ => Err(self.wrong(i, "a number")),
        }
    }

    pub(crate) fn int(&self, i: usize) -> Result<i64> {
        self.opt_int(i)?.ok_or_else(|| self.wrong(i, "a number"))
    }

    /// A card serial (stored as a wider integer).
    pub(crate) fn opt_serial(&self, i: usize) -> Result<Option<u32>> {
        self.opt_int(i)?
            .map(|v| u32::try_from(v).map_err(|_| self.wrong(i, "a card serial")))
            .transpose()
    }

    pub(crate) fn serial(&self, i: usize) -> Result<u32> {
        self.opt_serial(i)?
            .ok_or_else(|| self.wrong(i, "a card serial"))
    }

    pub(crate) fn opt_text(&self, i: usize) -> Result<Option<String>> {
        match self.get(i)? {
            Value::Text(v) => Ok(Some(v.clone())),
            Value::Null => Ok(None),
            _ => Err(self.wrong(i, "text")),
        }
    }

    pub(crate) fn text(&self, i: usize) -> Result<String> {
        self.opt_text(i)?.ok_or_else(|| self.wrong(i, "text"))
    }

    pub(crate) fn opt_blob(&self, i: usize) -> Result<Option<Vec<u8>>> {
        match self.get(i)? {
            Value::Blob(v) => Ok(Some(v.clone())),
            Value::Null => Ok(None),
            _ => Err(self.wrong(i, "bytes")),
        }
    }

    pub(crate) fn blob(&self, i: usize) -> Result<Vec<u8>> {
        self.opt_blob(i)?.ok_or_else(|| self.wrong(i, "bytes"))
    }

    pub(crate) fn time(&self, i: usize) -> Result<OffsetDateTime> {
        let v = self.int(i)?;
        OffsetDateTime::from_unix_timestamp(v).map_err(|_| self.wrong(i, "a time"))
    }

    /// Text that names a value of `T` (a state, a step, a slot).
    pub(crate) fn parsed<T: FromStr>(&self, i: usize) -> Result<T>
    where
        T::Err: std::fmt::Display,
    {
        let text = self.text(i)?;
        text.parse()
            .map_err(|e: T::Err| RegistryError::Corrupt(e.to_string()))
    }

    pub(crate) fn opt_parsed<T: FromStr>(&self, i: usize) -> Result<Option<T>>
    where
        T::Err: std::fmt::Display,
    {
        match self.opt_text(i)? {
            Some(t) => t
                .parse()
                .map(Some)
                .map_err(|e: T::Err| RegistryError::Corrupt(e.to_string())),
            None => Ok(None),
        }
    }
}

/// Statements within one transaction (or one read).
pub trait Sql {
    /// Runs a statement; returns how many rows it changed.
    fn execute(&mut self, sql: &str, params: &[Value]) -> Result<u64>;
    /// Runs a query; returns its rows.
    fn query(&mut self, sql: &str, params: &[Value]) -> Result<Vec<Row>>;
    /// Holds the audit chain's head for the rest of the transaction: no other
    /// station appends an entry until this transaction ends.
    fn lock_audit_chain(&mut self) -> Result<()>;
    /// Holds row `id` of `table` for the rest of the transaction: another
    /// station's transaction that holds it too waits until this one ends.
    fn hold_row(&mut self, table: &str, id: i64) -> Result<()>;

    /// The first row of a query, if any.
    fn query_one(&mut self, sql: &str, params: &[Value]) -> Result<Option<Row>> {
        Ok(self.query(sql, params)?.into_iter().next())
    }
}

/// A database the registry can run on.
pub trait Backend: Send {
    /// Runs `f` in one transaction, committed when it returns `Ok` and
    /// rolled back otherwise.
    fn write<R>(&mut self, f: &mut dyn FnMut(&mut dyn Sql) -> Result<R>) -> Result<R>;
    /// Runs read-only `f` (no transaction needed).
    fn read<R>(&mut self, f: &mut dyn FnMut(&mut dyn Sql) -> Result<R>) -> Result<R>;
}
