//! One worker thread: an event loop of its own (a current-thread runtime) running the jobs
//! other threads send it, and whatever tasks those jobs and [`super::Hooks::started`] spawn.

use std::sync::Arc;

use tokio::sync::mpsc;

use super::{Job, Pool, WorkerHandle};

/// Each worker's own stack: it runs the event loop, decoding and `Plugin::new`; handlers run
/// on stacks of their own.
const STACK: usize = 2 * 1024 * 1024;

/// Starts the thread of worker `handle`, reading `inbox`.
pub fn spawn(
    pool: Arc<Pool>,
    handle: Arc<WorkerHandle>,
    inbox: mpsc::UnboundedReceiver<Job>,
) -> std::io::Result<()> {
    std::thread::Builder::new()
        .name(format!("pluginhost-{}", handle.index))
        .stack_size(STACK)
        .spawn(move || run(pool, handle, inbox))
        .map(drop)
}

fn run(pool: Arc<Pool>, handle: Arc<WorkerHandle>, inbox: mpsc::UnboundedReceiver<Job>) {
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
    tokio::task::LocalSet::new().block_on(&runtime, serve(pool, handle, inbox));
}

async fn serve(
    pool: Arc<Pool>,
    handle: Arc<WorkerHandle>,
    mut inbox: mpsc::UnboundedReceiver<Job>,
) {
    if let Some(hooks) = pool.hooks() {
        hooks.started(&handle);
    }
    let retire_after = pool.settings().idle_retire;
    loop {
        let job = match tokio::time::timeout(retire_after, inbox.recv()).await {
            Ok(Some(job)) => job,
            Ok(None) => return,
            Err(_idle) => {
                let me = handle.index;
                if !pool.is_serving(me) && handle.retire_if_idle() {
                    tracing::debug!(worker = me, "an idle worker thread retires");
                    return;
                }
                continue;
            }
        };
        job();
    }
}
