//! Cursor pagination for every list the API offers: a page of at most `limit` items after an
//! opaque cursor, and the cursor of the next page when there is one. Cursors are the sort key of
//! the last item, hex-encoded: stable while rows are added or removed (unlike offsets), and not
//! something a client should build by hand.

use crate::StoreError;

/// Items per page when the client names no limit, and the most it may ask for.
pub const DEFAULT_PAGE_SIZE: u32 = 50;
pub const MAX_PAGE_SIZE: u32 = 200;

/// Which page to read.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct PageRequest {
    /// 1 to [`MAX_PAGE_SIZE`]; `None`: [`DEFAULT_PAGE_SIZE`].
    pub limit: Option<u32>,
    /// The `next_cursor` of the previous page.
    pub cursor: Option<String>,
}

impl PageRequest {
    pub(crate) fn limit(&self) -> Result<u32, StoreError> {
        match self.limit {
            None => Ok(DEFAULT_PAGE_SIZE),
            Some(n @ 1..=MAX_PAGE_SIZE) => Ok(n),
            Some(n) => Err(StoreError::Invalid(format!("limit must be 1 to {MAX_PAGE_SIZE} (got {n})"))),
        }
    }

    /// The sort key the cursor stands for.
    pub(crate) fn after(&self) -> Result<Option<String>, StoreError> {
        let Some(cursor) = &self.cursor else { return Ok(None) };
        let bytes =
            hex::decode(cursor).map_err(|_| StoreError::Invalid("cursor is not one this server gave".into()))?;
        String::from_utf8(bytes).map(Some).map_err(|_| StoreError::Invalid("cursor is not one this server gave".into()))
    }
}

impl PageRequest {
    /// The cursor of a list sorted newest first by (Unix time, id): `(i64::MAX, "")` without a
    /// cursor (every row is older, and the id never decides).
    pub(crate) fn before_time_and_id(&self) -> Result<(i64, String), StoreError> {
        match self.after()? {
            Some(key) => {
                let bad = || StoreError::Invalid("cursor is not one this server gave".into());
                let (t, id) = key.split_once(':').ok_or_else(bad)?;
                Ok((t.parse::<i64>().map_err(|_| bad())?, id.to_owned()))
            }
            None => Ok((i64::MAX, String::new())),
        }
    }
}

/// One page of a list.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Page<T> {
    pub items: Vec<T>,
    /// Pass as `cursor` for the next page; `None` on the last page.
    pub next_cursor: Option<String>,
}

impl<T> Page<T> {
    /// Cuts `rows` (fetched with `limit + 1`) to a page, with the cursor of its last item.
    pub(crate) fn from_rows(mut rows: Vec<T>, limit: u32, key: impl Fn(&T) -> String) -> Self {
        let more = rows.len() > limit as usize;
        rows.truncate(limit as usize);
        let next_cursor = if more { rows.last().map(|last| hex::encode(key(last))) } else { None };
        Self { items: rows, next_cursor }
    }

    pub fn map<U>(self, f: impl FnMut(T) -> U) -> Page<U> {
        Page { items: self.items.into_iter().map(f).collect(), next_cursor: self.next_cursor }
    }
}

/// One page of `table`'s rows, newest first by (`time_column`, `id`), only those whose
/// `filter.0` column equals `filter.1` when a filter is given. Table and column names come from
/// this crate, never from a request. `key` gives a row's (time, id), the next page's cursor.
pub(crate) async fn newest_first<T>(
    pool: &sqlx::AnyPool,
    query: NewestFirst<'_>,
    page: &PageRequest,
    from_row: impl Fn(&sqlx::any::AnyRow) -> Result<T, StoreError>,
    key: impl Fn(&T) -> (i64, &str),
) -> Result<Page<T>, StoreError> {
    let NewestFirst { table, columns, time_column, filter } = query;
    let id = query.id_column();
    let limit = page.limit()?;
    let (before_time, before_id) = page.before_time_and_id()?;
    let filter_sql = filter.map(|(column, _)| format!("{column} = $3 AND")).unwrap_or_default();
    let sql = format!(
        "SELECT {columns} FROM {table} WHERE {filter_sql} ({time_column}, {id}) < ($1, $2) \
         ORDER BY {time_column} DESC, {id} DESC LIMIT {}",
        i64::from(limit) + 1
    );
    // A row-value comparison, so both SQLite and PostgreSQL seek the (time, id) index to the
    // cursor instead of scanning from the newest row for every page. With no cursor,
    // `time < i64::MAX` takes every row and the id part never decides.
    let mut q = sqlx::query(sqlx::AssertSqlSafe(sql)).bind(before_time).bind(before_id);
    if let Some((_, value)) = filter {
        q = q.bind(value);
    }
    let rows = q.fetch_all(pool).await?;
    let items = rows.iter().map(from_row).collect::<Result<Vec<_>, _>>()?;
    Ok(Page::from_rows(items, limit, |item| {
        let (time, id) = key(item);
        format!("{time}:{id}")
    }))
}

/// What [`newest_first`] reads.
#[derive(Debug, Clone, Copy)]
pub(crate) struct NewestFirst<'a> {
    pub table: &'static str,
    pub columns: &'static str,
    pub time_column: &'static str,
    pub filter: Option<(&'static str, &'a str)>,
}

impl NewestFirst<'_> {
    /// `id`, qualified like the time column when that is (`a.started_at` → `a.id`).
    fn id_column(&self) -> String {
        match self.time_column.split_once('.') {
            Some((table, _)) => format!("{table}.id"),
            None => "id".to_owned(),
        }
    }
}
