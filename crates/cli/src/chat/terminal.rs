//! The terminal as the chat needs it: raw mode, the alternate screen and bracketed paste, and
//! the guarantee that they are undone however the chat ends.

use std::io;
use std::panic::{self, PanicHookInfo};
use std::sync::Arc;

use crossterm::event::{DisableBracketedPaste, EnableBracketedPaste};
use crossterm::execute;
use crossterm::terminal::{
    EnterAlternateScreen, LeaveAlternateScreen, disable_raw_mode, enable_raw_mode,
};

type PanicHook = Box<dyn Fn(&PanicHookInfo<'_>) + Send + Sync + 'static>;

/// Raw mode, the alternate screen and bracketed paste, undone when dropped, on every way out:
/// a normal return, an error (`?`) and a panic (the hook restores the terminal before the
/// panic message prints, so that the message is readable).
pub(super) struct TerminalGuard {
    previous_hook: Arc<PanicHook>,
}

impl TerminalGuard {
    pub(super) fn enter() -> io::Result<TerminalGuard> {
        let previous_hook: Arc<PanicHook> = Arc::new(panic::take_hook());
        let chained = Arc::clone(&previous_hook);
        panic::set_hook(Box::new(move |info| {
            restore_terminal();
            chained(info);
        }));
        // Made before touching the terminal, so that a failure half-way is undone too.
        let guard = TerminalGuard { previous_hook };
        enable_raw_mode()?;
        execute!(io::stdout(), EnterAlternateScreen, EnableBracketedPaste)?;
        Ok(guard)
    }
}

impl Drop for TerminalGuard {
    fn drop(&mut self) {
        restore_terminal();
        // Changing the hook while panicking would panic again; the process is going anyway.
        if !std::thread::panicking() {
            let _ours = panic::take_hook();
            let previous = Arc::clone(&self.previous_hook);
            panic::set_hook(Box::new(move |info| previous(info)));
        }
    }
}

/// Undoes what [`TerminalGuard::enter`] did; harmless when done twice.
fn restore_terminal() {
    let _ = execute!(
        io::stdout(),
        DisableBracketedPaste,
        LeaveAlternateScreen,
        crossterm::cursor::Show
    );
    let _ = disable_raw_mode();
}
