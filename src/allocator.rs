//! The process allocator (mimalloc) and the two settings that keep its resident memory close to
//! the heap the service actually uses.
//!
//! The import pipeline allocates rows on one thread and frees them on another; glibc's malloc
//! spends a third of an import's CPU on that (BENCHMARKS.md), mimalloc a fraction. By default
//! mimalloc commits each arena eagerly and gives freed pages back only after a delay, which on
//! the test VM put a lone 1M-row import at 134–152 MiB of RSS for a heap under 50 MiB. With
//! `MIMALLOC_ARENA_EAGER_COMMIT=0` and `MIMALLOC_PURGE_DELAY=10` the same import peaks at about
//! 85 MiB at the same speed (BENCHMARKS.md, "Memory under concurrency").
//!
//! mimalloc reads its options from the environment when it initialises, which is before `main`
//! (the first arena is reserved by the runtime's first allocation), so `mi_option_set` in `main`
//! comes too late. [`DEFAULTS`] is therefore an `.init_array` entry with a high priority: the
//! dynamic loader runs it before the unprioritised constructors (mimalloc's own) and before the
//! Rust runtime allocates anything. It only fills in variables the operator has not set, so
//! either can still be overridden from the environment (docs/deploy.md, "Sizing").

/// `--features system-allocator` leaves the system's malloc in place, for heap profilers that
/// hook it (heaptrack, valgrind).
#[cfg(not(feature = "system-allocator"))]
#[global_allocator]
static ALLOCATOR: mimalloc::MiMalloc = mimalloc::MiMalloc;

/// The settings, as NUL-terminated names and values for libc.
const SETTINGS: [(&[u8], &[u8]); 2] = [
    (b"MIMALLOC_ARENA_EAGER_COMMIT\0", b"0\0"),
    (b"MIMALLOC_PURGE_DELAY\0", b"10\0"),
];

/// Sets each of [`SETTINGS`] unless the environment already has it. It runs single-threaded,
/// before anything else in the process reads or writes the environment, and allocates nothing
/// through mimalloc (libc's `getenv`/`setenv` use libc's own malloc).
extern "C" fn set_allocator_defaults() {
    for (name, value) in SETTINGS {
        // SAFETY: both are NUL-terminated constants; no other thread exists yet.
        unsafe {
            if libc::getenv(name.as_ptr().cast()).is_null() {
                libc::setenv(name.as_ptr().cast(), value.as_ptr().cast(), 0);
            }
        }
    }
}

#[cfg(target_os = "linux")]
#[used]
#[unsafe(link_section = ".init_array.00100")]
static DEFAULTS: extern "C" fn() = set_allocator_defaults;

#[cfg(test)]
mod tests {
    /// The settings are in place by the time `main` (here: the test harness) runs.
    #[test]
    #[cfg(target_os = "linux")]
    fn the_settings_are_in_the_environment_before_main() {
        for (name, _) in super::SETTINGS {
            let name = std::str::from_utf8(&name[..name.len() - 1]).unwrap();
            assert!(std::env::var_os(name).is_some(), "{name} is not set");
        }
    }
}
