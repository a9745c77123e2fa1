//! The single-table key design, in one place. `infra/ACCESS_PATTERNS.md` lists every query the
//! product makes against these keys; keep the two in step.
//!
//! | item              | pk               | sk           | indexes                                            |
//! |-------------------|------------------|--------------|----------------------------------------------------|
//! | ticket            | `T#{id}`         | `#TICKET`    | gsi1 status, gsi2 assignee, gsi3 customer, gsi4 department, gsi5 month |
//! | message           | `T#{id}`         | `M#{ulid}`   | —                                                  |
//! | audit event       | `T#{id}`         | `A#{ulid}`   | —                                                  |
//! | ticket number     | `N#HD-{n}`       | `N`          | — (conditional put = uniqueness)                   |
//! | idempotency key   | `IDEM#{who}#{k}` | `IDEM`       | — (expires after 24 h)                             |
//! | agent             | `AG#{email}`     | `#AGENT`     | gsi1 `AGENTS` / `{email}`                          |
//! | department        | `DEPT#{id}`      | `#DEPT`      | gsi1 `DEPTS` / `{id}`                              |
//! | customer          | `CU#{email}`     | `#CUSTOMER`  | gsi1 `CUSTOMERS` / `{email}`, gsi2 `PUID#{platform id}` / `#` |
//! | counter           | `CTR#{name}`     | `CTR`        | —                                                  |
//! | training example  | `T#{id}`         | `#CLEX`      | gsi1 `CLEX` / `{time}#{ticket id}`                 |
//! | classifier model  | `CLMODEL`        | `#CURRENT`   | — (pointer to the model blob; version = model version) |
//! | KB article head   | `KB#{id}`        | `#ARTICLE`   | gsi1 status, gsi2 locale, gsi3 all, gsi4 live, gsi5 translations (`kb/mod.rs` lists the other KB items) |
//! | unrouted marker   | `T#{id}`         | `ROUTE`      | gsi1 `ROUTEQ#{shard}` / `{next check}#{id}` (until routed) |
//! | forum category    | `FCAT#{slug}`    | `#CAT`       | gsi1 `FCATS` / `{order}#{slug}` |
//! | forum topic       | `FT#{id}`        | `#TOPIC`     | gsi1 `FTC#{category}` (`FTCH#` when hidden) / `{pinned}#{activity}#{id}`, gsi3 `FTALL` (`forums.rs` lists the other forum items) |
//! | help sign-in link | `SIGNIN#{sha256(token)}` | `SIGNIN` | — (TTL a day after expiry; `helpcentre.rs`) |
//! | help session      | `HSESS#{sha256(id)}` | `HSESS`  | — (TTL at expiry; deleted at sign-out) |
//!
//! Routing items (`routing/mod.rs`, `stats.rs`): rules `CFG#routing`/`CFG`, agent loads
//! `LOAD#agents`/`{email}#open|#weight`, assignment sequence `AG#{email}`/`#LOADSEQ`, round-robin
//! cursor `RR#{department or -}`/`RR`.

use crate::ports::{Index, Item, Key};
use crate::AppError;
use helpdesk_domain::{
    Agent, AuditEvent, Customer, Department, DepartmentId, EmailAddress, Message, Ticket, TicketId,
    TicketNumber, Timestamp,
};
use serde::de::DeserializeOwned;
use serde::Serialize;

pub const TICKET_SK: &str = "#TICKET";
pub const UNASSIGNED: &str = "-";

pub fn ticket_pk(id: &TicketId) -> String {
    format!("T#{id}")
}

pub fn ticket_key(id: &TicketId) -> Key {
    Key::new(ticket_pk(id), TICKET_SK)
}

pub fn number_key(n: &TicketNumber) -> Key {
    Key::new(format!("N#{n}"), "N")
}

pub fn ticket_number_counter() -> Key {
    Key::new("CTR#ticket_number", "CTR")
}

pub fn idempotency_key(who: &str, key: &str) -> Key {
    Key::new(format!("IDEM#{who}#{key}"), "IDEM")
}

pub fn message_sk(m: &Message) -> String {
    format!("M#{}", m.id.ulid())
}

pub fn audit_sk(a: &AuditEvent) -> String {
    format!("A#{}", a.id.ulid())
}

pub fn agent_key(email: &EmailAddress) -> Key {
    Key::new(format!("AG#{email}"), "#AGENT")
}

pub fn department_key(id: &DepartmentId) -> Key {
    Key::new(format!("DEPT#{id}"), "#DEPT")
}

pub fn customer_key(email: &EmailAddress) -> Key {
    Key::new(format!("CU#{email}"), "#CUSTOMER")
}

/// A ticket's "not routed yet" marker (see `queue.rs`): written with the ticket, deleted once
/// routed, so the resweep finds unrouted tickets with a key query.
pub fn route_marker_key(id: &TicketId) -> Key {
    Key::new(ticket_pk(id), ROUTE_SK)
}

pub const ROUTE_SK: &str = "ROUTE";

/// An escalation's SMS page not yet delivered (written with the escalation, deleted once sent).
pub fn escalation_page_key(ticket: &TicketId, escalation: &str) -> Key {
    Key::new(
        ticket_pk(ticket),
        format!("{ESCALATION_PAGE_PREFIX}{escalation}"),
    )
}

pub const ESCALATION_PAGE_PREFIX: &str = "PAGE#";

/// Tickets of one organisation (the customers' `account_id`), by creation time: the
/// organisation-wide duplicate check reads it (written when routing enriches a ticket).
pub fn account_ticket_key(account: &str, created: &Timestamp, ticket: &TicketId) -> Key {
    Key::new(
        account_partition(account),
        format!("{}#{ticket}", time_key(created)),
    )
}

pub fn account_partition(account: &str) -> String {
    format!("ACCT#{account}")
}

/// The sparse index partition of unrouted markers, sharded like the SLA due index.
pub fn route_partition(shard: u32) -> String {
    format!("ROUTEQ#{shard}")
}

pub const AGENTS_PARTITION: &str = "AGENTS";
pub const DEPARTMENTS_PARTITION: &str = "DEPTS";
pub const CUSTOMERS_PARTITION: &str = "CUSTOMERS";

pub fn platform_user_partition(platform_user_id: &str) -> String {
    format!("PUID#{platform_user_id}")
}

/// Fixed-width UTC time, so lexical order is time order.
pub fn time_key(t: &Timestamp) -> String {
    t.format("%Y-%m-%dT%H:%M:%S%.3fZ").to_string()
}

pub fn month_key(t: &Timestamp) -> String {
    t.format("%Y-%m").to_string()
}

pub fn day_key(t: &Timestamp) -> String {
    t.format("%Y-%m-%d").to_string()
}

// Ticket index partitions.
pub fn status_partition(status: helpdesk_domain::Status) -> String {
    format!("TS#{status}")
}
pub fn assignee_partition(assignee: Option<&EmailAddress>) -> String {
    format!("TA#{}", assignee.map(|a| a.as_str()).unwrap_or(UNASSIGNED))
}
pub fn customer_partition(customer: &EmailAddress) -> String {
    format!("TC#{customer}")
}
pub fn department_partition(department: Option<&DepartmentId>) -> String {
    format!(
        "TD#{}",
        department.map(|d| d.as_str()).unwrap_or(UNASSIGNED)
    )
}
pub fn month_partition(month: &str) -> String {
    format!("TM#{month}")
}

/// `o` for open tickets, `d` for done (resolved or closed): queue views read only `o#…`.
pub fn open_prefix(ticket: &Ticket) -> &'static str {
    if ticket.status.is_open() {
        "o"
    } else {
        "d"
    }
}

/// Sort key for "priority, then oldest first": `{rank}#{created}#{id}`.
pub fn priority_order(ticket: &Ticket) -> String {
    format!(
        "{}#{}#{}",
        ticket.priority.rank(),
        time_key(&ticket.created_at),
        ticket.id
    )
}

/// Sort key for creation order: `{created}#{id}`.
pub fn created_order(ticket: &Ticket) -> String {
    format!("{}#{}", time_key(&ticket.created_at), ticket.id)
}

pub fn ticket_item(ticket: &Ticket) -> Result<Item, AppError> {
    let prio = priority_order(ticket);
    let created = created_order(ticket);
    let open = open_prefix(ticket);
    Ok(
        Item::new(ticket_key(&ticket.id), ticket.version, to_doc(ticket)?)
            .with_index(Index::Gsi1, status_partition(ticket.status), prio.clone())
            .with_index(
                Index::Gsi2,
                assignee_partition(ticket.assignee.as_ref()),
                format!("{open}#{prio}"),
            )
            .with_index(
                Index::Gsi3,
                customer_partition(&ticket.customer.email),
                created.clone(),
            )
            .with_index(
                Index::Gsi4,
                department_partition(ticket.department.as_ref()),
                format!("{open}#{prio}"),
            )
            .with_index(
                Index::Gsi5,
                month_partition(&month_key(&ticket.created_at)),
                created,
            ),
    )
}

pub fn message_item(ticket: &TicketId, m: &Message) -> Result<Item, AppError> {
    Ok(Item::new(
        Key::new(ticket_pk(ticket), message_sk(m)),
        1,
        to_doc(m)?,
    ))
}

pub fn audit_item(a: &AuditEvent) -> Result<Item, AppError> {
    Ok(Item::new(
        Key::new(ticket_pk(&a.ticket_id), audit_sk(a)),
        1,
        to_doc(a)?,
    ))
}

pub fn agent_item(a: &Agent) -> Result<Item, AppError> {
    Ok(
        Item::new(agent_key(&a.email), a.version, to_doc(a)?).with_index(
            Index::Gsi1,
            AGENTS_PARTITION,
            a.email.to_string(),
        ),
    )
}

pub fn department_item(d: &Department) -> Result<Item, AppError> {
    Ok(
        Item::new(department_key(&d.id), d.version, to_doc(d)?).with_index(
            Index::Gsi1,
            DEPARTMENTS_PARTITION,
            d.id.to_string(),
        ),
    )
}

pub fn customer_item(c: &Customer) -> Result<Item, AppError> {
    let mut item = Item::new(customer_key(&c.email), c.version, to_doc(c)?).with_index(
        Index::Gsi1,
        CUSTOMERS_PARTITION,
        c.email.to_string(),
    );
    if let Some(puid) = &c.platform_user_id {
        item = item.with_index(
            Index::Gsi2,
            platform_user_partition(puid),
            c.email.to_string(),
        );
    }
    Ok(item)
}

pub fn to_doc<T: Serialize>(value: &T) -> Result<serde_json::Value, AppError> {
    serde_json::to_value(value).map_err(|e| AppError::internal("serialising an item", e))
}

/// Reads an entity back; the item's version is authoritative over the document's copy.
pub fn from_item<T: DeserializeOwned>(item: &Item) -> Result<T, AppError> {
    let mut doc = item.doc.clone();
    if let serde_json::Value::Object(map) = &mut doc {
        if map.contains_key("version") {
            map.insert("version".into(), serde_json::Value::from(item.version));
        }
    }
    serde_json::from_value(doc).map_err(|e| {
        AppError::internal(
            "reading a stored item",
            std::io::Error::other(format!("{}/{}: {e}", item.key.pk, item.key.sk)),
        )
    })
}

/// Ticket categorisation: one labelled example per ticket (a correction replaces it), listed
/// oldest first through gsi1; and the pointer to the current model's blob.
pub const TRAINING_EXAMPLE_SK: &str = "#CLEX";
pub const TRAINING_EXAMPLES_PARTITION: &str = "CLEX";

pub fn training_example_key(id: &TicketId) -> Key {
    Key::new(ticket_pk(id), TRAINING_EXAMPLE_SK)
}

pub fn training_example_item(e: &crate::classify::TrainingExample) -> Result<Item, AppError> {
    Ok(
        Item::new(training_example_key(&e.ticket_id), 1, to_doc(e)?).with_index(
            Index::Gsi1,
            TRAINING_EXAMPLES_PARTITION,
            format!("{}#{}", time_key(&e.at), e.ticket_id),
        ),
    )
}

pub fn classifier_model_key() -> Key {
    Key::new("CLMODEL", "#CURRENT")
}

/// A pointer item (ticket number, idempotency key): its document names one ticket.
pub fn pointer_item(key: Key, ticket: &TicketId) -> Item {
    Item::new(
        key,
        1,
        serde_json::json!({ "ticket_id": ticket.to_string() }),
    )
}

/// The ticket a pointer item names, if it names one.
pub fn pointer_target(item: &Item) -> Option<TicketId> {
    item.doc
        .get("ticket_id")
        .and_then(|v| v.as_str())
        .and_then(|s| TicketId::parse(s).ok())
}

// ---------------------------------------------------------------------------------------------
// Knowledge base (see `kb.rs`; rows "KB …" in ACCESS_PATTERNS.md).

pub const KB_ARTICLE_SK: &str = "#ARTICLE";
/// gsi3 partition of every article, newest change first.
pub const KB_ALL_PARTITION: &str = "KBA";
/// gsi4 partition of the articles that have a live (published) version: the reindex source.
pub const KB_LIVE_PARTITION: &str = "KBLIVE";
/// One partition of atomic counters for the KB-effectiveness numbers (views, votes, ratings,
/// resolved-ticket links, deflections), `{kind}#{article}`; one Query reads them all.
pub const KB_STATS_PARTITION: &str = "KBSTATS";
/// Articles whose index update failed since the last rebuild.
pub const KB_REINDEX_PARTITION: &str = "KBREINDEX";
/// Resolutions whose linked articles are still to be counted (`{ticket id}`): written in the
/// resolving ticket write, deleted once every link is counted (the minute sweep retries).
pub const KB_RESOLVED_PARTITION: &str = "KBRESOLVED";

pub fn kb_pk(id: &helpdesk_domain::kb::ArticleId) -> String {
    format!("KB#{id}")
}

pub fn kb_article_key(id: &helpdesk_domain::kb::ArticleId) -> Key {
    Key::new(kb_pk(id), KB_ARTICLE_SK)
}

/// Zero-padded so versions sort numerically.
pub fn kb_version_key(id: &helpdesk_domain::kb::ArticleId, number: u64) -> Key {
    Key::new(kb_pk(id), format!("V#{number:010}"))
}

pub fn kb_status_partition(status: helpdesk_domain::kb::ArticleStatus) -> String {
    format!("KBS#{status}")
}

pub fn kb_locale_partition(locale: &str) -> String {
    format!("KBL#{locale}")
}

pub fn kb_translation_partition(group: &helpdesk_domain::kb::ArticleId) -> String {
    format!("KBT#{group}")
}

pub fn kb_stat_key(kind: &str, id: &helpdesk_domain::kb::ArticleId) -> Key {
    Key::new(KB_STATS_PARTITION, format!("{kind}#{id}"))
}

/// Zero-result searches of one month, one counter per normalised query.
pub fn kb_zero_partition(month: &str) -> String {
    format!("KBZERO#{month}")
}

/// A ticket's linked articles (a partition of its own, so the ticket's partition stays as it is).
pub fn kb_ticket_links_partition(ticket: &TicketId) -> String {
    format!("TKB#{ticket}")
}

pub fn kb_article_item(a: &helpdesk_domain::kb::Article) -> Result<Item, AppError> {
    let order = format!("{}#{}", time_key(&a.updated_at), a.id);
    let mut item = Item::new(kb_article_key(&a.id), a.version, to_doc(a)?)
        .with_index(Index::Gsi1, kb_status_partition(a.status), order.clone())
        .with_index(
            Index::Gsi2,
            kb_locale_partition(&a.content.locale),
            order.clone(),
        )
        .with_index(Index::Gsi3, KB_ALL_PARTITION, order)
        .with_index(
            Index::Gsi5,
            kb_translation_partition(&a.content.translation_group(a.id)),
            format!("{}#{}", a.content.locale, a.id),
        );
    if a.is_live() {
        item = item.with_index(Index::Gsi4, KB_LIVE_PARTITION, a.id.to_string());
    }
    Ok(item)
}
