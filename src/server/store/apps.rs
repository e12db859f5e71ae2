//! Apps, collaborators and deployments, with Owner/Collaborator permission checks.

use std::collections::BTreeMap;

use super::db::{Db, Row, params};

use super::accounts::{AuthenticatedCaller, account_id_by_email, generate_key};
use super::{StoreError, StoreResult, now_ms};
use crate::api::management::{App, CollaboratorProperties, Permission};
use crate::domain::scope::Scope;
use crate::domain::validate;

/// The caller's access to one app.
#[derive(Debug, Clone)]
pub struct AppAccess {
    pub app_id: i64,
    pub name: String,
    pub is_owner: bool,
}

const OWNER_REQUIRED: &str = "This action requires Owner permissions on the app!";

impl AppAccess {
    /// Fails unless the caller owns the app.
    ///
    /// # Errors
    /// [`StoreError::Forbidden`].
    pub fn require_owner(&self) -> StoreResult<()> {
        if self.is_owner { Ok(()) } else { Err(StoreError::Forbidden(OWNER_REQUIRED.into())) }
    }
}

fn invalid(error: validate::FieldError) -> StoreError {
    StoreError::Invalid(error.to_string())
}

/// Resolves an app the caller may access, by `Name` or `owner@email:Name`, and checks that the
/// caller's collaborator role on it (if any) allows what the request was authorised for.
///
/// # Errors
/// [`StoreError::NotFound`], [`StoreError::Conflict`] when the name is ambiguous,
/// [`StoreError::Forbidden`] when the role does not allow the action.
pub fn resolve_app(connection: &Db, caller: &AuthenticatedCaller, app: &str) -> StoreResult<AppAccess> {
    let access = find_app(connection, caller, app)?;
    if access.is_owner {
        return Ok(access);
    }
    let role: Option<String> = connection.query_one(
        "SELECT role FROM collaborators WHERE app_id = ?1 AND account_id = ?2",
        params![access.app_id, caller.account_id],
        |row| row.get(0),
    )?;
    let role = super::accounts::scopes_from_column(role);
    let need = caller.authorised_for();
    if crate::domain::scope::allows(role.as_deref(), &need) {
        return Ok(access);
    }
    let role = role.unwrap_or_default().iter().map(ToString::to_string).collect::<Vec<_>>().join(" ");
    Err(StoreError::Forbidden(format!(
        "Your role on \"{}\" ({role}) does not include the \"{need}\" scope; ask the app's owner.",
        access.name
    )))
}

/// Resolves an app the caller collaborates on, without role checks.
fn find_app(connection: &Db, caller: &AuthenticatedCaller, app: &str) -> StoreResult<AppAccess> {
    let (owner, name) = match app.split_once(':') {
        Some((owner, name)) => (Some(owner), name),
        None => (None, app),
    };
    let matches: Vec<(i64, bool, String)> = connection.query_map(
        "SELECT apps.id, mine.is_owner, owner.email FROM apps
         JOIN collaborators mine ON mine.app_id = apps.id AND mine.account_id = ?1
         JOIN collaborators oc ON oc.app_id = apps.id AND oc.is_owner = 1
         JOIN accounts owner ON owner.id = oc.account_id
         WHERE apps.name = ?2",
        params![caller.account_id, name],
        |row| Ok((row.get(0)?, row.get(1)?, row.get(2)?)),
    )?;
    let chosen: Vec<&(i64, bool, String)> = match owner {
        Some(owner) => matches.iter().filter(|m| m.2.eq_ignore_ascii_case(owner)).collect(),
        None if matches.len() > 1 => matches.iter().filter(|m| m.1).collect(),
        None => matches.iter().collect(),
    };
    match chosen.as_slice() {
        [(app_id, is_owner, _)] => Ok(AppAccess { app_id: *app_id, name: name.to_owned(), is_owner: *is_owner }),
        [] => Err(StoreError::NotFound(format!("App \"{app}\" does not exist."))),
        _ => Err(StoreError::Conflict(format!("App name \"{app}\" is ambiguous: use owner-email:{name}."))),
    }
}

/// The wire view of an app for the caller.
///
/// # Errors
/// SQLite errors.
pub fn app_view(connection: &Db, caller: &AuthenticatedCaller, access: &AppAccess) -> StoreResult<App> {
    Ok(App {
        name: access.name.clone(),
        collaborators: collaborators(connection, caller, access.app_id)?,
        deployments: deployment_names(connection, access.app_id)?,
    })
}

fn deployment_names(connection: &Db, app_id: i64) -> StoreResult<Vec<String>> {
    let names = connection.query_map(
        "SELECT name FROM deployments WHERE app_id = ?1 ORDER BY name",
        params![app_id],
        |row| row.get(0),
    )?;
    Ok(names)
}

/// Collaborators of an app keyed by email.
///
/// # Errors
/// SQLite errors.
pub fn collaborators(
    connection: &Db,
    caller: &AuthenticatedCaller,
    app_id: i64,
) -> StoreResult<BTreeMap<String, CollaboratorProperties>> {
    let rows = connection.query_map(
        "SELECT a.id, a.email, c.is_owner, c.role FROM collaborators c JOIN accounts a ON a.id = c.account_id
         WHERE c.app_id = ?1",
        params![app_id],
        |row| {
            let (id, email, is_owner): (i64, String, bool) = (row.get(0)?, row.get(1)?, row.get(2)?);
            let permission = if is_owner { Permission::Owner } else { Permission::Collaborator };
            let role =
                super::accounts::scopes_from_column(row.get(3)?).map(|s| s.iter().map(ToString::to_string).collect());
            Ok((email, CollaboratorProperties { is_current_account: id == caller.account_id, permission, role }))
        },
    )?;
    Ok(rows.into_iter().collect())
}

/// All apps the caller can access, sorted by name; names that are ambiguous for the caller are shown
/// as `owner-email:Name` for apps the caller does not own.
///
/// # Errors
/// SQLite errors.
pub fn list_apps(connection: &Db, caller: &AuthenticatedCaller) -> StoreResult<Vec<App>> {
    let rows: Vec<(i64, String, bool, String)> = connection.query_map(
        "SELECT apps.id, apps.name, mine.is_owner, owner.email FROM apps
         JOIN collaborators mine ON mine.app_id = apps.id AND mine.account_id = ?1
         JOIN collaborators oc ON oc.app_id = apps.id AND oc.is_owner = 1
         JOIN accounts owner ON owner.id = oc.account_id
         ORDER BY apps.name, apps.id",
        params![caller.account_id],
        |row| Ok((row.get(0)?, row.get(1)?, row.get(2)?, row.get(3)?)),
    )?;
    let mut apps = Vec::with_capacity(rows.len());
    for (app_id, name, is_owner, owner_email) in &rows {
        let ambiguous = rows.iter().filter(|r| r.1 == *name).count() > 1;
        let shown = if ambiguous && !is_owner { format!("{owner_email}:{name}") } else { name.clone() };
        let access = AppAccess { app_id: *app_id, name: shown, is_owner: *is_owner };
        apps.push(app_view(connection, caller, &access)?);
    }
    Ok(apps)
}

/// Creates an app owned by the caller, with `Staging` and `Production` unless provisioned manually.
///
/// # Errors
/// [`StoreError::Invalid`] name, [`StoreError::Conflict`] if the caller already owns that name.
pub fn create_app(
    connection: &Db,
    caller: &AuthenticatedCaller,
    name: &str,
    manually_provision_deployments: bool,
) -> StoreResult<(AppAccess, App)> {
    validate::name("name", name).map_err(invalid)?;
    connection.transaction(|tx| {
        let owned: i64 = tx.query_one(
            "SELECT COUNT(*) FROM apps JOIN collaborators c ON c.app_id = apps.id
         WHERE c.account_id = ?1 AND c.is_owner = 1 AND apps.name = ?2",
            params![caller.account_id, name],
            |row| row.get(0),
        )?;
        if owned > 0 {
            return Err(StoreError::Conflict(format!("An app named \"{name}\" already exists.")));
        }
        let app_id: i64 = tx.query_one(
            "INSERT INTO apps (name, created_time) VALUES (?1, ?2) RETURNING id",
            params![name, now_ms()],
            |row| row.get(0),
        )?;
        tx.execute(
            "INSERT INTO collaborators (app_id, account_id, is_owner) VALUES (?1, ?2, 1)",
            params![app_id, caller.account_id],
        )?;
        if !manually_provision_deployments {
            for deployment in ["Production", "Staging"] {
                insert_deployment(tx, app_id, deployment, &generate_key())?;
            }
        }
        let access = AppAccess { app_id, name: name.to_owned(), is_owner: true };
        let app = app_view(tx, caller, &access)?;
        Ok((access, app))
    })
}

/// Renames an app (Owner only).
///
/// # Errors
/// Permission, validation or name conflicts.
pub fn rename_app(
    connection: &Db,
    caller: &AuthenticatedCaller,
    access: &AppAccess,
    new_name: &str,
) -> StoreResult<App> {
    access.require_owner()?;
    validate::name("name", new_name).map_err(invalid)?;
    if new_name != access.name && find_app(connection, caller, new_name).is_ok() {
        return Err(StoreError::Conflict(format!("An app named \"{new_name}\" already exists.")));
    }
    connection.execute("UPDATE apps SET name = ?1 WHERE id = ?2", params![new_name, access.app_id])?;
    let renamed = AppAccess { name: new_name.to_owned(), ..access.clone() };
    app_view(connection, caller, &renamed)
}

/// Deletes an app with its deployments and releases (Owner only). Blobs stay content-addressed.
///
/// # Errors
/// Permission errors.
pub fn delete_app(connection: &Db, access: &AppAccess) -> StoreResult<()> {
    access.require_owner()?;
    connection.execute("DELETE FROM apps WHERE id = ?1", params![access.app_id])?;
    Ok(())
}

/// Makes another registered account the owner; the previous owner stays as a collaborator.
///
/// # Errors
/// Permission errors, unknown email.
pub fn transfer_app(connection: &Db, access: &AppAccess, email: &str) -> StoreResult<()> {
    access.require_owner()?;
    validate::email(email).map_err(invalid)?;
    let new_owner = account_id_by_email(connection, email)?;
    let clash: bool = connection.query_one(
        "SELECT EXISTS (SELECT 1 FROM apps a JOIN collaborators c ON c.app_id = a.id
             WHERE c.account_id = ?1 AND c.is_owner = 1 AND a.id != ?2 AND a.name = ?3)",
        params![new_owner, access.app_id, access.name],
        |row| row.get(0),
    )?;
    if clash {
        return Err(StoreError::Conflict(format!(
            "{email} already owns an app named \"{}\"; rename one of the two before the transfer.",
            access.name
        )));
    }
    connection.transaction(|tx| {
        tx.execute("UPDATE collaborators SET is_owner = 0 WHERE app_id = ?1", params![access.app_id])?;
        tx.execute(
            "INSERT INTO collaborators (app_id, account_id, is_owner) VALUES (?1, ?2, 1)
         ON CONFLICT (app_id, account_id) DO UPDATE SET is_owner = 1",
            params![access.app_id, new_owner],
        )?;
        Ok(())
    })
}

fn role_column(role: Option<&[Scope]>) -> Option<String> {
    role.map(|r| r.iter().map(ToString::to_string).collect::<Vec<_>>().join(" "))
}

/// Adds a collaborator (Owner only), with a role that caps their keys on this app (`None`: no cap).
///
/// # Errors
/// Permission errors, unknown email, or already a collaborator.
pub fn add_collaborator(connection: &Db, access: &AppAccess, email: &str, role: Option<&[Scope]>) -> StoreResult<()> {
    access.require_owner()?;
    validate::email(email).map_err(invalid)?;
    let account_id = account_id_by_email(connection, email)?;
    let inserted = connection.execute(
        "INSERT INTO collaborators (app_id, account_id, is_owner, role) VALUES (?1, ?2, 0, ?3) ON CONFLICT DO NOTHING",
        params![access.app_id, account_id, role_column(role)],
    )?;
    if inserted == 0 {
        return Err(StoreError::Conflict(format!("{email} is already a collaborator of this app.")));
    }
    Ok(())
}

/// Changes a collaborator's role (Owner only); returns the role before. Owners have no role.
///
/// # Errors
/// Permission errors, unknown collaborator, or the owner.
pub fn set_collaborator_role(
    connection: &Db,
    access: &AppAccess,
    email: &str,
    role: Option<&[Scope]>,
) -> StoreResult<Option<Vec<Scope>>> {
    access.require_owner()?;
    validate::email(email).map_err(invalid)?;
    let account_id = account_id_by_email(connection, email)?;
    let current: Option<(bool, Option<String>)> = connection.query_opt(
        "SELECT is_owner, role FROM collaborators WHERE app_id = ?1 AND account_id = ?2",
        params![access.app_id, account_id],
        |row| Ok((row.get(0)?, row.get(1)?)),
    )?;
    match current {
        None => Err(StoreError::NotFound(format!("{email} is not a collaborator of this app."))),
        Some((true, _)) => Err(StoreError::Conflict("The owner of an app has no role to change.".into())),
        Some((false, before)) => {
            connection.execute(
                "UPDATE collaborators SET role = ?1 WHERE app_id = ?2 AND account_id = ?3",
                params![role_column(role), access.app_id, account_id],
            )?;
            Ok(super::accounts::scopes_from_column(before))
        }
    }
}

/// Removes a collaborator: the owner may remove others, anyone may remove themselves.
///
/// # Errors
/// Permission errors, unknown collaborator, or removing the owner.
pub fn remove_collaborator(
    connection: &Db,
    caller: &AuthenticatedCaller,
    access: &AppAccess,
    email: &str,
) -> StoreResult<()> {
    validate::email(email).map_err(invalid)?;
    let account_id = account_id_by_email(connection, email)?;
    if account_id != caller.account_id {
        access.require_owner()?;
    }
    let is_owner: Option<bool> = connection.query_opt(
        "SELECT is_owner FROM collaborators WHERE app_id = ?1 AND account_id = ?2",
        params![access.app_id, account_id],
        |row| row.get(0),
    )?;
    match is_owner {
        None => Err(StoreError::NotFound(format!("{email} is not a collaborator of this app."))),
        Some(true) => Err(StoreError::Conflict("The owner of an app cannot be removed; transfer it first.".into())),
        Some(false) => {
            connection.execute(
                "DELETE FROM collaborators WHERE app_id = ?1 AND account_id = ?2",
                params![access.app_id, account_id],
            )?;
            Ok(())
        }
    }
}

/// A deployment's row id, name and key.
#[derive(Debug, Clone)]
pub struct DeploymentRow {
    pub id: i64,
    pub name: String,
    pub key: String,
    pub created_time: i64,
    /// Changes need a reason.
    pub is_protected: bool,
}

const DEPLOYMENT_COLUMNS: &str = "id, name, key, created_time, is_protected";

fn deployment_from_row(row: &Row) -> StoreResult<DeploymentRow> {
    Ok(DeploymentRow {
        id: row.get(0)?,
        name: row.get(1)?,
        key: row.get(2)?,
        created_time: row.get(3)?,
        is_protected: row.get(4)?,
    })
}

fn insert_deployment(connection: &Db, app_id: i64, name: &str, key: &str) -> StoreResult<DeploymentRow> {
    validate::name("name", name).map_err(invalid)?;
    validate::key("key", key).map_err(invalid)?;
    let taken: i64 = connection.query_one(
        "SELECT COUNT(*) FROM deployments WHERE (app_id = ?1 AND name = ?2) OR key = ?3",
        params![app_id, name, key],
        |row| row.get(0),
    )?;
    if taken > 0 {
        return Err(StoreError::Conflict(format!("A deployment named \"{name}\" or with that key already exists.")));
    }
    let created_time = now_ms();
    let id = connection.query_one(
        "INSERT INTO deployments (app_id, name, key, created_time) VALUES (?1, ?2, ?3, ?4) RETURNING id",
        params![app_id, name, key, created_time],
        |row| row.get(0),
    )?;
    Ok(DeploymentRow { id, name: name.to_owned(), key: key.to_owned(), created_time, is_protected: false })
}

/// Adds a deployment (Owner only); the key is generated unless given.
///
/// # Errors
/// Permission, validation or conflicts.
pub fn create_deployment(
    connection: &Db,
    access: &AppAccess,
    name: &str,
    key: Option<&str>,
) -> StoreResult<DeploymentRow> {
    access.require_owner()?;
    let key = key.map_or_else(generate_key, str::to_owned);
    insert_deployment(connection, access.app_id, name, &key)
}

/// Finds a deployment of an app by name.
///
/// # Errors
/// [`StoreError::NotFound`].
pub fn find_deployment(connection: &Db, access: &AppAccess, name: &str) -> StoreResult<DeploymentRow> {
    connection
        .query_opt(
            &format!("SELECT {DEPLOYMENT_COLUMNS} FROM deployments WHERE app_id = ?1 AND name = ?2"),
            params![access.app_id, name],
            deployment_from_row,
        )?
        .ok_or_else(|| StoreError::NotFound(format!("Deployment \"{name}\" does not exist.")))
}

/// All deployments of an app, sorted by name.
///
/// # Errors
/// SQLite errors.
pub fn list_deployments(connection: &Db, access: &AppAccess) -> StoreResult<Vec<DeploymentRow>> {
    let rows = connection.query_map(
        &format!("SELECT {DEPLOYMENT_COLUMNS} FROM deployments WHERE app_id = ?1 ORDER BY name"),
        params![access.app_id],
        deployment_from_row,
    )?;
    Ok(rows)
}

/// Renames a deployment and/or sets its protection (Owner only). Returns the row before and after.
///
/// # Errors
/// Permission, validation, not found or conflicts.
pub fn update_deployment(
    connection: &Db,
    access: &AppAccess,
    name: &str,
    new_name: Option<&str>,
    is_protected: Option<bool>,
) -> StoreResult<(DeploymentRow, DeploymentRow)> {
    access.require_owner()?;
    if let Some(new_name) = new_name {
        validate::name("name", new_name).map_err(invalid)?;
    }
    let before = find_deployment(connection, access, name)?;
    let new_name = new_name.unwrap_or(name);
    if new_name != name && find_deployment(connection, access, new_name).is_ok() {
        return Err(StoreError::Conflict(format!("A deployment named \"{new_name}\" already exists.")));
    }
    let is_protected = is_protected.unwrap_or(before.is_protected);
    connection.execute(
        "UPDATE deployments SET name = ?1, is_protected = ?2 WHERE id = ?3",
        params![new_name, is_protected, before.id],
    )?;
    let after = DeploymentRow { name: new_name.to_owned(), is_protected, ..before.clone() };
    Ok((before, after))
}

/// Deletes a deployment and its history (Owner only); returns the deleted row.
///
/// # Errors
/// Permission or not found.
pub fn delete_deployment(connection: &Db, access: &AppAccess, name: &str) -> StoreResult<DeploymentRow> {
    access.require_owner()?;
    let deployment = find_deployment(connection, access, name)?;
    connection.execute("DELETE FROM deployments WHERE id = ?1", params![deployment.id])?;
    Ok(deployment)
}
