//! Reads what an OTA update can break from a Mendix project (`*.mpr`, formats 1 and 2; reference
//! `mendix-runtime-ota.md` §4): the product version, each module's entities (attributes with their
//! types, generalization) and associations, and the native navigation profiles with their OTA flag
//! and offline entity configurations (sync mode, constraint). [`MendixModel::snapshot`] holds the
//! same model keyed by id, with string lengths and enumeration values, for the preflight rules in
//! [`crate::domain::model_diff`]. Pure file reading. Missing unit files and unknown fields are
//! counted and skipped, never fatal.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};

use bson::{Bson, Document};
use rusqlite::{Connection, OpenFlags, OptionalExtension as _};
use serde::Serialize;

use crate::domain::model_diff::{
    AssociationSnapshot, AttributeSnapshot, EntitySnapshot, EnumerationSnapshot, ModelSnapshot, OfflineConfig,
    ProfileSnapshot,
};

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
    /// The same model keyed by id, as stored with binaries and releases and compared by preflight.
    #[serde(skip)]
    pub snapshot: ModelSnapshot,
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

/// The model snapshot of a detected project: `None` for projects that are not Mendix projects.
///
/// # Errors
/// [`ModelError`] when a Mendix project's `.mpr` cannot be read.
pub fn snapshot_of(project: &super::project::Project) -> Result<Option<ModelSnapshot>, ModelError> {
    if project.kind != super::project::ProjectKind::Mendix {
        return Ok(None);
    }
    Ok(Some(read(&project.root)?.snapshot))
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

/// Qualified names need the module of a unit, which may sit in folders inside the module.
struct Containers<'a> {
    /// Unit id -> (container id, `$Type`, name).
    units: BTreeMap<&'a [u8], (&'a [u8], &'a str, String)>,
}

impl<'a> Containers<'a> {
    fn new(units: &'a [Unit]) -> Self {
        let units = units
            .iter()
            .filter(|u| kind(&u.document).starts_with("Projects$"))
            .map(|u| (u.id.as_slice(), (u.container.as_slice(), kind(&u.document), text(&u.document, "Name"))))
            .collect();
        Self { units }
    }

    /// The name of the module holding `container` (directly or through folders).
    fn module(&self, mut container: &'a [u8]) -> Option<&str> {
        for _ in 0..64 {
            let (parent, type_name, name) = self.units.get(container)?;
            if type_name.starts_with("Projects$Module") {
                return Some(name);
            }
            if *parent == container {
                return None;
            }
            container = parent;
        }
        None
    }
}

fn collect(units: &[Unit], model: &mut MendixModel) {
    let containers = Containers::new(units);
    let mut modules = Vec::new();
    let snapshot = &mut model.snapshot;
    snapshot.product_version.clone_from(&model.product_version);
    for unit in units {
        let document = &unit.document;
        match kind(document) {
            "DomainModels$DomainModel" => {
                let Some(module) = containers.module(&unit.container) else { continue };
                domain_model(module, document, snapshot);
                modules.push(module.to_owned());
            }
            "Enumerations$Enumeration" => {
                let Some(module) = containers.module(&unit.container) else { continue };
                let values = items(document, "Values").map(|v| (hex(&binary(v, "$ID")), text(v, "Name"))).collect();
                snapshot.enumerations.insert(
                    hex(&unit.id),
                    EnumerationSnapshot { name: format!("{module}.{}", text(document, "Name")), values },
                );
            }
            "Navigation$NavigationDocument" => {
                for profile in items(document, "Profiles").filter(|p| kind(p) == "Navigation$NativeNavigationProfile") {
                    let offline = items(profile, "OfflineEntityConfigs")
                        .map(|c| {
                            let config =
                                OfflineConfig { sync_mode: text(c, "SyncMode"), constraint: text(c, "Constraint") };
                            (text(c, "Entity"), config)
                        })
                        .filter(|(entity, _)| !entity.is_empty())
                        .collect();
                    snapshot.profiles.insert(
                        hex(&binary(profile, "$ID")),
                        ProfileSnapshot {
                            name: text(profile, "Name"),
                            ota_enabled: profile.get_bool("OtaEnabled").unwrap_or(false),
                            offline,
                        },
                    );
                }
            }
            _ => {}
        }
    }
    model.modules = modules.into_iter().map(|name| (name, Module::default())).collect();
    view(model);
}

/// Fills the per-module summary (`otadeck mendix model`) from the snapshot.
fn view(model: &mut MendixModel) {
    let snapshot = &model.snapshot;
    let split = |qualified: &str| -> Option<(String, String)> {
        qualified.split_once('.').map(|(m, n)| (m.to_owned(), n.to_owned()))
    };
    for (id, entity) in &snapshot.entities {
        let Some((module, name)) = split(&entity.name) else { continue };
        let attributes = entity.attributes.values().map(|a| (a.name.clone(), a.kind.clone())).collect();
        model
            .modules
            .entry(module)
            .or_default()
            .entities
            .insert(name, Entity { id: id.clone(), attributes, generalization: entity.generalization.clone() });
    }
    let short_name = |endpoint: &str| {
        snapshot
            .entities
            .get(endpoint)
            .and_then(|e| e.name.split_once('.'))
            .map_or_else(|| endpoint.to_owned(), |(_, n)| n.to_owned())
    };
    for (id, association) in &snapshot.associations {
        let Some((module, name)) = split(&association.name) else { continue };
        model.modules.entry(module).or_default().associations.insert(
            name,
            Association {
                id: id.clone(),
                parent: short_name(&association.parent),
                child: short_name(&association.child),
                kind: association.kind.clone(),
                owner: association.owner.clone(),
            },
        );
    }
    model.native_profiles = snapshot
        .profiles
        .values()
        .map(|p| NativeProfile {
            name: p.name.clone(),
            ota_enabled: p.ota_enabled,
            offline: p.offline.iter().map(|(entity, c)| (entity.clone(), c.sync_mode.clone())).collect(),
        })
        .collect();
    model.native_profiles.sort_by(|a, b| a.name.cmp(&b.name));
}

fn attribute(attribute: &Document) -> AttributeSnapshot {
    let new_type = attribute.get_document("NewType").ok();
    let type_name = new_type.map(|t| short(kind(t))).unwrap_or_default();
    let length = new_type.filter(|_| type_name == "StringAttributeType").map(|t| match t.get("Length") {
        Some(Bson::Int32(l)) => u32::try_from(*l).unwrap_or(0),
        Some(Bson::Int64(l)) => u32::try_from(*l).unwrap_or(0),
        _ => 0,
    });
    let enumeration = new_type.and_then(|t| t.get_str("Enumeration").ok()).map(str::to_owned);
    AttributeSnapshot { name: text(attribute, "Name"), kind: type_name, length, enumeration }
}

/// An association endpoint: the entity id of `…Pointer`, or the qualified name of a cross-module
/// association's `Child`.
fn endpoint(association: &Document, key: &str) -> String {
    let pointer = binary(association, &format!("{key}Pointer"));
    if pointer.is_empty() { text(association, key) } else { hex(&pointer) }
}

fn domain_model(module: &str, document: &Document, snapshot: &mut ModelSnapshot) {
    for entity in items(document, "Entities") {
        let attributes = items(entity, "Attributes").map(|a| (hex(&binary(a, "$ID")), attribute(a))).collect();
        let generalization = entity
            .get_document("MaybeGeneralization")
            .ok()
            .filter(|g| kind(g) == "DomainModels$Generalization")
            .map(|g| text(g, "Generalization"));
        snapshot.entities.insert(
            hex(&binary(entity, "$ID")),
            EntitySnapshot { name: format!("{module}.{}", text(entity, "Name")), generalization, attributes },
        );
    }
    for association in items(document, "Associations").chain(items(document, "CrossAssociations")) {
        snapshot.associations.insert(
            hex(&binary(association, "$ID")),
            AssociationSnapshot {
                name: format!("{module}.{}", text(association, "Name")),
                parent: endpoint(association, "Parent"),
                child: endpoint(association, "Child"),
                kind: text(association, "Type"),
                owner: text(association, "Owner"),
            },
        );
    }
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
