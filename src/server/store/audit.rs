//! The audit trail: every management mutation is recorded, append-only, in the same transaction
//! as the change itself, so a change without its entry (or an entry without its change) cannot
//! exist. Protected deployments refuse changes that carry no reason.

use super::db::{Db, ToValue, Value as SqlValue, params};
use serde_json::{Map, Value};

use super::apps::{AppAccess, find_deployment};
use super::{AuthenticatedCaller, StoreError, StoreResult, now_ms};
use crate::api::management::{AuditEntry, AuditQuery};

/// The most entries one `GET /audit` answers.
pub const MAX_ENTRIES: u32 = 1000;
/// The longest reason accepted, in characters.
pub const MAX_REASON_CHARS: usize = 500;

/// What a mutation changed, reported by the route that made it.
#[derive(Debug, Clone)]
pub struct Change {
    pub action: &'static str,
    pub app: Option<(i64, String)>,
    pub deployment: Option<String>,
    pub label: Option<String>,
    pub target: String,
    pub before: Option<Value>,
    pub after: Option<Value>,
}

impl Change {
    /// A change of `target` (in words) by `action`.
    #[must_use]
    pub fn new(action: &'static str, target: impl Into<String>) -> Self {
        Self { action, app: None, deployment: None, label: None, target: target.into(), before: None, after: None }
    }

    /// A change inside an app; the target reads `App`, `App/Deployment` or `App/Deployment label`.
    #[must_use]
    pub fn in_app(action: &'static str, access: &AppAccess, deployment: Option<&str>, label: Option<&str>) -> Self {
        let mut target = access.name.clone();
        if let Some(deployment) = deployment {
            target = format!("{target}/{deployment}");
        }
        if let Some(label) = label {
            target = format!("{target} {label}");
        }
        Self {
            app: Some((access.app_id, access.name.clone())),
            deployment: deployment.map(str::to_owned),
            label: label.map(str::to_owned),
            ..Self::new(action, target)
        }
    }

    /// Records the fields before and after, keeping only those that differ (all of them for a
    /// creation or a deletion).
    #[must_use]
    pub fn fields(mut self, before: Option<Value>, after: Option<Value>) -> Self {
        (self.before, self.after) = changed_fields(before, after);
        self
    }
}

/// The keys of two JSON objects whose values differ; non-objects are kept whole.
#[must_use]
pub fn changed_fields(before: Option<Value>, after: Option<Value>) -> (Option<Value>, Option<Value>) {
    match (before, after) {
        (Some(Value::Object(before)), Some(Value::Object(after))) => {
            let keys: Vec<&String> =
                before.keys().chain(after.keys()).filter(|k| before.get(*k) != after.get(*k)).collect();
            let pick = |side: &Map<String, Value>| {
                keys.iter().map(|k| ((*k).clone(), side.get(*k).cloned().unwrap_or(Value::Null))).collect()
            };
            (Some(Value::Object(pick(&before))), Some(Value::Object(pick(&after))))
        }
        other => other,
    }
}

/// Runs `work` and records the change it reports, in one transaction: both or neither. `work`
/// returning no change (nothing was different) records nothing.
///
/// # Errors
/// Whatever `work` returns, or SQLite errors; either way nothing is written.
pub fn in_transaction<T>(
    connection: &Db,
    caller: &AuthenticatedCaller,
    work: impl FnOnce(&Db) -> StoreResult<(T, Option<Change>)>,
) -> StoreResult<T> {
    connection.transaction(|db| {
        db.one_at_a_time(super::db::Exclusive::Management)?;
        let (value, change) = work(db)?;
        if let Some(change) = change {
            record(db, caller, &change)?;
        }
        Ok(value)
    })
}

/// Refuses a change to a protected deployment when the request carries no reason.
///
/// # Errors
/// [`StoreError::ReasonRequired`], or not found.
pub fn require_reason(
    connection: &Db,
    caller: &AuthenticatedCaller,
    access: &AppAccess,
    deployment: &str,
) -> StoreResult<()> {
    if caller.reason.is_some() || !find_deployment(connection, access, deployment)?.is_protected {
        return Ok(());
    }
    Err(StoreError::ReasonRequired(format!(
        "Deployment \"{deployment}\" of \"{}\" is protected: changes to it need a reason. Send one in the \
         X-Otadeck-Reason header (otadeck: --reason \"…\"; the app: the Reason box).",
        access.name
    )))
}

fn json_text(value: Option<&Value>) -> Option<String> {
    value.map(Value::to_string)
}

/// Appends one entry.
///
/// # Errors
/// SQLite errors.
pub fn record(connection: &Db, caller: &AuthenticatedCaller, change: &Change) -> StoreResult<()> {
    connection.execute(
        "INSERT INTO audit_log (time, account_id, account, key_name, client_ip, action, app_id, app, deployment, label,
                                target, before, after, reason)
         VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9, ?10, ?11, ?12, ?13, ?14)",
        params![
            now_ms(),
            caller.account_id,
            caller.email,
            caller.key_name,
            caller.client_ip,
            change.action,
            change.app.as_ref().map(|(id, _)| *id),
            change.app.as_ref().map(|(_, name)| name),
            change.deployment,
            change.label,
            change.target,
            json_text(change.before.as_ref()),
            json_text(change.after.as_ref()),
            caller.reason,
        ],
    )?;
    Ok(())
}

/// The entries the caller may read that match `query`, newest first: entries of apps the caller
/// collaborates on, and the caller's own entries (access keys, apps since deleted). `app_id` is
/// the resolved app when the query names one the caller can still see.
///
/// # Errors
/// SQLite errors.
pub fn list(
    connection: &Db,
    caller: &AuthenticatedCaller,
    query: &AuditQuery,
    app_id: Option<i64>,
) -> StoreResult<Vec<AuditEntry>> {
    let mut sql = String::from(
        "SELECT id, time, account, key_name, client_ip, action, app, deployment, label, target, before, after, reason
         FROM audit_log
         WHERE (account_id = ? OR app_id IN (SELECT app_id FROM collaborators WHERE account_id = ?))",
    );
    let mut values: Vec<SqlValue> = vec![caller.account_id.to_value(), caller.account_id.to_value()];
    let mut narrow = |clause: &str, value: SqlValue| {
        sql.push_str(" AND ");
        sql.push_str(clause);
        values.push(value);
    };
    match (app_id, &query.app) {
        (Some(id), _) => narrow("app_id = ?", id.to_value()),
        (None, Some(name)) => narrow("app = ?", name.to_value()),
        (None, None) => {}
    }
    if let Some(deployment) = &query.deployment {
        narrow("deployment = ?", deployment.to_value());
    }
    if let Some(account) = &query.account {
        narrow("lower(account) = lower(?)", account.to_value());
    }
    if let Some(from) = query.from {
        narrow("time >= ?", from.to_value());
    }
    if let Some(to) = query.to {
        narrow("time < ?", to.to_value());
    }
    let limit = query.limit.unwrap_or(MAX_ENTRIES).clamp(1, MAX_ENTRIES);
    sql.push_str(&format!(" ORDER BY id DESC LIMIT {limit}"));
    let params: Vec<&dyn ToValue> = values.iter().map(|v| v as &dyn ToValue).collect();
    let parse = |text: Option<String>| text.and_then(|t| serde_json::from_str(&t).ok());
    connection.query_map(&sql, &params, |row| {
        Ok(AuditEntry {
            id: row.get(0)?,
            time: row.get(1)?,
            account: row.get(2)?,
            key_name: row.get(3)?,
            client_ip: row.get(4)?,
            action: row.get(5)?,
            app: row.get(6)?,
            deployment: row.get(7)?,
            label: row.get(8)?,
            target: row.get(9)?,
            before: parse(row.get(10)?),
            after: parse(row.get(11)?),
            reason: row.get(12)?,
        })
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn only_the_fields_that_changed_are_kept() {
        let (before, after) = changed_fields(
            Some(json!({"rollout": 10, "isMandatory": false, "description": "x"})),
            Some(json!({"rollout": 50, "isMandatory": false, "description": "x", "isPaused": true})),
        );
        assert_eq!(before, Some(json!({"rollout": 10, "isPaused": null})));
        assert_eq!(after, Some(json!({"rollout": 50, "isPaused": true})));
    }

    #[test]
    fn creations_and_deletions_keep_every_field() {
        let row = json!({"name": "Staging", "key": "abc"});
        assert_eq!(changed_fields(None, Some(row.clone())), (None, Some(row.clone())));
        assert_eq!(changed_fields(Some(row.clone()), None), (Some(row), None));
    }
}
