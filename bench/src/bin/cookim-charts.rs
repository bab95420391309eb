//! `cookim-charts`: draws the PNG charts of `BENCHMARKS.md` from `cookim-load suite` results.
//!
//! ```text
//! cookim-charts --results bench-results/load --out docs/bench
//! ```
//!
//! - `fanout-latency.png`: p50, p90, p99 and p99.9 against offered load, one panel per system;
//! - `fanout-deliveries.png`: deliveries per second against offered load, every system;
//! - `idle-memory.png`: server RSS per idle connection at each connection count.
//!
//! Text is drawn with DejaVu Sans (Debian's fonts-dejavu-core), read at run time.

use std::path::{Path, PathBuf};

use argh::FromArgs;
use plotters::prelude::*;
use serde_json::Value;

/// Draws the benchmark charts.
#[derive(FromArgs)]
struct Args {
    /// the suite's output folder (fanout-SYSTEM.json, idle-SYSTEM.json)
    #[argh(option, default = "PathBuf::from(\"bench-results/load\")")]
    results: PathBuf,
    /// where the PNGs go (default docs/bench)
    #[argh(option, default = "PathBuf::from(\"docs/bench\")")]
    out: PathBuf,
    /// a TrueType font (default /usr/share/fonts/truetype/dejavu/DejaVuSans.ttf)
    #[argh(
        option,
        default = "PathBuf::from(\"/usr/share/fonts/truetype/dejavu/DejaVuSans.ttf\")"
    )]
    font: PathBuf,
}

type Failure = Box<dyn std::error::Error>;

const SYSTEMS: [(&str, RGBColor); 4] = [
    ("cookim", RGBColor(200, 60, 40)),
    ("node-ws", RGBColor(60, 130, 60)),
    ("socket-io", RGBColor(40, 90, 200)),
    ("raw", RGBColor(120, 120, 120)),
];
const SIZE: (u32, u32) = (1000, 640);

fn main() {
    let args: Args = argh::from_env();
    if let Err(e) = run(&args) {
        harness::report::progress("cookim-charts", &format!("failed: {e}"));
        std::process::exit(1);
    }
}

fn run(args: &Args) -> Result<(), Failure> {
    let font: &'static [u8] = Vec::leak(std::fs::read(&args.font)?);
    plotters::style::register_font("sans-serif", FontStyle::Normal, font)
        .map_err(|_| "not a usable font")?;
    std::fs::create_dir_all(&args.out)?;
    let fanout = load_all(&args.results, "fanout");
    let idle = load_all(&args.results, "idle");
    if !fanout.is_empty() {
        latency_panels(&fanout, &args.out.join("fanout-latency.png"))?;
        deliveries(&fanout, &args.out.join("fanout-deliveries.png"))?;
    }
    if !idle.is_empty() {
        idle_memory(&idle, &args.out.join("idle-memory.png"))?;
    }
    harness::report::progress(
        "cookim-charts",
        &format!("charts written to {}", args.out.display()),
    );
    Ok(())
}

/// `(system, color, result)` for every system with a result file for `profile`.
fn load_all(dir: &Path, profile: &str) -> Vec<(&'static str, RGBColor, Value)> {
    SYSTEMS
        .iter()
        .filter_map(|&(system, color)| {
            let path = dir.join(format!("{profile}-{system}.json"));
            let value: Value = serde_json::from_slice(&std::fs::read(path).ok()?).ok()?;
            value["result"]
                .get("error")
                .is_none()
                .then_some((system, color, value))
        })
        .collect()
}

/// Every round of every sweep: `(offered rate, round)`.
fn rounds(value: &Value) -> Vec<(f64, &Value)> {
    value["result"]["sweeps"]
        .as_array()
        .into_iter()
        .flatten()
        .flat_map(|sweep| sweep["rounds"].as_array().into_iter().flatten())
        .filter_map(|round| Some((round["offered_rate"].as_f64()?, round)))
        .collect()
}

/// The series labels, in one style for every chart.
fn legend<'a, DB, CT>(
    chart: &mut ChartContext<'a, DB, CT>,
    position: SeriesLabelPosition,
    size: u32,
) -> Result<(), Failure>
where
    DB: DrawingBackend + 'a,
    DB::ErrorType: 'static,
    CT: CoordTranslate,
{
    chart
        .configure_series_labels()
        .position(position)
        .label_font(("sans-serif", size))
        .background_style(WHITE.mix(0.8))
        .border_style(BLACK.mix(0.3))
        .draw()?;
    Ok(())
}

fn save(buffer: Vec<u8>, path: &Path) -> Result<(), Failure> {
    let image = image::RgbImage::from_raw(SIZE.0, SIZE.1, buffer).ok_or("image size")?;
    image.save(path)?;
    Ok(())
}

fn rate_range(all: &[(&str, RGBColor, Value)]) -> (f64, f64) {
    let rates: Vec<f64> = all
        .iter()
        .flat_map(|(_, _, v)| rounds(v).into_iter().map(|(r, _)| r))
        .collect();
    let low = rates.iter().copied().fold(f64::INFINITY, f64::min).max(1.0);
    let high = rates.iter().copied().fold(0.0, f64::max).max(low * 2.0);
    (low * 0.8, high * 1.25)
}

fn latency_panels(all: &[(&str, RGBColor, Value)], path: &Path) -> Result<(), Failure> {
    let mut buffer = vec![0u8; (SIZE.0 * SIZE.1 * 3) as usize];
    {
        let root = BitMapBackend::with_buffer(&mut buffer, SIZE).into_drawing_area();
        root.fill(&WHITE)?;
        let (title, body) = root.split_vertically(40);
        title.titled(
            "Fan-out to one 1,000-member room: delivery latency against offered load",
            ("sans-serif", 22),
        )?;
        let panels = body.split_evenly((2, 2));
        let (low, high) = rate_range(all);
        let percentiles = [
            ("p50", "p50_ms", RGBColor(90, 160, 220)),
            ("p90", "p90_ms", RGBColor(60, 110, 200)),
            ("p99", "p99_ms", RGBColor(220, 80, 40)),
            ("p99.9", "p999_ms", RGBColor(140, 30, 30)),
        ];
        for ((system, _, value), panel) in all.iter().zip(panels.iter()) {
            let mut chart = ChartBuilder::on(panel)
                .caption(*system, ("sans-serif", 18))
                .margin(8)
                .x_label_area_size(36)
                .y_label_area_size(52)
                .build_cartesian_2d((low..high).log_scale(), (0.1f64..2000.0).log_scale())?;
            chart
                .configure_mesh()
                .x_desc("offered msg/s")
                .y_desc("ms")
                .label_style(("sans-serif", 13))
                .draw()?;
            chart.draw_series(LineSeries::new(
                [(low, 50.0), (high, 50.0)],
                BLACK.mix(0.4).stroke_width(1),
            ))?;
            let points = rounds(value);
            for (label, key, color) in percentiles {
                let series: Vec<(f64, f64)> = points
                    .iter()
                    .filter_map(|(rate, round)| {
                        Some((*rate, round["latency"][key].as_f64()?.max(0.1)))
                    })
                    .collect();
                chart
                    .draw_series(series.iter().map(|&p| Circle::new(p, 3, color.filled())))?
                    .label(label)
                    .legend(move |(x, y)| Circle::new((x + 8, y), 4, color.filled()));
            }
            legend(&mut chart, SeriesLabelPosition::UpperLeft, 12)?;
        }
        root.present()?;
    }
    save(buffer, path)
}

fn deliveries(all: &[(&str, RGBColor, Value)], path: &Path) -> Result<(), Failure> {
    let mut buffer = vec![0u8; (SIZE.0 * SIZE.1 * 3) as usize];
    {
        let root = BitMapBackend::with_buffer(&mut buffer, SIZE).into_drawing_area();
        root.fill(&WHITE)?;
        let (low, high) = rate_range(all);
        let most = all
            .iter()
            .flat_map(|(_, _, v)| {
                rounds(v)
                    .into_iter()
                    .filter_map(|(_, r)| r["deliveries_per_s"].as_f64())
            })
            .fold(1.0, f64::max);
        let mut chart = ChartBuilder::on(&root)
            .caption(
                "Fan-out to one 1,000-member room: deliveries per second (filled: passed)",
                ("sans-serif", 22),
            )
            .margin(12)
            .x_label_area_size(40)
            .y_label_area_size(80)
            .build_cartesian_2d((low..high).log_scale(), 0f64..most * 1.1)?;
        chart
            .configure_mesh()
            .x_desc("offered msg/s")
            .y_desc("deliveries/s")
            .label_style(("sans-serif", 14))
            .draw()?;
        // cookim last, so its points are drawn over the others where they overlap.
        for &(system, color, ref value) in all.iter().rev() {
            let points: Vec<(f64, f64, bool)> = rounds(value)
                .into_iter()
                .filter_map(|(rate, round)| {
                    let pass = round["latency"]["p99_ms"].as_f64()? <= 50.0
                        && round["delivered_ratio"].as_f64()? >= 0.95;
                    Some((rate, round["deliveries_per_s"].as_f64()?, pass))
                })
                .collect();
            chart
                .draw_series(points.iter().map(|&(x, y, pass)| {
                    let style = if pass {
                        color.filled()
                    } else {
                        color.stroke_width(2)
                    };
                    Circle::new((x, y), 5, style)
                }))?
                .label(system)
                .legend(move |(x, y)| Circle::new((x + 8, y), 5, color.filled()));
        }
        legend(&mut chart, SeriesLabelPosition::UpperLeft, 15)?;
        root.present()?;
    }
    save(buffer, path)
}

fn idle_memory(all: &[(&str, RGBColor, Value)], path: &Path) -> Result<(), Failure> {
    let mut buffer = vec![0u8; (SIZE.0 * SIZE.1 * 3) as usize];
    {
        let root = BitMapBackend::with_buffer(&mut buffer, SIZE).into_drawing_area();
        root.fill(&WHITE)?;
        let levels = |v: &Value| -> Vec<(f64, f64)> {
            v["result"]["levels"]
                .as_array()
                .into_iter()
                .flatten()
                .filter_map(|l| {
                    Some((
                        l["connect"]["open"].as_f64()?,
                        l["rss_per_connection_kib"].as_f64()?,
                    ))
                })
                .collect()
        };
        let most_conns = all
            .iter()
            .flat_map(|(_, _, v)| levels(v).into_iter().map(|(c, _)| c))
            .fold(1000.0, f64::max);
        let most_kib = all
            .iter()
            .flat_map(|(_, _, v)| levels(v).into_iter().map(|(_, k)| k))
            .fold(8.0, f64::max);
        let mut chart = ChartBuilder::on(&root)
            .caption(
                "Server memory per idle authenticated websocket (VmRSS delta)",
                ("sans-serif", 22),
            )
            .margin(12)
            .x_label_area_size(40)
            .y_label_area_size(60)
            .build_cartesian_2d(0f64..most_conns * 1.05, 0f64..most_kib * 1.15)?;
        chart
            .configure_mesh()
            .x_desc("idle connections")
            .y_desc("KiB per connection")
            .label_style(("sans-serif", 14))
            .draw()?;
        chart.draw_series(LineSeries::new(
            [(0.0, 6.0), (most_conns * 1.05, 6.0)],
            BLACK.mix(0.4).stroke_width(1),
        ))?;
        for &(system, color, ref value) in all {
            let points = levels(value);
            chart
                .draw_series(LineSeries::new(points.clone(), color.stroke_width(2)))?
                .label(system)
                .legend(move |(x, y)| {
                    Rectangle::new([(x, y - 2), (x + 16, y + 2)], color.filled())
                });
            chart.draw_series(points.iter().map(|&p| Circle::new(p, 4, color.filled())))?;
        }
        legend(&mut chart, SeriesLabelPosition::UpperRight, 15)?;
        root.present()?;
    }
    save(buffer, path)
}
