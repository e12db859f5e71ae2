//! The Mendix model reader on the real project in `../shared/fixtures/mendix/` (format 2), and on
//! the same units written as a format-1 file; the model preflight on copies of it with one change
//! each, written back with our own BSON writer (the `bson` crate's encoder).

use std::path::{Path, PathBuf};

use otadeck::bundle::mendix_model::{self, MendixModel};

/// The shared fixture; it is beside every clone (CI included), so its absence is a failure.
pub fn fixture() -> PathBuf {
    let path = PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../shared/fixtures/mendix/native-components-11.10");
    assert!(path.is_dir(), "the shared Mendix fixture is missing at {}", path.display());
    path
}

/// Writes the fixture's units as a format-1 project into `dir`: one `.mpr` whose `Unit` table has
/// a `Contents` column, and no `mprcontents/` folder.
fn as_format_1(dir: &Path) -> PathBuf {
    let source = fixture();
    let target = dir.join("FormatOne.mpr");
    std::fs::copy(source.join("NativeComponentsTestProject.mpr"), &target).expect("copy");
    let connection = rusqlite::Connection::open(&target).expect("open");
    connection.execute_batch("ALTER TABLE Unit ADD COLUMN Contents BLOB").expect("contents column");
    let ids: Vec<Vec<u8>> = connection
        .prepare("SELECT UnitID FROM Unit")
        .and_then(|mut s| s.query_map([], |row| row.get(0))?.collect())
        .expect("ids");
    for id in ids {
        let guid = mendix_model::unit_guid(&id).expect("guid");
        let file = source.join("mprcontents").join(&guid[0..2]).join(&guid[2..4]).join(format!("{guid}.mxunit"));
        if let Ok(bytes) = std::fs::read(file) {
            connection
                .execute("UPDATE Unit SET Contents = ?1 WHERE UnitID = ?2", rusqlite::params![bytes, id])
                .expect("unit");
        }
    }
    connection.execute_batch("UPDATE _MetaData SET _FormatVersion = 1").expect("format");
    dir.to_path_buf()
}

#[test]
fn the_reader_finds_the_domain_model_and_the_native_profile_of_a_real_project() {
    let model = mendix_model::read(&fixture()).expect("model");
    assert_eq!((model.product_version.as_str(), model.format), ("11.10.0-rc.5", 2));
    assert_eq!(model.modules.len(), 52);
    assert_eq!(model.modules.values().map(|m| m.entities.len()).sum::<usize>(), 79);
    assert_eq!(model.missing_units, 3, "the three units absent from the fixture are reported");
    let administration = &model.modules["Administration"];
    let account = &administration.entities["Account"];
    assert_eq!(account.id, "808c861a280adf49b6e8769a3bb8ac0a");
    assert_eq!(account.attributes["Email"], "StringAttributeType");
    assert_eq!(account.attributes["IsLocalUser"], "BooleanAttributeType");
    assert_eq!(account.generalization.as_deref(), Some("System.User"));
    let link = &administration.associations["AccountPasswordData_Account"];
    assert_eq!(
        (link.parent.as_str(), link.child.as_str(), link.kind.as_str()),
        ("AccountPasswordData", "Account", "Reference")
    );
    let [phone] = model.native_profiles.as_slice() else { panic!("one native profile: {:?}", model.native_profiles) };
    assert_eq!((phone.name.as_str(), phone.ota_enabled), ("NativePhone", false));
    assert_eq!(phone.offline["Administration.Account"], "NoneAndPreserveData");
    assert_eq!(phone.offline["AppEvents.Event"], "All");

    // The snapshot the preflight compares: string lengths, enumeration values, sync constraints.
    let snapshot = &model.snapshot;
    let chart = snapshot.entities.values().find(|e| e.name == "PieDoughnutChart.PieDoughnutChart").expect("chart");
    let label = chart.attributes.values().find(|a| a.name == "Label").expect("Label");
    assert_eq!((label.kind.as_str(), label.length), ("StringAttributeType", Some(200)));
    let kind = chart.attributes.values().find(|a| a.name == "EnumAttr").expect("EnumAttr");
    assert_eq!(kind.enumeration.as_deref(), Some("PieDoughnutChart.Enumeration"));
    let provider = snapshot.enumerations.values().find(|e| e.name.ends_with(".GeocodingProvider")).expect("enum");
    let mut values: Vec<&str> = provider.values.values().map(String::as_str).collect();
    values.sort_unstable();
    assert_eq!(values, ["Geocodio", "Google", "LocationIQ", "MapQuest"]);
    assert_eq!(
        snapshot.offline_entities().len(),
        31,
        "the profile's 32 entries name 31 project entities and System.User"
    );
}

#[test]
fn format_1_and_format_2_read_the_same() {
    let dir = tempfile::tempdir().expect("dir");
    let one = mendix_model::read(&as_format_1(dir.path())).expect("format 1");
    let two = mendix_model::read(&fixture()).expect("format 2");
    assert_eq!(one.format, 1);
    let same_format = MendixModel { format: 2, ..one };
    assert_eq!(
        serde_json::to_value(&same_format).expect("json"),
        serde_json::to_value(&two).expect("json"),
        "identical apart from the format number"
    );
    assert_eq!(same_format.snapshot, two.snapshot, "and the same snapshot");
}

#[tokio::test(flavor = "multi_thread")]
async fn otadeck_mendix_model_prints_a_summary_or_json_and_refuses_what_is_not_a_project() {
    let project = fixture().to_string_lossy().into_owned();
    let (code, stdout, stderr) = crate::support::run_otadeck(&["mendix", "model", &project, "--json"], &[]).await;
    assert_eq!(code, 0, "{stderr}");
    let json: serde_json::Value = serde_json::from_str(&stdout).expect("json");
    assert_eq!(json["modules"]["Administration"]["entities"]["Account"]["generalization"], "System.User");
    assert_eq!(json["nativeProfiles"][0]["offline"]["Administration.Account"], "NoneAndPreserveData");
    assert_eq!(json["missingUnits"], 3);
    let (code, stdout, _) = crate::support::run_otadeck(&["mendix", "model", &project], &[]).await;
    assert_eq!(code, 0);
    assert!(stdout.contains("Studio Pro 11.10.0-rc.5, .mpr format 2: 52 modules, 79 entities"), "{stdout}");
    assert!(stdout.contains("NativePhone"), "{stdout}");

    let fake = tempfile::tempdir().expect("dir");
    std::fs::write(fake.path().join("App.mpr"), "not a database").expect("write");
    let (code, _, stderr) =
        crate::support::run_otadeck(&["mendix", "model", &fake.path().to_string_lossy()], &[]).await;
    assert_eq!(code, 2, "{stderr}");
    assert!(stderr.contains("is not a Mendix project file"), "{stderr}");
}
