//! The echo chart as a self-contained SVG (no plotting dependency): throughput and p99 per
//! system, side by side, each bar labelled with its value so small bars stay readable.

use std::fmt::Write;

/// One system's bar values.
pub struct Bar {
    /// Label under the bar.
    pub name: &'static str,
    /// Requests per second.
    pub rps: f64,
    /// p99 latency in milliseconds.
    pub p99_ms: f64,
}

const COLORS: [&str; 3] = ["#2f6fdf", "#7a7a7a", "#e08a1e"];
const PANEL_W: f64 = 340.0;
const PANEL_H: f64 = 220.0;
const TOP: f64 = 40.0;

/// Two bar panels: throughput (higher is better) and p99 (lower is better).
pub fn echo_svg(title: &str, bars: &[Bar]) -> String {
    let width = PANEL_W * 2.0 + 40.0;
    let height = TOP + PANEL_H + 60.0;
    let mut svg = format!(
        "<svg xmlns=\"http://www.w3.org/2000/svg\" width=\"{width}\" height=\"{height}\" \
         font-family=\"sans-serif\" font-size=\"12\">\n<rect width=\"100%\" height=\"100%\" fill=\"white\"/>\n\
         <text x=\"{}\" y=\"20\" text-anchor=\"middle\" font-size=\"15\">{}</text>\n",
        width / 2.0,
        escape(title)
    );
    let rps: Vec<f64> = bars.iter().map(|b| b.rps).collect();
    let p99: Vec<f64> = bars.iter().map(|b| b.p99_ms).collect();
    panel(&mut svg, 20.0, "throughput, req/s (higher is better)", bars, &rps, |v| format!("{v:.0}"));
    panel(&mut svg, PANEL_W + 20.0, "p99 latency, ms (lower is better)", bars, &p99, |v| format!("{v:.2}"));
    svg.push_str("</svg>\n");
    svg
}

fn panel(
    svg: &mut String,
    x0: f64,
    title: &str,
    bars: &[Bar],
    values: &[f64],
    label: impl Fn(f64) -> String,
) {
    let max = values.iter().copied().fold(0.0, f64::max).max(1e-9);
    let base = TOP + PANEL_H;
    let slot = (PANEL_W - 20.0) / bars.len().max(1) as f64;
    let _ = writeln!(
        svg,
        "<text x=\"{}\" y=\"{}\" text-anchor=\"middle\">{}</text>",
        x0 + PANEL_W / 2.0,
        TOP - 4.0,
        escape(title)
    );
    let _ = writeln!(
        svg,
        "<line x1=\"{x0}\" y1=\"{base}\" x2=\"{}\" y2=\"{base}\" stroke=\"black\"/>",
        x0 + PANEL_W - 20.0
    );
    for (i, (bar, &v)) in bars.iter().zip(values).enumerate() {
        let h = (v / max) * (PANEL_H - 30.0);
        let x = x0 + slot * i as f64 + slot * 0.2;
        let w = slot * 0.6;
        let color = COLORS[i % COLORS.len()];
        let _ = writeln!(
            svg,
            "<rect x=\"{x:.1}\" y=\"{:.1}\" width=\"{w:.1}\" height=\"{h:.1}\" fill=\"{color}\"/>",
            base - h
        );
        let cx = x + w / 2.0;
        let _ = writeln!(
            svg,
            "<text x=\"{cx:.1}\" y=\"{:.1}\" text-anchor=\"middle\">{}</text>",
            base - h - 4.0,
            label(v)
        );
        let _ = writeln!(
            svg,
            "<text x=\"{cx:.1}\" y=\"{:.1}\" text-anchor=\"middle\">{}</text>",
            base + 16.0,
            escape(bar.name)
        );
    }
}

fn escape(s: &str) -> String {
    s.replace('&', "&amp;").replace('<', "&lt;").replace('>', "&gt;")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn chart_has_one_bar_per_system_and_panel() {
        let bars = [Bar { name: "a", rps: 10.0, p99_ms: 1.0 }, Bar { name: "b", rps: 5.0, p99_ms: 2.0 }];
        let svg = echo_svg("t", &bars);
        assert_eq!(svg.matches("<rect x=").count(), 4);
        assert!(svg.ends_with("</svg>\n"));
    }
}
