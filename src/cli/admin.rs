//! Team administration on the command line: `otadeck audit`, `otadeck deployment protect |
//! unprotect` and `otadeck collaborator add | role`.

use super::{AuditArgs, CliError, CollaboratorArgs, CollaboratorCommand, Connection, DeploymentCommand};
use crate::api::management::{AuditEntry, AuditQuery};
use crate::domain::time::format_utc_minutes;

/// `30m`, `12h`, `7d` in milliseconds.
fn period_ms(text: &str) -> Result<i64, CliError> {
    let invalid = || CliError::Usage(format!("--since {text}: expected a number with m, h or d, e.g. 12h or 7d"));
    let text = text.trim();
    let split = text.len().checked_sub(1).ok_or_else(invalid)?;
    let (number, unit) = text.split_at(split);
    let number: i64 = number.parse().map_err(|_| invalid())?;
    let unit_ms = match unit {
        "m" => 60_000,
        "h" => 3_600_000,
        "d" => 86_400_000,
        _ => return Err(invalid()),
    };
    number.checked_mul(unit_ms).filter(|ms| *ms > 0).ok_or_else(invalid)
}

fn now_ms() -> i64 {
    let elapsed = std::time::SystemTime::now().duration_since(std::time::UNIX_EPOCH).unwrap_or_default();
    i64::try_from(elapsed.as_millis()).unwrap_or(i64::MAX)
}

/// One entry as one line (and a second for the reason).
fn entry_lines(entry: &AuditEntry) -> String {
    let fields = |value: &Option<serde_json::Value>| value.as_ref().map_or_else(|| "-".to_owned(), ToString::to_string);
    let change = match (&entry.before, &entry.after) {
        (None, None) => String::new(),
        (before, after) => format!("  {} -> {}", fields(before), fields(after)),
    };
    let mut text = format!(
        "{} UTC  {:<22} {:<28} {} (key \"{}\", {}){change}",
        format_utc_minutes(entry.time),
        entry.action,
        entry.target,
        entry.account,
        entry.key_name,
        entry.client_ip.as_deref().unwrap_or("?"),
    );
    if let Some(reason) = &entry.reason {
        text.push_str(&format!("\n{:>18}reason: {reason}", ""));
    }
    text
}

/// Runs `otadeck audit`.
///
/// # Errors
/// [`CliError`].
pub async fn run_audit(args: AuditArgs) -> Result<(), CliError> {
    let connection = Connection::resolve(&args.connection)?;
    let from = args.since.as_deref().map(period_ms).transpose()?.map(|period| now_ms() - period);
    let query = AuditQuery {
        app: args.app,
        deployment: args.deployment,
        account: args.account,
        from,
        to: None,
        limit: Some(args.limit),
    };
    let entries = connection.client.audit(&query).await?;
    if args.connection.json {
        println!("{}", serde_json::json!({ "entries": entries }));
    } else if entries.is_empty() {
        println!("No changes recorded for this query.");
    } else {
        for entry in &entries {
            println!("{}", entry_lines(entry));
        }
    }
    Ok(())
}

/// Runs `otadeck deployment protect | unprotect`.
///
/// # Errors
/// [`CliError`].
pub async fn run_deployment(command: DeploymentCommand) -> Result<(), CliError> {
    let (args, protect) = match command {
        DeploymentCommand::Protect(args) => (args, true),
        DeploymentCommand::Unprotect(args) => (args, false),
    };
    let connection = Connection::resolve(&args.connection)?;
    let deployment = connection.client.set_deployment_protected(&args.app, &args.deployment, protect).await?;
    if args.connection.json {
        println!("{}", serde_json::json!({ "app": args.app, "deployment": deployment }));
    } else if deployment.is_protected {
        println!("{}/{} is protected: every change to it needs --reason.", args.app, deployment.name);
    } else {
        println!("{}/{} is no longer protected.", args.app, deployment.name);
    }
    Ok(())
}

fn role(args: &CollaboratorArgs) -> Result<Option<Vec<String>>, CliError> {
    if let Some(preset) = &args.preset {
        crate::domain::scope::preset(preset)
            .ok_or_else(|| CliError::Usage(format!("unknown preset \"{preset}\": ci, product-owner or support")))?;
        return Ok(Some(vec![preset.clone()]));
    }
    for scope in &args.scopes {
        crate::domain::scope::Scope::parse(scope).map_err(CliError::Usage)?;
    }
    Ok((!args.scopes.is_empty()).then(|| args.scopes.clone()))
}

/// Runs `otadeck collaborator add | role`.
///
/// # Errors
/// [`CliError`].
pub async fn run_collaborator(command: CollaboratorCommand) -> Result<(), CliError> {
    let (args, adding) = match command {
        CollaboratorCommand::Add(args) => (args, true),
        CollaboratorCommand::Role(args) => (args, false),
    };
    let connection = Connection::resolve(&args.connection)?;
    let role = role(&args)?;
    match (adding, role.clone()) {
        (true, Some(role)) => connection.client.add_collaborator_with_role(&args.app, &args.email, role).await?,
        (true, None) => connection.client.add_collaborator(&args.app, &args.email).await?,
        (false, role) => connection.client.set_collaborator_role(&args.app, &args.email, role).await?,
    }
    let shown = role.map_or_else(|| "no cap".to_owned(), |r| r.join(" "));
    if args.connection.json {
        println!("{}", serde_json::json!({ "app": args.app, "collaborator": args.email, "role": shown }));
    } else {
        println!("{} on {}: {shown}.", args.email, args.app);
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::period_ms;

    #[test]
    fn periods_read_minutes_hours_and_days() {
        assert_eq!(period_ms("30m").ok(), Some(1_800_000));
        assert_eq!(period_ms("12h").ok(), Some(43_200_000));
        assert_eq!(period_ms("7d").ok(), Some(604_800_000));
        for bad in ["", "d", "7", "7w", "-1d", "0h", "99999999999999999d"] {
            assert!(period_ms(bad).is_err(), "{bad}");
        }
    }
}
