//! The native fingerprint of a project: everything that an OTA update cannot change because it lives
//! in the store binary. Comparing a project's fingerprint with the baseline recorded for a store build
//! tells whether a release is safe to ship over the air.
//!
//! What is read, per project type (only what could be verified):
//! - React Native / Expo: dependencies installed in `node_modules` that carry native code (an
//!   `android/` or `ios/` folder, a `*.podspec`, or a `react-native.config.js`) with their installed
//!   versions; the `react-native` version; Android `applicationId` (`android/app/build.gradle`) and
//!   `app_name` (`strings.xml`); iOS `PRODUCT_BUNDLE_IDENTIFIER` (`*.pbxproj`) and
//!   `CFBundleDisplayName` (`Info.plist`); launcher icons (`mipmap-*/ic_launcher*`,
//!   `AppIcon.appiconset`) and splash screens (`drawable*/splash*`/`launch_screen*`,
//!   `LaunchScreen.storyboard`, `SplashScreen`/`LaunchImage` assets) by content hash; for Expo, `app.json`
//!   `expo.name`, `expo.android.package`, `expo.ios.bundleIdentifier`, `expo.icon` and `expo.splash.image`.
//! - Mendix: `nativeDependencies` declared by pluggable widgets (`widgets/*.mpk`) and JavaScript actions
//!   (`javascriptsource/**/*.json`), and the Studio Pro version (`_MetaData._ProductVersion` in the
//!   `.mpr`). App name, ids and icons live in the Native Template, outside the Mendix project.

use std::collections::BTreeMap;
use std::fmt;
use std::path::{Path, PathBuf};

use serde::{Deserialize, Serialize};

use super::project::{Project, ProjectKind};
use super::{BundleError, Platform};
use crate::domain::package::sha256_hex;

/// What a store binary contains natively.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct NativeFingerprint {
    /// Native modules by package name, with versions.
    #[serde(default)]
    pub native_modules: BTreeMap<String, String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub app_name: Option<String>,
    /// Android applicationId or iOS bundle identifier.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub app_id: Option<String>,
    /// Launcher icons and splash screens: project-relative path -> SHA-256.
    #[serde(default)]
    pub images: BTreeMap<String, String>,
    /// Versions of the native platform: `react-native`, `Studio Pro`.
    #[serde(default)]
    pub platform_versions: BTreeMap<String, String>,
}

/// One native difference between a store build and the project.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum NativeChange {
    ModuleAdded { name: String, version: String },
    ModuleRemoved { name: String, version: String },
    ModuleChanged { name: String, from: String, to: String },
    AppRenamed { from: String, to: String },
    AppIdChanged { from: String, to: String },
    ImageChanged { path: String },
    ImageAdded { path: String },
    ImageRemoved { path: String },
    PlatformVersionChanged { component: String, from: String, to: String },
}

impl fmt::Display for NativeChange {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Self::ModuleAdded { name, version } => write!(f, "native module added: {name} {version}"),
            Self::ModuleRemoved { name, version } => write!(f, "native module removed: {name} {version}"),
            Self::ModuleChanged { name, from, to } => write!(f, "native module changed: {name} {from} -> {to}"),
            Self::AppRenamed { from, to } => write!(f, "app renamed: {from} -> {to}"),
            Self::AppIdChanged { from, to } => write!(f, "app id changed: {from} -> {to}"),
            Self::ImageChanged { path } => write!(f, "{} changed: {path}", image_kind(path)),
            Self::ImageAdded { path } => write!(f, "{} added: {path}", image_kind(path)),
            Self::ImageRemoved { path } => write!(f, "{} removed: {path}", image_kind(path)),
            Self::PlatformVersionChanged { component, from, to } => {
                write!(f, "{component} version changed: {from} -> {to}")
            }
        }
    }
}

fn image_kind(path: &str) -> &'static str {
    let lower = path.to_ascii_lowercase();
    let name = lower.rsplit('/').next().unwrap_or(&lower);
    if name.starts_with("ic_launcher") || lower.contains("appicon") || lower.contains("icon") {
        "launcher icon"
    } else {
        "splash screen"
    }
}

/// Every difference between a store build's baseline and the current project.
#[must_use]
pub fn compare(baseline: &NativeFingerprint, current: &NativeFingerprint) -> Vec<NativeChange> {
    let mut changes = Vec::new();
    for (name, version) in &current.native_modules {
        match baseline.native_modules.get(name) {
            None => changes.push(NativeChange::ModuleAdded { name: name.clone(), version: version.clone() }),
            Some(old) if old != version => {
                changes.push(NativeChange::ModuleChanged {
                    name: name.clone(),
                    from: old.clone(),
                    to: version.clone(),
                });
            }
            Some(_) => {}
        }
    }
    for (name, version) in &baseline.native_modules {
        if !current.native_modules.contains_key(name) {
            changes.push(NativeChange::ModuleRemoved { name: name.clone(), version: version.clone() });
        }
    }
    if let (Some(from), Some(to)) = (&baseline.app_name, &current.app_name)
        && from != to
    {
        changes.push(NativeChange::AppRenamed { from: from.clone(), to: to.clone() });
    }
    if let (Some(from), Some(to)) = (&baseline.app_id, &current.app_id)
        && from != to
    {
        changes.push(NativeChange::AppIdChanged { from: from.clone(), to: to.clone() });
    }
    for (path, hash) in &current.images {
        match baseline.images.get(path) {
            None => changes.push(NativeChange::ImageAdded { path: path.clone() }),
            Some(old) if old != hash => changes.push(NativeChange::ImageChanged { path: path.clone() }),
            Some(_) => {}
        }
    }
    for path in baseline.images.keys() {
        if !current.images.contains_key(path) {
            changes.push(NativeChange::ImageRemoved { path: path.clone() });
        }
    }
    for (component, version) in &current.platform_versions {
        if let Some(old) = baseline.platform_versions.get(component)
            && old != version
        {
            changes.push(NativeChange::PlatformVersionChanged {
                component: component.clone(),
                from: old.clone(),
                to: version.clone(),
            });
        }
    }
    changes
}

/// Computes the native fingerprint of `project` for `platform`.
///
/// # Errors
/// I/O errors reading the project.
pub fn fingerprint(project: &Project, platform: Platform) -> Result<NativeFingerprint, BundleError> {
    let mut print = NativeFingerprint::default();
    match project.kind {
        ProjectKind::Mendix => mendix(project, &mut print)?,
        ProjectKind::ReactNative | ProjectKind::Expo | ProjectKind::Custom => {
            node_native_modules(&project.root, &mut print)?;
            native_project(&project.root, platform, &mut print)?;
            if project.kind == ProjectKind::Expo {
                expo_config(&project.root, platform, &mut print)?;
            }
        }
    }
    Ok(print)
}

fn read_json(path: &Path) -> Option<serde_json::Value> {
    std::fs::read_to_string(path).ok().and_then(|text| serde_json::from_str(&text).ok())
}

fn node_native_modules(root: &Path, print: &mut NativeFingerprint) -> Result<(), BundleError> {
    let Some(package) = read_json(&root.join("package.json")) else { return Ok(()) };
    let mut names: Vec<String> = Vec::new();
    for section in ["dependencies", "devDependencies"] {
        if let Some(map) = package[section].as_object() {
            names.extend(map.keys().cloned());
        }
    }
    for name in names {
        let folder = root.join("node_modules").join(&name);
        let installed = read_json(&folder.join("package.json"));
        let version = installed
            .as_ref()
            .and_then(|p| p["version"].as_str().map(str::to_owned))
            .or_else(|| {
                ["dependencies", "devDependencies"].iter().find_map(|s| package[*s][&name].as_str().map(str::to_owned))
            })
            .unwrap_or_default();
        if name == "react-native" {
            print.platform_versions.insert("react-native".into(), version.clone());
        }
        if is_native_package(&folder)? {
            print.native_modules.insert(name, version);
        }
    }
    Ok(())
}

fn is_native_package(folder: &Path) -> Result<bool, BundleError> {
    if !folder.is_dir() {
        return Ok(false);
    }
    if folder.join("android").is_dir() || folder.join("ios").is_dir() || folder.join("react-native.config.js").is_file()
    {
        return Ok(true);
    }
    for entry in std::fs::read_dir(folder).map_err(BundleError::io(folder))? {
        let path = entry.map_err(BundleError::io(folder))?.path();
        if path.extension().is_some_and(|e| e == "podspec") {
            return Ok(true);
        }
    }
    Ok(false)
}

fn files_under(dir: &Path, out: &mut Vec<PathBuf>) {
    let Ok(entries) = std::fs::read_dir(dir) else { return };
    for entry in entries.flatten() {
        let path = entry.path();
        let name = entry.file_name();
        if name == "node_modules" || name == "build" || name == "Pods" || name.to_string_lossy().starts_with('.') {
            continue;
        }
        if path.is_dir() {
            files_under(&path, out);
        } else {
            out.push(path);
        }
    }
}

fn relative(root: &Path, path: &Path) -> String {
    path.strip_prefix(root).unwrap_or(path).to_string_lossy().replace('\\', "/")
}

fn hash_file(path: &Path) -> Result<String, BundleError> {
    Ok(sha256_hex(&std::fs::read(path).map_err(BundleError::io(path))?))
}

fn is_native_image(relative_path: &str, platform: Platform) -> bool {
    let lower = relative_path.to_ascii_lowercase();
    let name = lower.rsplit('/').next().unwrap_or(&lower);
    match platform {
        Platform::Android => {
            lower.starts_with("android/app/src/main/res/")
                && ((lower.contains("/mipmap") && name.starts_with("ic_launcher"))
                    || (lower.contains("/drawable")
                        && (name.starts_with("splash") || name.starts_with("launch_screen"))))
        }
        Platform::Ios => {
            lower.starts_with("ios/")
                && (lower.contains("appicon.appiconset/")
                    || name == "launchscreen.storyboard"
                    || lower.contains("splashscreen")
                    || lower.contains("launchimage"))
        }
    }
}

fn native_project(root: &Path, platform: Platform, print: &mut NativeFingerprint) -> Result<(), BundleError> {
    let native_dir = root.join(platform.as_str());
    if !native_dir.is_dir() {
        return Ok(());
    }
    let mut files = Vec::new();
    files_under(&native_dir, &mut files);
    for path in &files {
        let rel = relative(root, path);
        if is_native_image(&rel, platform) {
            print.images.insert(rel, hash_file(path)?);
        }
    }
    match platform {
        Platform::Android => {
            let gradle = std::fs::read_to_string(root.join("android/app/build.gradle")).unwrap_or_default();
            print.app_id = gradle.lines().find_map(|line| quoted_after(line, "applicationId"));
            let strings =
                std::fs::read_to_string(root.join("android/app/src/main/res/values/strings.xml")).unwrap_or_default();
            print.app_name = xml_string_named(&strings, "app_name");
        }
        Platform::Ios => {
            for path in &files {
                let rel = relative(root, path);
                if rel.ends_with(".pbxproj") && print.app_id.is_none() {
                    let text = std::fs::read_to_string(path).map_err(BundleError::io(path))?;
                    print.app_id = text.lines().find_map(|line| {
                        let value = line.trim().strip_prefix("PRODUCT_BUNDLE_IDENTIFIER = ")?;
                        Some(value.trim_end_matches(';').trim_matches('"').to_owned())
                    });
                }
                if rel.ends_with("Info.plist") && print.app_name.is_none() {
                    let text = std::fs::read_to_string(path).map_err(BundleError::io(path))?;
                    print.app_name = plist_string(&text, "CFBundleDisplayName");
                }
            }
        }
    }
    Ok(())
}

fn quoted_after(line: &str, key: &str) -> Option<String> {
    let rest = line.trim().strip_prefix(key)?;
    let start = rest.find(['"', '\''])?;
    let quote = rest[start..].chars().next()?;
    let value = &rest[start + 1..];
    Some(value[..value.find(quote)?].to_owned())
}

fn xml_string_named(xml: &str, name: &str) -> Option<String> {
    let marker = format!("name=\"{name}\"");
    let at = xml.find(&marker)?;
    let rest = &xml[at..];
    let open = rest.find('>')? + 1;
    let close = rest[open..].find("</string>")?;
    Some(rest[open..open + close].trim().to_owned())
}

fn plist_string(plist: &str, key: &str) -> Option<String> {
    let at = plist.find(&format!("<key>{key}</key>"))?;
    let rest = &plist[at..];
    let open = rest.find("<string>")? + "<string>".len();
    let close = rest[open..].find("</string>")?;
    Some(rest[open..open + close].trim().to_owned())
}

fn expo_config(root: &Path, platform: Platform, print: &mut NativeFingerprint) -> Result<(), BundleError> {
    let Some(app) = read_json(&root.join("app.json")) else { return Ok(()) };
    let expo = &app["expo"];
    if let Some(name) = expo["name"].as_str() {
        print.app_name = Some(name.to_owned());
    }
    let id = match platform {
        Platform::Android => expo["android"]["package"].as_str(),
        Platform::Ios => expo["ios"]["bundleIdentifier"].as_str(),
    };
    if let Some(id) = id {
        print.app_id = Some(id.to_owned());
    }
    for image in [expo["icon"].as_str(), expo["splash"]["image"].as_str()].into_iter().flatten() {
        let path = root.join(image.trim_start_matches("./"));
        if path.is_file() {
            print.images.insert(relative(root, &path), hash_file(&path)?);
        }
    }
    Ok(())
}

fn mendix(project: &Project, print: &mut NativeFingerprint) -> Result<(), BundleError> {
    let mut declare = |json: &serde_json::Value| {
        if let Some(dependencies) = json["nativeDependencies"].as_object() {
            for (name, version) in dependencies {
                print.native_modules.insert(name.clone(), version.as_str().unwrap_or_default().to_owned());
            }
        }
    };
    let mut action_files = Vec::new();
    files_under(&project.root.join("javascriptsource"), &mut action_files);
    for path in action_files.iter().filter(|p| p.extension().is_some_and(|e| e == "json")) {
        if let Some(json) = read_json(path) {
            declare(&json);
        }
    }
    let widgets = project.root.join("widgets");
    if let Ok(entries) = std::fs::read_dir(&widgets) {
        let mut packages: Vec<PathBuf> =
            entries.flatten().map(|e| e.path()).filter(|p| p.extension().is_some_and(|e| e == "mpk")).collect();
        packages.sort();
        for path in packages {
            let file = std::fs::File::open(&path).map_err(BundleError::io(&path))?;
            let Ok(mut archive) = zip::ZipArchive::new(std::io::BufReader::new(file)) else { continue };
            for index in 0..archive.len() {
                let Ok(mut entry) = archive.by_index(index) else { continue };
                if entry.name().is_ok_and(|n| n.ends_with(".json")) && entry.size() < 1024 * 1024 {
                    let mut text = String::new();
                    if std::io::Read::read_to_string(&mut entry, &mut text).is_ok()
                        && let Ok(json) = serde_json::from_str::<serde_json::Value>(&text)
                    {
                        declare(&json);
                    }
                }
            }
        }
    }
    if let Some(mpr) = &project.mpr
        && let Some(version) = studio_pro_version(mpr)
    {
        print.platform_versions.insert("Studio Pro".into(), version);
    }
    Ok(())
}

/// The Studio Pro version that last saved an `.mpr` (a SQLite file).
fn studio_pro_version(mpr: &Path) -> Option<String> {
    let connection = rusqlite::Connection::open_with_flags(mpr, rusqlite::OpenFlags::SQLITE_OPEN_READ_ONLY).ok()?;
    connection.query_row("SELECT _ProductVersion FROM _MetaData LIMIT 1", [], |row| row.get(0)).ok()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn changes_are_described_precisely() {
        let mut baseline = NativeFingerprint::default();
        baseline.native_modules.insert("react-native-camera".into(), "4.2.1".into());
        baseline.native_modules.insert("react-native-maps".into(), "1.0.0".into());
        baseline.app_name = Some("Field Service".into());
        baseline.app_id = Some("com.acme.field".into());
        baseline.images.insert("android/app/src/main/res/mipmap-hdpi/ic_launcher.png".into(), "a".into());
        baseline.images.insert("android/app/src/main/res/drawable/splash.png".into(), "s".into());
        baseline.platform_versions.insert("react-native".into(), "0.80.0".into());
        let mut current = baseline.clone();
        assert!(compare(&baseline, &current).is_empty());

        current.native_modules.insert("react-native-ble".into(), "2.0.0".into());
        current.native_modules.remove("react-native-camera");
        current.native_modules.insert("react-native-maps".into(), "1.1.0".into());
        current.app_name = Some("Field Service Pro".into());
        current.app_id = Some("com.acme.fieldpro".into());
        current.images.insert("android/app/src/main/res/mipmap-hdpi/ic_launcher.png".into(), "b".into());
        current.images.remove("android/app/src/main/res/drawable/splash.png");
        current.platform_versions.insert("react-native".into(), "0.81.0".into());
        let messages: Vec<String> = compare(&baseline, &current).iter().map(ToString::to_string).collect();
        for expected in [
            "native module added: react-native-ble 2.0.0",
            "native module removed: react-native-camera 4.2.1",
            "native module changed: react-native-maps 1.0.0 -> 1.1.0",
            "app renamed: Field Service -> Field Service Pro",
            "app id changed: com.acme.field -> com.acme.fieldpro",
            "launcher icon changed: android/app/src/main/res/mipmap-hdpi/ic_launcher.png",
            "splash screen removed: android/app/src/main/res/drawable/splash.png",
            "react-native version changed: 0.80.0 -> 0.81.0",
        ] {
            assert!(messages.iter().any(|m| m == expected), "{expected} missing from {messages:?}");
        }
        assert_eq!(messages.len(), 8);
    }

    fn fixture(name: &str) -> Project {
        let root = Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/fixtures").join(name);
        Project::detect(&root).expect("fixture project")
    }

    #[test]
    fn react_native_fixture() {
        let project = fixture("rn-app");
        let android = fingerprint(&project, Platform::Android).expect("android");
        let modules: Vec<(&str, &str)> = android.native_modules.iter().map(|(k, v)| (k.as_str(), v.as_str())).collect();
        assert_eq!(
            modules,
            [("react-native", "0.81.0"), ("react-native-camera", "4.2.1")],
            "lodash and react are JS only"
        );
        assert_eq!(android.app_id.as_deref(), Some("com.acme.fieldservice"));
        assert_eq!(android.app_name.as_deref(), Some("Field Service"));
        let images: Vec<&str> = android.images.keys().map(String::as_str).collect();
        assert_eq!(
            images,
            ["android/app/src/main/res/drawable/splash.png", "android/app/src/main/res/mipmap-hdpi/ic_launcher.png"]
        );
        assert_eq!(android.platform_versions.get("react-native").map(String::as_str), Some("0.81.0"));

        let ios = fingerprint(&project, Platform::Ios).expect("ios");
        assert_eq!(ios.app_id.as_deref(), Some("com.acme.fieldservice"));
        assert_eq!(ios.app_name.as_deref(), Some("Field Service"));
        assert_eq!(ios.images.len(), 2, "app icon and launch screen: {:?}", ios.images);
    }

    #[test]
    fn expo_fixture() {
        let print = fingerprint(&fixture("expo-app"), Platform::Ios).expect("expo");
        assert_eq!(print.app_name.as_deref(), Some("Inspections"));
        assert_eq!(print.app_id.as_deref(), Some("com.acme.inspections"));
        assert_eq!(print.images.len(), 2);
    }

    #[test]
    fn mendix_fixture() {
        let print = fingerprint(&fixture("mendix-app"), Platform::Android).expect("mendix");
        let modules: Vec<&str> = print.native_modules.keys().map(String::as_str).collect();
        assert_eq!(modules, ["react-native-image-picker", "react-native-signature-canvas"]);
        assert_eq!(print.platform_versions.get("Studio Pro").map(String::as_str), Some("10.18.1.56789"));
    }

    #[test]
    fn small_parsers() {
        assert_eq!(
            quoted_after("    applicationId \"com.acme.app\"", "applicationId").as_deref(),
            Some("com.acme.app")
        );
        assert_eq!(quoted_after("applicationId = 'com.x'", "applicationId").as_deref(), Some("com.x"));
        let strings = r#"<resources><string name="app_name">Shop</string></resources>"#;
        assert_eq!(xml_string_named(strings, "app_name").as_deref(), Some("Shop"));
        let plist = "<dict>\n<key>CFBundleDisplayName</key>\n<string>Shop</string>\n</dict>";
        assert_eq!(plist_string(plist, "CFBundleDisplayName").as_deref(), Some("Shop"));
    }
}
