//! Fresh-process sampling, shared by `benches/fresh.rs` and
//! `benches/client.rs`: every sample is a new child process, so that each
//! variant starts with an empty heap and untouched pages, as a program does.
//!
//! The parent re-executes its own binary as
//! `<exe> --child <workload> <variant> <full|quick>`; the child sets up its
//! workload untimed, times only the measured phases with `Instant` (wall
//! time) and `CLOCK_PROCESS_CPUTIME_ID` (CPU time, user + system, which
//! includes page faults but not the time other processes hold the CPU: the
//! steadier figure on a loaded machine), and prints
//! `phase <name> <wall ns> <cpu ns>` lines, one `check <u64>` line and `info <text>` lines
//! (sizes, printed once under the table). The parent runs the
//! samples interleaved (sample by sample, workload by workload, the variants
//! in an order rotated by one per sample), checks that every variant of a
//! workload printed the same checksum, and prints per-phase medians and their
//! ratios to the first variant (raw libc), then in brackets the median and
//! range of the per-sample ratios (each sample's variants ran back to back,
//! so these see the same machine load) as a noise gauge.
//!
//! Quick mode (`-- --test`, as `cargo bench -- --test` passes, or
//! `CYMEM_BENCH_QUICK=1`): one sample per variant at the reduced sizes the
//! bench chooses; checksums are still compared. Full mode takes
//! `CYMEM_BENCH_SAMPLES` samples per variant (default 11, at least 7). Other
//! arguments not starting with `-` select the workloads whose name contains
//! one of them.

use std::collections::HashMap;
use std::process::Command;
use std::time::Instant;

/// What one child measured.
pub struct Sample {
    /// Measured phases in order: name, wall and CPU nanoseconds.
    pub phases: Vec<(&'static str, u64, u64)>,
    /// A checksum of the work done; equal across variants of a workload.
    pub check: u64,
    /// Facts about the workload to print once under the table (sizes).
    pub info: Vec<String>,
}

impl Sample {
    pub fn new() -> Self {
        Sample {
            phases: Vec::new(),
            check: 0,
            info: Vec::new(),
        }
    }

    /// Runs `f` and records its wall and CPU time as `phase`.
    pub fn time<R>(&mut self, phase: &'static str, f: impl FnOnce() -> R) -> R {
        let cpu = cpu_ns();
        let start = Instant::now();
        let result = f();
        let wall = start.elapsed().as_nanos() as u64;
        self.phases.push((phase, wall, cpu_ns() - cpu));
        result
    }

    /// Records the sum of the phases so far as `phase`.
    pub fn record_total(&mut self, phase: &'static str) {
        let wall = self.phases.iter().map(|p| p.1).sum();
        let cpu = self.phases.iter().map(|p| p.2).sum();
        self.phases.push((phase, wall, cpu));
    }
}

/// A fresh-process bench: its workloads, variants (the first is the
/// baseline of the ratios) and the child's entry point.
pub struct Bench {
    pub title: &'static str,
    pub workloads: &'static [&'static str],
    pub variants: &'static [&'static str],
    /// `run(workload, variant, quick)`: set up, time, return the sample.
    pub run: fn(&str, &str, bool) -> Sample,
}

/// `(workload, phase, variant)` -> one `(wall ns, CPU ns)` per sample.
type Times<'a> = HashMap<(&'a str, &'a str, &'a str), Vec<(u64, u64)>>;

const DEFAULT_SAMPLES: usize = 11;
const MIN_SAMPLES: usize = 7;

/// The bench binary's `main`: a child measures one sample; the parent runs
/// them all and prints the tables.
pub fn main(bench: Bench) {
    let args: Vec<String> = std::env::args().skip(1).collect();
    if args.first().map(String::as_str) == Some("--child") {
        let [_, workload, variant, mode] = &args[..] else {
            panic!("usage: --child <workload> <variant> <full|quick>")
        };
        let sample = (bench.run)(workload, variant, mode == "quick");
        for (phase, wall, cpu) in &sample.phases {
            println!("phase {phase} {wall} {cpu}");
        }
        println!("check {}", sample.check);
        for line in &sample.info {
            println!("info {line}");
        }
        return;
    }
    let quick = args.iter().any(|a| a == "--test")
        || std::env::var("CYMEM_BENCH_QUICK").is_ok_and(|v| v == "1");
    let filters: Vec<&str> = args
        .iter()
        .filter(|a| !a.starts_with('-'))
        .map(String::as_str)
        .collect();
    let workloads: Vec<&str> = bench
        .workloads
        .iter()
        .copied()
        .filter(|w| filters.is_empty() || filters.iter().any(|f| w.contains(f)))
        .collect();
    let samples = if quick {
        1
    } else {
        std::env::var("CYMEM_BENCH_SAMPLES")
            .ok()
            .and_then(|s| s.parse().ok())
            .unwrap_or(DEFAULT_SAMPLES)
            .max(MIN_SAMPLES)
    };
    let exe = std::env::current_exe().expect("current_exe");
    let mode = if quick { "quick" } else { "full" };
    let variants = bench.variants;
    // (workload, phase) in first-seen order; times[(workload, phase, variant)][sample].
    let mut rows: Vec<(&str, &'static str)> = Vec::new();
    let mut times: Times = HashMap::new();
    let mut info: Vec<String> = Vec::new();
    let started = Instant::now();
    for sample in 0..samples {
        for &workload in &workloads {
            let mut checks: Vec<(&str, u64)> = Vec::new();
            for k in 0..variants.len() {
                let variant = variants[(sample + k) % variants.len()];
                let out = Command::new(&exe)
                    .args(["--child", workload, variant, mode])
                    .output()
                    .expect("spawn child");
                let stdout = String::from_utf8_lossy(&out.stdout);
                assert!(
                    out.status.success(),
                    "{workload}/{variant} failed: {}{}",
                    stdout,
                    String::from_utf8_lossy(&out.stderr)
                );
                for line in stdout.lines() {
                    let (kind, rest) = line.split_once(' ').unwrap_or((line, ""));
                    match kind {
                        "phase" => {
                            // The phase name may contain spaces; the times are last.
                            let parsed = rest.rsplit_once(' ').and_then(|(rest, cpu)| {
                                let (phase, wall) = rest.rsplit_once(' ')?;
                                Some((phase, wall.parse().ok()?, cpu.parse().ok()?))
                            });
                            let (phase, wall, cpu) = parsed.expect("phase <name> <wall> <cpu>");
                            let phase: &'static str = leak_name(&mut rows, workload, phase);
                            times
                                .entry((workload, phase, variant))
                                .or_default()
                                .push((wall, cpu));
                        }
                        "check" => checks.push((variant, rest.parse().expect("check"))),
                        "info" => {
                            let line = format!("{workload}: {rest}");
                            if !info.contains(&line) {
                                info.push(line);
                            }
                        }
                        _ => panic!("{workload}/{variant}: unexpected line {line:?}"),
                    }
                }
            }
            let first = checks[0].1;
            assert!(
                checks.iter().all(|&(_, c)| c == first),
                "{workload}: variants disagree on the checksum: {checks:?}"
            );
        }
    }
    println!(
        "\n{} ({mode} mode, {samples} sample(s) per variant, each a fresh process, \
         variants interleaved; {:.1} s)",
        bench.title,
        started.elapsed().as_secs_f64()
    );
    println!("\nwall time (Instant):");
    print_table(variants, &rows, &times, |t| t.0);
    println!("\nCPU time of the child (user + system):");
    print_table(variants, &rows, &times, |t| t.1);
    for line in info {
        println!("{line}");
    }
}

/// Registers `(workload, phase)` as a row if new; returns the phase name
/// with a `'static` lifetime (each distinct name is leaked once).
fn leak_name<'w>(
    rows: &mut Vec<(&'w str, &'static str)>,
    workload: &'w str,
    phase: &str,
) -> &'static str {
    if let Some(&(_, name)) = rows.iter().find(|(w, p)| *w == workload && *p == phase) {
        return name;
    }
    let name: &'static str = Box::leak(phase.to_owned().into_boxed_str());
    rows.push((workload, name));
    name
}

fn median(values: &[f64]) -> f64 {
    let mut sorted = values.to_vec();
    sorted.sort_by(f64::total_cmp);
    let n = sorted.len();
    if n % 2 == 1 {
        sorted[n / 2]
    } else {
        (sorted[n / 2 - 1] + sorted[n / 2]) / 2.0
    }
}

fn print_table(
    variants: &[&str],
    rows: &[(&str, &'static str)],
    times: &Times,
    pick: fn(&(u64, u64)) -> u64,
) {
    let base = variants[0];
    let mut header = String::from("| workload | phase |");
    let mut rule = String::from("|---|---|");
    for v in variants {
        header += &format!(" {v} ms |");
        rule += "---:|";
    }
    for v in &variants[1..] {
        header += &format!(" {v}/{base} (per-sample: median; min-max) |");
        rule += "---|";
    }
    println!("{header}\n{rule}");
    for &(workload, phase) in rows {
        let series = |v: &str| -> Vec<f64> {
            times
                .get(&(workload, phase, v))
                .map(|ns| ns.iter().map(|t| pick(t) as f64 / 1e6).collect())
                .unwrap_or_default()
        };
        let base_ms = series(base);
        let mut line = format!("| {workload} | {phase} |");
        for v in variants {
            line += &format!(" {:.3} |", median(&series(v)));
        }
        for v in &variants[1..] {
            let ms = series(v);
            let per_sample: Vec<f64> = ms.iter().zip(&base_ms).map(|(a, b)| a / b).collect();
            let lo = per_sample.iter().copied().fold(f64::INFINITY, f64::min);
            let hi = per_sample.iter().copied().fold(0.0, f64::max);
            line += &format!(
                " **{:.2}** ({:.2}; {lo:.2}-{hi:.2}) |",
                median(&ms) / median(&base_ms),
                median(&per_sample)
            );
        }
        println!("{line}");
    }
}

/// CPU time of this process (all threads, user + system) in nanoseconds.
fn cpu_ns() -> u64 {
    let mut ts = libc::timespec {
        tv_sec: 0,
        tv_nsec: 0,
    };
    // SAFETY: `ts` is a valid, writable timespec; the clock id is a constant
    // every Linux supports.
    let rc = unsafe { libc::clock_gettime(libc::CLOCK_PROCESS_CPUTIME_ID, &mut ts) };
    assert_eq!(rc, 0, "clock_gettime");
    ts.tv_sec as u64 * 1_000_000_000 + ts.tv_nsec as u64
}
