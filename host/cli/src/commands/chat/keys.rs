//! The terminal while a turn runs: keys are read one at a time without
//! echo, so Esc or Ctrl-C interrupts the turn at once (the running request
//! or tool call is cancelled, its process tree dies) and an approval is
//! answered with one key. The line editor gets the terminal back, as it
//! was, when the turn ends.

use rustix::termios::{self, LocalModes, OptionalActions, SpecialCodeIndex, Termios};
use std::io::Write as _;
use std::os::fd::AsFd as _;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::mpsc;
use std::time::Duration;
use tokio::sync::watch;
use warden_agent::approval::{Answer, Asker};

/// How often the key reader looks whether the turn is over; the line
/// editor waits at most this long for the terminal after a turn.
const POLL: Duration = Duration::from_millis(50);

/// Exit code of a second interrupt while the first is being handled.
const CANCELLED: i32 = 130;

/// One key pressed during a turn.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Key {
    Char(u8),
    /// Esc or Ctrl-C.
    Interrupt,
}

/// Keys of the running turn. Dropping it gives the terminal back.
pub struct TurnKeys {
    stop: Arc<AtomicBool>,
    reader: Option<std::thread::JoinHandle<()>>,
    saved: Option<Termios>,
    keys: mpsc::Receiver<Key>,
}

impl TurnKeys {
    /// Take the keyboard for a turn: an interrupt sets `cancel`. Without a
    /// terminal on stdin nothing is read (and nothing can be approved).
    pub fn start(cancel: watch::Sender<bool>) -> Self {
        let (tx, keys) = mpsc::channel();
        let stop = Arc::new(AtomicBool::new(false));
        let stdin = std::io::stdin();
        let saved = termios::tcgetattr(stdin.as_fd()).ok();
        let Some(before) = saved.clone() else {
            return TurnKeys {
                stop,
                reader: None,
                saved: None,
                keys,
            };
        };
        let mut keyed = before.clone();
        // Keys arrive one by one, unechoed, and Ctrl-C is a key rather than
        // a signal to the whole foreground group: warden stops the tool's
        // processes itself, and stays.
        keyed.local_modes -= LocalModes::ICANON | LocalModes::ECHO | LocalModes::ISIG;
        keyed.special_codes[SpecialCodeIndex::VMIN] = 1;
        keyed.special_codes[SpecialCodeIndex::VTIME] = 0;
        if termios::tcsetattr(stdin.as_fd(), OptionalActions::Now, &keyed).is_err() {
            return TurnKeys {
                stop,
                reader: None,
                saved: None,
                keys,
            };
        }
        let flag = stop.clone();
        let restore = before.clone();
        let reader = std::thread::spawn(move || read_keys(&flag, &tx, &cancel, &restore));
        TurnKeys {
            stop,
            reader: Some(reader),
            saved: Some(before),
            keys,
        }
    }

    /// Whether keys are read (stdin is a terminal).
    pub fn active(&self) -> bool {
        self.reader.is_some()
    }
}

fn read_keys(
    stop: &AtomicBool,
    keys: &mpsc::Sender<Key>,
    cancel: &watch::Sender<bool>,
    restore: &Termios,
) {
    let stdin = std::io::stdin();
    let fd = stdin.as_fd();
    let timeout = rustix::event::Timespec {
        tv_sec: 0,
        tv_nsec: POLL.as_nanos() as _,
    };
    let mut buf = [0u8; 64];
    while !stop.load(Ordering::Relaxed) {
        let mut fds = [rustix::event::PollFd::new(
            &fd,
            rustix::event::PollFlags::IN,
        )];
        match rustix::event::poll(&mut fds, Some(&timeout)) {
            Ok(0) | Err(rustix::io::Errno::INTR) => continue,
            Ok(_) => {}
            Err(_) => return,
        }
        let n = match rustix::io::read(fd, &mut buf) {
            Ok(0) | Err(_) => return,
            Ok(n) => n,
        };
        let chunk = &buf[..n];
        // A lone Esc is the key; Esc followed by more is an escape sequence
        // (an arrow key), which a turn has no use for.
        let interrupt = chunk == [0x1b] || chunk.contains(&0x03);
        if interrupt {
            if *cancel.borrow() {
                // A second interrupt while the first is being handled.
                let _ = termios::tcsetattr(fd, OptionalActions::Now, restore);
                std::process::exit(CANCELLED);
            }
            let _ = cancel.send(true);
            let _ = keys.send(Key::Interrupt);
        } else if chunk.first() != Some(&0x1b) {
            for &b in chunk {
                let _ = keys.send(Key::Char(b));
            }
        }
    }
}

impl Drop for TurnKeys {
    fn drop(&mut self) {
        self.stop.store(true, Ordering::Relaxed);
        if let Some(reader) = self.reader.take() {
            let _ = reader.join();
        }
        if let Some(saved) = &self.saved {
            let _ = termios::tcsetattr(std::io::stdin().as_fd(), OptionalActions::Now, saved);
        }
    }
}

impl Asker for TurnKeys {
    fn color(&self) -> bool {
        std::io::IsTerminal::is_terminal(&std::io::stderr())
    }

    fn ask(&mut self, prompt: &str) -> Answer {
        // Keys typed before the question was on the screen answer nothing.
        while self.keys.try_recv().is_ok() {}
        let mut err = std::io::stderr().lock();
        let _ = write!(
            err,
            "\n{prompt}\nRun it? [y]es / [a]lways (this exact request, this project) / [N]o (Esc interrupts): "
        );
        let _ = err.flush();
        let answer = loop {
            match self.keys.recv() {
                Ok(Key::Char(b'y' | b'Y')) => break (Answer::Yes, "yes"),
                Ok(Key::Char(b'a' | b'A')) => break (Answer::Always, "always"),
                Ok(Key::Char(b'n' | b'N' | b'\r' | b'\n')) => break (Answer::No, "no"),
                Ok(Key::Interrupt) | Err(_) => break (Answer::No, "interrupted"),
                Ok(Key::Char(_)) => {}
            }
        };
        let _ = writeln!(err, "{}", answer.1);
        answer.0
    }
}
