//! The sparse, sharded due index that every sweep reads: SLA clocks (`DUE#{shard}`), scheduled
//! jobs (`JOBS#{shard}`), queued mail (`MAILQ#{shard}`). An item is in a family's partitions
//! (gsi1) only while something about it is due, with a sort key that starts with the due time,
//! so a sweep at `now` reads exactly what is due by then — one query per shard when little is —
//! and a missed minute is caught up by the next sweep (`<= now`, never `== minute`).

use crate::keys;
use crate::ports::{Index, Item, Query, SortKey, Table};
use crate::AppError;
use helpdesk_domain::{TicketId, Timestamp};

/// Shards per family: spreads a busy minute over partitions (DynamoDB hot keys).
pub const SHARDS: u32 = 8;

pub(crate) fn shard_of(id: &TicketId) -> u32 {
    // FNV-1a: stable across processes and versions, unlike the std hasher.
    id.to_string().bytes().fold(0x811c_9dc5u32, |h, b| {
        (h ^ u32::from(b)).wrapping_mul(0x0100_0193)
    }) % SHARDS
}

/// The gsi1 partition of `family` for a ticket's items.
pub(crate) fn partition(family: &str, ticket: &TicketId) -> String {
    format!("{family}#{}", shard_of(ticket))
}

/// The gsi1 sort key: due time first (fixed width, so lexical order is time order).
pub(crate) fn sort_key(due: &Timestamp, rest: &str) -> String {
    format!("{}#{rest}", keys::time_key(due))
}

/// Reads everything of one family due by `now`, shard by shard, a page at a time.
pub(crate) struct DueScan {
    family: &'static str,
    upto: String,
    shard: u32,
    cursor: Option<String>,
    page_size: usize,
    /// Storage queries made so far.
    pub queries: usize,
}

impl DueScan {
    pub(crate) fn new(family: &'static str, now: Timestamp, page_size: usize) -> Self {
        Self {
            family,
            // `~` sorts after every character a sort key uses, so items due at `now` are in.
            upto: format!("{}~", keys::time_key(&now)),
            shard: 0,
            cursor: None,
            page_size,
            queries: 0,
        }
    }

    /// The next page of due items, or `None` when every shard is read. Pages may be empty.
    pub(crate) async fn next_page(
        &mut self,
        table: &dyn Table,
        context: &'static str,
    ) -> Result<Option<Vec<Item>>, AppError> {
        if self.shard >= SHARDS {
            return Ok(None);
        }
        let q = Query::partition(Some(Index::Gsi1), format!("{}#{}", self.family, self.shard))
            .sk(SortKey::Le(self.upto.clone()))
            .limit(self.page_size)
            .cursor(self.cursor.take());
        let page = table.query(&q).await.map_err(AppError::storage(context))?;
        self.queries += 1;
        match page.cursor {
            Some(c) => self.cursor = Some(c),
            None => self.shard += 1,
        }
        Ok(Some(page.items))
    }
}
