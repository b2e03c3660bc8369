//! One worker thread: an event loop of its own (a current-thread runtime) running the jobs
//! other threads send it, and whatever tasks those jobs and [`super::Hooks::started`] spawn.

use std::{sync::Arc, time::Duration};

use tokio::sync::mpsc;

use super::handle::{Job, WorkerHandle};

/// What runs first on a new worker thread, inside its event loop.
pub type Started = Box<dyn FnOnce(&Arc<WorkerHandle>) + Send>;

/// Each worker's own stack: it runs the event loop, decoding and `Plugin::new`; handlers run
/// on stacks of their own.
const STACK: usize = 2 * 1024 * 1024;

/// Starts the thread of worker `handle`, reading `inbox`; it runs `started` first, and retires
/// once it does not serve and has been idle for `idle_retire`.
pub fn spawn(
    handle: Arc<WorkerHandle>,
    inbox: mpsc::UnboundedReceiver<Job>,
    idle_retire: Duration,
    started: Started,
) -> std::io::Result<()> {
    std::thread::Builder::new()
        .name(format!("pluginhost-{}", handle.index))
        .stack_size(STACK)
        .spawn(move || run(handle, inbox, idle_retire, started))
        .map(drop)
}

fn run(
    handle: Arc<WorkerHandle>,
    inbox: mpsc::UnboundedReceiver<Job>,
    idle_retire: Duration,
    started: Started,
) {
    handle.set_tid(rustix::thread::gettid().as_raw_nonzero().get());
    let runtime = match tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
    {
        Ok(runtime) => runtime,
        Err(e) => {
            tracing::error!(
                worker = handle.index,
                "cannot start a worker's event loop: {e}"
            );
            return;
        }
    };
    tokio::task::LocalSet::new().block_on(&runtime, serve(handle, inbox, idle_retire, started));
}

async fn serve(
    handle: Arc<WorkerHandle>,
    mut inbox: mpsc::UnboundedReceiver<Job>,
    retire_after: Duration,
    started: Started,
) {
    started(&handle);
    loop {
        let job = match tokio::time::timeout(retire_after, inbox.recv()).await {
            Ok(Some(job)) => job,
            Ok(None) => return,
            Err(_idle) => {
                if !handle.serves() && handle.retire_if_idle() {
                    tracing::debug!(worker = handle.index, "an idle worker thread retires");
                    return;
                }
                continue;
            }
        };
        job();
    }
}
