//! The Mendix model preflight on copies of the real project in `../shared/fixtures/mendix/`, each
//! with one change written back with our own BSON writer: the exact finding, and whether it blocks
//! `push-update` (against a registered store build and against the current release) or only warns.

use std::path::{Path, PathBuf};

use bson::{Bson, Document};
use otadeck::api::mendix::{ChannelMode, MendixChannel};
use otadeck::bundle::mendix_model;
use otadeck::domain::model_diff::{self, ModelSnapshot};

use crate::mendix_model::fixture;
use crate::support::{ADMIN_KEY, TestServer, run_otadeck};

/// A copy of the fixture (`.mpr` and `mprcontents/`) in a temp dir.
pub fn copy_fixture() -> tempfile::TempDir {
    let dir = tempfile::tempdir().expect("dir");
    let source = fixture();
    std::fs::copy(source.join("NativeComponentsTestProject.mpr"), dir.path().join("NativeComponentsTestProject.mpr"))
        .expect("copy mpr");
    copy_tree(&source.join("mprcontents"), &dir.path().join("mprcontents"));
    dir
}

fn copy_tree(from: &Path, to: &Path) {
    std::fs::create_dir_all(to).expect("mkdir");
    for entry in std::fs::read_dir(from).expect("read dir").map(|e| e.expect("entry")) {
        let target = to.join(entry.file_name());
        if entry.file_type().expect("type").is_dir() {
            copy_tree(&entry.path(), &target);
        } else {
            std::fs::copy(entry.path(), target).expect("copy");
        }
    }
}

fn unit_files(dir: &Path) -> Vec<PathBuf> {
    let mut files = Vec::new();
    for entry in std::fs::read_dir(dir).expect("read dir").map(|e| e.expect("entry")) {
        if entry.file_type().expect("type").is_dir() {
            files.extend(unit_files(&entry.path()));
        } else if entry.path().extension().is_some_and(|e| e == "mxunit") {
            files.push(entry.path());
        }
    }
    files
}

/// Runs `edit` on every unit of `$Type` `unit_type`; writes back the ones it changed (it returns
/// `true`) and asserts exactly one changed.
fn edit_unit(project: &Path, unit_type: &str, mut edit: impl FnMut(&mut Document) -> bool) {
    let mut changed = 0;
    for file in unit_files(&project.join("mprcontents")) {
        let bytes = std::fs::read(&file).expect("read unit");
        let mut document = Document::from_reader(&mut bytes.as_slice()).expect("bson");
        if document.get_str("$Type") != Ok(unit_type) || !edit(&mut document) {
            continue;
        }
        let mut out = Vec::new();
        document.to_writer(&mut out).expect("encode");
        std::fs::write(&file, out).expect("write unit");
        changed += 1;
    }
    assert_eq!(changed, 1, "exactly one {unit_type} unit edited");
}

/// The documents of a Mendix array (after its version marker).
fn items_mut<'a>(document: &'a mut Document, key: &str) -> impl Iterator<Item = &'a mut Document> {
    document.get_array_mut(key).into_iter().flatten().filter_map(Bson::as_document_mut)
}

fn id_of(document: &Document) -> String {
    match document.get("$ID") {
        Some(Bson::Binary(b)) => b.bytes.iter().map(|b| format!("{b:02x}")).collect(),
        _ => String::new(),
    }
}

pub fn original() -> ModelSnapshot {
    mendix_model::read(&fixture()).expect("fixture model").snapshot
}

/// The id of the entity `qualified` in the original model.
fn entity_id(qualified: &str) -> String {
    let model = original();
    model.entities.iter().find(|(_, e)| e.name == qualified).map(|(id, _)| id.clone()).expect("entity")
}

/// Edits the entity with `id` inside its domain model unit.
fn edit_entity(project: &Path, id: &str, edit: impl Fn(&mut Document)) {
    edit_unit(project, "DomainModels$DomainModel", |model| {
        let mut found = false;
        for entity in items_mut(model, "Entities").filter(|e| id_of(e) == id) {
            edit(entity);
            found = true;
        }
        found
    });
}

/// Edits the offline configuration of `entity` in the `NativePhone` profile.
fn edit_offline_config(project: &Path, entity: &str, edit: impl Fn(&mut Document)) {
    edit_unit(project, "Navigation$NavigationDocument", |navigation| {
        let mut found = false;
        for profile in items_mut(navigation, "Profiles") {
            for config in items_mut(profile, "OfflineEntityConfigs").filter(|c| c.get_str("Entity") == Ok(entity)) {
                edit(config);
                found = true;
            }
        }
        found
    });
}

pub fn rename_offline_entity(project: &Path) {
    edit_entity(project, &entity_id("NativeMobileResources_Tests.AudioFile"), |e| {
        e.insert("Name", "VoiceMemo");
    });
    edit_offline_config(project, "NativeMobileResources_Tests.AudioFile", |c| {
        c.insert("Entity", "NativeMobileResources_Tests.VoiceMemo");
    });
}

fn remove_attribute(project: &Path) {
    edit_entity(project, &entity_id("NanoflowCommons_Tests.StorageItem"), |e| {
        if let Ok(attributes) = e.get_array_mut("Attributes") {
            attributes.retain(|a| a.as_document().is_none_or(|a| a.get_str("Name") != Ok("Value")));
        }
    });
}

fn change_attribute_type(project: &Path) {
    edit_entity(project, &entity_id("NanoflowCommons_Tests.StorageItem"), |e| {
        for attribute in items_mut(e, "Attributes").filter(|a| a.get_str("Name") == Ok("TestEmptyInteger")) {
            if let Ok(new_type) = attribute.get_document_mut("NewType") {
                new_type.insert("$Type", "DomainModels$LongAttributeType");
            }
        }
    });
}

fn add_association_to_offline_entity(project: &Path) {
    let (parent, child) = (entity_id("NanoflowCommons_Tests.StorageItem"), entity_id("NanoflowCommons_Tests.Progress"));
    let bytes = |hex: &str| -> Vec<u8> {
        (0..hex.len()).step_by(2).map(|i| u8::from_str_radix(&hex[i..i + 2], 16).expect("hex")).collect()
    };
    let binary =
        |hex: &str| Bson::Binary(bson::Binary { subtype: bson::spec::BinarySubtype::Generic, bytes: bytes(hex) });
    edit_unit(project, "DomainModels$DomainModel", |model| {
        let holds_parent = items_mut(model, "Entities").any(|e| id_of(e) == parent);
        let Some(Bson::Document(template)) = model.get_array("Associations").ok().and_then(|a| a.get(1)).cloned()
        else {
            return false;
        };
        if !holds_parent {
            return false;
        }
        let mut association = template;
        association.insert("$ID", binary("0badc0de0badc0de0badc0de0badc0de"));
        association.insert("Name", "StorageItem_Progress");
        association.insert("ParentPointer", binary(&parent));
        association.insert("ChildPointer", binary(&child));
        association.insert("Type", "Reference");
        association.insert("Owner", "Default");
        model.get_array_mut("Associations").expect("associations").push(Bson::Document(association));
        true
    });
}

fn sync_mode_to_never(project: &Path) {
    edit_offline_config(project, "AppEvents.Event", |c| {
        c.insert("SyncMode", "Never");
    });
}

fn rename_online_entity(project: &Path) {
    edit_entity(project, &entity_id("NanoflowCommons_Tests.Geocoding"), |e| {
        e.insert("Name", "GeoLookup");
    });
}

/// (finding, blocking) of the copy changed by `mutation`, against the original.
fn findings_after(mutation: fn(&Path)) -> Vec<(String, bool)> {
    let copy = copy_fixture();
    mutation(copy.path());
    let changed = mendix_model::read(copy.path()).expect("changed model");
    assert_eq!(changed.missing_units, 3, "the copy is complete");
    model_diff::compare(&original(), &changed.snapshot).into_iter().map(|f| (f.message, f.blocking)).collect()
}

/// (mutation, the one finding it gives, whether it blocks)
type Case = (fn(&Path), &'static str, bool);

#[test]
fn each_change_gives_exactly_its_finding_and_an_unchanged_copy_none() {
    assert_eq!(findings_after(|_| {}), [], "an unchanged copy");
    let cases: [Case; 6] = [
        (
            rename_offline_entity,
            "offline-synced entity NativeMobileResources_Tests.AudioFile renamed to NativeMobileResources_Tests.VoiceMemo",
            true,
        ),
        (remove_attribute, "offline-synced entity NanoflowCommons_Tests.StorageItem: attribute Value removed", true),
        (
            change_attribute_type,
            "offline-synced entity NanoflowCommons_Tests.StorageItem: attribute TestEmptyInteger changed type from IntegerAttributeType to LongAttributeType",
            true,
        ),
        (
            add_association_to_offline_entity,
            "association of an offline-synced entity NanoflowCommons_Tests.StorageItem_Progress (Reference NanoflowCommons_Tests.StorageItem -> NanoflowCommons_Tests.Progress, owner Default) added",
            true,
        ),
        (
            sync_mode_to_never,
            "native profile NativePhone: AppEvents.Event sync mode changed from All to Never: devices remove its local data on the next database reset",
            true,
        ),
        (
            rename_online_entity,
            "entity NanoflowCommons_Tests.Geocoding renamed to NanoflowCommons_Tests.GeoLookup",
            false,
        ),
    ];
    for (mutation, message, blocking) in cases {
        assert_eq!(findings_after(mutation), [(message.to_owned(), blocking)]);
    }
}

/// `push-update --platform android` of `project` with MxBuild output from `bundle`.
async fn push(server: &TestServer, project: &Path, bundle: &Path, extra: &[&str]) -> (i32, String, String) {
    let (project, bundle) = (project.to_string_lossy(), bundle.to_string_lossy());
    let args = [
        &[
            "release",
            "push-update",
            "--project",
            &project,
            "--platform",
            "android",
            "--deployment",
            "Production",
            "--target-version",
            "1.0.0",
            "--rollout-percentage",
            "100",
            "--bundle-dir",
            &bundle,
        ][..],
        extra,
    ]
    .concat();
    run_otadeck(&args, &[("OTADECK_SERVER", server.url.as_str()), ("OTADECK_ACCESS_KEY", ADMIN_KEY)]).await
}

#[tokio::test(flavor = "multi_thread")]
async fn push_update_compares_the_model_with_store_builds_and_the_current_release() {
    let server = TestServer::start().await;
    let admin = server.admin();
    let (android, ios) = ("NativeComponentsTestProject-Android", "NativeComponentsTestProject-iOS");
    admin.create_app(android).await.expect("android app");
    admin.create_app(ios).await.expect("ios app");
    let channel = MendixChannel {
        host: "127.0.0.1".into(),
        upstream: crate::mendix::stub_runtime().await,
        android_app: android.into(),
        ios_app: ios.into(),
        deployment: "Production".into(),
        mode: ChannelMode::Serve,
    };
    admin.set_mendix_channel(&channel).await.expect("channel");
    let work = tempfile::tempdir().expect("work");
    let bundle = work.path().join("bundle");
    let js = "__d(function(g,r,i,a,m,e,d){e.default={deploymentID:\"638800000000000001\",checkForOTAUpdates:!0}},7);";
    std::fs::create_dir_all(bundle.join("android/assets")).expect("mkdir");
    std::fs::write(bundle.join("android/assets/index.android.bundle"), js).expect("bundle");

    // No snapshot anywhere yet: the checklist is the only safeguard.
    let unchanged = copy_fixture();
    let (code, _, stderr) = push(&server, unchanged.path(), &bundle, &[]).await;
    assert_eq!(code, 3, "{stderr}");
    assert!(stderr.contains("no Mendix model snapshot to compare with"), "{stderr}");

    // The store build is registered with its model: the same model pushes without the checklist.
    let project = unchanged.path().to_string_lossy().into_owned();
    let envs = [("OTADECK_SERVER", server.url.as_str()), ("OTADECK_ACCESS_KEY", ADMIN_KEY)];
    // With the bundle the store build ships, so that its devices get diff packages.
    let shipped =
        crate::support::code_push_folder(&work.path().join("shipped"), &[("index.android.bundle", js.as_bytes())]);
    let shipped_text = shipped.to_string_lossy().into_owned();
    let register = [
        "binary",
        "register",
        "--project",
        &project,
        "--platform",
        "android",
        "--app-version",
        "1.0.0",
        "--bundle",
        &shipped_text,
    ];
    let (code, stdout, stderr) = run_otadeck(&register, &envs).await;
    assert_eq!(code, 0, "{stderr}");
    assert!(stdout.contains("Mendix model with 79 entities, 31 synchronised offline"), "{stdout}");
    let shipped_hash = otadeck::bundle::package::folder_hash(&shipped).expect("hash");
    assert!(stdout.contains(&format!("bundle of 1 file with package hash {shipped_hash}")), "{stdout}");
    let (code, _, stderr) = push(&server, unchanged.path(), &bundle, &[]).await;
    assert_eq!(code, 0, "{stderr}");
    let stored = admin.current_release_model(android, "Production").await.expect("model").expect("stored");
    assert_eq!((stored.label.as_str(), &stored.mendix_model), ("v1", &original()));

    // A destructive change is blocked against both the store build and the current release.
    let renamed = copy_fixture();
    rename_offline_entity(renamed.path());
    std::fs::write(bundle.join("android/assets/index.android.bundle"), js.replace("01\"", "02\"")).expect("bundle");
    let (code, _, stderr) = push(&server, renamed.path(), &bundle, &[]).await;
    assert_eq!(code, 3, "{stderr}");
    let line =
        "offline-synced entity NativeMobileResources_Tests.AudioFile renamed to NativeMobileResources_Tests.VoiceMemo";
    assert!(stderr.contains(&format!("android 1.0.0: {line}")), "{stderr}");
    assert!(stderr.contains(&format!("android release v1: {line}")), "{stderr}");
    assert_eq!(admin.history(android, "Production").await.expect("history").len(), 1, "nothing released");

    // A written reason overrides; findings and reason go into the description.
    let (code, _, stderr) =
        push(&server, renamed.path(), &bundle, &["--force-reason", "AudioFile is never written offline"]).await;
    assert_eq!(code, 0, "{stderr}");
    let history = admin.history(android, "Production").await.expect("history");
    let forced = history.last().expect("v2");
    assert!(forced.description.contains("AudioFile is never written offline"), "{}", forced.description);
    assert!(forced.description.contains(line), "{}", forced.description);

    // A change to an entity that is not synchronised offline only warns.
    let online = copy_fixture();
    rename_offline_entity(online.path());
    rename_online_entity(online.path());
    std::fs::write(bundle.join("android/assets/index.android.bundle"), js.replace("01\"", "03\"")).expect("bundle");
    let (code, _, stderr) =
        push(&server, online.path(), &bundle, &["--force-reason", "still the same AudioFile"]).await;
    assert_eq!(code, 0, "{stderr}");
    assert!(
        stderr.contains(
            "warning: android release v2: entity NanoflowCommons_Tests.Geocoding renamed to NanoflowCommons_Tests.GeoLookup"
        ),
        "{stderr}"
    );
    assert!(!stderr.contains("android release v2: offline-synced"), "v2 already has the rename: {stderr}");
}
