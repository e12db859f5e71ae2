//! Installs and failures of a release over clock time, and its failure rate against the health
//! gate's threshold. Hovering shows the values at that time.

use super::format::local_time;
use crate::api::management::{MetricSample, RolloutPolicy};
use crate::gui::theme;

/// Seconds since the epoch as a plot coordinate.
#[allow(clippy::cast_precision_loss)]
fn x_of(ms: i64) -> f64 {
    ms as f64 / 1000.0
}

#[allow(clippy::cast_possible_truncation)]
fn clock(x: f64) -> String {
    local_time((x * 1000.0) as i64)
}

/// Points of one line: (seconds since the epoch, value).
type Points = Vec<[f64; 2]>;

/// Cumulative installs and failures, and the failure rate (%) after each bucket.
#[must_use]
pub fn series(buckets: &[MetricSample]) -> (Points, Points, Points) {
    let (mut installed, mut failed) = (0_i64, 0_i64);
    let mut installs = Vec::with_capacity(buckets.len());
    let mut failures = Vec::with_capacity(buckets.len());
    let mut rate = Vec::with_capacity(buckets.len());
    for bucket in buckets {
        installed += bucket.installed;
        failed += bucket.failed;
        let x = x_of(bucket.time + bucket.bucket_ms);
        #[allow(clippy::cast_precision_loss)]
        {
            installs.push([x, installed as f64]);
            failures.push([x, failed as f64]);
            let attempts = installed + failed;
            if attempts > 0 {
                rate.push([x, failed as f64 * 100.0 / attempts as f64]);
            }
        }
    }
    (installs, failures, rate)
}

/// The hover label: series name, clock time and value at the nearest data point.
fn hover_text(hover: &egui_plot::HoverPosition<'_>, unit: &str, decimals: usize) -> Option<String> {
    match hover {
        egui_plot::HoverPosition::NearDataPoint { plot_name, position, .. } => {
            let unit = if unit == "%" { "%" } else { "" };
            Some(format!("{plot_name}\n{}: {:.*}{unit}", clock(position.x), decimals, position.y))
        }
        egui_plot::HoverPosition::Elsewhere { .. } => None,
    }
}

/// Draws both charts.
pub fn installs_chart(ui: &mut egui::Ui, buckets: &[MetricSample], policy: Option<&RolloutPolicy>) {
    let (installs, failures, rate) = series(buckets);
    let (install_color, failure_color, gate_color) = (theme::accent(ui), theme::error(ui), theme::warn(ui));
    ui.label(theme::section("Installs over time"));
    egui_plot::Plot::new("installs-over-time")
        .height(130.0)
        .legend(egui_plot::Legend::default())
        .x_axis_formatter(|mark, _| clock(mark.value))
        .label_formatter(|hover| hover_text(hover, "{}", 0))
        .allow_scroll(false)
        .show(ui, |plot| {
            plot.line(egui_plot::Line::new("Installed", egui_plot::PlotPoints::from(installs)).color(install_color));
            plot.line(egui_plot::Line::new("Failed", egui_plot::PlotPoints::from(failures)).color(failure_color));
        });
    ui.label(theme::section("Failure rate"));
    egui_plot::Plot::new("failure-rate")
        .height(100.0)
        .legend(egui_plot::Legend::default())
        .x_axis_formatter(|mark, _| clock(mark.value))
        .y_axis_formatter(|mark, _| format!("{:.0}%", mark.value))
        .label_formatter(|hover| hover_text(hover, "%", 1))
        .include_y(0.0)
        .allow_scroll(false)
        .show(ui, |plot| {
            plot.line(egui_plot::Line::new("Failure rate", egui_plot::PlotPoints::from(rate)).color(failure_color));
            if let Some(policy) = policy {
                plot.hline(egui_plot::HLine::new("Health gate", policy.max_failure_ratio * 100.0).color(gate_color));
            }
        });
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn cumulative_counts_and_the_failure_rate_follow_the_buckets() {
        let buckets = [
            MetricSample { time: 60_000, bucket_ms: 60_000, installed: 3, failed: 1, downloaded: 0 },
            MetricSample { time: 120_000, bucket_ms: 60_000, installed: 1, failed: 3, downloaded: 0 },
        ];
        let (installs, failures, rate) = series(&buckets);
        assert_eq!(installs, [[120.0, 3.0], [180.0, 4.0]]);
        assert_eq!(failures, [[120.0, 1.0], [180.0, 4.0]]);
        assert_eq!(rate, [[120.0, 25.0], [180.0, 50.0]]);
    }
}
