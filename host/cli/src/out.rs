//! Everything warden prints on standard output goes through here.
//!
//! `println!` panics when stdout is a closed pipe (`warden log | head -1`),
//! which exits 101 with a panic message. A reader that stopped reading
//! wants no more output and no error: like ripgrep, warden then exits 0 at
//! once, quietly. Any other write failure (disk full, a revoked terminal) is
//! reported on stderr with exit 5, since output was lost.
//!
//! Exiting from the write itself is deliberate: every write site would
//! otherwise need to carry the error up, and nothing warden does after
//! printing needs to run once nobody reads it (audit records and journal
//! turns are written, durably, before their results are printed).

use std::io::Write as _;

/// Print to stdout, as `print!` does, without panicking on a closed pipe.
macro_rules! out {
    ($($arg:tt)*) => {
        $crate::out::write(format_args!($($arg)*), false)
    };
}

/// Print a line to stdout, as `println!` does, without panicking on a
/// closed pipe.
macro_rules! outln {
    () => {
        $crate::out::write(format_args!(""), true)
    };
    ($($arg:tt)*) => {
        $crate::out::write(format_args!($($arg)*), true)
    };
}

/// Write `args` (and a newline) to stdout and flush.
pub fn write(args: std::fmt::Arguments<'_>, newline: bool) {
    let mut stdout = std::io::stdout().lock();
    let written = stdout
        .write_fmt(args)
        .and_then(|()| {
            if newline {
                stdout.write_all(b"\n")
            } else {
                Ok(())
            }
        })
        .and_then(|()| stdout.flush());
    if let Err(e) = written {
        failed(&e);
    }
}

fn failed(e: &std::io::Error) -> ! {
    if e.kind() == std::io::ErrorKind::BrokenPipe {
        std::process::exit(0);
    }
    let _ = writeln!(
        std::io::stderr(),
        "error: cannot write to standard output: {e}"
    );
    std::process::exit(5);
}
