//! Accounts and access keys. Keys are stored as SHA-256 hashes; the secret exists only in the
//! response that creates it.

use super::db::{Db, Row, params};
use crate::domain::scope::{Permission, Scope};
use base64::Engine as _;
use rand::RngCore as _;
use std::sync::{Arc, OnceLock};

use super::{StoreError, StoreResult, now_ms};
use crate::api::management::{AccessKey, Account, HIDDEN_KEY};

/// The account email created on a fresh server.
pub const ADMIN_EMAIL: &str = "admin@localhost";
/// Default access-key lifetime: 60 days, as in the reference.
pub const DEFAULT_KEY_TTL_MS: i64 = 60 * 24 * 60 * 60 * 1000;

/// Who is making a management request, with which key, from where and why.
#[derive(Debug, Clone)]
pub struct AuthenticatedCaller {
    pub account_id: i64,
    pub email: String,
    pub name: String,
    /// The friendly name of the key used (never its secret), for the audit trail.
    pub key_name: String,
    /// The key's scopes; `None`: full access.
    pub scopes: Option<Vec<Scope>>,
    /// The client's address, for the audit trail.
    pub client_ip: Option<String>,
    /// Why the caller makes this change (`X-Otadeck-Reason`), for the audit trail.
    pub reason: Option<String>,
    /// What [`Self::require`] authorised this request for; an app's collaborator role caps it
    /// again once the app is known.
    authorised: Arc<OnceLock<Permission>>,
}

impl AuthenticatedCaller {
    /// A caller with full access (tests and the bootstrap account).
    #[must_use]
    pub fn full(account_id: i64, email: &str, name: &str) -> Self {
        Self {
            account_id,
            email: email.to_owned(),
            name: name.to_owned(),
            key_name: "(internal)".to_owned(),
            scopes: None,
            client_ip: None,
            reason: None,
            authorised: Arc::default(),
        }
    }

    /// Refuses with 403 when the key's scopes do not allow `need`; otherwise remembers `need` as
    /// what this request does, so an app's collaborator role can cap it (see
    /// [`super::apps::resolve_app`]).
    ///
    /// # Errors
    /// [`StoreError::Forbidden`] naming the missing scope.
    pub fn require(&self, need: &Permission) -> StoreResult<()> {
        if crate::domain::scope::allows(self.scopes.as_deref(), need) {
            let _ = self.authorised.set(need.clone());
            return Ok(());
        }
        Err(StoreError::Forbidden(format!("This access key lacks the \"{}\" scope.", need)))
    }

    /// What this request was authorised for; `Admin` (the most a role can be asked for) when no
    /// route said, so a forgotten [`Self::require`] fails closed.
    #[must_use]
    pub fn authorised_for(&self) -> Permission {
        self.authorised.get().cloned().unwrap_or(Permission::Admin)
    }
}

/// Scopes stored space-separated (keys and collaborator roles); `None`: no limit.
pub(super) fn scopes_from_column(text: Option<String>) -> Option<Vec<Scope>> {
    text.map(|t| t.split_whitespace().filter_map(|s| Scope::parse(s).ok()).collect())
}

/// The SHA-256 (hex) under which an access key is stored.
#[must_use]
pub fn hash_access_key(secret: &str) -> String {
    crate::domain::package::sha256_hex(secret.as_bytes())
}

/// A new random key: 32 random bytes, URL-safe base64 (43 chars of `[A-Za-z0-9_-]`).
#[must_use]
pub fn generate_key() -> String {
    let mut bytes = [0_u8; 32];
    rand::rng().fill_bytes(&mut bytes);
    base64::engine::general_purpose::URL_SAFE_NO_PAD.encode(bytes)
}

/// On an empty database, creates `admin@localhost` with `admin_key` (or a generated key).
/// Returns the key only when one was generated, so the caller can show it once.
///
/// # Errors
/// SQLite errors, or an invalid `admin_key`.
pub fn bootstrap_admin(connection: &Db, admin_key: Option<&str>) -> StoreResult<Option<String>> {
    connection.transaction(|tx| {
        // Replicas starting together: one creates the admin, the others then see it.
        tx.one_at_a_time(super::db::Exclusive::Management)?;
        let accounts: i64 = tx.query_one("SELECT COUNT(*) FROM accounts", params![], |row| row.get(0))?;
        if accounts > 0 {
            return Ok(None);
        }
        let (secret, generated) = match admin_key {
            Some(key) => {
                crate::domain::validate::key("OTADECK_ADMIN_KEY", key)
                    .map_err(|e| StoreError::Invalid(e.to_string()))?;
                (key.to_owned(), false)
            }
            None => (generate_key(), true),
        };
        let now = now_ms();
        let account_id: i64 = tx.query_one(
            "INSERT INTO accounts (email, name, created_time) VALUES (?1, 'Administrator', ?2) RETURNING id",
            params![ADMIN_EMAIL, now],
            |row| row.get(0),
        )?;
        let hundred_years = 100 * 365 * 24 * 60 * 60 * 1000_i64;
        tx.execute(
            "INSERT INTO access_keys (account_id, key_hash, friendly_name, created_by, created_time, expires)
             VALUES (?1, ?2, 'Bootstrap admin key', 'otadeck serve', ?3, ?4)",
            params![account_id, hash_access_key(&secret), now, now + hundred_years],
        )?;
        Ok(generated.then_some(secret))
    })
}

/// Creates an account (for tests and administration). Returns its id.
///
/// # Errors
/// [`StoreError::Conflict`] if the email exists.
pub fn create_account(connection: &Db, email: &str, name: &str) -> StoreResult<i64> {
    connection
        .query_opt(
            "INSERT INTO accounts (email, name, created_time) VALUES (?1, ?2, ?3) ON CONFLICT DO NOTHING RETURNING id",
            params![email, name, now_ms()],
            |row| row.get(0),
        )?
        .ok_or_else(|| StoreError::Conflict(format!("An account with email \"{email}\" already exists.")))
}

/// Resolves a bearer access key.
///
/// # Errors
/// [`StoreError::Unauthorized`] for unknown or expired keys.
pub fn authenticate(connection: &Db, secret: &str) -> StoreResult<AuthenticatedCaller> {
    let row = connection.query_opt(
        "SELECT a.id, a.email, a.name, k.expires, k.scopes, k.friendly_name FROM access_keys k
             JOIN accounts a ON a.id = k.account_id WHERE k.key_hash = ?1",
        params![hash_access_key(secret)],
        |row| {
            let caller = AuthenticatedCaller {
                account_id: row.get(0)?,
                email: row.get(1)?,
                name: row.get(2)?,
                key_name: row.get(5)?,
                scopes: scopes_from_column(row.get(4)?),
                client_ip: None,
                reason: None,
                authorised: Arc::default(),
            };
            Ok((caller, row.get::<i64>(3)?))
        },
    )?;
    match row {
        None => Err(StoreError::Unauthorized("The access key is invalid.".into())),
        Some((_, expires)) if expires <= now_ms() => {
            Err(StoreError::Unauthorized("The access key has expired.".into()))
        }
        Some((caller, _)) => Ok(caller),
    }
}

/// Looks up an account id by email.
///
/// # Errors
/// [`StoreError::NotFound`] if no such account.
pub fn account_id_by_email(connection: &Db, email: &str) -> StoreResult<i64> {
    connection
        .query_opt("SELECT id FROM accounts WHERE lower(email) = lower(?1)", params![email], |row| row.get(0))?
        .ok_or_else(|| {
            StoreError::NotFound(format!("The specified e-mail address doesn't represent a registered user: {email}"))
        })
}

/// The caller's account.
#[must_use]
pub fn account(caller: &AuthenticatedCaller) -> Account {
    Account { name: caller.name.clone(), email: caller.email.clone(), linked_providers: Vec::new() }
}

fn key_from_row(row: &Row) -> StoreResult<AccessKey> {
    let friendly_name: String = row.get(0)?;
    Ok(AccessKey {
        name: HIDDEN_KEY.to_owned(),
        description: friendly_name.clone(),
        friendly_name,
        created_by: row.get(1)?,
        created_time: row.get(2)?,
        expires: row.get(3)?,
        is_session: row.get(4)?,
        scopes: scopes_from_column(row.get(5)?).map(|s| s.iter().map(ToString::to_string).collect()),
    })
}

const KEY_COLUMNS: &str = "friendly_name, created_by, created_time, expires, is_session, scopes";

/// The caller's access keys, secrets masked, oldest first.
///
/// # Errors
/// SQLite errors.
pub fn list_access_keys(connection: &Db, caller: &AuthenticatedCaller) -> StoreResult<Vec<AccessKey>> {
    let keys = connection.query_map(
        &format!("SELECT {KEY_COLUMNS} FROM access_keys WHERE account_id = ?1 ORDER BY created_time, id"),
        params![caller.account_id],
        key_from_row,
    )?;
    Ok(keys)
}

/// Creates an access key and returns it with its secret (the only time it is shown).
///
/// # Errors
/// [`StoreError::Invalid`] for bad names or TTL, [`StoreError::Conflict`] for a duplicate name.
pub fn create_access_key(
    connection: &Db,
    caller: &AuthenticatedCaller,
    friendly_name: &str,
    created_by: &str,
    ttl_ms: Option<f64>,
    is_session: bool,
) -> StoreResult<AccessKey> {
    create_scoped_access_key(connection, caller, friendly_name, created_by, ttl_ms, is_session, None)
}

/// Like [`create_access_key`], with scopes. A new key never gets more than the caller's own
/// scopes: without `requested`, it inherits them.
///
/// # Errors
/// [`StoreError::Forbidden`] when the scopes exceed the caller's; as [`create_access_key`] otherwise.
pub fn create_scoped_access_key(
    connection: &Db,
    caller: &AuthenticatedCaller,
    friendly_name: &str,
    created_by: &str,
    ttl_ms: Option<f64>,
    is_session: bool,
    requested: Option<Vec<Scope>>,
) -> StoreResult<AccessKey> {
    let scopes = requested.or_else(|| caller.scopes.clone());
    if !crate::domain::scope::may_grant(caller.scopes.as_deref(), scopes.as_deref()) {
        return Err(StoreError::Forbidden("A key cannot create a key with more than its own scopes.".into()));
    }
    let scopes_text = scopes.as_ref().map(|s| s.iter().map(ToString::to_string).collect::<Vec<_>>().join(" "));
    crate::domain::validate::friendly_name(friendly_name).map_err(|e| StoreError::Invalid(e.to_string()))?;
    let ttl = match ttl_ms {
        None => DEFAULT_KEY_TTL_MS,
        Some(ttl) if ttl > 0.0 && ttl.is_finite() => {
            #[allow(clippy::cast_possible_truncation)]
            let ttl = ttl.min(1e15) as i64;
            ttl
        }
        Some(_) => {
            return Err(StoreError::Invalid("ttl: must be a number of milliseconds greater than 0".into()));
        }
    };
    let friendly_name = friendly_name.trim();
    let secret = generate_key();
    let now = now_ms();
    let inserted = connection.execute(
        "INSERT INTO access_keys (account_id, key_hash, friendly_name, created_by, created_time, expires, is_session, scopes)
         VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8) ON CONFLICT DO NOTHING",
        params![caller.account_id, hash_access_key(&secret), friendly_name, created_by, now, now.saturating_add(ttl), is_session, scopes_text],
    )?;
    if inserted == 0 {
        return Err(StoreError::Conflict(format!("The access key \"{friendly_name}\" already exists.")));
    }
    Ok(AccessKey {
        name: secret,
        friendly_name: friendly_name.to_owned(),
        description: friendly_name.to_owned(),
        created_by: created_by.to_owned(),
        created_time: now,
        expires: now.saturating_add(ttl),
        is_session,
        scopes: scopes.map(|s| s.iter().map(ToString::to_string).collect()),
    })
}

/// Finds the caller's key by its secret or friendly name; returns its row id.
fn find_key(connection: &Db, caller: &AuthenticatedCaller, name: &str) -> StoreResult<i64> {
    connection
        .query_opt(
            "SELECT id FROM access_keys WHERE account_id = ?1 AND (key_hash = ?2 OR friendly_name = ?3)",
            params![caller.account_id, hash_access_key(name), name],
            |row| row.get(0),
        )?
        .ok_or_else(|| StoreError::NotFound(format!("The access key \"{name}\" does not exist.")))
}

/// One access key, masked.
///
/// # Errors
/// [`StoreError::NotFound`].
pub fn get_access_key(connection: &Db, caller: &AuthenticatedCaller, name: &str) -> StoreResult<AccessKey> {
    let id = find_key(connection, caller, name)?;
    connection.query_one(&format!("SELECT {KEY_COLUMNS} FROM access_keys WHERE id = ?1"), params![id], key_from_row)
}

/// Renames a key and/or re-bases its expiry on now + ttl.
///
/// # Errors
/// [`StoreError::NotFound`], [`StoreError::Invalid`], [`StoreError::Conflict`].
pub fn patch_access_key(
    connection: &Db,
    caller: &AuthenticatedCaller,
    name: &str,
    friendly_name: Option<&str>,
    ttl_ms: Option<f64>,
) -> StoreResult<AccessKey> {
    let id = find_key(connection, caller, name)?;
    // Everything is validated before anything is written, and written in one transaction: a
    // refused patch leaves the key as it was.
    if let Some(new_name) = friendly_name {
        crate::domain::validate::friendly_name(new_name).map_err(|e| StoreError::Invalid(e.to_string()))?;
    }
    if let Some(ttl) = ttl_ms
        && !(ttl >= 0.0 && ttl.is_finite())
    {
        return Err(StoreError::Invalid("ttl: must be a number of milliseconds, 0 or more".into()));
    }
    connection.transaction(|tx| {
        if let Some(new_name) = friendly_name {
            let taken = tx.query_opt(
                "SELECT 1 FROM access_keys WHERE account_id = ?1 AND friendly_name = ?2 AND id <> ?3",
                params![caller.account_id, new_name.trim(), id],
                |_| Ok(()),
            )?;
            if taken.is_some() {
                return Err(StoreError::Conflict(format!("The access key \"{new_name}\" already exists.")));
            }
            tx.execute("UPDATE access_keys SET friendly_name = ?1 WHERE id = ?2", params![new_name.trim(), id])?;
        }
        if let Some(ttl) = ttl_ms {
            #[allow(clippy::cast_possible_truncation)]
            let expires = now_ms().saturating_add(ttl.min(1e15) as i64);
            tx.execute("UPDATE access_keys SET expires = ?1 WHERE id = ?2", params![expires, id])?;
        }
        Ok(())
    })?;
    get_access_key(connection, caller, name).or_else(|_| {
        connection.query_one(&format!("SELECT {KEY_COLUMNS} FROM access_keys WHERE id = ?1"), params![id], key_from_row)
    })
}

/// Deletes one of the caller's keys.
///
/// # Errors
/// [`StoreError::NotFound`].
pub fn delete_access_key(connection: &Db, caller: &AuthenticatedCaller, name: &str) -> StoreResult<()> {
    let id = find_key(connection, caller, name)?;
    connection.execute("DELETE FROM access_keys WHERE id = ?1", params![id])?;
    Ok(())
}

/// Deletes the caller's session keys created by one machine.
///
/// # Errors
/// [`StoreError::NotFound`] if there were none.
pub fn delete_sessions(connection: &Db, caller: &AuthenticatedCaller, created_by: &str) -> StoreResult<()> {
    let deleted = connection.execute(
        "DELETE FROM access_keys WHERE account_id = ?1 AND created_by = ?2 AND is_session = 1",
        params![caller.account_id, created_by],
    )?;
    if deleted == 0 {
        return Err(StoreError::NotFound(format!("There are no sessions associated with \"{created_by}\".")));
    }
    Ok(())
}
