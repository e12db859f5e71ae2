//! How audit-trail entries read in the app's timeline: "rollout 10% -> 50%, mandatory on".

use serde_json::Value;

use crate::api::management::AuditEntry;

/// What an entry did, in words.
#[must_use]
pub fn describe(entry: &AuditEntry) -> String {
    let after = entry.after.as_ref();
    let field = |name: &str| after.and_then(|a| a.get(name));
    match entry.action.as_str() {
        "release.upload" => match field("rollout").and_then(Value::as_u64) {
            Some(rollout) if rollout < 100 => format!("pushed at {rollout}%"),
            _ => "pushed".to_owned(),
        },
        "release.promote" => format!(
            "promoted from {} {}",
            field("originalDeployment").and_then(Value::as_str).unwrap_or("?"),
            field("originalLabel").and_then(Value::as_str).unwrap_or("")
        )
        .trim_end()
        .to_owned(),
        "release.rollback" => {
            format!("rolled back to {}", field("originalLabel").and_then(Value::as_str).unwrap_or("an earlier release"))
        }
        "release.patch" => patch_text(entry.before.as_ref(), after),
        other => format!("{other} {}", entry.target),
    }
}

fn patch_text(before: Option<&Value>, after: Option<&Value>) -> String {
    let Some(Value::Object(after)) = after else { return "changed".to_owned() };
    let before = |name: &str| before.and_then(|b| b.get(name));
    let mut parts = Vec::new();
    for (name, value) in after {
        let part = match (name.as_str(), value) {
            ("rollout", Value::Number(to)) => match before("rollout") {
                Some(Value::Number(from)) => format!("rollout {from}% -> {to}%"),
                _ => format!("rollout -> {to}%"),
            },
            ("isPaused", Value::Bool(true)) => "paused".to_owned(),
            ("isPaused", Value::Bool(false)) => "resumed".to_owned(),
            ("isDisabled", Value::Bool(true)) => "disabled".to_owned(),
            ("isDisabled", Value::Bool(false)) => "enabled".to_owned(),
            ("isMandatory", Value::Bool(on)) => format!("mandatory {}", if *on { "on" } else { "off" }),
            ("description", _) => "description changed".to_owned(),
            ("appVersion", Value::String(to)) => format!("target -> {to}"),
            ("buildNumber", to) => format!("builds -> {}", to.as_str().unwrap_or("any")),
            (other, _) => format!("{other} changed"),
        };
        parts.push(part);
    }
    // Field order in a JSON object is not something to rely on (serde_json may keep insertion
    // order when another crate enables `preserve_order`): read them alphabetically by text.
    parts.sort();
    if parts.is_empty() { "changed".to_owned() } else { parts.join(", ") }
}

/// Who made the change: the account, and the key when it is not the account's only story.
#[must_use]
pub fn who(entry: &AuditEntry) -> String {
    format!("{} (key \"{}\")", entry.account, entry.key_name)
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn entry(action: &str, before: Option<Value>, after: Option<Value>) -> AuditEntry {
        AuditEntry {
            id: 1,
            time: 0,
            account: "po@example.com".into(),
            key_name: "laptop".into(),
            client_ip: None,
            action: action.into(),
            app: Some("Shop".into()),
            deployment: Some("Production".into()),
            label: Some("v3".into()),
            target: "Shop/Production v3".into(),
            before,
            after,
            reason: None,
        }
    }

    #[test]
    fn patches_read_as_what_changed() {
        let raised = entry(
            "release.patch",
            Some(json!({"rollout": 10, "isMandatory": false})),
            Some(json!({"rollout": 50, "isMandatory": true})),
        );
        assert_eq!(describe(&raised), "mandatory on, rollout 10% -> 50%");
        assert_eq!(describe(&entry("release.patch", None, Some(json!({"isPaused": true})))), "paused");
    }

    #[test]
    fn new_releases_say_where_they_came_from() {
        let promoted =
            entry("release.promote", None, Some(json!({"originalDeployment": "Staging", "originalLabel": "v7"})));
        assert_eq!(describe(&promoted), "promoted from Staging v7");
        assert_eq!(
            describe(&entry("release.rollback", None, Some(json!({"originalLabel": "v1"})))),
            "rolled back to v1"
        );
        assert_eq!(describe(&entry("release.upload", None, Some(json!({"rollout": 20})))), "pushed at 20%");
        assert_eq!(describe(&entry("policy.set", None, None)), "policy.set Shop/Production v3");
    }
}
