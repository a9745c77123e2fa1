//! The `Table` port on DynamoDB: one table, single-table design.
//!
//! Attribute layout:
//!
//! | attribute                 | type | meaning                                                  |
//! |---------------------------|------|----------------------------------------------------------|
//! | `pk`, `sk`                | S    | primary key                                              |
//! | `gsiNpk`, `gsiNsk` (1..5) | S    | keys of index `gsiN`, written only when the item has them |
//! | `ver`                     | N    | `Item::version`                                          |
//! | `ttl`                     | N    | `Item::expires_at` (unix seconds), the table's TTL attribute |
//! | `doc`                     | S    | `Item::doc` as a JSON string                              |
//! | `n`                       | N    | counter, only touched by `add`, `counter`, `WriteOp::Add`  |
//!
//! DynamoDB deletes expired items lazily (hours to days after `ttl`), so expired items are
//! filtered out here: `get` drops them, `query` filters them server side, and write conditions
//! treat an expired item as absent (a create over an expired idempotency key succeeds, an
//! update of an expired item fails), and `add`/`counter` restart an expired counter from 0 —
//! the same as an engine that removed it on time (the SQLite engine). One gap: a
//! `WriteOp::Add` inside a transaction adds to an expired-but-unswept counter (no counter
//! carries a TTL today).

use async_trait::async_trait;
use aws_sdk_dynamodb::config::{BehaviorVersion, Credentials, Region};
use aws_sdk_dynamodb::error::{DisplayErrorContext, ProvideErrorMetadata};
use aws_sdk_dynamodb::types::{
    AttributeDefinition, AttributeValue, BillingMode, ConditionCheck, Delete, GlobalSecondaryIndex,
    KeySchemaElement, KeyType, Projection, ProjectionType, Put, ReturnValue, ScalarAttributeType,
    TableStatus, TimeToLiveSpecification, TransactWriteItem, Update,
};
use aws_sdk_dynamodb::Client;
use helpdesk_app::ports::{
    decode_cursor, encode_cursor, validate_transaction, Condition, Index, IndexKey, Item, Key,
    Page, Query, SortKey, Table, TableError, WriteOp,
};
use std::collections::{BTreeMap, HashMap};
use std::time::Duration;

/// Sends of one transaction cancelled by concurrent transactions before giving up.
const TRANSACT_ATTEMPTS: u32 = 6;

const PK: &str = "pk";
const SK: &str = "sk";
const VER: &str = "ver";
const TTL: &str = "ttl";
const DOC: &str = "doc";
const COUNTER: &str = "n";

/// Largest page a query may ask for.
pub const MAX_QUERY_LIMIT: usize = 1000;

type Attrs = HashMap<String, AttributeValue>;

/// DynamoDB implementation of [`Table`].
#[derive(Debug, Clone)]
pub struct DynamoTable {
    client: Client,
    table: String,
}

impl DynamoTable {
    pub fn new(client: Client, table_name: impl Into<String>) -> Self {
        Self {
            client,
            table: table_name.into(),
        }
    }

    pub fn table_name(&self) -> &str {
        &self.table
    }

    pub fn client(&self) -> &Client {
        &self.client
    }
}

/// A client for a local emulator (moto, DynamoDB Local): fixed region and test credentials.
pub fn connect_local(endpoint_url: &str) -> Client {
    let config = aws_sdk_dynamodb::config::Builder::new()
        .behavior_version(BehaviorVersion::latest())
        .region(Region::new("us-east-1"))
        .credentials_provider(Credentials::new(
            "test",
            "test",
            None,
            None,
            "helpdesk-local",
        ))
        .endpoint_url(endpoint_url)
        .build();
    Client::from_conf(config)
}

/// Creates the table with its five indexes (on demand) and enables TTL on `ttl`. An existing
/// table is left as it is.
pub async fn create_table(client: &Client, name: &str) -> Result<(), TableError> {
    let mut attributes = vec![string_attribute(PK)?, string_attribute(SK)?];
    let mut indexes = Vec::with_capacity(Index::ALL.len());
    for index in Index::ALL {
        let (ipk, isk) = index_attrs(index);
        attributes.push(string_attribute(&ipk)?);
        attributes.push(string_attribute(&isk)?);
        indexes.push(
            GlobalSecondaryIndex::builder()
                .index_name(index.name())
                .key_schema(key_element(&ipk, KeyType::Hash)?)
                .key_schema(key_element(&isk, KeyType::Range)?)
                .projection(
                    Projection::builder()
                        .projection_type(ProjectionType::All)
                        .build(),
                )
                .build()
                .map_err(build_error)?,
        );
    }
    let created = client
        .create_table()
        .table_name(name)
        .set_attribute_definitions(Some(attributes))
        .key_schema(key_element(PK, KeyType::Hash)?)
        .key_schema(key_element(SK, KeyType::Range)?)
        .set_global_secondary_indexes(Some(indexes))
        .billing_mode(BillingMode::PayPerRequest)
        .send()
        .await;
    match created {
        Ok(_) => tracing::info!(table = name, "created DynamoDB table"),
        Err(err)
            if err
                .as_service_error()
                .is_some_and(|e| e.is_resource_in_use_exception()) =>
        {
            tracing::debug!(table = name, "DynamoDB table already exists");
        }
        Err(err) => return Err(unavailable("CreateTable", err)),
    }
    wait_until_active(client, name).await?;

    let ttl = TimeToLiveSpecification::builder()
        .attribute_name(TTL)
        .enabled(true)
        .build()
        .map_err(build_error)?;
    if let Err(err) = client
        .update_time_to_live()
        .table_name(name)
        .time_to_live_specification(ttl)
        .send()
        .await
    {
        // Emulators may not support it, and DynamoDB refuses to enable it twice.
        tracing::warn!(table = name, error = %DisplayErrorContext(&err), "could not enable TTL; continuing");
    }
    Ok(())
}

async fn wait_until_active(client: &Client, name: &str) -> Result<(), TableError> {
    const ATTEMPTS: u32 = 240;
    for _ in 0..ATTEMPTS {
        let described = client
            .describe_table()
            .table_name(name)
            .send()
            .await
            .map_err(|e| unavailable("DescribeTable", e))?;
        let table = described.table();
        let table_active = table.and_then(|t| t.table_status()) == Some(&TableStatus::Active);
        let indexes_active = table.is_none_or(|t| {
            t.global_secondary_indexes().iter().all(|i| {
                i.index_status()
                    .is_none_or(|s| *s == aws_sdk_dynamodb::types::IndexStatus::Active)
            })
        });
        if table_active && indexes_active {
            return Ok(());
        }
        tokio::time::sleep(Duration::from_millis(500)).await;
    }
    Err(TableError::Unavailable(
        format!("table {name} did not become active").into(),
    ))
}

fn string_attribute(name: &str) -> Result<AttributeDefinition, TableError> {
    AttributeDefinition::builder()
        .attribute_name(name)
        .attribute_type(ScalarAttributeType::S)
        .build()
        .map_err(build_error)
}

fn key_element(name: &str, key_type: KeyType) -> Result<KeySchemaElement, TableError> {
    KeySchemaElement::builder()
        .attribute_name(name)
        .key_type(key_type)
        .build()
        .map_err(build_error)
}

fn index_attrs(index: Index) -> (String, String) {
    (format!("{}pk", index.name()), format!("{}sk", index.name()))
}

fn build_error(err: aws_sdk_dynamodb::error::BuildError) -> TableError {
    TableError::Invalid(format!("could not build a DynamoDB request: {err}"))
}

fn unavailable<E>(operation: &'static str, err: E) -> TableError
where
    E: std::error::Error + Send + Sync + 'static,
{
    tracing::warn!(operation, error = %DisplayErrorContext(&err), "DynamoDB call failed");
    TableError::Unavailable(Box::new(err))
}

fn now_unix() -> i64 {
    chrono::Utc::now().timestamp()
}

fn s(value: impl Into<String>) -> AttributeValue {
    AttributeValue::S(value.into())
}

fn n(value: impl ToString) -> AttributeValue {
    AttributeValue::N(value.to_string())
}

fn check_key(key: &Key) -> Result<(), TableError> {
    if key.pk.is_empty() || key.sk.is_empty() {
        return Err(TableError::Invalid(
            "key attributes must not be empty".into(),
        ));
    }
    Ok(())
}

fn key_attrs(key: &Key) -> Result<Attrs, TableError> {
    check_key(key)?;
    Ok(HashMap::from([
        (PK.to_string(), s(&key.pk)),
        (SK.to_string(), s(&key.sk)),
    ]))
}

fn item_attrs(item: &Item) -> Result<Attrs, TableError> {
    let mut attrs = key_attrs(&item.key)?;
    for (index, key) in &item.indexes {
        if key.pk.is_empty() || key.sk.is_empty() {
            return Err(TableError::Invalid(format!(
                "keys of index {} must not be empty",
                index.name()
            )));
        }
        let (ipk, isk) = index_attrs(*index);
        attrs.insert(ipk, s(&key.pk));
        attrs.insert(isk, s(&key.sk));
    }
    attrs.insert(VER.to_string(), n(item.version));
    if let Some(at) = item.expires_at {
        attrs.insert(TTL.to_string(), n(at));
    }
    let doc = serde_json::to_string(&item.doc)
        .map_err(|e| TableError::Invalid(format!("document does not serialise: {e}")))?;
    attrs.insert(DOC.to_string(), s(doc));
    if let Some(c) = item.counter {
        attrs.insert(COUNTER.to_string(), n(c));
    }
    Ok(attrs)
}

fn string_attr<'a>(attrs: &'a Attrs, name: &str) -> Result<Option<&'a str>, TableError> {
    match attrs.get(name) {
        None => Ok(None),
        Some(AttributeValue::S(v)) => Ok(Some(v.as_str())),
        Some(_) => Err(TableError::Corrupt(format!(
            "attribute {name} is not a string"
        ))),
    }
}

fn number_attr<T: std::str::FromStr>(attrs: &Attrs, name: &str) -> Result<Option<T>, TableError> {
    match attrs.get(name) {
        None => Ok(None),
        Some(AttributeValue::N(v)) => v
            .parse()
            .map(Some)
            .map_err(|_| TableError::Corrupt(format!("attribute {name} is not an integer: {v}"))),
        Some(_) => Err(TableError::Corrupt(format!(
            "attribute {name} is not a number"
        ))),
    }
}

fn is_expired(attrs: &Attrs, now: i64) -> Result<bool, TableError> {
    Ok(number_attr::<i64>(attrs, TTL)?.is_some_and(|at| at <= now))
}

fn item_from_attrs(attrs: &Attrs) -> Result<Item, TableError> {
    let pk =
        string_attr(attrs, PK)?.ok_or_else(|| TableError::Corrupt("item without pk".into()))?;
    let sk =
        string_attr(attrs, SK)?.ok_or_else(|| TableError::Corrupt("item without sk".into()))?;
    let mut indexes = BTreeMap::new();
    for index in Index::ALL {
        let (ipk, isk) = index_attrs(index);
        if let (Some(ipk), Some(isk)) = (string_attr(attrs, &ipk)?, string_attr(attrs, &isk)?) {
            indexes.insert(
                index,
                IndexKey {
                    pk: ipk.to_string(),
                    sk: isk.to_string(),
                },
            );
        }
    }
    let doc = match string_attr(attrs, DOC)? {
        None => serde_json::Value::Null,
        Some(text) => serde_json::from_str(text)
            .map_err(|e| TableError::Corrupt(format!("document of {pk}/{sk} is not JSON: {e}")))?,
    };
    Ok(Item {
        key: Key::new(pk, sk),
        indexes,
        version: number_attr(attrs, VER)?.unwrap_or(0),
        expires_at: number_attr(attrs, TTL)?,
        doc,
        counter: number_attr(attrs, COUNTER)?,
    })
}

/// Placeholders of one request's expressions.
#[derive(Default)]
struct Expr {
    names: HashMap<String, String>,
    values: Attrs,
}

impl Expr {
    fn name(&mut self, attr: &str) -> String {
        let placeholder = format!("#{attr}");
        self.names.insert(placeholder.clone(), attr.to_string());
        placeholder
    }

    fn value(&mut self, placeholder: &str, value: AttributeValue) -> String {
        self.values.insert(placeholder.to_string(), value);
        placeholder.to_string()
    }

    fn names(&self) -> Option<HashMap<String, String>> {
        (!self.names.is_empty()).then(|| self.names.clone())
    }

    fn values(&self) -> Option<Attrs> {
        (!self.values.is_empty()).then(|| self.values.clone())
    }

    /// The condition expression for `condition`. Expired items count as absent.
    fn condition(&mut self, condition: Condition, now: i64) -> Option<String> {
        if condition == Condition::None {
            return None;
        }
        let pk = self.name(PK);
        match condition {
            Condition::None => None,
            Condition::NotExists => {
                let ttl = self.name(TTL);
                let now = self.value(":now", n(now));
                Some(format!("attribute_not_exists({pk}) OR {ttl} <= {now}"))
            }
            Condition::Exists => {
                let live = self.live(now);
                Some(format!("attribute_exists({pk}) AND ({live})"))
            }
            Condition::VersionIs(v) => {
                let ver = self.name(VER);
                let v = self.value(":v", n(v));
                let live = self.live(now);
                Some(format!(
                    "attribute_exists({pk}) AND {ver} = {v} AND ({live})"
                ))
            }
        }
    }

    /// "Not expired" as of `now`.
    fn live(&mut self, now: i64) -> String {
        let ttl = self.name(TTL);
        let now = self.value(":now", n(now));
        format!("attribute_not_exists({ttl}) OR {ttl} > {now}")
    }
}

fn add_expr(expr: &mut Expr, by: i64) -> String {
    let counter = expr.name(COUNTER);
    let ver = expr.name(VER);
    let by = expr.value(":by", n(by));
    let zero = expr.value(":zero", n(0));
    format!("ADD {counter} {by} SET {ver} = if_not_exists({ver}, {zero})")
}

/// A sort-key condition, with the cases DynamoDB would refuse (empty strings, reversed
/// bounds) reduced to what they mean.
enum SortCondition<'a> {
    All,
    Nothing,
    Op(&'static str, &'a str),
    BeginsWith(&'a str),
    Between(&'a str, &'a str),
}

fn sort_condition(sk: &SortKey) -> SortCondition<'_> {
    use SortCondition::*;
    // Stored sort keys are never empty, so "" is below every one of them.
    match sk {
        SortKey::Any => All,
        SortKey::Eq(v) if v.is_empty() => Nothing,
        SortKey::Eq(v) => Op("=", v),
        SortKey::BeginsWith(v) if v.is_empty() => All,
        SortKey::BeginsWith(v) => BeginsWith(v),
        SortKey::Between(a, b) if a > b || b.is_empty() => Nothing,
        SortKey::Between(a, b) if a.is_empty() => Op("<=", b),
        SortKey::Between(a, b) => Between(a, b),
        SortKey::Gt(v) | SortKey::Ge(v) if v.is_empty() => All,
        SortKey::Gt(v) => Op(">", v),
        SortKey::Ge(v) => Op(">=", v),
        SortKey::Lt(v) | SortKey::Le(v) if v.is_empty() => Nothing,
        SortKey::Lt(v) => Op("<", v),
        SortKey::Le(v) => Op("<=", v),
    }
}

/// Checks that a decoded cursor is a start key of this query: the key attributes of the table
/// (and of the index), all non-empty, in the queried partition.
fn start_key(query: &Query, cursor: &str) -> Result<Attrs, TableError> {
    let attrs = decode_cursor(cursor)?;
    let mut expected = vec![PK.to_string(), SK.to_string()];
    let partition_attr = match query.index {
        None => PK.to_string(),
        Some(index) => {
            let (ipk, isk) = index_attrs(index);
            expected.push(ipk.clone());
            expected.push(isk);
            ipk
        }
    };
    let well_formed = attrs.len() == expected.len()
        && expected
            .iter()
            .all(|name| attrs.get(name).is_some_and(|v| !v.is_empty()))
        && attrs.get(&partition_attr) == Some(&query.pk);
    if !well_formed {
        return Err(TableError::InvalidCursor);
    }
    Ok(attrs.into_iter().map(|(k, v)| (k, s(v))).collect())
}

fn encode_last_key(last: &Attrs) -> Result<String, TableError> {
    let attrs = last
        .iter()
        .map(|(k, v)| match v {
            AttributeValue::S(v) => Ok((k.clone(), v.clone())),
            _ => Err(TableError::Corrupt(format!(
                "key attribute {k} of LastEvaluatedKey is not a string"
            ))),
        })
        .collect::<Result<BTreeMap<_, _>, _>>()?;
    Ok(encode_cursor(&attrs))
}

fn put_op(table: &str, item: &Item, condition: Condition, now: i64) -> Result<Put, TableError> {
    let mut expr = Expr::default();
    let condition = expr.condition(condition, now);
    Put::builder()
        .table_name(table)
        .set_item(Some(item_attrs(item)?))
        .set_condition_expression(condition)
        .set_expression_attribute_names(expr.names())
        .set_expression_attribute_values(expr.values())
        .build()
        .map_err(build_error)
}

#[async_trait]
impl Table for DynamoTable {
    async fn get(&self, key: &Key) -> Result<Option<Item>, TableError> {
        if key.pk.is_empty() || key.sk.is_empty() {
            // DynamoDB refuses empty key attributes; no item can have one.
            return Ok(None);
        }
        let out = self
            .client
            .get_item()
            .table_name(&self.table)
            .set_key(Some(key_attrs(key)?))
            .consistent_read(true)
            .send()
            .await
            .map_err(|e| unavailable("GetItem", e))?;
        match out.item() {
            None => Ok(None),
            Some(attrs) if is_expired(attrs, now_unix())? => Ok(None),
            Some(attrs) => item_from_attrs(attrs).map(Some),
        }
    }

    async fn put(&self, item: Item, condition: Condition) -> Result<(), TableError> {
        let mut expr = Expr::default();
        let condition_expr = expr.condition(condition, now_unix());
        let result = self
            .client
            .put_item()
            .table_name(&self.table)
            .set_item(Some(item_attrs(&item)?))
            .set_condition_expression(condition_expr)
            .set_expression_attribute_names(expr.names())
            .set_expression_attribute_values(expr.values())
            .send()
            .await;
        match result {
            Ok(_) => Ok(()),
            Err(err)
                if err
                    .as_service_error()
                    .is_some_and(|e| e.is_conditional_check_failed_exception()) =>
            {
                Err(TableError::ConditionFailed)
            }
            Err(err) => Err(unavailable("PutItem", err)),
        }
    }

    async fn delete(&self, key: &Key, condition: Condition) -> Result<(), TableError> {
        if key.pk.is_empty() || key.sk.is_empty() {
            // No item can have an empty key attribute: the key is absent.
            return match condition {
                Condition::None | Condition::NotExists => Ok(()),
                Condition::Exists | Condition::VersionIs(_) => Err(TableError::ConditionFailed),
            };
        }
        let mut expr = Expr::default();
        let condition_expr = expr.condition(condition, now_unix());
        let result = self
            .client
            .delete_item()
            .table_name(&self.table)
            .set_key(Some(key_attrs(key)?))
            .set_condition_expression(condition_expr)
            .set_expression_attribute_names(expr.names())
            .set_expression_attribute_values(expr.values())
            .send()
            .await;
        match result {
            Ok(_) => Ok(()),
            Err(err)
                if err
                    .as_service_error()
                    .is_some_and(|e| e.is_conditional_check_failed_exception()) =>
            {
                Err(TableError::ConditionFailed)
            }
            Err(err) => Err(unavailable("DeleteItem", err)),
        }
    }

    async fn query(&self, query: &Query) -> Result<Page, TableError> {
        if query.limit == 0 || query.limit > MAX_QUERY_LIMIT {
            return Err(TableError::Invalid(format!(
                "query limit must be 1-{MAX_QUERY_LIMIT}, not {}",
                query.limit
            )));
        }
        if query.pk.is_empty() {
            // No item (or index entry) can have an empty partition key.
            return Ok(Page::default());
        }
        let limit = i32::try_from(query.limit)
            .map_err(|_| TableError::Invalid("query limit out of range".into()))?;
        let start = query
            .cursor
            .as_deref()
            .map(|c| start_key(query, c))
            .transpose()?;
        let (pk_attr, sk_attr) = match query.index {
            None => (PK.to_string(), SK.to_string()),
            Some(index) => index_attrs(index),
        };

        let mut expr = Expr::default();
        let pk_name = expr.name(&pk_attr);
        let pk_value = expr.value(":pk", s(&query.pk));
        let mut key_condition = format!("{pk_name} = {pk_value}");
        match sort_condition(&query.sk) {
            SortCondition::All => {}
            SortCondition::Nothing => return Ok(Page::default()),
            SortCondition::Op(op, v) => {
                let sk_name = expr.name(&sk_attr);
                let v = expr.value(":sk", s(v));
                key_condition.push_str(&format!(" AND {sk_name} {op} {v}"));
            }
            SortCondition::BeginsWith(v) => {
                let sk_name = expr.name(&sk_attr);
                let v = expr.value(":sk", s(v));
                key_condition.push_str(&format!(" AND begins_with({sk_name}, {v})"));
            }
            SortCondition::Between(a, b) => {
                let sk_name = expr.name(&sk_attr);
                let a = expr.value(":lo", s(a));
                let b = expr.value(":hi", s(b));
                key_condition.push_str(&format!(" AND {sk_name} BETWEEN {a} AND {b}"));
            }
        }
        let filter = expr.live(now_unix());

        let mut request = self
            .client
            .query()
            .table_name(&self.table)
            .key_condition_expression(key_condition)
            .filter_expression(filter)
            .set_expression_attribute_names(expr.names())
            .set_expression_attribute_values(expr.values())
            .scan_index_forward(query.forward)
            .limit(limit)
            .set_exclusive_start_key(start);
        request = match query.index {
            None => request.consistent_read(true),
            Some(index) => request.index_name(index.name()),
        };
        let out = match request.send().await {
            Ok(out) => out,
            Err(err) => {
                // DynamoDB refuses a start key outside the key condition: a cursor of another query.
                let bad_start = query.cursor.is_some()
                    && err.as_service_error().is_some_and(|e| {
                        e.code() == Some("ValidationException")
                            && e.message().is_some_and(|m| {
                                let m = m.to_ascii_lowercase();
                                m.contains("exclusivestartkey")
                                    || m.contains("start key")
                                    || m.contains("starting key")
                            })
                    });
                if bad_start {
                    tracing::debug!(error = %DisplayErrorContext(&err), "cursor refused by DynamoDB");
                    return Err(TableError::InvalidCursor);
                }
                return Err(unavailable("Query", err));
            }
        };
        let items = out
            .items()
            .iter()
            .map(item_from_attrs)
            .collect::<Result<Vec<_>, _>>()?;
        let cursor = match out.last_evaluated_key() {
            Some(last) if !last.is_empty() => Some(encode_last_key(last)?),
            _ => None,
        };
        Ok(Page { items, cursor })
    }

    async fn transact(&self, ops: Vec<WriteOp>) -> Result<(), TableError> {
        validate_transaction(&ops)?;
        let now = now_unix();
        let mut items = Vec::with_capacity(ops.len());
        for op in &ops {
            let item = match op {
                WriteOp::Put { item, condition } => TransactWriteItem::builder()
                    .put(put_op(&self.table, item, *condition, now)?)
                    .build(),
                WriteOp::Delete { key, condition } => {
                    let mut expr = Expr::default();
                    let condition = expr.condition(*condition, now);
                    let delete = Delete::builder()
                        .table_name(&self.table)
                        .set_key(Some(key_attrs(key)?))
                        .set_condition_expression(condition)
                        .set_expression_attribute_names(expr.names())
                        .set_expression_attribute_values(expr.values())
                        .build()
                        .map_err(build_error)?;
                    TransactWriteItem::builder().delete(delete).build()
                }
                WriteOp::Check { key, condition } => {
                    let mut expr = Expr::default();
                    let condition = match expr.condition(*condition, now) {
                        Some(c) => c,
                        None => {
                            let pk = expr.name(PK);
                            format!("attribute_exists({pk}) OR attribute_not_exists({pk})")
                        }
                    };
                    let check = ConditionCheck::builder()
                        .table_name(&self.table)
                        .set_key(Some(key_attrs(key)?))
                        .condition_expression(condition)
                        .set_expression_attribute_names(expr.names())
                        .set_expression_attribute_values(expr.values())
                        .build()
                        .map_err(build_error)?;
                    TransactWriteItem::builder().condition_check(check).build()
                }
                WriteOp::Add { key, by } => {
                    let mut expr = Expr::default();
                    let update_expr = add_expr(&mut expr, *by);
                    let update = Update::builder()
                        .table_name(&self.table)
                        .set_key(Some(key_attrs(key)?))
                        .update_expression(update_expr)
                        .set_expression_attribute_names(expr.names())
                        .set_expression_attribute_values(expr.values())
                        .build()
                        .map_err(build_error)?;
                    TransactWriteItem::builder().update(update).build()
                }
            };
            items.push(item);
        }
        // A transaction cancelled only because another one touched the same items at the same
        // moment (`TransactionConflict`: shared counters, a ticket written twice at once) holds
        // no verdict on its conditions: it is sent again, bounded and jittered, so the caller
        // sees a cancellation only when a condition really failed. (SQLite serialises writers
        // and never reports this.)
        let mut attempt = 0;
        loop {
            attempt += 1;
            let result = self
                .client
                .transact_write_items()
                .set_transact_items(Some(items.clone()))
                .send()
                .await;
            let err = match result {
                Ok(_) => return Ok(()),
                Err(err) => err,
            };
            let Some(aws_sdk_dynamodb::operation::transact_write_items::TransactWriteItemsError::TransactionCanceledException(cancelled)) = err.as_service_error() else {
                return Err(unavailable("TransactWriteItems", err));
            };
            let reasons = cancelled.cancellation_reasons();
            let failed: Vec<usize> = reasons
                .iter()
                .enumerate()
                .filter(|(_, r)| r.code() == Some("ConditionalCheckFailed"))
                .map(|(i, _)| i)
                .collect();
            let transient = failed.is_empty()
                && reasons.iter().any(|r| {
                    matches!(
                        r.code(),
                        Some(
                            "TransactionConflict"
                                | "ThrottlingError"
                                | "ProvisionedThroughputExceeded"
                        )
                    )
                });
            let codes: Vec<&str> = reasons.iter().map(|r| r.code().unwrap_or("?")).collect();
            tracing::debug!(?failed, ?codes, attempt, "transaction cancelled");
            if transient && attempt < TRANSACT_ATTEMPTS {
                let window = 10u64 << attempt.min(5);
                let pause = rand::Rng::gen_range(&mut rand::thread_rng(), 1..=window);
                tokio::time::sleep(Duration::from_millis(pause)).await;
                continue;
            }
            return Err(TableError::TransactionCancelled { failed });
        }
    }

    async fn add(&self, key: &Key, by: i64) -> Result<i64, TableError> {
        // An expired counter counts as absent: the add runs only on a live (or missing) item,
        // and an expired one is first replaced by a fresh counter.
        const ATTEMPTS: usize = 5;
        for _ in 0..ATTEMPTS {
            let now = now_unix();
            let mut expr = Expr::default();
            let update_expr = add_expr(&mut expr, by);
            let live = expr.live(now);
            let result = self
                .client
                .update_item()
                .table_name(&self.table)
                .set_key(Some(key_attrs(key)?))
                .update_expression(update_expr)
                .condition_expression(live)
                .set_expression_attribute_names(expr.names())
                .set_expression_attribute_values(expr.values())
                .return_values(ReturnValue::UpdatedNew)
                .send()
                .await;
            match result {
                Ok(out) => {
                    let attrs = out.attributes().ok_or_else(|| {
                        TableError::Corrupt(
                            "UpdateItem returned no attributes for a counter".into(),
                        )
                    })?;
                    return number_attr(attrs, COUNTER)?.ok_or_else(|| {
                        TableError::Corrupt("UpdateItem returned no counter value".into())
                    });
                }
                Err(err)
                    if err
                        .as_service_error()
                        .is_some_and(|e| e.is_conditional_check_failed_exception()) => {}
                Err(err) => return Err(unavailable("UpdateItem", err)),
            }
            // The stored item has expired: replace it with a fresh counter, unless someone else
            // did first (then add again).
            let mut expr = Expr::default();
            let ttl = expr.name(TTL);
            let now = expr.value(":now", n(now));
            let mut fresh = key_attrs(key)?;
            fresh.insert(VER.to_string(), n(0));
            fresh.insert(COUNTER.to_string(), n(by));
            let result = self
                .client
                .put_item()
                .table_name(&self.table)
                .set_item(Some(fresh))
                .condition_expression(format!("{ttl} <= {now}"))
                .set_expression_attribute_names(expr.names())
                .set_expression_attribute_values(expr.values())
                .send()
                .await;
            match result {
                Ok(_) => return Ok(by),
                Err(err)
                    if err
                        .as_service_error()
                        .is_some_and(|e| e.is_conditional_check_failed_exception()) => {}
                Err(err) => return Err(unavailable("PutItem", err)),
            }
        }
        Err(TableError::Unavailable(
            format!("counter {}/{} kept changing while expired", key.pk, key.sk).into(),
        ))
    }

    async fn counter(&self, key: &Key) -> Result<i64, TableError> {
        if key.pk.is_empty() || key.sk.is_empty() {
            return Ok(0);
        }
        let mut expr = Expr::default();
        let projection = format!("{}, {}", expr.name(COUNTER), expr.name(TTL));
        let out = self
            .client
            .get_item()
            .table_name(&self.table)
            .set_key(Some(key_attrs(key)?))
            .consistent_read(true)
            .projection_expression(projection)
            .set_expression_attribute_names(expr.names())
            .send()
            .await
            .map_err(|e| unavailable("GetItem", e))?;
        match out.item() {
            None => Ok(0),
            Some(attrs) if is_expired(attrs, now_unix())? => Ok(0),
            Some(attrs) => Ok(number_attr(attrs, COUNTER)?.unwrap_or(0)),
        }
    }
}
