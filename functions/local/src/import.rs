//! `helpdesk import-customers FILE.csv`: the customers table (the default customer directory)
//! from a CSV export of the platform's users. Idempotent: a row whose customer already matches
//! writes nothing, so the same file can be imported again.

use helpdesk_app::customer_directory::Upsert;
use helpdesk_app::directory::CustomerInput;
use helpdesk_app::{AppError, Helpdesk};
use helpdesk_domain::{Actor, EmailAddress, Role, Tier};
use serde::Serialize;
use std::path::Path;

/// The columns understood; `email` is required, the others may be absent or empty (= keep).
pub const COLUMNS: [&str; 8] = [
    "email",
    "name",
    "tier",
    "business_owner",
    "plan",
    "locale",
    "account_id",
    "platform_user_id",
];

#[derive(Debug, Clone, Serialize, PartialEq, Eq)]
pub struct RowError {
    /// The line in the file (the header is line 1).
    pub line: u64,
    pub field: String,
    pub message: String,
}

#[derive(Debug, Clone, Default, Serialize, PartialEq, Eq)]
pub struct ImportSummary {
    pub rows: usize,
    pub created: usize,
    pub updated: usize,
    pub unchanged: usize,
    pub errors: Vec<RowError>,
}

fn parse_bool(raw: &str) -> Option<bool> {
    match raw.to_ascii_lowercase().as_str() {
        "true" | "yes" | "1" | "y" => Some(true),
        "false" | "no" | "0" | "n" => Some(false),
        _ => None,
    }
}

/// One row → the input of an upsert, or the first field that does not parse.
fn row_input(
    header: &csv::StringRecord,
    row: &csv::StringRecord,
) -> Result<CustomerInput, (String, String)> {
    let cell = |name: &str| -> Option<String> {
        header
            .iter()
            .position(|h| h == name)
            .and_then(|i| row.get(i))
            .map(str::trim)
            .filter(|v| !v.is_empty())
            .map(str::to_string)
    };
    let bad = |field: &str, message: String| (field.to_string(), message);
    let email = cell("email").ok_or_else(|| bad("email", "is required".into()))?;
    let email = EmailAddress::parse(&email).map_err(|e| bad("email", e.to_string()))?;
    let tier = cell("tier")
        .map(|t| Tier::parse(&t.to_ascii_lowercase()))
        .transpose()
        .map_err(|_| bad("tier", "must be free, pro, business or enterprise".into()))?;
    let business_owner = cell("business_owner")
        .map(|b| parse_bool(&b).ok_or(()))
        .transpose()
        .map_err(|_| bad("business_owner", "must be true or false".into()))?;
    Ok(CustomerInput {
        email,
        name: cell("name"),
        locale: cell("locale"),
        tier,
        business_owner,
        platform_user_id: cell("platform_user_id"),
        plan: cell("plan"),
        account_id: cell("account_id"),
        version: None,
    })
}

/// Imports every row; a bad row is reported and skipped, the others still go in. `Err` only when
/// the file cannot be read or its header is unusable.
pub async fn import_customers(helpdesk: &Helpdesk, path: &Path) -> anyhow::Result<ImportSummary> {
    let mut reader = csv::ReaderBuilder::new()
        .trim(csv::Trim::All)
        .flexible(false)
        .from_path(path)
        .map_err(|e| anyhow::anyhow!("cannot read {}: {e}", path.display()))?;
    let header = reader
        .headers()
        .map_err(|e| anyhow::anyhow!("cannot read the header row: {e}"))?
        .clone();
    let header = csv::StringRecord::from(
        header
            .iter()
            .map(|h| h.trim().to_ascii_lowercase())
            .collect::<Vec<_>>(),
    );
    if let Some(unknown) = header.iter().find(|h| !COLUMNS.contains(h)) {
        anyhow::bail!(
            "unknown column {unknown:?} in the header row (known: {})",
            COLUMNS.join(", ")
        );
    }
    if !header.iter().any(|h| h == "email") {
        anyhow::bail!("the header row has no email column");
    }
    // The operator running the command acts as an administrator of this data directory.
    let actor = Actor::Staff {
        email: EmailAddress::parse("operator@helpdesk.localhost")
            .map_err(|e| anyhow::anyhow!("{e}"))?,
        role: Role::Admin,
    };
    let mut summary = ImportSummary::default();
    for (i, record) in reader.records().enumerate() {
        let line = u64::try_from(i).unwrap_or(u64::MAX).saturating_add(2);
        summary.rows += 1;
        let record = match record {
            Ok(r) => r,
            Err(e) => {
                summary.errors.push(RowError {
                    line: e.position().map(|p| p.line()).unwrap_or(line),
                    field: "-".into(),
                    message: e.to_string(),
                });
                continue;
            }
        };
        let line = record.position().map(|p| p.line()).unwrap_or(line);
        let input = match row_input(&header, &record) {
            Ok(input) => input,
            Err((field, message)) => {
                summary.errors.push(RowError {
                    line,
                    field,
                    message,
                });
                continue;
            }
        };
        match helpdesk.upsert_customer(&actor, input).await {
            Ok(Upsert::Created) => summary.created += 1,
            Ok(Upsert::Updated) => summary.updated += 1,
            Ok(Upsert::Unchanged) => summary.unchanged += 1,
            Err(AppError::Validation { field, message }) => summary.errors.push(RowError {
                line,
                field,
                message,
            }),
            Err(e) => return Err(anyhow::anyhow!("line {line}: {e}")),
        }
    }
    Ok(summary)
}
