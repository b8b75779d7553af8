//! The process collector: `prometheus-client` has none, so this reads `/proc/self` at scrape
//! time (Linux only; elsewhere these metrics are absent). The names are the ones every
//! Prometheus client library uses, so stock dashboards and alerts work.

use prometheus_client::collector::Collector;
use prometheus_client::encoding::{DescriptorEncoder, EncodeMetric};
use prometheus_client::metrics::counter::ConstCounter;
use prometheus_client::metrics::gauge::ConstGauge;

/// Clock ticks per second and the page size: fixed at 100 and 4096 on Linux on the
/// platforms postern ships for (x86_64, aarch64). Read from /proc without libc.
const TICKS_PER_SECOND: f64 = 100.0;
const PAGE_SIZE: u64 = 4096;

#[derive(Debug)]
pub struct ProcessCollector;

/// What /proc/self/stat says, from the fields after the command name.
struct Stat {
    cpu_seconds: f64,
    start_ticks: u64,
    virtual_bytes: u64,
    resident_bytes: u64,
}

fn stat() -> Option<Stat> {
    let text = std::fs::read_to_string("/proc/self/stat").ok()?;
    // The command name may hold spaces and parentheses: fields start after the last ')'.
    let fields: Vec<&str> = text.get(text.rfind(')')? + 2..)?.split(' ').collect();
    // Field n of proc(5) is fields[n - 3].
    let number = |n: usize| fields.get(n - 3)?.parse::<u64>().ok();
    #[allow(clippy::cast_precision_loss)] // clock ticks: exact far beyond any uptime
    let cpu_seconds = (number(14)? + number(15)?) as f64 / TICKS_PER_SECOND;
    Some(Stat {
        cpu_seconds,
        start_ticks: number(22)?,
        virtual_bytes: number(23)?,
        resident_bytes: number(24)? * PAGE_SIZE,
    })
}

/// Seconds since the epoch at boot, from /proc/stat's `btime`.
fn boot_time() -> Option<u64> {
    std::fs::read_to_string("/proc/stat")
        .ok()?
        .lines()
        .find_map(|line| line.strip_prefix("btime ")?.trim().parse().ok())
}

fn open_fds() -> Option<usize> {
    Some(std::fs::read_dir("/proc/self/fd").ok()?.count())
}

fn max_fds() -> Option<u64> {
    std::fs::read_to_string("/proc/self/limits")
        .ok()?
        .lines()
        .find(|line| line.starts_with("Max open files"))?
        .split_whitespace()
        .nth(3)?
        .parse()
        .ok()
}

fn gauge(
    encoder: &mut DescriptorEncoder,
    name: &str,
    help: &str,
    value: f64,
) -> Result<(), std::fmt::Error> {
    let gauge = ConstGauge::new(value);
    gauge.encode(encoder.encode_descriptor(name, help, None, gauge.metric_type())?)
}

impl Collector for ProcessCollector {
    fn encode(&self, mut encoder: DescriptorEncoder) -> Result<(), std::fmt::Error> {
        #[allow(clippy::cast_precision_loss)] // byte and fd counts, far below 2^53
        if let Some(stat) = stat() {
            let cpu = ConstCounter::new(stat.cpu_seconds);
            cpu.encode(encoder.encode_descriptor(
                "process_cpu_seconds",
                "User and system CPU time spent, in seconds",
                None,
                cpu.metric_type(),
            )?)?;
            gauge(
                &mut encoder,
                "process_resident_memory_bytes",
                "Resident memory size in bytes",
                stat.resident_bytes as f64,
            )?;
            gauge(
                &mut encoder,
                "process_virtual_memory_bytes",
                "Virtual memory size in bytes",
                stat.virtual_bytes as f64,
            )?;
            if let Some(boot) = boot_time() {
                gauge(
                    &mut encoder,
                    "process_start_time_seconds",
                    "Start time of the process since the Unix epoch, in seconds",
                    boot as f64 + stat.start_ticks as f64 / TICKS_PER_SECOND,
                )?;
            }
        }
        #[allow(clippy::cast_precision_loss)]
        if let Some(fds) = open_fds() {
            gauge(
                &mut encoder,
                "process_open_fds",
                "Open file descriptors",
                fds as f64,
            )?;
        }
        #[allow(clippy::cast_precision_loss)]
        if let Some(max) = max_fds() {
            gauge(
                &mut encoder,
                "process_max_fds",
                "The limit on open file descriptors",
                max as f64,
            )?;
        }
        Ok(())
    }
}
