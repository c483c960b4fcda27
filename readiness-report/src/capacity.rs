//! Capacity planning: from a measured ceiling, today's peak and a monthly growth rate, the
//! months of headroom and when to scale (the seeds' "3/6/12-month growth against the
//! ceiling").

use readiness_core::Bound;
use serde::Serialize;

use crate::config::CapacityConfig;

/// The plan.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct CapacityPlan {
    /// The measured ceiling (per second) and the test that measured it.
    pub ceiling: f64,
    /// Where the ceiling comes from ("load.capacity of tests::stress, evidence-1.jsonl:3").
    pub source: String,
    /// Today's peak (per second).
    pub peak_rate: f64,
    /// Monthly growth (0.08 = 8%).
    pub growth_per_month: f64,
    /// Share of the ceiling to stay under.
    pub utilisation_limit: f64,
    /// Whether `ceiling` is the measured ceiling or a bound of it (a stress that never
    /// broke: at least; one whose first step broke: at most).
    pub bound: Bound,
    /// Today's peak over the ceiling.
    pub utilisation_now: f64,
    /// Months until the peak reaches `utilisation_limit` of the ceiling (0: already there;
    /// none: never, with no growth).
    pub months_of_headroom: Option<f64>,
    /// Months until the peak reaches the ceiling itself.
    pub months_to_ceiling: Option<f64>,
    /// The peak and utilisation in 3, 6 and 12 months.
    pub projections: Vec<Projection>,
    /// The advice in one sentence.
    pub advice: String,
}

/// The peak after some months of growth.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct Projection {
    /// Months from now.
    pub months: u32,
    /// Projected peak (per second).
    pub peak_rate: f64,
    /// Projected peak over the ceiling.
    pub utilisation: f64,
}

impl CapacityPlan {
    /// The plan as table rows: ("now" or "N months", peak per second, share of the
    /// ceiling), for the Markdown and HTML reports.
    pub fn rows(&self) -> Vec<(String, f64, f64)> {
        std::iter::once(("now".to_owned(), self.peak_rate, self.utilisation_now))
            .chain(
                self.projections
                    .iter()
                    .map(|p| (format!("{} months", p.months), p.peak_rate, p.utilisation)),
            )
            .collect()
    }
}

fn months_until(from: f64, to: f64, growth: f64) -> Option<f64> {
    if from >= to {
        return Some(0.0);
    }
    if growth <= 0.0 {
        return None;
    }
    Some((to / from).ln() / (1.0 + growth).ln())
}

/// The plan for a measured `ceiling`.
pub fn plan(ceiling: f64, source: String, c: &CapacityConfig) -> CapacityPlan {
    plan_bounded(ceiling, Bound::Exact, source, c)
}

/// The plan for a `ceiling` that may be a bound: a stress that never broke measured at
/// least it (so at least this headroom), one whose first step broke at most it.
pub fn plan_bounded(
    ceiling: f64,
    bound: Bound,
    source: String,
    c: &CapacityConfig,
) -> CapacityPlan {
    let limit = ceiling * c.utilisation_limit;
    let headroom = months_until(c.peak_rate, limit, c.growth_per_month);
    let to_ceiling = months_until(c.peak_rate, ceiling, c.growth_per_month);
    let projections = [3u32, 6, 12]
        .into_iter()
        .map(|m| {
            let peak = c.peak_rate * (1.0 + c.growth_per_month).powi(m as i32);
            Projection {
                months: m,
                peak_rate: peak,
                utilisation: peak / ceiling,
            }
        })
        .collect();
    let pct = |r: f64| format!("{:.0}%", r * 100.0);
    let advice = match headroom {
        Some(m) if m <= 0.0 => format!(
            "scale now: today's peak {:.0}/s is {} of the measured ceiling {:.0}/s (limit {})",
            c.peak_rate,
            pct(c.peak_rate / ceiling),
            ceiling,
            pct(c.utilisation_limit)
        ),
        Some(m) => format!(
            "{m:.1} months of headroom: at {} growth a month the peak reaches {} of the \
             ceiling {ceiling:.0}/s in {m:.1} months; plan scaling before then",
            pct(c.growth_per_month),
            pct(c.utilisation_limit)
        ),
        None => format!(
            "no growth expected: today's peak stays at {} of the ceiling {ceiling:.0}/s",
            pct(c.peak_rate / ceiling)
        ),
    };
    let advice = match bound {
        Bound::Exact => advice,
        Bound::AtLeast => format!(
            "at least: {advice} (no stress step broke up to {ceiling:.0}/s: the real ceiling is higher, \
             step further to know it)"
        ),
        Bound::AtMost => format!(
            "at most: {advice} (the first stress step already broke: the real ceiling is lower, \
             start the steps lower to know it)"
        ),
    };
    CapacityPlan {
        ceiling,
        bound,
        source,
        peak_rate: c.peak_rate,
        growth_per_month: c.growth_per_month,
        utilisation_limit: c.utilisation_limit,
        utilisation_now: c.peak_rate / ceiling,
        months_of_headroom: headroom,
        months_to_ceiling: to_ceiling,
        projections,
        advice,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn config(peak: f64, growth: f64) -> CapacityConfig {
        CapacityConfig {
            peak_rate: peak,
            growth_per_month: growth,
            utilisation_limit: 0.8,
            criterion: "load.capacity".into(),
        }
    }

    #[test]
    fn headroom_is_the_log_of_the_room_over_the_log_of_growth() {
        // 1000/s ceiling, 400/s peak, 10% a month: 80% of 1000 = 800 = 400 * 1.1^m.
        let p = plan(1000.0, "t".into(), &config(400.0, 0.10));
        let m = p.months_of_headroom.expect("finite");
        assert!((m - (2.0f64).ln() / 1.1f64.ln()).abs() < 1e-9, "{m}");
        assert!((400.0 * 1.1f64.powf(m) - 800.0).abs() < 1e-6);
        assert_eq!(p.projections.len(), 3);
        assert!((p.projections[2].peak_rate - 400.0 * 1.1f64.powi(12)).abs() < 1e-6);
        assert!(p.advice.contains("7.3 months"), "{}", p.advice);
    }

    #[test]
    fn a_ceiling_that_is_a_bound_says_so() {
        let p = plan_bounded(300.0, Bound::AtLeast, "t".into(), &config(40.0, 0.08));
        assert_eq!(p.bound, Bound::AtLeast);
        assert!(
            p.advice.starts_with("at least: 23.3 months of headroom")
                && p.advice.contains("no stress step broke up to 300/s"),
            "{}",
            p.advice
        );
        let p = plan_bounded(300.0, Bound::AtMost, "t".into(), &config(40.0, 0.08));
        assert!(p.advice.starts_with("at most: "), "{}", p.advice);
        assert_eq!(
            plan(300.0, "t".into(), &config(40.0, 0.08)).bound,
            Bound::Exact
        );
    }

    #[test]
    fn over_the_limit_today_says_scale_now_and_no_growth_never_runs_out() {
        let p = plan(1000.0, "t".into(), &config(900.0, 0.05));
        assert_eq!(p.months_of_headroom, Some(0.0));
        assert!(p.advice.starts_with("scale now"), "{}", p.advice);
        let p = plan(1000.0, "t".into(), &config(100.0, 0.0));
        assert_eq!(p.months_of_headroom, None);
    }
}
