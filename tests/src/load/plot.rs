//! The PNG plot of a benchmark: events/s and p99 latency against events in flight, one line
//! per server and exchange.
//!
//! Text needs a TrueType font: the system's sans-serif font is used (found with `fc-match`, or
//! at DejaVu's usual path). Without one the plot is drawn without labels, and a warning says so.

use std::{path::Path, process::Command};

use plotters::prelude::*;

/// One line of the plot.
pub struct Series {
    /// Legend text.
    pub label: String,
    /// `(in flight, events/s, p99 in µs)` points.
    pub points: Vec<(usize, f64, f64)>,
}

/// Draws `series` into the PNG file `path`. Returns whether the text could be drawn.
pub fn draw(path: &Path, title: &str, series: &[Series]) -> anyhow::Result<bool> {
    let labelled = register_system_font();
    let root = BitMapBackend::new(path, (1400, 560)).into_drawing_area();
    root.fill(&WHITE)?;
    let root = if labelled {
        root.titled(title, ("sans-serif", 22))?
    } else {
        root
    };
    let (left, right) = root.split_horizontally(700);
    let max_of = |pick: fn(&(usize, f64, f64)) -> f64| {
        series
            .iter()
            .flat_map(|s| s.points.iter().map(pick))
            .fold(1.0, f64::max)
    };
    let rate = |p: &(usize, f64, f64)| p.1;
    let p99 = |p: &(usize, f64, f64)| p.2;
    let panel = Panel {
        series,
        labelled,
        max_in_flight: max_of(|p| p.0 as f64),
    };
    panel.draw(
        &left,
        "events/s",
        "events per second",
        0f64..max_of(rate) * 1.1,
        rate,
    )?;
    panel.draw(
        &right,
        "p99 latency",
        "p99 µs (log scale)",
        (1f64..max_of(p99) * 1.3).log_scale(),
        p99,
    )?;
    root.present()?;
    Ok(labelled)
}

struct Panel<'s> {
    series: &'s [Series],
    labelled: bool,
    max_in_flight: f64,
}

impl Panel<'_> {
    fn draw<Y>(
        &self,
        area: &DrawingArea<BitMapBackend<'_>, plotters::coord::Shift>,
        caption: &str,
        y_desc: &str,
        y_range: Y,
        value: fn(&(usize, f64, f64)) -> f64,
    ) -> anyhow::Result<()>
    where
        Y: plotters::coord::ranged1d::AsRangedCoord<Value = f64>,
        Y::CoordDescType: plotters::coord::ranged1d::ValueFormatter<f64>,
    {
        let mut builder = ChartBuilder::on(area);
        builder.margin(15);
        if self.labelled {
            builder
                .caption(caption, ("sans-serif", 18))
                .x_label_area_size(40)
                .y_label_area_size(70);
        }
        let x_range = (0.8f64..self.max_in_flight * 1.25).log_scale();
        let mut chart = builder.build_cartesian_2d(x_range, y_range)?;
        let mut mesh = chart.configure_mesh();
        mesh.x_desc("events in flight").y_desc(y_desc);
        if !self.labelled {
            mesh.x_labels(0).y_labels(0);
        }
        mesh.draw()?;
        for (i, s) in self.series.iter().enumerate() {
            let color = Palette99::pick(i).to_rgba();
            let points: Vec<(f64, f64)> = s.points.iter().map(|p| (p.0 as f64, value(p))).collect();
            let line = chart.draw_series(LineSeries::new(points.clone(), color.stroke_width(2)))?;
            if self.labelled {
                line.label(s.label.clone()).legend(move |(x, y)| {
                    PathElement::new([(x, y), (x + 18, y)], color.stroke_width(2))
                });
            }
            chart.draw_series(
                points
                    .into_iter()
                    .map(|p| Circle::new(p, 3, color.filled())),
            )?;
        }
        if self.labelled {
            chart
                .configure_series_labels()
                .background_style(WHITE.mix(0.8))
                .border_style(BLACK)
                .draw()?;
        }
        Ok(())
    }
}

/// Registers the system's sans-serif TrueType font for plotters; false when none is found.
fn register_system_font() -> bool {
    let from_fontconfig = Command::new("fc-match")
        .args(["-f", "%{file}", "sans-serif:style=Regular"])
        .output()
        .ok()
        .and_then(|out| String::from_utf8(out.stdout).ok())
        .filter(|file| file.ends_with(".ttf"));
    let candidates = from_fontconfig.into_iter().chain(
        [
            "/usr/share/fonts/truetype/dejavu/DejaVuSans.ttf",
            "/usr/share/fonts/TTF/DejaVuSans.ttf",
            "/usr/share/fonts/dejavu/DejaVuSans.ttf",
        ]
        .map(String::from),
    );
    for file in candidates {
        let Ok(bytes) = std::fs::read(&file) else {
            continue;
        };
        // plotters keeps fonts for the life of the process.
        let bytes: &'static [u8] = Box::leak(bytes.into_boxed_slice());
        if plotters::style::register_font("sans-serif", FontStyle::Normal, bytes).is_ok() {
            return true;
        }
    }
    eprintln!("loadgen: no TrueType font found (fc-match, DejaVuSans.ttf): the plot has no labels");
    false
}
