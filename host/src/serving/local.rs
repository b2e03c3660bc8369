//! What one worker thread keeps to itself: the events living on it, whose handlers' stacks
//! never leave the thread. Jobs sent from other threads find it with [`here`].

use std::{
    cell::{Cell, OnceCell},
    future::Future,
    rc::Rc,
    sync::Arc,
    time::Duration,
};

use super::{conn::Conn, server::Server};
use crate::{
    events::Events,
    host::Host,
    stacks::{self, Stacks},
    workers::WorkerHandle,
};

thread_local! {
    static LOCAL: OnceCell<Rc<Local>> = const { OnceCell::new() };
}

/// One worker thread's serving state.
pub struct Local {
    /// The server this worker serves for: what every worker thread shares.
    pub server: Arc<Server>,
    /// This worker.
    pub worker: Arc<WorkerHandle>,
    /// The events living on this thread.
    pub events: Events,
    /// Whether an accept loop runs here: a worker that serves again after it was replaced
    /// may still have the one it started before.
    pub accepting: Cell<bool>,
}

impl Local {
    /// The shared host.
    pub fn host(&self) -> &Arc<Host> {
        &self.server.host
    }
}

/// Sets up worker `worker`'s thread; runs on it, inside its event loop.
pub fn install(server: Arc<Server>, worker: &Arc<WorkerHandle>) {
    let host = Arc::clone(&server.host);
    // Workers that serve connections run many events at once; the others, one at a time.
    let keep = if worker.born_serving {
        stacks::KEEP
    } else {
        stacks::KEEP_APART
    };
    let events = Events::new(
        host.settings.event_timeout,
        Stacks::new(host.settings.handler_stack, keep, Arc::clone(&host.stacks)),
        Arc::clone(worker),
        host.settings.dialect,
    );
    let local = Rc::new(Local {
        server,
        worker: Arc::clone(worker),
        events,
        accepting: Cell::new(false),
    });
    LOCAL.with(|cell| {
        let _ = cell.set(Rc::clone(&local));
    });
    tokio::task::spawn_local(reap(local));
}

/// This thread's serving state. Only worker threads have one; a job runs on one.
pub fn here() -> Rc<Local> {
    LOCAL.with(|cell| {
        Rc::clone(
            cell.get()
                .expect("jobs run on worker threads, which are set up first"),
        )
    })
}

/// Sends `conn` to the worker that owns it now, where `serve` (its dialect's connection
/// task) serves it from then on; `false` when that worker has stopped.
pub fn adopt<F, S>(server: &Server, conn: Arc<Conn>, serve: S) -> bool
where
    S: FnOnce(Rc<Local>, Arc<Conn>) -> F + Send + 'static,
    F: Future<Output = ()> + 'static,
{
    let to = conn.owner();
    server.pool.send(
        to,
        Box::new(move || {
            tokio::task::spawn_local(serve(here(), conn));
        }),
    )
}

/// Ends this worker's events that Kong abandoned, at a fraction of the timeout; sleeps while
/// none is suspended here, so an idle worker never wakes.
async fn reap(local: Rc<Local>) {
    let every =
        (local.events.timeout() / 4).clamp(Duration::from_millis(10), Duration::from_secs(1));
    loop {
        if local.events.suspended() == 0 {
            local.events.first_suspended().await;
            continue;
        }
        tokio::time::sleep(every).await;
        local.events.reap();
    }
}
