//! A dependency-free SVG line chart: two panels (throughput, p99 latency) against connection
//! count on a log axis. Text uses the generic `sans-serif` family, so no font files are needed.

use std::fmt::Write;

pub struct Series {
    pub name: String,
    pub color: &'static str,
    /// (connections, value)
    pub points: Vec<(f64, f64)>,
}

struct Panel<'a> {
    title: &'a str,
    ylabel: &'a str,
    log_y: bool,
    series: &'a [Series],
}

const W: f64 = 460.0;
const H: f64 = 340.0;
const ML: f64 = 70.0;
const MR: f64 = 15.0;
const MT: f64 = 35.0;
const MB: f64 = 50.0;

fn nice_max(v: f64) -> f64 {
    if v <= 0.0 {
        return 1.0;
    }
    let e = 10f64.powf(v.log10().floor());
    for m in [1.0, 2.0, 2.5, 5.0, 10.0] {
        if v <= m * e {
            return m * e;
        }
    }
    10.0 * e
}

fn fmt_num(v: f64) -> String {
    if v >= 1e6 {
        format!("{}M", trim(v / 1e6))
    } else if v >= 1e3 {
        format!("{}k", trim(v / 1e3))
    } else {
        trim(v)
    }
}

fn trim(v: f64) -> String {
    let s = format!("{v:.2}");
    s.trim_end_matches('0').trim_end_matches('.').to_string()
}

fn panel(out: &mut String, x0: f64, p: &Panel<'_>, xs: &[f64]) {
    let pw = W - ML - MR;
    let ph = H - MT - MB;
    let (xmin, xmax) = (
        xs.iter().cloned().fold(f64::MAX, f64::min).max(1.0),
        xs.iter().cloned().fold(0.0, f64::max).max(2.0),
    );
    let lx = |x: f64| x0 + ML + (x.max(1.0).ln() - xmin.ln()) / (xmax.ln() - xmin.ln()) * pw;
    let vals: Vec<f64> = p
        .series
        .iter()
        .flat_map(|s| s.points.iter().map(|q| q.1))
        .collect();
    let vmax = vals.iter().cloned().fold(0.0, f64::max);
    let vmin_pos = vals
        .iter()
        .cloned()
        .filter(|v| *v > 0.0)
        .fold(f64::MAX, f64::min);
    let (ylo, yhi) = if p.log_y {
        let lo = 10f64.powf(vmin_pos.min(vmax).max(1e-3).log10().floor());
        let hi = 10f64.powf(vmax.max(lo * 10.0).log10().ceil());
        (lo, hi)
    } else {
        (0.0, nice_max(vmax * 1.05))
    };
    let ly = |v: f64| {
        if p.log_y {
            MT + ph - (v.max(ylo).ln() - ylo.ln()) / (yhi.ln() - ylo.ln()) * ph
        } else {
            MT + ph - (v - ylo) / (yhi - ylo) * ph
        }
    };
    let _ = writeln!(
        out,
        r#"<text x="{:.1}" y="20" font-size="14" font-weight="bold" text-anchor="middle">{}</text>"#,
        x0 + ML + pw / 2.0,
        p.title
    );
    let _ = writeln!(
        out,
        r##"<rect x="{:.1}" y="{MT}" width="{pw:.1}" height="{ph:.1}" fill="none" stroke="#888"/>"##,
        x0 + ML
    );
    // Y grid.
    let yticks: Vec<f64> = if p.log_y {
        let mut v = ylo;
        let mut t = Vec::new();
        while v <= yhi * 1.0001 {
            t.push(v);
            v *= 10.0;
        }
        t
    } else {
        (0..=5)
            .map(|i| ylo + (yhi - ylo) * i as f64 / 5.0)
            .collect()
    };
    for t in yticks {
        let y = ly(t);
        let _ = writeln!(
            out,
            r##"<line x1="{:.1}" y1="{y:.1}" x2="{:.1}" y2="{y:.1}" stroke="#ddd"/><text x="{:.1}" y="{:.1}" font-size="11" text-anchor="end">{}</text>"##,
            x0 + ML,
            x0 + ML + pw,
            x0 + ML - 5.0,
            y + 4.0,
            fmt_num(t)
        );
    }
    for &x in xs {
        let px = lx(x);
        let _ = writeln!(
            out,
            r##"<line x1="{px:.1}" y1="{MT}" x2="{px:.1}" y2="{:.1}" stroke="#eee"/><text x="{px:.1}" y="{:.1}" font-size="11" text-anchor="middle">{}</text>"##,
            MT + ph,
            MT + ph + 15.0,
            fmt_num(x)
        );
    }
    let _ = writeln!(
        out,
        r#"<text x="{:.1}" y="{:.1}" font-size="12" text-anchor="middle">connections (log scale)</text>"#,
        x0 + ML + pw / 2.0,
        H - 12.0
    );
    let _ = writeln!(
        out,
        r#"<text x="{:.1}" y="{:.1}" font-size="12" text-anchor="middle" transform="rotate(-90 {:.1} {:.1})">{}</text>"#,
        x0 + 15.0,
        MT + ph / 2.0,
        x0 + 15.0,
        MT + ph / 2.0,
        p.ylabel
    );
    for s in p.series {
        let pts: Vec<String> = s
            .points
            .iter()
            .map(|&(x, v)| format!("{:.1},{:.1}", lx(x), ly(v)))
            .collect();
        let _ = writeln!(
            out,
            r#"<polyline points="{}" fill="none" stroke="{}" stroke-width="2"/>"#,
            pts.join(" "),
            s.color
        );
        for &(x, v) in &s.points {
            let _ = writeln!(
                out,
                r#"<circle cx="{:.1}" cy="{:.1}" r="3" fill="{}"/>"#,
                lx(x),
                ly(v),
                s.color
            );
        }
    }
}

/// Two panels side by side plus a legend; returns the SVG document.
pub fn chart(title: &str, throughput: &[Series], p99: &[Series], xs: &[f64]) -> String {
    let mut out = String::new();
    let total_h = H + 40.0;
    let _ = writeln!(
        out,
        r#"<svg xmlns="http://www.w3.org/2000/svg" width="{}" height="{total_h}" viewBox="0 0 {} {total_h}" font-family="sans-serif">"#,
        2.0 * W,
        2.0 * W
    );
    let _ = writeln!(out, r#"<rect width="100%" height="100%" fill="white"/>"#);
    panel(
        &mut out,
        0.0,
        &Panel {
            title: "Throughput (requests/s, median)",
            ylabel: "requests per second",
            log_y: false,
            series: throughput,
        },
        xs,
    );
    panel(
        &mut out,
        W,
        &Panel {
            title: "p99 latency (µs, median, log scale)",
            ylabel: "p99 latency (µs)",
            log_y: true,
            series: p99,
        },
        xs,
    );
    let mut lx = 80.0;
    let ly = H + 15.0;
    for s in throughput {
        let _ = writeln!(
            out,
            r#"<line x1="{lx}" y1="{ly}" x2="{}" y2="{ly}" stroke="{}" stroke-width="3"/><text x="{}" y="{}" font-size="12">{}</text>"#,
            lx + 20.0,
            s.color,
            lx + 25.0,
            ly + 4.0,
            s.name
        );
        lx += 150.0;
    }
    let _ = writeln!(
        out,
        r##"<text x="{}" y="{}" font-size="11" fill="#555">{}</text>"##,
        lx + 10.0,
        ly + 4.0,
        title
    );
    out.push_str("</svg>\n");
    out
}
