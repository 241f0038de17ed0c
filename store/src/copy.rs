//! Copying an embedded install's database (SQLite) into PostgreSQL, for `oxcast migrate`.
//!
//! Why generic: the two dialects are migrated by the same numbered migrations, so after both are
//! opened they have the same tables and columns. The copy reads the destination's catalog (its
//! tables, columns, column types, primary keys, identity columns and foreign keys) and moves every
//! table's rows in that shape, so a table added by a later migration is copied without anyone
//! touching this module; a column type it does not know is an error that names it (and the test
//! that copies every table fails first).
//!
//! - Order: parents before children (the foreign keys), so the destination's constraints hold
//!   at every step.
//! - Resumable: rows are written in batches of their primary-key order, each batch in its own
//!   transaction, as upserts on the primary key. A run cut off anywhere is simply run again: rows
//!   already there are written again with the same values, so a second run also brings rows the
//!   source changed since the first up to date. Rows deleted from the source since are not
//!   deleted from the destination: [`DatabaseCopy::verify_table`] reports them.
//! - Sequences behind identity and serial columns (PostgreSQL's generated ids) are moved past
//!   the largest copied id, so the next row the server inserts does not collide with a copied one.
//! - Checked: [`DatabaseCopy::verify_table`] reads both sides in key order and compares row counts
//!   and a SHA-256 over every value, encoded the same way whichever database it came from.
//!
//! The source should not be written to while it is copied (stop the server first): a copy taken
//! while it changes is still repaired by a second run, but only a quiet source verifies.

use std::collections::{BTreeMap, BTreeSet};

use sha2::{Digest, Sha256};
use sqlx::any::AnyRow;
use sqlx::{AnyPool, Row};

use crate::{Dialect, Store, StoreError};

/// Rows per batch, and the most bind parameters one statement may carry on PostgreSQL.
const BATCH_ROWS: usize = 500;
const MAX_PARAMETERS: usize = 60_000;

/// How a column's values are read and written.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ColumnKind {
    Integer,
    Double,
    Text,
    Bytes,
    Bool,
}

impl ColumnKind {
    fn of_postgres_type(data_type: &str) -> Option<Self> {
        Some(match data_type {
            "bigint" | "integer" | "smallint" => Self::Integer,
            "double precision" | "real" => Self::Double,
            "text" | "character varying" => Self::Text,
            "bytea" => Self::Bytes,
            "boolean" => Self::Bool,
            _ => return None,
        })
    }

    fn cast(self) -> &'static str {
        match self {
            Self::Integer => "BIGINT",
            Self::Double => "DOUBLE PRECISION",
            Self::Text => "TEXT",
            Self::Bytes => "BYTEA",
            Self::Bool => "BOOLEAN",
        }
    }
}

/// One column of a copied table.
#[derive(Debug, Clone)]
pub struct Column {
    pub name: String,
    pub kind: ColumnKind,
}

/// A table as the destination's catalog describes it.
#[derive(Debug, Clone)]
pub struct Table {
    pub name: String,
    pub columns: Vec<Column>,
    /// Indices into `columns` of the primary key, in key order.
    key: Vec<usize>,
    /// The column a sequence numbers (an identity or a serial), if the table has one.
    identity: Option<String>,
}

/// A value as copied: one variant per [`ColumnKind`], or NULL.
#[derive(Debug, Clone, PartialEq)]
enum Value {
    Null,
    Integer(i64),
    Double(f64),
    Text(String),
    Bytes(Vec<u8>),
    Bool(bool),
}

impl Value {
    fn read(row: &AnyRow, index: usize, kind: ColumnKind) -> Result<Self, sqlx::Error> {
        Ok(match kind {
            ColumnKind::Integer => row.try_get::<Option<i64>, _>(index)?.map_or(Value::Null, Value::Integer),
            ColumnKind::Double => row.try_get::<Option<f64>, _>(index)?.map_or(Value::Null, Value::Double),
            ColumnKind::Text => row.try_get::<Option<String>, _>(index)?.map_or(Value::Null, Value::Text),
            ColumnKind::Bytes => row.try_get::<Option<Vec<u8>>, _>(index)?.map_or(Value::Null, Value::Bytes),
            ColumnKind::Bool => row.try_get::<Option<bool>, _>(index)?.map_or(Value::Null, Value::Bool),
        })
    }

    fn bind<'q>(
        &self,
        kind: ColumnKind,
        query: sqlx::query::Query<'q, sqlx::Any, sqlx::any::AnyArguments>,
    ) -> sqlx::query::Query<'q, sqlx::Any, sqlx::any::AnyArguments> {
        match (self, kind) {
            (Value::Integer(v), _) => query.bind(*v),
            (Value::Double(v), _) => query.bind(*v),
            (Value::Text(v), _) => query.bind(v.clone()),
            (Value::Bytes(v), _) => query.bind(v.clone()),
            (Value::Bool(v), _) => query.bind(*v),
            (Value::Null, ColumnKind::Integer) => query.bind(None::<i64>),
            (Value::Null, ColumnKind::Double) => query.bind(None::<f64>),
            (Value::Null, ColumnKind::Text) => query.bind(None::<String>),
            (Value::Null, ColumnKind::Bytes) => query.bind(None::<Vec<u8>>),
            (Value::Null, ColumnKind::Bool) => query.bind(None::<bool>),
        }
    }

    /// The value's bytes for the checksum: a tag, then a length or a fixed-size encoding, so
    /// no two different rows hash the same way by running into each other.
    fn digest(&self, hasher: &mut Sha256) {
        match self {
            Value::Null => hasher.update([0]),
            Value::Integer(v) => {
                hasher.update([1]);
                hasher.update(v.to_be_bytes());
            }
            Value::Double(v) => {
                hasher.update([2]);
                hasher.update(v.to_bits().to_be_bytes());
            }
            Value::Text(v) => {
                hasher.update([3]);
                hasher.update((v.len() as u64).to_be_bytes());
                hasher.update(v.as_bytes());
            }
            Value::Bytes(v) => {
                hasher.update([4]);
                hasher.update((v.len() as u64).to_be_bytes());
                hasher.update(v);
            }
            Value::Bool(v) => hasher.update([5, u8::from(*v)]),
        }
    }
}

/// Both sides of one table, as [`DatabaseCopy::verify_table`] found them.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct TableCheck {
    pub table: String,
    pub source_rows: u64,
    pub target_rows: u64,
    pub source_sha256: String,
    pub target_sha256: String,
}

impl TableCheck {
    pub fn matches(&self) -> bool {
        self.source_rows == self.target_rows && self.source_sha256 == self.target_sha256
    }
}

/// A copy from an SQLite store into a PostgreSQL one (see the module doc).
#[derive(Debug, Clone, Copy)]
pub struct DatabaseCopy<'a> {
    from: &'a AnyPool,
    to: &'a AnyPool,
}

impl Store {
    /// A copy of this (SQLite) store's rows into `target` (PostgreSQL). Both are already open,
    /// so both are migrated to the same version.
    pub fn copy_into<'a>(&'a self, target: &'a Store) -> Result<DatabaseCopy<'a>, StoreError> {
        if self.dialect != Dialect::Sqlite || target.dialect != Dialect::Postgres {
            return Err(StoreError::Invalid(
                "a database copy goes from an SQLite database (the embedded default) to PostgreSQL".into(),
            ));
        }
        Ok(DatabaseCopy { from: &self.pool, to: &target.pool })
    }
}

/// `"name"`, for identifiers read from the catalog.
fn quoted(name: &str) -> String {
    format!("\"{}\"", name.replace('"', "\"\""))
}

impl DatabaseCopy<'_> {
    /// Every table to copy, parents before children.
    pub async fn tables(&self) -> Result<Vec<Table>, StoreError> {
        let rows = sqlx::query(
            "SELECT c.table_name::text, c.column_name::text, c.data_type::text, (c.is_identity = 'YES' OR COALESCE(c.column_default, '') LIKE 'nextval(%')::text \
             FROM information_schema.columns c JOIN information_schema.tables t \
               ON t.table_schema = c.table_schema AND t.table_name = c.table_name \
             WHERE c.table_schema = current_schema() AND t.table_type = 'BASE TABLE' \
               AND c.table_name NOT LIKE '\\_sqlx%' \
             ORDER BY c.table_name, c.ordinal_position",
        )
        .fetch_all(self.to)
        .await?;
        let mut tables: BTreeMap<String, Table> = BTreeMap::new();
        for row in rows {
            let (table, column, data_type, identity): (String, String, String, String) =
                (row.try_get(0)?, row.try_get(1)?, row.try_get(2)?, row.try_get(3)?);
            let kind = ColumnKind::of_postgres_type(&data_type).ok_or_else(|| {
                StoreError::Invalid(format!(
                    "column {table}.{column} has type {data_type}, which the copy does not know"
                ))
            })?;
            let entry = tables.entry(table.clone()).or_insert_with(|| Table {
                name: table.clone(),
                columns: Vec::new(),
                key: Vec::new(),
                identity: None,
            });
            if identity == "true" {
                entry.identity = Some(column.clone());
            }
            entry.columns.push(Column { name: column, kind });
        }
        let keys = sqlx::query(
            "SELECT cl.relname::text, a.attname::text FROM pg_index i \
             JOIN pg_class cl ON cl.oid = i.indrelid \
             JOIN pg_attribute a ON a.attrelid = i.indrelid AND a.attnum = ANY(i.indkey) \
             WHERE i.indisprimary AND cl.relnamespace = current_schema()::regnamespace \
             ORDER BY cl.relname, array_position(i.indkey::int2[], a.attnum)",
        )
        .fetch_all(self.to)
        .await?;
        for row in keys {
            let (table, column): (String, String) = (row.try_get(0)?, row.try_get(1)?);
            if let Some(t) = tables.get_mut(&table)
                && let Some(i) = t.columns.iter().position(|c| c.name == column)
            {
                t.key.push(i);
            }
        }
        if let Some(t) = tables.values().find(|t| t.key.is_empty()) {
            return Err(StoreError::Invalid(format!(
                "table {} has no primary key, so it cannot be copied resumably",
                t.name
            )));
        }
        let references = sqlx::query(
            "SELECT c.conrelid::regclass::text, c.confrelid::regclass::text FROM pg_constraint c \
             WHERE c.contype = 'f' AND c.connamespace = current_schema()::regnamespace",
        )
        .fetch_all(self.to)
        .await?;
        let mut parents: BTreeMap<String, BTreeSet<String>> = BTreeMap::new();
        for row in references {
            let (child, parent): (String, String) = (row.try_get(0)?, row.try_get(1)?);
            let (child, parent) = (child.trim_matches('"').to_owned(), parent.trim_matches('"').to_owned());
            if child != parent {
                parents.entry(child).or_default().insert(parent);
            }
        }
        Ok(in_dependency_order(tables, &parents))
    }

    /// Copies every row of `table` (see the module doc); the rows written.
    pub async fn copy_table(&self, table: &Table) -> Result<u64, StoreError> {
        self.check_source_columns(table).await?;
        let per_batch = BATCH_ROWS.min(MAX_PARAMETERS / table.columns.len().max(1)).max(1);
        let mut after: Option<Vec<Value>> = None;
        let mut written = 0u64;
        loop {
            let rows = read_batch(self.from, Dialect::Sqlite, table, after.as_deref(), per_batch).await?;
            let Some(last) = rows.last() else { break };
            after = Some(table.key.iter().map(|&i| last[i].clone()).collect());
            let mut tx = self.to.begin().await?;
            let statement = upsert_statement(table, rows.len());
            let mut query = sqlx::query(sqlx::AssertSqlSafe(statement));
            for row in &rows {
                for (value, column) in row.iter().zip(&table.columns) {
                    query = value.bind(column.kind, query);
                }
            }
            query.execute(&mut *tx).await?;
            tx.commit().await?;
            written += rows.len() as u64;
            if rows.len() < per_batch {
                break;
            }
        }
        if let Some(identity) = &table.identity {
            let sql = format!(
                "SELECT setval(pg_get_serial_sequence('{table_name}', '{identity}'), \
                 COALESCE((SELECT MAX({column}) FROM {table_q}), 0) + 1, false)",
                table_name = quoted(&table.name).replace('\'', "''"),
                identity = identity.replace('\'', "''"),
                column = quoted(identity),
                table_q = quoted(&table.name),
            );
            sqlx::query(sqlx::AssertSqlSafe(sql)).execute(self.to).await?;
        }
        Ok(written)
    }

    /// Counts and checksums of `table` on both sides.
    pub async fn verify_table(&self, table: &Table) -> Result<TableCheck, StoreError> {
        let (source_rows, source_sha256) = checksum(self.from, Dialect::Sqlite, table).await?;
        let (target_rows, target_sha256) = checksum(self.to, Dialect::Postgres, table).await?;
        Ok(TableCheck { table: table.name.clone(), source_rows, target_rows, source_sha256, target_sha256 })
    }

    /// The source has every column the destination has (both are at the same migration, unless
    /// the source was changed by hand).
    async fn check_source_columns(&self, table: &Table) -> Result<(), StoreError> {
        let rows = sqlx::query("SELECT name FROM pragma_table_info($1)").bind(&table.name).fetch_all(self.from).await?;
        let present: BTreeSet<String> = rows.iter().map(|r| r.try_get::<String, _>(0)).collect::<Result<_, _>>()?;
        if let Some(missing) = table.columns.iter().find(|c| !present.contains(&c.name)) {
            return Err(StoreError::Invalid(format!(
                "the source database's table {} has no column {}: is it an oxcast database?",
                table.name, missing.name
            )));
        }
        Ok(())
    }
}

/// Tables ordered so that every table comes after the tables it references (ties by name).
fn in_dependency_order(
    mut tables: BTreeMap<String, Table>,
    parents: &BTreeMap<String, BTreeSet<String>>,
) -> Vec<Table> {
    let mut ordered = Vec::with_capacity(tables.len());
    let mut placed = BTreeSet::new();
    while !tables.is_empty() {
        let ready: Vec<String> = tables
            .keys()
            .filter(|name| {
                parents.get(*name).is_none_or(|ps| ps.iter().all(|p| placed.contains(p) || !tables.contains_key(p)))
            })
            .cloned()
            .collect();
        // A cycle of references (none today) would leave nothing ready: take the rest by name.
        let next = if ready.is_empty() { tables.keys().cloned().collect() } else { ready };
        for name in next {
            if let Some(table) = tables.remove(&name) {
                placed.insert(name);
                ordered.push(table);
            }
        }
    }
    ordered
}

/// `INSERT ... VALUES (...), ... ON CONFLICT (key) DO UPDATE SET ...` for `rows` rows.
fn upsert_statement(table: &Table, rows: usize) -> String {
    let columns: Vec<String> = table.columns.iter().map(|c| quoted(&c.name)).collect();
    let width = table.columns.len();
    let tuples: Vec<String> = (0..rows)
        .map(|r| {
            let values: Vec<String> = table
                .columns
                .iter()
                .enumerate()
                .map(|(i, c)| format!("CAST(${} AS {})", r * width + i + 1, c.kind.cast()))
                .collect();
            format!("({})", values.join(", "))
        })
        .collect();
    let key: Vec<String> = table.key.iter().map(|&i| columns[i].clone()).collect();
    let updates: Vec<String> =
        (0..width).filter(|i| !table.key.contains(i)).map(|i| format!("{c} = EXCLUDED.{c}", c = columns[i])).collect();
    let on_conflict = if updates.is_empty() {
        format!("ON CONFLICT ({}) DO NOTHING", key.join(", "))
    } else {
        format!("ON CONFLICT ({}) DO UPDATE SET {}", key.join(", "), updates.join(", "))
    };
    // A generated-always identity would refuse the copied ids; BY DEFAULT (ours) takes them.
    format!("INSERT INTO {} ({}) VALUES {} {on_conflict}", quoted(&table.name), columns.join(", "), tuples.join(", "))
}

/// Up to `limit` rows of `table` after the key `after`, in key order (bytewise for text on both
/// dialects, so both sides list the same rows in the same order).
async fn read_batch(
    pool: &AnyPool,
    dialect: Dialect,
    table: &Table,
    after: Option<&[Value]>,
    limit: usize,
) -> Result<Vec<Vec<Value>>, StoreError> {
    let columns: Vec<String> = table.columns.iter().map(|c| quoted(&c.name)).collect();
    let key: Vec<String> = table
        .key
        .iter()
        .map(|&i| {
            let collate = if table.columns[i].kind == ColumnKind::Text { dialect.bytewise() } else { "" };
            format!("{}{collate}", columns[i])
        })
        .collect();
    let mut sql = format!("SELECT {} FROM {}", columns.join(", "), quoted(&table.name));
    if after.is_some() {
        let params: Vec<String> = (1..=key.len()).map(|n| format!("${n}")).collect();
        sql.push_str(&format!(" WHERE ({}) > ({})", key.join(", "), params.join(", ")));
    }
    sql.push_str(&format!(" ORDER BY {} LIMIT {limit}", key.join(", ")));
    let mut query = sqlx::query(sqlx::AssertSqlSafe(sql));
    if let Some(after) = after {
        for (value, &i) in after.iter().zip(&table.key) {
            query = value.bind(table.columns[i].kind, query);
        }
    }
    let rows = query.fetch_all(pool).await?;
    rows.iter()
        .map(|row| {
            table.columns.iter().enumerate().map(|(i, c)| Value::read(row, i, c.kind)).collect::<Result<Vec<_>, _>>()
        })
        .collect::<Result<_, _>>()
        .map_err(StoreError::from)
}

/// The row count and SHA-256 of `table` on one side, read in key order.
async fn checksum(pool: &AnyPool, dialect: Dialect, table: &Table) -> Result<(u64, String), StoreError> {
    let mut hasher = Sha256::new();
    let mut count = 0u64;
    let mut after: Option<Vec<Value>> = None;
    loop {
        let rows = read_batch(pool, dialect, table, after.as_deref(), BATCH_ROWS).await?;
        let Some(last) = rows.last() else { break };
        after = Some(table.key.iter().map(|&i| last[i].clone()).collect());
        for row in &rows {
            for value in row {
                value.digest(&mut hasher);
            }
        }
        count += rows.len() as u64;
        if rows.len() < BATCH_ROWS {
            break;
        }
    }
    Ok((count, hex::encode(hasher.finalize())))
}
