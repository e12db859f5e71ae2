//! Mendix model snapshots and the rules that compare them: which changes between the model a
//! device's data was synced with and the model of an OTA update would lose offline data.
//!
//! Everything is matched **by id** (`$ID` of entities, attributes, associations, enumeration values
//! and native profiles), so a rename is reported as a rename and not as a removal plus an addition.
//! An entity is offline-synced when a native profile's offline entity configuration names it with a
//! sync mode other than `Online`. Changes that can strand or drop data on devices block the push;
//! other model changes and a Studio Pro version change are warnings.

use std::collections::{BTreeMap, BTreeSet};

use serde::{Deserialize, Serialize};

/// The parts of a Mendix model an OTA update can break, as stored with binaries and releases.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct ModelSnapshot {
    pub product_version: String,
    /// Entity id -> entity.
    #[serde(default)]
    pub entities: BTreeMap<String, EntitySnapshot>,
    /// Association id -> association.
    #[serde(default)]
    pub associations: BTreeMap<String, AssociationSnapshot>,
    /// Enumeration id -> enumeration.
    #[serde(default)]
    pub enumerations: BTreeMap<String, EnumerationSnapshot>,
    /// Native navigation profile id -> profile.
    #[serde(default)]
    pub profiles: BTreeMap<String, ProfileSnapshot>,
}

/// An entity, by qualified name (`Module.Entity`).
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct EntitySnapshot {
    pub name: String,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub generalization: Option<String>,
    /// Attribute id -> attribute.
    #[serde(default)]
    pub attributes: BTreeMap<String, AttributeSnapshot>,
}

/// An attribute and its type.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct AttributeSnapshot {
    pub name: String,
    /// The type's name, e.g. `StringAttributeType`.
    #[serde(rename = "type")]
    pub kind: String,
    /// String attributes: the maximum length, `0` for unlimited.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub length: Option<u32>,
    /// Enumeration attributes: the enumeration's qualified name.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub enumeration: Option<String>,
}

/// An association; endpoints are entity ids (or qualified names for entities outside the project,
/// such as `System.User`).
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct AssociationSnapshot {
    pub name: String,
    pub parent: String,
    pub child: String,
    #[serde(rename = "type")]
    pub kind: String,
    pub owner: String,
}

/// An enumeration (qualified name) and its values (id -> name).
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct EnumerationSnapshot {
    pub name: String,
    #[serde(default)]
    pub values: BTreeMap<String, String>,
}

/// A native navigation profile.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct ProfileSnapshot {
    pub name: String,
    pub ota_enabled: bool,
    /// `Module.Entity` -> its offline configuration.
    #[serde(default)]
    pub offline: BTreeMap<String, OfflineConfig>,
}

/// How one entity is synchronised by a native profile.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct OfflineConfig {
    pub sync_mode: String,
    #[serde(default, skip_serializing_if = "String::is_empty")]
    pub constraint: String,
}

impl OfflineConfig {
    /// Whether devices keep this entity's data locally.
    #[must_use]
    pub fn is_offline(&self) -> bool {
        self.sync_mode != "Online"
    }
}

/// One difference between two models.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ModelFinding {
    /// Blocks the push unless forced; otherwise a warning.
    pub blocking: bool,
    pub message: String,
}

impl ModelSnapshot {
    /// Ids of the entities some native profile synchronises to devices.
    #[must_use]
    pub fn offline_entities(&self) -> BTreeSet<String> {
        let names: BTreeSet<&str> = self
            .profiles
            .values()
            .flat_map(|p| p.offline.iter())
            .filter(|(_, config)| config.is_offline())
            .map(|(name, _)| name.as_str())
            .collect();
        self.entities.iter().filter(|(_, e)| names.contains(e.name.as_str())).map(|(id, _)| id.clone()).collect()
    }

    /// An association endpoint as a name.
    fn endpoint_name<'a>(&'a self, endpoint: &'a str) -> &'a str {
        self.entities.get(endpoint).map_or(endpoint, |e| e.name.as_str())
    }

    /// The entity id an offline configuration names, or the name itself when it is not in the model.
    fn entity_key(&self, name: &str) -> String {
        self.entities.iter().find(|(_, e)| e.name == name).map_or_else(|| name.to_owned(), |(id, _)| id.clone())
    }
}

/// Collects findings with the right severity.
#[derive(Default)]
struct Findings(Vec<ModelFinding>);

impl Findings {
    fn add(&mut self, blocking: bool, message: String) {
        self.0.push(ModelFinding { blocking, message });
    }
}

/// Compares the model devices run (`old`) with the model of the update (`new`).
#[must_use]
pub fn compare(old: &ModelSnapshot, new: &ModelSnapshot) -> Vec<ModelFinding> {
    let mut findings = Findings::default();
    let offline = old.offline_entities();
    if old.product_version != new.product_version {
        findings.add(
            false,
            format!(
                "Studio Pro version changed from {} to {}: the app may need a new native template (a store release)",
                old.product_version, new.product_version
            ),
        );
    }
    compare_entities(old, new, &offline, &mut findings);
    compare_associations(old, new, &offline, &mut findings);
    compare_enumerations(old, new, &offline, &mut findings);
    compare_profiles(old, new, &mut findings);
    findings.0
}

fn compare_entities(old: &ModelSnapshot, new: &ModelSnapshot, offline: &BTreeSet<String>, out: &mut Findings) {
    for (id, before) in &old.entities {
        let is_offline = offline.contains(id);
        let what = if is_offline { "offline-synced entity" } else { "entity" };
        let Some(after) = new.entities.get(id) else {
            out.add(is_offline, format!("{what} {} removed", before.name));
            continue;
        };
        if before.name != after.name {
            out.add(is_offline, format!("{what} {} renamed to {}", before.name, after.name));
        }
        if before.generalization != after.generalization {
            let show = |g: &Option<String>| g.clone().unwrap_or_else(|| "none".into());
            out.add(
                is_offline,
                format!(
                    "{what} {}: generalization changed from {} to {}",
                    after.name,
                    show(&before.generalization),
                    show(&after.generalization)
                ),
            );
        }
        for (attribute_id, was) in &before.attributes {
            let Some(now) = after.attributes.get(attribute_id) else {
                out.add(is_offline, format!("{what} {}: attribute {} removed", after.name, was.name));
                continue;
            };
            if was.name != now.name {
                out.add(is_offline, format!("{what} {}: attribute {} renamed to {}", after.name, was.name, now.name));
            }
            if was.kind != now.kind || was.enumeration != now.enumeration {
                let show = |a: &AttributeSnapshot| a.enumeration.clone().unwrap_or_else(|| a.kind.clone());
                out.add(
                    is_offline,
                    format!(
                        "{what} {}: attribute {} changed type from {} to {}",
                        after.name,
                        now.name,
                        show(was),
                        show(now)
                    ),
                );
            } else if let (Some(before_length), Some(after_length)) = (was.length, now.length)
                && after_length != 0
                && (before_length == 0 || after_length < before_length)
            {
                let before_text = if before_length == 0 { "unlimited".into() } else { before_length.to_string() };
                out.add(
                    is_offline,
                    format!(
                        "{what} {}: string attribute {} shortened from {before_text} to {after_length}",
                        after.name, now.name
                    ),
                );
            }
        }
        for now in after.attributes.iter().filter(|(a, _)| !before.attributes.contains_key(*a)).map(|(_, a)| a) {
            out.add(false, format!("{what} {}: attribute {} added", after.name, now.name));
        }
    }
    for added in new.entities.iter().filter(|(id, _)| !old.entities.contains_key(*id)).map(|(_, e)| e) {
        out.add(false, format!("entity {} added", added.name));
    }
}

fn compare_associations(old: &ModelSnapshot, new: &ModelSnapshot, offline: &BTreeSet<String>, out: &mut Findings) {
    let new_offline = new.offline_entities();
    let touches = |a: &AssociationSnapshot, set: &BTreeSet<String>| set.contains(&a.parent) || set.contains(&a.child);
    let describe = |model: &ModelSnapshot, a: &AssociationSnapshot| {
        format!(
            "{} ({} {} -> {}, owner {})",
            a.name,
            a.kind,
            model.endpoint_name(&a.parent),
            model.endpoint_name(&a.child),
            a.owner
        )
    };
    for (id, before) in &old.associations {
        let is_offline = touches(before, offline);
        let what = if is_offline { "association of an offline-synced entity" } else { "association" };
        match new.associations.get(id) {
            None => out.add(is_offline, format!("{what} {} removed", describe(old, before))),
            Some(after) if before != after => {
                out.add(is_offline, format!("{what} {} changed to {}", describe(old, before), describe(new, after)));
            }
            Some(_) => {}
        }
    }
    for added in new.associations.iter().filter(|(id, _)| !old.associations.contains_key(*id)).map(|(_, a)| a) {
        let is_offline = touches(added, offline) || touches(added, &new_offline);
        let what = if is_offline { "association of an offline-synced entity" } else { "association" };
        out.add(is_offline, format!("{what} {} added", describe(new, added)));
    }
}

fn compare_enumerations(old: &ModelSnapshot, new: &ModelSnapshot, offline: &BTreeSet<String>, out: &mut Findings) {
    let used_offline: BTreeSet<&str> = offline
        .iter()
        .filter_map(|id| old.entities.get(id))
        .flat_map(|e| e.attributes.values())
        .filter_map(|a| a.enumeration.as_deref())
        .collect();
    for (id, before) in &old.enumerations {
        let is_offline = used_offline.contains(before.name.as_str());
        let what = if is_offline { "enumeration used offline" } else { "enumeration" };
        let values = new.enumerations.get(id).map(|e| &e.values);
        for (value_id, value) in &before.values {
            match values.and_then(|v| v.get(value_id)) {
                None => out.add(is_offline, format!("{what} {}: value {value} removed", before.name)),
                Some(now) if now != value => {
                    out.add(is_offline, format!("{what} {}: value {value} renamed to {now}", before.name));
                }
                Some(_) => {}
            }
        }
    }
}

fn compare_profiles(old: &ModelSnapshot, new: &ModelSnapshot, out: &mut Findings) {
    for (id, before) in &old.profiles {
        let Some(after) = new.profiles.get(id) else {
            out.add(true, format!("native profile {} removed", before.name));
            continue;
        };
        if before.name != after.name {
            out.add(true, format!("native profile {} renamed to {}", before.name, after.name));
        }
        if before.ota_enabled && !after.ota_enabled {
            out.add(true, format!("native profile {}: over-the-air updates switched off", after.name));
        }
        let after_by_entity: BTreeMap<String, (&String, &OfflineConfig)> =
            after.offline.iter().map(|(name, config)| (new.entity_key(name), (name, config))).collect();
        for (name, was) in before.offline.iter().filter(|(_, c)| c.is_offline()) {
            let key = old.entity_key(name);
            let Some((_, now)) = after_by_entity.get(&key) else {
                if new.entities.contains_key(&key) || !old.entities.contains_key(&key) {
                    out.add(true, format!("native profile {}: {name} is no longer synchronised offline", after.name));
                }
                continue;
            };
            if was.sync_mode != now.sync_mode {
                let loses = if matches!(now.sync_mode.as_str(), "Never" | "None") {
                    ": devices remove its local data on the next database reset"
                } else {
                    ""
                };
                out.add(
                    true,
                    format!(
                        "native profile {}: {name} sync mode changed from {} to {}{loses}",
                        after.name, was.sync_mode, now.sync_mode
                    ),
                );
            }
            if was.constraint != now.constraint {
                out.add(
                    true,
                    format!(
                        "native profile {}: {name} sync constraint changed from {:?} to {:?}",
                        after.name, was.constraint, now.constraint
                    ),
                );
            }
        }
    }
    for added in new.profiles.iter().filter(|(id, _)| !old.profiles.contains_key(*id)).map(|(_, p)| p) {
        out.add(true, format!("native profile {} added", added.name));
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn attribute(name: &str, kind: &str, length: Option<u32>) -> AttributeSnapshot {
        AttributeSnapshot { name: name.into(), kind: kind.into(), length, enumeration: None }
    }

    /// `Shop.Order` (offline, with `Note` and `Status`) and `Shop.Log` (online only).
    fn model() -> ModelSnapshot {
        let mut order = EntitySnapshot { name: "Shop.Order".into(), ..EntitySnapshot::default() };
        order.attributes.insert("a1".into(), attribute("Note", "StringAttributeType", Some(200)));
        order.attributes.insert(
            "a2".into(),
            AttributeSnapshot {
                enumeration: Some("Shop.Status".into()),
                ..attribute("Status", "EnumerationAttributeType", None)
            },
        );
        let log = EntitySnapshot { name: "Shop.Log".into(), ..EntitySnapshot::default() };
        let mut profile =
            ProfileSnapshot { name: "NativePhone".into(), ota_enabled: true, ..ProfileSnapshot::default() };
        profile
            .offline
            .insert("Shop.Order".into(), OfflineConfig { sync_mode: "All".into(), constraint: String::new() });
        profile
            .offline
            .insert("Shop.Log".into(), OfflineConfig { sync_mode: "Online".into(), constraint: String::new() });
        let status = EnumerationSnapshot {
            name: "Shop.Status".into(),
            values: [("v1".to_owned(), "Open".to_owned()), ("v2".to_owned(), "Done".to_owned())].into(),
        };
        ModelSnapshot {
            product_version: "10.24.0".into(),
            entities: [("e1".to_owned(), order), ("e2".to_owned(), log)].into(),
            associations: BTreeMap::new(),
            enumerations: [("n1".to_owned(), status)].into(),
            profiles: [("p1".to_owned(), profile)].into(),
        }
    }

    fn lines(findings: &[ModelFinding]) -> Vec<(bool, &str)> {
        findings.iter().map(|f| (f.blocking, f.message.as_str())).collect()
    }

    #[test]
    fn the_same_model_gives_no_finding_and_only_online_entities_are_offline() {
        assert!(compare(&model(), &model()).is_empty());
        assert_eq!(model().offline_entities(), BTreeSet::from(["e1".to_owned()]));
    }

    #[test]
    fn renaming_an_offline_entity_with_its_profile_entry_is_one_blocking_rename() {
        let mut new = model();
        new.entities.get_mut("e1").expect("e1").name = "Shop.PurchaseOrder".into();
        let config = new.profiles.get_mut("p1").expect("p1").offline.remove("Shop.Order").expect("config");
        new.profiles.get_mut("p1").expect("p1").offline.insert("Shop.PurchaseOrder".into(), config);
        assert_eq!(
            lines(&compare(&model(), &new)),
            [(true, "offline-synced entity Shop.Order renamed to Shop.PurchaseOrder")]
        );
    }

    #[test]
    fn attribute_changes_of_offline_entities_block_and_others_warn() {
        let mut new = model();
        let order = new.entities.get_mut("e1").expect("e1");
        order.attributes.get_mut("a1").expect("a1").length = Some(100);
        order.attributes.insert("a3".into(), attribute("Extra", "BooleanAttributeType", None));
        new.entities
            .get_mut("e2")
            .expect("e2")
            .attributes
            .insert("a4".into(), attribute("At", "DateTimeAttributeType", None));
        new.entities.get_mut("e2").expect("e2").name = "Shop.AuditLog".into();
        assert_eq!(
            lines(&compare(&model(), &new)),
            [
                (true, "offline-synced entity Shop.Order: string attribute Note shortened from 200 to 100"),
                (false, "offline-synced entity Shop.Order: attribute Extra added"),
                (false, "entity Shop.Log renamed to Shop.AuditLog"),
                (false, "entity Shop.AuditLog: attribute At added"),
            ]
        );
        let mut retyped = model();
        retyped.entities.get_mut("e1").expect("e1").attributes.get_mut("a1").expect("a1").kind =
            "IntegerAttributeType".into();
        retyped.entities.get_mut("e1").expect("e1").attributes.get_mut("a1").expect("a1").length = None;
        assert_eq!(
            lines(&compare(&model(), &retyped)),
            [(
                true,
                "offline-synced entity Shop.Order: attribute Note changed type from StringAttributeType to IntegerAttributeType"
            )]
        );
        let mut unlimited = model();
        unlimited.entities.get_mut("e1").expect("e1").attributes.get_mut("a1").expect("a1").length = Some(0);
        assert!(compare(&model(), &unlimited).is_empty(), "a longer string loses nothing");
    }

    #[test]
    fn enumeration_values_used_offline_cannot_go() {
        let mut new = model();
        new.enumerations.get_mut("n1").expect("n1").values.remove("v2");
        assert_eq!(
            lines(&compare(&model(), &new)),
            [(true, "enumeration used offline Shop.Status: value Done removed")]
        );
    }

    #[test]
    fn associations_to_offline_entities_block_and_sync_modes_are_checked() {
        let mut new = model();
        new.associations.insert(
            "r1".into(),
            AssociationSnapshot {
                name: "Shop.Log_Order".into(),
                parent: "e2".into(),
                child: "e1".into(),
                kind: "Reference".into(),
                owner: "Default".into(),
            },
        );
        new.profiles.get_mut("p1").expect("p1").offline.get_mut("Shop.Order").expect("order").sync_mode =
            "Never".into();
        assert_eq!(
            lines(&compare(&model(), &new)),
            [
                (
                    true,
                    "association of an offline-synced entity Shop.Log_Order (Reference Shop.Log -> Shop.Order, owner Default) added"
                ),
                (
                    true,
                    "native profile NativePhone: Shop.Order sync mode changed from All to Never: devices remove its local data on the next database reset"
                ),
            ]
        );
    }

    #[test]
    fn profiles_renamed_removed_or_without_ota_block_and_a_new_studio_pro_warns() {
        let mut new = model();
        let profile = new.profiles.get_mut("p1").expect("p1");
        profile.name = "Phone".into();
        profile.ota_enabled = false;
        new.product_version = "10.24.1".into();
        assert_eq!(
            lines(&compare(&model(), &new)),
            [
                (
                    false,
                    "Studio Pro version changed from 10.24.0 to 10.24.1: the app may need a new native template (a store release)"
                ),
                (true, "native profile NativePhone renamed to Phone"),
                (true, "native profile Phone: over-the-air updates switched off"),
            ]
        );
        let mut removed = model();
        removed.profiles.clear();
        assert_eq!(lines(&compare(&model(), &removed)), [(true, "native profile NativePhone removed")]);
    }
}
