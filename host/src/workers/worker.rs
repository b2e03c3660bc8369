//! One worker thread: an event loop of its own (a current-thread runtime), the connections it
//! owns, the events that live on it, and its inbox of [`Job`]s from other threads.

use std::{rc::Rc, sync::Arc, time::Duration};

use tokio::sync::mpsc;

use super::{Job, WorkerHandle, Workers};
use crate::{
    host::Serving,
    rpc::server::{accept_loop, serve_connection},
};

/// Each worker's own stack: it runs the event loop, decoding and `Plugin::new`; handlers run
/// on stacks of their own.
const STACK: usize = 2 * 1024 * 1024;

/// Starts the thread of worker `handle`, reading `inbox`.
pub fn spawn(
    workers: Arc<Workers>,
    handle: Arc<WorkerHandle>,
    inbox: mpsc::UnboundedReceiver<Job>,
) -> std::io::Result<()> {
    std::thread::Builder::new()
        .name(format!("pluginhost-{}", handle.index))
        .stack_size(STACK)
        .spawn(move || run(workers, handle, inbox))
        .map(drop)
}

fn run(workers: Arc<Workers>, handle: Arc<WorkerHandle>, inbox: mpsc::UnboundedReceiver<Job>) {
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
    let serving = Rc::new(Serving::new(workers, handle));
    tokio::task::LocalSet::new().block_on(&runtime, serve(serving, inbox));
}

async fn serve(serving: Rc<Serving>, mut inbox: mpsc::UnboundedReceiver<Job>) {
    tokio::task::spawn_local(reap(Rc::clone(&serving)));
    let retire_after = serving.workers.idle_retire();
    loop {
        let job = if serving.worker.apart {
            match tokio::time::timeout(retire_after, inbox.recv()).await {
                Ok(job) => job,
                Err(_idle) => {
                    let me = serving.worker.index;
                    if me != serving.workers.active()
                        && !serving.workers.serves(me)
                        && serving.worker.retire_if_idle()
                    {
                        tracing::debug!(worker = me, "an idle worker thread retires");
                        return;
                    }
                    continue;
                }
            }
        } else {
            inbox.recv().await
        };
        let Some(job) = job else {
            return;
        };
        match job {
            Job::Adopt(conn) => {
                tokio::task::spawn_local(serve_connection(Rc::clone(&serving), conn));
            }
            Job::Listen(listener) => {
                tokio::task::spawn_local(accept_loop(Rc::clone(&serving), listener));
            }
            Job::Start {
                running,
                phase,
                reply,
            } => {
                reply.send(serving.events.start(running, phase));
            }
            Job::Step { id, answer, reply } => {
                reply.send(serving.events.step(id, answer));
            }
            Job::EndAll(reply) => {
                let _ = reply.send(serving.events.end_all());
            }
        }
    }
}

/// Ends this worker's events that Kong abandoned, at a fraction of the timeout.
async fn reap(serving: Rc<Serving>) {
    let every =
        (serving.events.timeout() / 4).clamp(Duration::from_millis(10), Duration::from_secs(1));
    let mut tick = tokio::time::interval(every);
    loop {
        tick.tick().await;
        serving.events.reap();
    }
}
