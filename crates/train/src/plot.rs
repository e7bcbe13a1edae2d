//! PNG plots of metrics columns, with moving averages, in a grid of panels.
//!
//! ```text
//! ma_k(i) = mean(y_{max(0, i−k+1)} .. y_i)      trailing moving average over k logged points
//! ```
//!
//! Each series is drawn as its raw values (thin, pale) and, when its window is above 1, its
//! moving average (solid). A [`PlotSpec`] with four panels and two columns gives the book's
//! 2×2 GRPO metrics figure. Text uses the DejaVu Sans font embedded in this crate
//! (`assets/DejaVuSans.ttf`, Bitstream Vera licence in `assets/DejaVuSans-LICENSE.txt`), so
//! plots look the same on every machine.

use std::path::Path;
use std::sync::Once;

use plotters::prelude::*;
use serde::{Deserialize, Serialize};

use crate::TrainError;
use crate::metrics::CsvTable;

/// One line of a panel: a CSV column, smoothed over `window` points.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Series {
    /// The column to draw.
    pub column: String,
    /// Moving-average window in logged points; 1 draws the raw values only.
    pub window: usize,
}

impl Series {
    /// Returns a series for `column` with moving-average window `window`.
    pub fn new(column: &str, window: usize) -> Self {
        Self {
            column: column.to_string(),
            window,
        }
    }
}

/// One panel: a title, a y-axis label and the series sharing its axes.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Panel {
    /// Title above the panel.
    pub title: String,
    /// Label of the y axis.
    pub y_label: String,
    /// The lines drawn in the panel.
    pub series: Vec<Series>,
}

impl Panel {
    /// Returns a panel with the given title, y label and series.
    pub fn new(title: &str, y_label: &str, series: Vec<Series>) -> Self {
        Self {
            title: title.to_string(),
            y_label: y_label.to_string(),
            series,
        }
    }
}

/// A figure: the x column, the panels and their grid.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct PlotSpec {
    /// The column on the x axis of every panel (usually `step`).
    pub x: String,
    /// The panels, filled row by row.
    pub panels: Vec<Panel>,
    /// Panels per row (2 for the book's 2×2 figure).
    pub columns: usize,
    /// Width of one panel in pixels.
    pub panel_width: u32,
    /// Height of one panel in pixels.
    pub panel_height: u32,
}

impl PlotSpec {
    /// Returns a spec with 600×400-pixel panels.
    pub fn new(x: &str, panels: Vec<Panel>, columns: usize) -> Self {
        Self {
            x: x.to_string(),
            panels,
            columns: columns.max(1),
            panel_width: 600,
            panel_height: 400,
        }
    }
}

/// The matplotlib "tab10" colours, so our plots read like the book's.
const COLORS: [RGBColor; 6] = [
    RGBColor(31, 119, 180),
    RGBColor(255, 127, 14),
    RGBColor(44, 160, 44),
    RGBColor(214, 39, 40),
    RGBColor(148, 103, 189),
    RGBColor(140, 86, 75),
];

/// A series ready to draw: name, raw points, moving-average points, window.
type Line = (String, Vec<(f64, f64)>, Vec<(f64, f64)>, usize);

static FONT: Once = Once::new();

fn register_font() {
    FONT.call_once(|| {
        // The embedded file is a valid TrueType font; a failure here is a build defect.
        plotters::style::register_font(
            "sans-serif",
            FontStyle::Normal,
            include_bytes!("../assets/DejaVuSans.ttf"),
        )
        .map_err(|_| ())
        .expect("embedded DejaVuSans.ttf is a valid font");
    });
}

/// Formats an axis tick: integers without a decimal point, small or large values compactly.
fn tick(v: f64) -> String {
    if v == 0.0 {
        "0".to_string()
    } else if v.abs() >= 1e5 || v.abs() < 1e-3 {
        format!("{v:.1e}")
    } else if v.fract() == 0.0 {
        format!("{v:.0}")
    } else {
        let s = format!("{v:.4}");
        s.trim_end_matches('0').trim_end_matches('.').to_string()
    }
}

/// Returns the trailing moving average of `ys` over `window` points.
pub fn moving_average(ys: &[f64], window: usize) -> Vec<f64> {
    let window = window.max(1);
    let mut out = Vec::with_capacity(ys.len());
    let mut sum = 0.0;
    for i in 0..ys.len() {
        sum += ys[i];
        if i >= window {
            sum -= ys[i - window];
        }
        out.push(sum / (i + 1).min(window) as f64);
    }
    out
}

/// Draws `spec` from `table` into the PNG file `png`, atomically (temporary file + rename).
///
/// Unknown columns are an error naming them; rows missing a value are skipped per series.
pub fn plot_metrics(table: &CsvTable, spec: &PlotSpec, png: &Path) -> Result<(), TrainError> {
    if table.column_index(&spec.x).is_none() {
        return Err(TrainError::Plot {
            path: png.into(),
            message: format!("x column {:?} is not in the metrics", spec.x),
        });
    }
    for s in spec.panels.iter().flat_map(|p| &p.series) {
        if table.column_index(&s.column).is_none() {
            return Err(TrainError::Plot {
                path: png.into(),
                message: format!("column {:?} is not in the metrics", s.column),
            });
        }
    }
    register_font();
    let rows = spec.panels.len().div_ceil(spec.columns).max(1) as u32;
    let size = (
        spec.panel_width * spec.columns as u32,
        spec.panel_height * rows,
    );
    let tmp = png.with_extension("tmp.png");
    draw(table, spec, &tmp, size, rows as usize).map_err(|message| TrainError::Plot {
        path: png.into(),
        message,
    })?;
    std::fs::rename(&tmp, png).map_err(|e| TrainError::io("rename into place", png, e))
}

fn draw(
    table: &CsvTable,
    spec: &PlotSpec,
    path: &Path,
    size: (u32, u32),
    rows: usize,
) -> Result<(), String> {
    let root = BitMapBackend::new(path, size).into_drawing_area();
    root.fill(&WHITE).map_err(|e| e.to_string())?;
    let areas = root.split_evenly((rows, spec.columns));
    for (area, panel) in areas.iter().zip(&spec.panels) {
        // Step 1: gather each series' points and the panel's ranges.
        let lines: Vec<Line> = panel
            .series
            .iter()
            .map(|s| {
                let raw: Vec<(f64, f64)> = table
                    .pairs(&spec.x, &s.column)
                    .unwrap_or_default()
                    .into_iter()
                    .filter(|(x, y)| x.is_finite() && y.is_finite())
                    .collect();
                let ys: Vec<f64> = raw.iter().map(|p| p.1).collect();
                let smooth = raw
                    .iter()
                    .zip(moving_average(&ys, s.window))
                    .map(|(p, m)| (p.0, m))
                    .collect();
                (s.column.clone(), raw, smooth, s.window)
            })
            .collect();
        let all = lines.iter().flat_map(|l| l.1.iter());
        let (mut x0, mut x1, mut y0, mut y1) = (f64::MAX, f64::MIN, f64::MAX, f64::MIN);
        for &(x, y) in all {
            (x0, x1, y0, y1) = (x0.min(x), x1.max(x), y0.min(y), y1.max(y));
        }
        if x0 > x1 {
            (x0, x1, y0, y1) = (0.0, 1.0, 0.0, 1.0);
        }
        if x1 - x0 < 1e-12 {
            x1 = x0 + 1.0;
        }
        let pad = ((y1 - y0) * 0.05).max(1e-9);
        let (y0, y1) = (y0 - pad, y1 + pad);
        // Step 2: axes, then raw lines under their moving averages.
        let mut chart = ChartBuilder::on(area)
            .caption(&panel.title, ("sans-serif", 18))
            .margin(12)
            .x_label_area_size(36)
            .y_label_area_size(60)
            .build_cartesian_2d(x0..x1, y0..y1)
            .map_err(|e| e.to_string())?;
        chart
            .configure_mesh()
            .x_desc(spec.x.as_str())
            .y_desc(panel.y_label.as_str())
            .label_style(("sans-serif", 13))
            .light_line_style(RGBColor(238, 238, 238))
            .x_label_formatter(&|x| tick(*x))
            .y_label_formatter(&|y| tick(*y))
            .draw()
            .map_err(|e| e.to_string())?;
        for (i, (name, raw, smooth, window)) in lines.into_iter().enumerate() {
            let color = COLORS[i % COLORS.len()];
            if window > 1 {
                chart
                    .draw_series(LineSeries::new(raw, color.mix(0.3)))
                    .map_err(|e| e.to_string())?;
                let label = format!("{name} (avg {window})");
                chart
                    .draw_series(LineSeries::new(smooth, color.stroke_width(2)))
                    .map_err(|e| e.to_string())?
                    .label(label)
                    .legend(move |(x, y)| {
                        PathElement::new(vec![(x, y), (x + 18, y)], color.stroke_width(2))
                    });
            } else {
                chart
                    .draw_series(LineSeries::new(raw, color.stroke_width(2)))
                    .map_err(|e| e.to_string())?
                    .label(name)
                    .legend(move |(x, y)| {
                        PathElement::new(vec![(x, y), (x + 18, y)], color.stroke_width(2))
                    });
            }
        }
        chart
            .configure_series_labels()
            .label_font(("sans-serif", 13))
            .background_style(WHITE.mix(0.8))
            .border_style(BLACK.mix(0.4))
            .position(SeriesLabelPosition::UpperRight)
            .draw()
            .map_err(|e| e.to_string())?;
    }
    root.present().map_err(|e| e.to_string())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn moving_average_uses_the_points_available_at_the_start() {
        assert_eq!(
            moving_average(&[1.0, 3.0, 5.0, 7.0], 2),
            vec![1.0, 2.0, 4.0, 6.0]
        );
        assert_eq!(moving_average(&[1.0, 3.0], 1), vec![1.0, 3.0]);
    }

    #[test]
    fn a_two_by_two_figure_is_written_as_png() {
        let dir = std::env::temp_dir().join(format!("reasoning-train-plot-{}", std::process::id()));
        std::fs::create_dir_all(&dir).unwrap();
        let columns = ["step", "loss", "reward", "len", "acc"]
            .map(String::from)
            .to_vec();
        let rows = (1..=40)
            .map(|s| {
                let s = s as f64;
                vec![
                    Some(s),
                    Some(1.0 / s),
                    Some((s / 7.0).sin()),
                    Some(30.0 + s),
                    (s % 10.0 == 0.0).then_some(s / 40.0),
                ]
            })
            .collect();
        let table = CsvTable { columns, rows };
        let spec = PlotSpec::new(
            "step",
            vec![
                Panel::new("Loss", "loss", vec![Series::new("loss", 5)]),
                Panel::new("Reward", "reward", vec![Series::new("reward", 5)]),
                Panel::new("Length", "tokens", vec![Series::new("len", 1)]),
                Panel::new("Accuracy", "accuracy", vec![Series::new("acc", 1)]),
            ],
            2,
        );
        let png = dir.join("metrics.png");
        plot_metrics(&table, &spec, &png).unwrap();
        let bytes = std::fs::read(&png).unwrap();
        assert_eq!(&bytes[1..4], b"PNG");
        // Width and height live big-endian at bytes 16..24 of the IHDR chunk.
        let w = u32::from_be_bytes(bytes[16..20].try_into().unwrap());
        let h = u32::from_be_bytes(bytes[20..24].try_into().unwrap());
        assert_eq!((w, h), (1200, 800));
        let bad = PlotSpec::new(
            "step",
            vec![Panel::new("x", "y", vec![Series::new("nope", 1)])],
            1,
        );
        let err = plot_metrics(&table, &bad, &png).unwrap_err().to_string();
        assert!(err.contains("\"nope\""), "{err}");
        std::fs::remove_dir_all(dir).unwrap();
    }
}
