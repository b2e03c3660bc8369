//! Which plugin crashed the engine. Each thread notes whose code it runs now ([`running`]), so
//! a fatal signal's handler (segfault, abort, bus error, illegal instruction, arithmetic fault)
//! can tell the supervisor that plugin's name over the channel before the process dies. The
//! handler then hands the signal on to what was there before (std's stack overflow report, or
//! the default action), so the process dies as it would have.
//!
//! Noting the plugin costs one thread-local write before and after each stretch of plugin code.

use std::{
    cell::Cell,
    marker::PhantomData,
    os::raw::{c_int, c_void},
    sync::{
        OnceLock,
        atomic::{AtomicBool, AtomicI32, Ordering},
    },
};

/// The signals that end the process in the middle of plugin code.
const FATAL: [c_int; 5] = [
    libc::SIGSEGV,
    libc::SIGBUS,
    libc::SIGILL,
    libc::SIGFPE,
    libc::SIGABRT,
];

/// The channel to the supervisor, once armed.
static CHANNEL: AtomicI32 = AtomicI32::new(-1);

/// The actions in place before ours, in the order of [`FATAL`].
static PREVIOUS: OnceLock<[libc::sigaction; FATAL.len()]> = OnceLock::new();

/// Set by the first report: a crash is told once, though it may raise a second signal (std's
/// stack overflow report aborts).
static REPORTED: AtomicBool = AtomicBool::new(false);

thread_local! {
    /// The name of the plugin whose code runs on this thread now (address and length), or
    /// null. Constant-initialised and without a destructor, so a signal handler may read it.
    static RUNNING: Cell<(*const u8, usize)> = const { Cell::new((std::ptr::null(), 0)) };
}

/// Plugin `name`'s code runs on this thread until this is dropped.
#[must_use = "the plugin counts as running only while this lives"]
pub struct Running<'a> {
    previous: (*const u8, usize),
    name: PhantomData<&'a str>,
}

/// Notes that `plugin`'s code runs on this thread now.
#[inline]
pub fn running(plugin: &str) -> Running<'_> {
    let previous = RUNNING.with(|r| r.replace((plugin.as_ptr(), plugin.len())));
    Running {
        previous,
        name: PhantomData,
    }
}

impl Drop for Running<'_> {
    #[inline]
    fn drop(&mut self) {
        RUNNING.with(|r| r.set(self.previous));
    }
}

/// Reports crashes on `channel` (a descriptor that stays open for the process's life).
pub fn arm(channel: c_int) -> std::io::Result<()> {
    CHANNEL.store(channel, Ordering::Release);
    let mut previous = [empty_action(); FATAL.len()];
    for (signal, old) in FATAL.iter().zip(previous.iter_mut()) {
        // SAFETY: reads the current action into `old`, a valid sigaction; changes nothing.
        if unsafe { libc::sigaction(*signal, std::ptr::null(), old) } != 0 {
            return Err(std::io::Error::last_os_error());
        }
    }
    if PREVIOUS.set(previous).is_err() {
        return Ok(());
    }
    for signal in FATAL {
        let mut action = empty_action();
        let handler: extern "C" fn(c_int, *mut libc::siginfo_t, *mut c_void) = on_fatal;
        action.sa_sigaction = handler as *const () as usize;
        // ON_STACK: a stack overflow runs the handler on the thread's alternate stack.
        action.sa_flags = libc::SA_SIGINFO | libc::SA_ONSTACK;
        // SAFETY: `on_fatal` is async-signal-safe (it reads atomics and a thread-local
        // without a destructor, calls send(2), sigaction(2) and raise(3)), and `action` is a
        // valid, fully initialised sigaction.
        if unsafe { libc::sigaction(signal, &action, std::ptr::null_mut()) } != 0 {
            return Err(std::io::Error::last_os_error());
        }
    }
    Ok(())
}

fn empty_action() -> libc::sigaction {
    // SAFETY: sigaction is a plain C struct for which all zeroes is a valid value (SIG_DFL, no
    // flags, an empty mask).
    unsafe { std::mem::zeroed() }
}

extern "C" fn on_fatal(signal: c_int, info: *mut libc::siginfo_t, context: *mut c_void) {
    if !REPORTED.swap(true, Ordering::AcqRel) {
        report();
    }
    let Some(previous) = PREVIOUS
        .get()
        .and_then(|all| FATAL.iter().position(|&s| s == signal).map(|i| all[i]))
    else {
        return;
    };
    match previous.sa_sigaction {
        libc::SIG_DFL | libc::SIG_IGN => {
            // SAFETY: restores the default action, then raises the signal again; it is blocked
            // while this handler runs, so it ends the process as soon as the handler returns
            // (a fault re-runs its instruction and ends it the same way).
            unsafe {
                libc::sigaction(signal, &empty_action(), std::ptr::null_mut());
                libc::raise(signal);
            }
        }
        handler if previous.sa_flags & libc::SA_SIGINFO != 0 => {
            // SAFETY: the previous action was installed with SA_SIGINFO, so it is a handler
            // of this signature, and gets the arguments this one got.
            let handler: extern "C" fn(c_int, *mut libc::siginfo_t, *mut c_void) =
                unsafe { std::mem::transmute(handler) };
            handler(signal, info, context);
        }
        handler => {
            // SAFETY: the previous action was installed without SA_SIGINFO: a one-argument
            // handler.
            let handler: extern "C" fn(c_int) = unsafe { std::mem::transmute(handler) };
            handler(signal);
        }
    }
}

/// Sends `crash PLUGIN` (or `crash` outside plugin code) to the supervisor, from a signal
/// handler: no allocation, no lock.
fn report() {
    let channel = CHANNEL.load(Ordering::Acquire);
    if channel < 0 {
        return;
    }
    let mut message = [0u8; 256];
    let head = b"crash ";
    message[..head.len()].copy_from_slice(head);
    let mut len = head.len();
    let (name, name_len) = RUNNING.with(Cell::get);
    if !name.is_null() {
        let take = name_len.min(message.len() - len);
        // SAFETY: `name` and `name_len` are the parts of a `&str` borrowed by the `Running`
        // guard that is still alive on this thread (the guard clears them when dropped).
        let bytes = unsafe { std::slice::from_raw_parts(name, take) };
        message[len..len + take].copy_from_slice(bytes);
        len += take;
    }
    // SAFETY: send(2) is async-signal-safe; `message` is valid for `len` bytes. The result is
    // not looked at: the process dies next either way.
    unsafe {
        libc::send(
            channel,
            message.as_ptr().cast(),
            len,
            libc::MSG_NOSIGNAL | libc::MSG_DONTWAIT,
        );
    }
}
