//! Sample data for the GUI's unit tests.

use crate::api::management::{Package, ReleaseMethod};

/// A complete, enabled release of `target` with a hash derived from its label.
#[must_use]
pub fn package(label: &str, target: &str) -> Package {
    Package {
        label: label.into(),
        app_version: target.into(),
        description: String::new(),
        is_mandatory: false,
        is_disabled: false,
        is_paused: false,
        rollout: None,
        package_hash: format!("hash-{label}"),
        blob_url: String::new(),
        size: 1,
        release_method: ReleaseMethod::Upload,
        original_label: None,
        original_deployment: None,
        released_by: "a@b".into(),
        upload_time: 0,
        build_number: None,
        rollout_changed_time: None,
        diff_packages: Vec::new(),
    }
}
