//! Reads what an OTA update can break from a Mendix project (`*.mpr`, formats 1 and 2; reference
//! `mendix-runtime-ota.md` §4): the product version, each module's entities (attributes with their
//! types, generalization) and associations, and the native navigation profiles with their OTA flag
//! and offline entity configurations. Pure file reading. Missing unit files and unknown fields are
//! counted and skipped, never fatal.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};

use bson::{Bson, Document};
use rusqlite::{Connection, OpenFlags, OptionalExtension as _};
use serde::Serialize;

/// Why a project's model cannot be read at all.
#[derive(Debug, thiserror::Error)]
pub enum ModelError {
    #[error("{0} has no .mpr file: is it a Mendix project folder?")]
    NoMpr(PathBuf),
    #[error("{path} is not a Mendix project file: {reason}")]
    NotAnMpr { path: PathBuf, reason: String },
}

/// An entity: its id, attributes (name -> type name) and generalization.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize)]
pub struct Entity {
    pub id: String,
    pub attributes: BTreeMap<String, String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub generalization: Option<String>,
}

/// An association between two entities (by name).
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize)]
pub struct Association {
    pub id: String,
    pub parent: String,
    pub child: String,
    #[serde(rename = "type")]
    pub kind: String,
    pub owner: String,
}

/// One module's domain model.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize)]
pub struct Module {
    pub entities: BTreeMap<String, Entity>,
    pub associations: BTreeMap<String, Association>,
}

/// A native navigation profile.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct NativeProfile {
    pub name: String,
    pub ota_enabled: bool,
    /// `Module.Entity` -> sync mode.
    pub offline: BTreeMap<String, String>,
}

/// What was read.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct MendixModel {
    pub product_version: String,
    pub format: u32,
    pub modules: BTreeMap<String, Module>,
    pub native_profiles: Vec<NativeProfile>,
    pub missing_units: usize,
}

/// The `.mpr` file of a project folder.
///
/// # Errors
/// [`ModelError::NoMpr`].
pub fn mpr_of(project: &Path) -> Result<PathBuf, ModelError> {
    let entries = std::fs::read_dir(project).map_err(|_| ModelError::NoMpr(project.to_path_buf()))?;
    entries
        .filter_map(Result::ok)
        .map(|e| e.path())
        .find(|p| p.extension().is_some_and(|e| e.eq_ignore_ascii_case("mpr")))
        .ok_or_else(|| ModelError::NoMpr(project.to_path_buf()))
}

/// A unit id as the GUID string of its `.mxunit` file (Microsoft byte order: the first three
/// groups byte-swapped).
#[must_use]
pub fn unit_guid(id: &[u8]) -> Option<String> {
    let b: &[u8; 16] = id.try_into().ok()?;
    Some(format!(
        "{:02x}{:02x}{:02x}{:02x}-{:02x}{:02x}-{:02x}{:02x}-{:02x}{:02x}-{:02x}{:02x}{:02x}{:02x}{:02x}{:02x}",
        b[3], b[2], b[1], b[0], b[5], b[4], b[7], b[6], b[8], b[9], b[10], b[11], b[12], b[13], b[14], b[15]
    ))
}

fn hex(bytes: &[u8]) -> String {
    bytes.iter().map(|b| format!("{b:02x}")).collect()
}

/// (unit id, container id, contents of a format-1 file).
type UnitRow = (Vec<u8>, Vec<u8>, Option<Vec<u8>>);

struct Unit {
    id: Vec<u8>,
    container: Vec<u8>,
    document: Document,
}

/// Reads a project folder's model.
///
/// # Errors
/// [`ModelError`] when there is no `.mpr` or it is not a Mendix project file.
pub fn read(project: &Path) -> Result<MendixModel, ModelError> {
    let mpr = mpr_of(project)?;
    let not_mpr = |reason: String| ModelError::NotAnMpr { path: mpr.clone(), reason };
    let connection =
        Connection::open_with_flags(&mpr, OpenFlags::SQLITE_OPEN_READ_ONLY).map_err(|e| not_mpr(e.to_string()))?;
    let columns: Vec<String> = connection
        .prepare("SELECT name FROM pragma_table_info('Unit')")
        .and_then(|mut s| s.query_map([], |row| row.get(0))?.collect())
        .map_err(|e| not_mpr(e.to_string()))?;
    if columns.is_empty() {
        return Err(not_mpr("it has no Unit table".into()));
    }
    let inline = columns.iter().any(|c| c == "Contents");
    let product_version: String = connection
        .query_row("SELECT _ProductVersion FROM _MetaData", [], |row| row.get(0))
        .optional()
        .map_err(|e| not_mpr(e.to_string()))?
        .unwrap_or_default();
    let sql = if inline {
        "SELECT UnitID, ContainerID, Contents FROM Unit"
    } else {
        "SELECT UnitID, ContainerID, NULL FROM Unit"
    };
    let rows: Vec<UnitRow> = connection
        .prepare(sql)
        .and_then(|mut s| s.query_map([], |row| Ok((row.get(0)?, row.get(1)?, row.get(2)?)))?.collect())
        .map_err(|e| not_mpr(e.to_string()))?;
    let folder = mpr.parent().unwrap_or(project).join("mprcontents");
    let mut model = MendixModel { product_version, format: if inline { 1 } else { 2 }, ..MendixModel::default() };
    let mut units = Vec::with_capacity(rows.len());
    for (id, container, contents) in rows {
        let bytes = match contents {
            Some(bytes) => Some(bytes),
            None => unit_guid(&id)
                .and_then(|g| std::fs::read(folder.join(&g[0..2]).join(&g[2..4]).join(format!("{g}.mxunit"))).ok()),
        };
        match bytes.and_then(|b| Document::from_reader(&mut b.as_slice()).ok()) {
            Some(document) => units.push(Unit { id, container, document }),
            None => model.missing_units += 1,
        }
    }
    collect(&units, &mut model);
    Ok(model)
}

fn text(document: &Document, key: &str) -> String {
    document.get_str(key).unwrap_or_default().to_owned()
}

fn binary(document: &Document, key: &str) -> Vec<u8> {
    match document.get(key) {
        Some(Bson::Binary(b)) => b.bytes.clone(),
        _ => Vec::new(),
    }
}

/// The documents of a Mendix array (its first element is a version marker, not a document).
fn items<'a>(document: &'a Document, key: &str) -> impl Iterator<Item = &'a Document> {
    document.get_array(key).into_iter().flatten().filter_map(Bson::as_document)
}

fn kind(document: &Document) -> &str {
    document.get_str("$Type").unwrap_or_default()
}

/// The name after `$` of a type: `DomainModels$StringAttributeType` -> `StringAttributeType`.
fn short(type_name: &str) -> String {
    type_name.rsplit('$').next().unwrap_or(type_name).to_owned()
}

fn collect(units: &[Unit], model: &mut MendixModel) {
    let module_names: BTreeMap<&[u8], String> = units
        .iter()
        .filter(|u| kind(&u.document).starts_with("Projects$Module"))
        .map(|u| (u.id.as_slice(), text(&u.document, "Name")))
        .collect();
    for unit in units {
        let document = &unit.document;
        match kind(document) {
            "DomainModels$DomainModel" => {
                let Some(module) = module_names.get(unit.container.as_slice()) else { continue };
                model.modules.insert(module.clone(), domain_model(document));
            }
            "Navigation$NavigationDocument" => {
                for profile in items(document, "Profiles").filter(|p| kind(p) == "Navigation$NativeNavigationProfile") {
                    let offline = items(profile, "OfflineEntityConfigs")
                        .map(|c| (text(c, "Entity"), text(c, "SyncMode")))
                        .filter(|(entity, _)| !entity.is_empty())
                        .collect();
                    model.native_profiles.push(NativeProfile {
                        name: text(profile, "Name"),
                        ota_enabled: profile.get_bool("OtaEnabled").unwrap_or(false),
                        offline,
                    });
                }
            }
            _ => {}
        }
    }
    model.native_profiles.sort_by(|a, b| a.name.cmp(&b.name));
}

fn domain_model(document: &Document) -> Module {
    let mut module = Module::default();
    let mut names_by_id: BTreeMap<Vec<u8>, String> = BTreeMap::new();
    for entity in items(document, "Entities") {
        let name = text(entity, "Name");
        names_by_id.insert(binary(entity, "$ID"), name.clone());
        let attributes = items(entity, "Attributes")
            .map(|a| (text(a, "Name"), a.get_document("NewType").map(|t| short(kind(t))).unwrap_or_default()))
            .collect();
        let generalization = entity
            .get_document("MaybeGeneralization")
            .ok()
            .filter(|g| kind(g) == "DomainModels$Generalization")
            .map(|g| text(g, "Generalization"));
        module.entities.insert(name, Entity { id: hex(&binary(entity, "$ID")), attributes, generalization });
    }
    for association in items(document, "Associations") {
        let endpoint = |key: &str| names_by_id.get(&binary(association, key)).cloned().unwrap_or_default();
        module.associations.insert(
            text(association, "Name"),
            Association {
                id: hex(&binary(association, "$ID")),
                parent: endpoint("ParentPointer"),
                child: endpoint("ChildPointer"),
                kind: text(association, "Type"),
                owner: text(association, "Owner"),
            },
        );
    }
    module
}

#[cfg(test)]
mod tests {
    use super::unit_guid;

    #[test]
    fn unit_ids_map_to_guids_in_microsoft_byte_order() {
        let id = [0x2c, 0xb2, 0x1f, 0x58, 0x0c, 0xfd, 0x42, 0x40, 0x84, 0x06, 0x0d, 0xb1, 0xad, 0xc1, 0xf3, 0xa3];
        assert_eq!(unit_guid(&id).as_deref(), Some("581fb22c-fd0c-4042-8406-0db1adc1f3a3"));
        assert_eq!(unit_guid(&[1, 2, 3]), None);
    }
}
