//! Timing helpers shared by the suites: calibrated batches, interleaved runs, medians, the
//! human-readable table and the machine-readable `RESULT` lines.

use std::collections::HashMap;
use std::time::{Duration, Instant};

use anyhow::Result;

/// How long and how often a suite measures.
#[derive(Debug, Clone, Copy)]
pub(crate) struct Plan {
    /// Target wall time of one measured batch.
    pub(crate) batch: Duration,
    /// Measured runs per figure (the median is reported); warm-up comes on top.
    pub(crate) runs: usize,
}

impl Plan {
    /// The plan of the network suites: fewer, longer batches (a round trip takes ~100 µs).
    pub(crate) fn network(quick: bool) -> Self {
        if quick {
            Plan {
                batch: Duration::from_millis(300),
                runs: 7,
            }
        } else {
            Plan {
                batch: Duration::from_secs(1),
                runs: 11,
            }
        }
    }

    /// The plan of the in-process suites.
    pub(crate) fn new(quick: bool) -> Self {
        if quick {
            Plan {
                batch: Duration::from_millis(150),
                runs: 5,
            }
        } else {
            Plan {
                batch: Duration::from_millis(600),
                runs: 9,
            }
        }
    }
}

/// The median of `values` (the mean of the two middle ones for an even count); 0 when empty.
pub(crate) fn median(values: &[f64]) -> f64 {
    percentile(values, 50.0)
}

/// The `p`th percentile of `values` by the nearest-rank method (p50 of an even count is the mean
/// of the two middle values); 0 when empty.
pub(crate) fn percentile(values: &[f64], p: f64) -> f64 {
    if values.is_empty() {
        return 0.0;
    }
    let mut sorted = values.to_vec();
    sorted.sort_by(f64::total_cmp);
    let n = sorted.len();
    if (p - 50.0).abs() < f64::EPSILON && n.is_multiple_of(2) {
        return (sorted[n / 2 - 1] + sorted[n / 2]) / 2.0;
    }
    // Nearest rank: ceil(p/100 * n), 1-based.
    let rank = ((p / 100.0) * n as f64).ceil().max(1.0) as usize;
    sorted[rank.min(n) - 1]
}

/// Something measured as "n operations per call": a closure doing `n` operations.
pub(crate) type Ops<'a> = Box<dyn FnMut(u64) -> Result<()> + 'a>;

/// Finds how many operations fill one batch of `plan.batch`, running `f` as warm-up meanwhile.
pub(crate) fn calibrate(plan: &Plan, f: &mut Ops<'_>) -> Result<u64> {
    let mut n: u64 = 1;
    loop {
        let start = Instant::now();
        f(n)?;
        let elapsed = start.elapsed();
        if elapsed >= plan.batch / 4 || n >= 1 << 30 {
            let per_op = elapsed.as_secs_f64() / n as f64;
            let fill = (plan.batch.as_secs_f64() / per_op.max(1e-12)).ceil() as u64;
            return Ok(fill.max(1));
        }
        n *= 2;
    }
}

/// Measures `ours` and `baseline` as operations per second: both calibrated and warmed up,
/// then `plan.runs` rounds, each timing one batch of each (alternating which goes first, so that
/// neither always runs on a warmer or colder machine). Returns the two medians.
pub(crate) fn rate_pair(
    plan: &Plan,
    ours: &mut Ops<'_>,
    baseline: &mut Ops<'_>,
) -> Result<(f64, f64)> {
    let n_ours = calibrate(plan, ours)?;
    let n_base = calibrate(plan, baseline)?;
    // One more full batch each, as warm-up at the measured size.
    ours(n_ours)?;
    baseline(n_base)?;
    let mut rates_ours = Vec::with_capacity(plan.runs);
    let mut rates_base = Vec::with_capacity(plan.runs);
    for round in 0..plan.runs {
        let mut time_ours = |rates: &mut Vec<f64>| -> Result<()> {
            let start = Instant::now();
            ours(n_ours)?;
            rates.push(n_ours as f64 / start.elapsed().as_secs_f64());
            Ok(())
        };
        if round % 2 == 0 {
            time_ours(&mut rates_ours)?;
            let start = Instant::now();
            baseline(n_base)?;
            rates_base.push(n_base as f64 / start.elapsed().as_secs_f64());
        } else {
            let start = Instant::now();
            baseline(n_base)?;
            rates_base.push(n_base as f64 / start.elapsed().as_secs_f64());
            time_ours(&mut rates_ours)?;
        }
    }
    Ok((median(&rates_ours), median(&rates_base)))
}

/// Whether bigger or smaller is better for a figure.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Better {
    /// A rate: ratio = ours / baseline.
    Higher,
    /// A latency: ratio = baseline / ours.
    Lower,
}

/// One row of a suite's table; `key` rows also print a `RESULT` line.
#[derive(Debug, Clone)]
pub(crate) struct Row {
    pub(crate) metric: String,
    pub(crate) description: String,
    pub(crate) ours: f64,
    pub(crate) baseline: f64,
    pub(crate) unit: &'static str,
    pub(crate) better: Better,
    pub(crate) key: bool,
}

impl Row {
    pub(crate) fn key(
        metric: &str,
        description: &str,
        ours: f64,
        baseline: f64,
        unit: &'static str,
        better: Better,
    ) -> Self {
        Row {
            metric: metric.to_owned(),
            description: description.to_owned(),
            ours,
            baseline,
            unit,
            better,
            key: true,
        }
    }

    /// A row shown in the table only.
    pub(crate) fn info(
        metric: &str,
        description: &str,
        ours: f64,
        baseline: f64,
        unit: &'static str,
        better: Better,
    ) -> Self {
        Row {
            key: false,
            ..Row::key(metric, description, ours, baseline, unit, better)
        }
    }

    /// ours / baseline for a rate, baseline / ours for a latency: bigger is always better.
    pub(crate) fn ratio(&self) -> f64 {
        let (num, den) = match self.better {
            Better::Higher => (self.ours, self.baseline),
            Better::Lower => (self.baseline, self.ours),
        };
        if den > 0.0 { num / den } else { 0.0 }
    }
}

/// Formats a figure with about four significant digits and no exponent.
pub(crate) fn fmt_num(x: f64) -> String {
    let abs = x.abs();
    if abs >= 1000.0 {
        format!("{x:.0}")
    } else if abs >= 100.0 {
        format!("{x:.1}")
    } else if abs >= 10.0 {
        format!("{x:.2}")
    } else {
        format!("{x:.3}")
    }
}

/// Prints the table, then one `RESULT` line per key row.
pub(crate) fn report(suite: &str, ours_name: &str, baseline_name: &str, rows: &[Row]) {
    let metric_w = rows
        .iter()
        .map(|r| r.metric.len())
        .max()
        .unwrap_or(6)
        .max(6);
    let desc_w = rows
        .iter()
        .map(|r| r.description.len())
        .max()
        .unwrap_or(11)
        .max(11);
    let col = 14usize.max(ours_name.len()).max(baseline_name.len());
    println!();
    println!(
        "{:<metric_w$}  {:<desc_w$}  {:>col$}  {:>col$}  {:>7}  unit",
        "metric", "description", ours_name, baseline_name, "ratio"
    );
    println!("{}", "-".repeat(metric_w + desc_w + 2 * col + 7 + 14));
    for row in rows {
        println!(
            "{:<metric_w$}  {:<desc_w$}  {:>col$}  {:>col$}  {:>6.2}x  {}",
            row.metric,
            row.description,
            fmt_num(row.ours),
            fmt_num(row.baseline),
            row.ratio(),
            row.unit
        );
    }
    println!("(ratio: ours/baseline for rates, baseline/ours for latencies; bigger is better)");
    println!();
    for row in rows.iter().filter(|r| r.key) {
        println!(
            "RESULT {suite} {} ours={} baseline={} ratio={:.3} unit={}",
            row.metric,
            fmt_num(row.ours),
            fmt_num(row.baseline),
            row.ratio(),
            row.unit
        );
    }
}

/// One thread's counters: its name, context switches (voluntary and not) and time on a CPU.
#[derive(Debug, Clone, Default)]
struct ThreadCounters {
    name: String,
    switches: u64,
    cpu_ns: u64,
}

/// The counters of each thread of `pid`, by thread id. The kernel keeps context switches and
/// CPU time per thread (`/proc/<pid>/status` and `/proc/<pid>/schedstat` show the main thread
/// alone); schedstat's time is in nanoseconds, where /proc/<pid>/stat counts 10 ms ticks, too
/// coarse for an idle process.
fn thread_counters(pid: u32) -> Option<HashMap<u32, ThreadCounters>> {
    let tasks = std::fs::read_dir(format!("/proc/{pid}/task")).ok()?;
    let mut threads = HashMap::new();
    for task in tasks.flatten() {
        let Some(tid) = task.file_name().to_str().and_then(|s| s.parse().ok()) else {
            continue;
        };
        let read = |file: &str| std::fs::read_to_string(task.path().join(file)).ok();
        let (Some(status), Some(schedstat)) = (read("status"), read("schedstat")) else {
            continue;
        };
        let switches = status
            .lines()
            .filter(|line| line.contains("ctxt_switches:"))
            .filter_map(|line| line.split_whitespace().nth(1)?.parse::<u64>().ok())
            .sum();
        let cpu_ns = schedstat
            .split_whitespace()
            .next()
            .and_then(|ns| ns.parse().ok())
            .unwrap_or(0);
        let name = read("comm").unwrap_or_default().trim().to_owned();
        threads.insert(
            tid,
            ThreadCounters {
                name,
                switches,
                cpu_ns,
            },
        );
    }
    Some(threads)
}

/// A process's per-thread CPU time and context switches at one moment.
#[derive(Debug, Clone)]
pub(crate) struct ProcessSample {
    at: Instant,
    threads: HashMap<u32, ThreadCounters>,
}

/// What a process spent between two samples.
#[derive(Debug, Clone, Copy, Default)]
pub(crate) struct ProcessCost {
    /// CPU time over wall time, in % of one core.
    pub(crate) cpu_pct: f64,
    /// Context switches of all its threads per second: each is a thread going to sleep or
    /// being preempted, so this counts how often the process woke the CPU.
    pub(crate) wakeups_per_s: f64,
    /// The part of `wakeups_per_s` of the threads whose name does not start with the prefix
    /// given to [`ProcessSample::cost_until`].
    pub(crate) wakeups_per_s_other: f64,
}

impl ProcessSample {
    /// Samples `pid`; `None` when it is gone.
    pub(crate) fn take(pid: u32) -> Option<ProcessSample> {
        Some(ProcessSample {
            at: Instant::now(),
            threads: thread_counters(pid)?,
        })
    }

    /// The cost from `self` to `later`, with the wake-ups of threads named `set_apart*` also
    /// counted apart. Threads born in between count from zero; threads that ended in between
    /// are lost (tokio's idle blocking threads end after 10 s), so the figures are a slight
    /// undercount when that happens.
    pub(crate) fn cost_until(&self, later: &ProcessSample, set_apart: &str) -> ProcessCost {
        let wall = later.at.saturating_duration_since(self.at).as_secs_f64();
        if wall <= 0.0 {
            return ProcessCost::default();
        }
        let (mut cpu_ns, mut switches, mut other) = (0u64, 0u64, 0u64);
        for (tid, now) in &later.threads {
            let before = self.threads.get(tid).cloned().unwrap_or_default();
            let switched = now.switches.saturating_sub(before.switches);
            cpu_ns += now.cpu_ns.saturating_sub(before.cpu_ns);
            switches += switched;
            if !now.name.starts_with(set_apart) {
                other += switched;
            }
        }
        ProcessCost {
            cpu_pct: cpu_ns as f64 / 1e9 / wall * 100.0,
            wakeups_per_s: switches as f64 / wall,
            wakeups_per_s_other: other as f64 / wall,
        }
    }
}

/// The arithmetic mean of `values`; 0 when empty.
pub(crate) fn mean(values: &[f64]) -> f64 {
    if values.is_empty() {
        0.0
    } else {
        values.iter().sum::<f64>() / values.len() as f64
    }
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]
    use super::*;

    #[test]
    fn percentiles() {
        assert_eq!(median(&[3.0, 1.0, 2.0]), 2.0);
        assert_eq!(median(&[4.0, 1.0, 2.0, 3.0]), 2.5);
        let v: Vec<f64> = (1..=100).map(f64::from).collect();
        assert_eq!(percentile(&v, 99.0), 99.0);
        assert_eq!(percentile(&v, 100.0), 100.0);
        assert_eq!(median(&[]), 0.0);
    }

    #[test]
    fn this_process_has_a_cost() {
        let before = ProcessSample::take(std::process::id()).unwrap();
        // Burn some CPU and yield a few times, so both figures have something to count.
        let mut x = 0u64;
        let start = Instant::now();
        while start.elapsed() < Duration::from_millis(100) {
            x = x.wrapping_mul(31).wrapping_add(7);
            std::hint::black_box(x);
        }
        for _ in 0..5 {
            std::thread::sleep(Duration::from_millis(2));
        }
        let after = ProcessSample::take(std::process::id()).unwrap();
        let cost = before.cost_until(&after, "no such thread");
        assert!(cost.cpu_pct > 0.0, "{cost:?}");
        assert!(cost.wakeups_per_s > 0.0, "{cost:?}");
        assert_eq!(cost.wakeups_per_s, cost.wakeups_per_s_other);
        assert_eq!(mean(&[1.0, 2.0, 3.0]), 2.0);
        assert_eq!(mean(&[]), 0.0);
    }

    #[test]
    fn ratio_is_bigger_is_better() {
        let rate = Row::key("r", "", 200.0, 100.0, "msg/s", Better::Higher);
        assert_eq!(rate.ratio(), 2.0);
        let latency = Row::key("l", "", 50.0, 100.0, "us", Better::Lower);
        assert_eq!(latency.ratio(), 2.0);
    }
}
