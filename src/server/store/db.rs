//! One SQL connection, SQLite or PostgreSQL, behind the few calls the store needs.
//!
//! The store's statements are written once, in the SQL both databases share: `?N` (or `?`)
//! placeholders, `ON CONFLICT … DO …`, `RETURNING`, `COALESCE`, `CASE`, `lower()` for case-insensitive
//! matches. For PostgreSQL the placeholders become `$N`; nothing else is rewritten. Values cross as
//! [`Value`]s and rows come back owned ([`Row`]), so a function of the store reads the same on either
//! database. Both schemas keep integers and flags as 64-bit integers, so `is_disabled = 0` means the
//! same thing everywhere.
//!
//! Transactions nest: [`Db::transaction`] begins one, or a savepoint inside one, and commits or rolls
//! back with the closure's result.

use std::borrow::Cow;
use std::cell::{Cell, RefCell};
use std::collections::HashMap;
use std::error::Error as StdError;

use bytes::BytesMut;
use postgres::types::{IsNull, ToSql, Type, to_sql_checked};

use super::{StoreError, StoreResult};

/// A value bound to a placeholder or read from a column.
#[derive(Debug, Clone, PartialEq)]
pub enum Value {
    Null,
    Integer(i64),
    Real(f64),
    Text(String),
    Blob(Vec<u8>),
}

/// Turns a Rust value into a [`Value`] for a placeholder.
pub trait ToValue {
    fn to_value(&self) -> Value;
}

macro_rules! integer_to_value {
    ($($t:ty),*) => {$(
        impl ToValue for $t {
            fn to_value(&self) -> Value {
                Value::Integer(i64::try_from(*self).unwrap_or(i64::MAX))
            }
        }
    )*};
}
integer_to_value!(i64, i32, u8, u16, u32, u64, usize);

impl ToValue for bool {
    fn to_value(&self) -> Value {
        Value::Integer(i64::from(*self))
    }
}
impl ToValue for f64 {
    fn to_value(&self) -> Value {
        Value::Real(*self)
    }
}
impl ToValue for str {
    fn to_value(&self) -> Value {
        Value::Text(self.to_owned())
    }
}
impl ToValue for String {
    fn to_value(&self) -> Value {
        Value::Text(self.clone())
    }
}
impl ToValue for [u8] {
    fn to_value(&self) -> Value {
        Value::Blob(self.to_vec())
    }
}
impl ToValue for Vec<u8> {
    fn to_value(&self) -> Value {
        Value::Blob(self.clone())
    }
}
impl ToValue for Value {
    fn to_value(&self) -> Value {
        self.clone()
    }
}
impl<T: ToValue + ?Sized> ToValue for &T {
    fn to_value(&self) -> Value {
        (**self).to_value()
    }
}
impl<T: ToValue> ToValue for Option<T> {
    fn to_value(&self) -> Value {
        self.as_ref().map_or(Value::Null, ToValue::to_value)
    }
}

/// The placeholder values of one statement, in order: `params![a, b]`.
#[macro_export]
macro_rules! sql_params {
    () => { &[] as &[&dyn $crate::server::store::db::ToValue] };
    ($($value:expr),+ $(,)?) => { &[$(&$value as &dyn $crate::server::store::db::ToValue),+] as &[&dyn $crate::server::store::db::ToValue] };
}
pub use sql_params as params;

/// Reads a Rust value out of a column.
pub trait FromValue: Sized {
    /// # Errors
    /// A description of the mismatch.
    fn from_value(value: &Value) -> Result<Self, String>;
}

impl FromValue for i64 {
    fn from_value(value: &Value) -> Result<Self, String> {
        match value {
            Value::Integer(v) => Ok(*v),
            other => Err(format!("expected an integer, found {other:?}")),
        }
    }
}

macro_rules! integer_from_value {
    ($($t:ty),*) => {$(
        impl FromValue for $t {
            fn from_value(value: &Value) -> Result<Self, String> {
                let wide = i64::from_value(value)?;
                <$t>::try_from(wide).map_err(|_| format!("{wide} is out of range for {}", stringify!($t)))
            }
        }
    )*};
}
integer_from_value!(i32, u8, u16, u32, u64, usize);

impl FromValue for bool {
    fn from_value(value: &Value) -> Result<Self, String> {
        Ok(i64::from_value(value)? != 0)
    }
}
impl FromValue for f64 {
    fn from_value(value: &Value) -> Result<Self, String> {
        match value {
            Value::Real(v) => Ok(*v),
            #[allow(clippy::cast_precision_loss)]
            Value::Integer(v) => Ok(*v as f64),
            other => Err(format!("expected a number, found {other:?}")),
        }
    }
}
impl FromValue for String {
    fn from_value(value: &Value) -> Result<Self, String> {
        match value {
            Value::Text(text) => Ok(text.clone()),
            other => Err(format!("expected text, found {other:?}")),
        }
    }
}
impl FromValue for Vec<u8> {
    fn from_value(value: &Value) -> Result<Self, String> {
        match value {
            Value::Blob(bytes) => Ok(bytes.clone()),
            Value::Text(text) => Ok(text.clone().into_bytes()),
            other => Err(format!("expected bytes, found {other:?}")),
        }
    }
}
impl FromValue for Value {
    fn from_value(value: &Value) -> Result<Self, String> {
        Ok(value.clone())
    }
}
impl<T: FromValue> FromValue for Option<T> {
    fn from_value(value: &Value) -> Result<Self, String> {
        match value {
            Value::Null => Ok(None),
            other => T::from_value(other).map(Some),
        }
    }
}

/// One result row, owned.
#[derive(Debug, Clone)]
pub struct Row(Vec<Value>);

impl Row {
    /// Column `index` as a `T`.
    ///
    /// # Errors
    /// [`StoreError::Decode`] when the column is missing or holds another type.
    pub fn get<T: FromValue>(&self, index: usize) -> StoreResult<T> {
        let value = self.0.get(index).ok_or_else(|| StoreError::Decode(format!("no column {index}")))?;
        T::from_value(value).map_err(|e| StoreError::Decode(format!("column {index}: {e}")))
    }
}

/// Work that must not run side by side, across every connection and replica. SQLite's single
/// writer gives this by itself; on PostgreSQL it is a transaction-level advisory lock, released at
/// commit or rollback (or when the connection dies).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Exclusive {
    /// Schema migration at start-up: replicas that start together migrate one after another.
    Migration,
    /// Audited management changes and the first admin: labels are `max + 1`, and rollout rules
    /// and checks read before they write.
    Management,
    /// Reports of one deployment: they update the same counter rows, and two reports locking them
    /// in different orders would deadlock.
    Reports(i64),
}

/// The session-level advisory lock that makes a replica the leader ([`crate::server::replicas`]);
/// in the same key space as [`Exclusive`]'s locks.
pub const LEADER_LOCK: i64 = 7_210_002;

/// Which database a [`Db`] talks to.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Dialect {
    Sqlite,
    Postgres,
}

enum Backend {
    Sqlite(rusqlite::Connection),
    Postgres(Box<RefCell<Postgres>>),
}

struct Postgres {
    /// Always `Some` until dropped (see the `Drop` impl).
    client: Option<postgres::Client>,
    /// Prepared statements by their (rewritten) text: one round trip per statement after the first.
    statements: HashMap<String, postgres::Statement>,
}

/// An open connection to the metadata database.
pub struct Db {
    backend: Backend,
    /// Open transactions (0: autocommit); above 1 they are savepoints.
    depth: Cell<u32>,
    /// A rollback failed, so a transaction may still be open (PostgreSQL; SQLite can tell).
    maybe_open: Cell<bool>,
}

impl Db {
    /// Wraps an open SQLite connection.
    #[must_use]
    pub fn sqlite(connection: rusqlite::Connection) -> Self {
        Self { backend: Backend::Sqlite(connection), depth: Cell::new(0), maybe_open: Cell::new(false) }
    }

    /// Wraps an open PostgreSQL client.
    #[must_use]
    pub fn postgres(client: postgres::Client) -> Self {
        Self {
            backend: Backend::Postgres(Box::new(RefCell::new(Postgres {
                client: Some(client),
                statements: HashMap::new(),
            }))),
            depth: Cell::new(0),
            maybe_open: Cell::new(false),
        }
    }

    /// The database behind this connection.
    #[must_use]
    pub fn dialect(&self) -> Dialect {
        match self.backend {
            Backend::Sqlite(_) => Dialect::Sqlite,
            Backend::Postgres(_) => Dialect::Postgres,
        }
    }

    /// The SQLite connection, for the few SQLite-only calls (pragmas, checkpoints).
    #[must_use]
    pub fn as_sqlite(&self) -> Option<&rusqlite::Connection> {
        match &self.backend {
            Backend::Sqlite(connection) => Some(connection),
            Backend::Postgres(_) => None,
        }
    }

    /// Runs one statement; the number of rows it changed.
    ///
    /// # Errors
    /// Database errors.
    pub fn execute(&self, sql: &str, params: &[&dyn ToValue]) -> StoreResult<usize> {
        let values = values_of(params);
        match &self.backend {
            Backend::Sqlite(connection) => {
                Ok(connection.prepare_cached(sql)?.execute(rusqlite::params_from_iter(values))?)
            }
            Backend::Postgres(cell) => {
                let mut pg = cell.borrow_mut();
                let statement = pg.statement(sql)?;
                let changed = pg.client().execute(&statement, &bind(&values))?;
                Ok(usize::try_from(changed).unwrap_or(usize::MAX))
            }
        }
    }

    /// Runs a query; every row it returns.
    ///
    /// # Errors
    /// Database errors.
    pub fn query(&self, sql: &str, params: &[&dyn ToValue]) -> StoreResult<Vec<Row>> {
        let values = values_of(params);
        match &self.backend {
            Backend::Sqlite(connection) => {
                let mut statement = connection.prepare_cached(sql)?;
                let columns = statement.column_count();
                let mut rows = statement.query(rusqlite::params_from_iter(values))?;
                let mut out = Vec::new();
                while let Some(row) = rows.next()? {
                    let values = (0..columns).map(|i| row.get_ref(i).map(from_sqlite)).collect::<Result<_, _>>()?;
                    out.push(Row(values));
                }
                Ok(out)
            }
            Backend::Postgres(cell) => {
                let mut pg = cell.borrow_mut();
                let statement = pg.statement(sql)?;
                let rows = pg.client().query(&statement, &bind(&values))?;
                rows.iter().map(from_postgres).collect()
            }
        }
    }

    /// Runs a query and maps each row.
    ///
    /// # Errors
    /// Database errors, or what `map` returns.
    pub fn query_map<T>(
        &self,
        sql: &str,
        params: &[&dyn ToValue],
        map: impl FnMut(&Row) -> StoreResult<T>,
    ) -> StoreResult<Vec<T>> {
        self.query(sql, params)?.iter().map(map).collect()
    }

    /// The first row of a query, mapped, if there is one.
    ///
    /// # Errors
    /// Database errors, or what `map` returns.
    pub fn query_opt<T>(
        &self,
        sql: &str,
        params: &[&dyn ToValue],
        map: impl FnOnce(&Row) -> StoreResult<T>,
    ) -> StoreResult<Option<T>> {
        self.query(sql, params)?.first().map(map).transpose()
    }

    /// The first row of a query, mapped; a query that returns nothing is a [`StoreError::Decode`]
    /// (use it for aggregates and `RETURNING`, which always return a row).
    ///
    /// # Errors
    /// Database errors, no row, or what `map` returns.
    pub fn query_one<T>(
        &self,
        sql: &str,
        params: &[&dyn ToValue],
        map: impl FnOnce(&Row) -> StoreResult<T>,
    ) -> StoreResult<T> {
        self.query_opt(sql, params, map)?.ok_or_else(|| StoreError::Decode(format!("no row from: {sql}")))
    }

    /// Runs one transaction-control statement (`BEGIN`, `COMMIT`, `SAVEPOINT s1`, …). On SQLite it
    /// is prepared once and cached: a batch of status reports opens and releases a savepoint per
    /// report, and parsing those again each time was a tenth of the report path.
    fn control(&self, sql: &str) -> StoreResult<()> {
        match &self.backend {
            Backend::Sqlite(connection) => {
                connection.prepare_cached(sql)?.execute([])?;
                Ok(())
            }
            Backend::Postgres(_) => self.batch(sql),
        }
    }

    /// Runs several statements without placeholders (migrations).
    ///
    /// # Errors
    /// Database errors.
    pub fn batch(&self, sql: &str) -> StoreResult<()> {
        match &self.backend {
            Backend::Sqlite(connection) => Ok(connection.execute_batch(sql)?),
            Backend::Postgres(cell) => Ok(cell.borrow_mut().client().batch_execute(sql)?),
        }
    }

    /// Waits until no other connection or replica holds `what`, and holds it until the current
    /// transaction ends. A no-op on SQLite, whose one connection already writes alone.
    ///
    /// # Errors
    /// Database errors.
    pub fn one_at_a_time(&self, what: Exclusive) -> StoreResult<()> {
        if self.dialect() == Dialect::Sqlite {
            return Ok(());
        }
        let (sql, key): (&str, i64) = match what {
            Exclusive::Migration => ("SELECT pg_advisory_xact_lock(?1)", 7_210_001),
            Exclusive::Management => ("SELECT pg_advisory_xact_lock(?1)", 7_210_003),
            // The two-key form: the deployment id in a key space of its own.
            Exclusive::Reports(deployment_id) => {
                ("SELECT pg_advisory_xact_lock(72100, CAST(?1 AS INTEGER))", deployment_id)
            }
        };
        self.execute(sql, params![key]).map(|_| ())
    }

    /// Runs `work` in a transaction (or a savepoint, inside one): committed when it returns `Ok`,
    /// rolled back when it returns an error.
    ///
    /// # Errors
    /// What `work` returns, or database errors beginning or ending the transaction.
    pub fn transaction<T>(&self, work: impl FnOnce(&Self) -> StoreResult<T>) -> StoreResult<T> {
        let depth = self.depth.get();
        // Depth 1 is every unit of a batched write, so its statements are not built each time.
        let (begin, commit, rollback): (Cow<'static, str>, Cow<'static, str>, Cow<'static, str>) = match depth {
            0 => {
                let begin = if self.dialect() == Dialect::Sqlite { "BEGIN IMMEDIATE" } else { "BEGIN" };
                (begin.into(), "COMMIT".into(), "ROLLBACK".into())
            }
            1 => (
                "SAVEPOINT s1".into(),
                "RELEASE SAVEPOINT s1".into(),
                "ROLLBACK TO SAVEPOINT s1; RELEASE SAVEPOINT s1".into(),
            ),
            _ => (
                format!("SAVEPOINT s{depth}").into(),
                format!("RELEASE SAVEPOINT s{depth}").into(),
                format!("ROLLBACK TO SAVEPOINT s{depth}; RELEASE SAVEPOINT s{depth}").into(),
            ),
        };
        self.control(&begin)?;
        self.depth.set(depth + 1);
        let result = work(self);
        let finished = match result {
            Ok(value) => self.control(&commit).map(|()| value),
            Err(error) => Err(error),
        };
        if finished.is_err() {
            // Nothing of failed work stays; should the rollback itself fail, `reset` rolls back
            // before the connection is used again.
            if self.batch(&rollback).is_err() {
                self.maybe_open.set(true);
            }
        }
        self.depth.set(depth);
        finished
    }

    /// Rolls back whatever a failed unit of work left open, before the next one builds on it.
    ///
    /// # Errors
    /// Database errors.
    pub fn reset(&self) -> StoreResult<()> {
        self.depth.set(0);
        match &self.backend {
            Backend::Sqlite(connection) if !connection.is_autocommit() => Ok(connection.execute_batch("ROLLBACK")?),
            Backend::Sqlite(_) => Ok(()),
            Backend::Postgres(cell) => {
                let mut pg = cell.borrow_mut();
                if pg.client().is_closed() {
                    return Err(StoreError::Unavailable("the connection to PostgreSQL was closed".into()));
                }
                if self.maybe_open.replace(false) {
                    pg.client().batch_execute("ROLLBACK")?;
                }
                Ok(())
            }
        }
    }

    /// Whether the connection is known to be dead (PostgreSQL only: the server went away).
    #[must_use]
    pub fn is_closed(&self) -> bool {
        match &self.backend {
            Backend::Sqlite(_) => false,
            Backend::Postgres(cell) => cell.borrow().client.as_ref().is_none_or(postgres::Client::is_closed),
        }
    }
}

impl Drop for Postgres {
    /// The synchronous client says goodbye to the server by blocking on its own runtime, which
    /// panics on an async worker; the last owner of a store may well be one, so the goodbye
    /// happens on a thread of its own.
    fn drop(&mut self) {
        if let Some(client) = self.client.take() {
            let _ = std::thread::Builder::new().name("postgres-close".into()).spawn(move || drop(client));
        }
    }
}

impl Postgres {
    fn client(&mut self) -> &mut postgres::Client {
        // Only `drop` takes the client out.
        self.client.as_mut().expect("the PostgreSQL client lives until the connection is dropped")
    }

    fn statement(&mut self, sql: &str) -> StoreResult<postgres::Statement> {
        if let Some(statement) = self.statements.get(sql) {
            return Ok(statement.clone());
        }
        let statement = self.client().prepare(&postgres_placeholders(sql))?;
        self.statements.insert(sql.to_owned(), statement.clone());
        Ok(statement)
    }
}

/// Whether a PostgreSQL error means the server is gone or going (rather than a refused statement):
/// the connection closed, the socket failed, or the server is shutting down.
#[must_use]
pub fn connection_lost(error: &postgres::Error) -> bool {
    if error.is_closed() || StdError::source(error).is_some_and(|source| source.is::<std::io::Error>()) {
        return true;
    }
    error.code().is_some_and(|code| {
        let code = code.code();
        code.starts_with("08") || code.starts_with("57P")
    })
}

/// A PostgreSQL error in words: the server's message for a refused statement (the client's own
/// text is only "db error"), the cause for others.
#[must_use]
pub fn postgres_message(error: &postgres::Error) -> String {
    match (error.as_db_error(), StdError::source(error)) {
        (Some(db), _) => match db.detail() {
            Some(detail) => format!("{} ({detail})", db.message()),
            None => db.message().to_owned(),
        },
        (None, Some(source)) => format!("{error}: {source}"),
        (None, None) => error.to_string(),
    }
}

fn values_of(params: &[&dyn ToValue]) -> Vec<Value> {
    params.iter().map(|p| p.to_value()).collect()
}

fn bind(values: &[Value]) -> Vec<&(dyn ToSql + Sync)> {
    values.iter().map(|v| v as &(dyn ToSql + Sync)).collect()
}

/// `?N` -> `$N`, and each bare `?` -> the next `$N`, outside quoted text.
#[must_use]
pub fn postgres_placeholders(sql: &str) -> String {
    let mut out = String::with_capacity(sql.len() + 8);
    let mut next = 1;
    let mut quoted: Option<char> = None;
    let mut chars = sql.chars().peekable();
    while let Some(c) = chars.next() {
        match (quoted, c) {
            (Some(q), c) if c == q => {
                quoted = None;
                out.push(c);
            }
            (Some(_), c) => out.push(c),
            (None, '\'' | '"') => {
                quoted = Some(c);
                out.push(c);
            }
            (None, '?') => {
                let mut digits = String::new();
                while let Some(d) = chars.peek().filter(|d| d.is_ascii_digit()) {
                    digits.push(*d);
                    chars.next();
                }
                out.push('$');
                if digits.is_empty() {
                    out.push_str(&next.to_string());
                    next += 1;
                } else {
                    out.push_str(&digits);
                }
            }
            (None, c) => out.push(c),
        }
    }
    out
}

fn from_sqlite(value: rusqlite::types::ValueRef<'_>) -> Value {
    use rusqlite::types::ValueRef;
    match value {
        ValueRef::Null => Value::Null,
        ValueRef::Integer(v) => Value::Integer(v),
        ValueRef::Real(v) => Value::Real(v),
        ValueRef::Text(bytes) => Value::Text(String::from_utf8_lossy(bytes).into_owned()),
        ValueRef::Blob(bytes) => Value::Blob(bytes.to_vec()),
    }
}

fn from_postgres(row: &postgres::Row) -> StoreResult<Row> {
    let mut values = Vec::with_capacity(row.len());
    for (index, column) in row.columns().iter().enumerate() {
        let ty = column.type_();
        let value = if *ty == Type::INT8 {
            row.try_get::<_, Option<i64>>(index)?.map(Value::Integer)
        } else if *ty == Type::INT4 {
            row.try_get::<_, Option<i32>>(index)?.map(|v| Value::Integer(v.into()))
        } else if *ty == Type::INT2 {
            row.try_get::<_, Option<i16>>(index)?.map(|v| Value::Integer(v.into()))
        } else if *ty == Type::BOOL {
            row.try_get::<_, Option<bool>>(index)?.map(|v| Value::Integer(v.into()))
        } else if *ty == Type::FLOAT8 {
            row.try_get::<_, Option<f64>>(index)?.map(Value::Real)
        } else if *ty == Type::FLOAT4 {
            row.try_get::<_, Option<f32>>(index)?.map(|v| Value::Real(v.into()))
        } else if *ty == Type::BYTEA {
            row.try_get::<_, Option<Vec<u8>>>(index)?.map(Value::Blob)
        } else if [Type::TEXT, Type::VARCHAR, Type::BPCHAR, Type::NAME].contains(ty) {
            row.try_get::<_, Option<String>>(index)?.map(Value::Text)
        } else {
            return Err(StoreError::Decode(format!(
                "column {} has type {ty}, which the store does not read (cast it to BIGINT or TEXT)",
                column.name()
            )));
        };
        values.push(value.unwrap_or(Value::Null));
    }
    Ok(Row(values))
}

impl rusqlite::ToSql for Value {
    fn to_sql(&self) -> rusqlite::Result<rusqlite::types::ToSqlOutput<'_>> {
        use rusqlite::types::{ToSqlOutput, ValueRef};
        Ok(ToSqlOutput::Borrowed(match self {
            Self::Null => ValueRef::Null,
            Self::Integer(v) => ValueRef::Integer(*v),
            Self::Real(v) => ValueRef::Real(*v),
            Self::Text(text) => ValueRef::Text(text.as_bytes()),
            Self::Blob(bytes) => ValueRef::Blob(bytes),
        }))
    }
}

/// Values adapt to the type PostgreSQL inferred for the placeholder, as SQLite's dynamic typing
/// would: an integer bound to a `BOOLEAN` or `INTEGER` placeholder is written as one.
impl ToSql for Value {
    fn to_sql(&self, ty: &Type, out: &mut BytesMut) -> Result<IsNull, Box<dyn StdError + Sync + Send>> {
        match self {
            Self::Null => Ok(IsNull::Yes),
            Self::Integer(v) if *ty == Type::INT8 => v.to_sql(ty, out),
            Self::Integer(v) if *ty == Type::INT4 => i32::try_from(*v)?.to_sql(ty, out),
            Self::Integer(v) if *ty == Type::INT2 => i16::try_from(*v)?.to_sql(ty, out),
            Self::Integer(v) if *ty == Type::BOOL => (*v != 0).to_sql(ty, out),
            #[allow(clippy::cast_precision_loss)]
            Self::Integer(v) if *ty == Type::FLOAT8 => (*v as f64).to_sql(ty, out),
            Self::Integer(v) => v.to_string().to_sql(ty, out),
            Self::Real(v) if *ty == Type::FLOAT8 => v.to_sql(ty, out),
            Self::Real(v) => v.to_string().to_sql(ty, out),
            Self::Text(text) => text.as_str().to_sql(ty, out),
            Self::Blob(bytes) => bytes.as_slice().to_sql(ty, out),
        }
    }

    fn accepts(_: &Type) -> bool {
        true
    }

    to_sql_checked!();
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn placeholders_become_numbered_outside_quotes() {
        assert_eq!(postgres_placeholders("SELECT ?1, ?12 WHERE a = ?"), "SELECT $1, $12 WHERE a = $1");
        assert_eq!(postgres_placeholders("a = ? AND b = ? AND c = '?'"), "a = $1 AND b = $2 AND c = '?'");
    }

    #[test]
    fn sqlite_round_trips_values_and_nests_transactions() {
        let db = Db::sqlite(rusqlite::Connection::open_in_memory().expect("memory"));
        db.batch("CREATE TABLE t (id INTEGER PRIMARY KEY, name TEXT, flag INTEGER, size INTEGER)").expect("create");
        let id: i64 = db
            .query_one(
                "INSERT INTO t (name, flag, size) VALUES (?1, ?2, ?3) RETURNING id",
                params!["a", true, 5_u64],
                |r| r.get(0),
            )
            .expect("insert");
        let refused: StoreResult<()> = db.transaction(|db| {
            db.execute("UPDATE t SET name = 'b'", params![])?;
            db.transaction(|db| {
                db.execute("UPDATE t SET flag = 0", params![])?;
                Ok(())
            })?;
            Err(StoreError::Conflict("no".into()))
        });
        assert!(refused.is_err());
        let (name, flag, size): (String, bool, u64) = db
            .query_one("SELECT name, flag, size FROM t WHERE id = ?", params![id], |r| {
                Ok((r.get(0)?, r.get(1)?, r.get(2)?))
            })
            .expect("select");
        assert_eq!((name.as_str(), flag, size), ("a", true, 5));
        assert!(db.as_sqlite().expect("sqlite").is_autocommit());
    }
}
